"""``bioseq embed`` and :mod:`bioseq.tasks.adapt.embed` against hand computations: each
sequence run alone through ``model(...).hidden_states[layer]``, pooled over its letters by hand,
windows cut by hand, reverse complements written out; and the command end to end."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.tasks.adapt.embed import embed
from bioseq.tokenizers import CharTokenizer, KmerTokenizer, complement_map
from tests.conftest import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

DNA = CharTokenizer("dna")
PROTEIN = CharTokenizer("protein")
SEQS = ["ACGTTGCA", "GATTACAGATTACA", "CCG", "TTTTACGGGA", "ACGTNACGTAAGG"]
COMPLEMENT = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def rc(seq: str) -> str:
    return "".join(COMPLEMENT[c] for c in reversed(seq))


def tiny(kind: str, tok=DNA, seed: int = 0, **extra):
    if kind.startswith("caduceus"):
        rcps = kind == "caduceus-rcps"
        extra.update(rcps=rcps, complement_map=complement_map(tok) if rcps else None)
    family = kind.removesuffix("-rcps")
    return tiny_model(family, len(tok), seed, d_model=16, n_layer=2, **extra).eval()


@torch.no_grad()
def hidden_alone(model, ids: list[int], layer: int = -1) -> torch.Tensor:
    """One sequence's hidden states, no padding and no mask; an RCPS model's two strands
    averaged by hand (forward half + the reverse half's channels reversed)."""
    h = model(torch.tensor([ids]), output_hidden_states=True).hidden_states[layer][0]
    if getattr(model.config, "rcps", False):
        d = h.shape[-1] // 2
        h = (h[:, :d] + h[:, d:].flip(-1)) / 2
    return h.float()


def ids_of(seq: str, tok=DNA) -> list[int]:
    return tok.encode(seq, add_special_tokens=False)


def close(a, b, atol=1e-5) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-4)


# -- pooling against each sequence run alone ----------------------------------------------------


@pytest.mark.parametrize("kind", ["mamba", "transformer", "caduceus", "caduceus-rcps"])
@pytest.mark.parametrize("layer", [-1, 1, 0])
def test_mean_and_last_equal_each_sequence_alone(kind, layer):
    model = tiny(kind)
    got = embed(model, DNA, SEQS, layer=layer, batch_size=3, window=0)
    last = embed(model, DNA, SEQS, layer=layer, pool="last", batch_size=2, window=0)
    assert got.shape == (len(SEQS), 16) and got.dtype == np.float32
    for i, seq in enumerate(SEQS):
        h = hidden_alone(model, ids_of(seq), layer)
        close(got[i], h.mean(0))
        close(last[i], h[-1])


def test_batching_padding_and_order_change_nothing():
    model = tiny("mamba")
    alone = np.stack([embed(model, DNA, [s], window=0)[0] for s in SEQS])
    close(embed(model, DNA, SEQS, batch_size=5, window=0), alone)
    close(embed(model, DNA, SEQS[::-1], batch_size=4, window=0), alone[::-1])


def test_pool_none_gives_one_vector_per_letter():
    model = tiny("transformer")
    arrays = embed(model, DNA, SEQS, pool="none", batch_size=2, window=0)
    assert [a.shape for a in arrays] == [(len(s), 16) for s in SEQS]
    for seq, array in zip(SEQS, arrays, strict=True):
        close(array, hidden_alone(model, ids_of(seq)))


def test_kmer_tokens_count_once_per_letter():
    tok = KmerTokenizer(k=3)
    model = tiny("mamba", tok=tok)
    seq = "ACGTTGCAGGA"  # three 3-mers and two single bases
    ids = tok.encode(seq, add_special_tokens=False)
    lengths = tok.token_lengths[ids]
    assert lengths.sum() == len(seq) and len(ids) < len(seq)
    per_letter = np.repeat(hidden_alone(model, ids).numpy(), lengths, axis=0)
    arrays = embed(model, tok, [seq], pool="none", window=0)
    close(arrays[0], per_letter)
    close(embed(model, tok, [seq], window=0)[0], per_letter.mean(0))


def test_causal_protein_model_reads_a_beginning_token_left_out_of_the_mean():
    model = tiny("mamba", tok=PROTEIN)
    model.config.objective, model.config.alphabet = "causal", "protein"
    seq = "MKVLAAGW"
    h = hidden_alone(model, [PROTEIN.bos_token_id] + ids_of(seq, PROTEIN))
    close(embed(model, PROTEIN, [seq, "MK"], window=0)[0], h[1:].mean(0))
    close(embed(model, PROTEIN, [seq], pool="last", window=0)[0], h[-1])


def test_reverse_model_reads_right_to_left_and_gives_letters_in_order():
    model = tiny("mamba")
    model.config.direction = "reverse"
    seq = SEQS[1]
    h = hidden_alone(model, ids_of(seq[::-1])).numpy()
    close(embed(model, DNA, [seq], pool="none", window=0)[0], h[::-1])
    close(embed(model, DNA, [seq], pool="last", window=0)[0], h[-1])  # read everything


def test_cls_is_the_first_special_token_and_refused_for_causal_models():
    model = tiny("caduceus")
    seq = SEQS[0]
    h = hidden_alone(model, [DNA.cls_token_id] + ids_of(seq))
    close(embed(model, DNA, [seq, "AC"], pool="cls", window=0)[0], h[0])
    with pytest.raises(InputError, match="causal model"):
        embed(tiny("mamba"), DNA, [seq], pool="cls")


def esm_with_its_tokenizer(tmp_path: Path):
    vocab = [
        "<cls>",
        "<pad>",
        "<eos>",
        "<unk>",
        *"LAGVSERTIDPKQNFYMHWCXBUZO",
        ".",
        "-",
        "<null_1>",
        "<mask>",
    ]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab))
    tok = EsmTokenizer(str(tmp_path / "vocab.txt"))
    torch.manual_seed(0)
    model = EsmForMaskedLM(
        EsmConfig(
            vocab_size=len(tok),
            hidden_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=32,
            pad_token_id=tok.pad_token_id,
            mask_token_id=tok.mask_token_id,
            position_embedding_type="rotary",
        )
    ).eval()
    return model, tok


def test_hugging_face_tokenizer_special_tokens_are_read_but_not_pooled(tmp_path):
    model, tok = esm_with_its_tokenizer(tmp_path)
    seqs = ["MKVLAAGW", "MKT", "WWGAVLKM"]
    mean = embed(model, tok, seqs, batch_size=3, window=0)
    cls = embed(model, tok, seqs, pool="cls", batch_size=2, window=0)
    for i, seq in enumerate(seqs):
        ids = tok(seq)["input_ids"]  # <cls> seq <eos>
        assert len(ids) == len(seq) + 2
        h = hidden_alone(model, ids)
        close(mean[i], h[1:-1].mean(0))
        close(cls[i], h[0])


# -- windows ----------------------------------------------------------------------------------


def test_a_window_as_long_as_the_sequence_is_no_window():
    model = tiny("mamba")
    whole = embed(model, DNA, SEQS, window=0)
    close(embed(model, DNA, SEQS, window=max(map(len, SEQS))), whole)


def test_windows_average_window_means_weighted_by_letters():
    model = tiny("caduceus")
    seq = "ACGTTGCAGGATTACAGATACCA"  # 23 letters; W=10, S=6: [0,10) [6,16) [12,22) [18,23)
    spans = [(0, 10), (6, 16), (12, 22), (18, 23)]
    parts = [hidden_alone(model, ids_of(seq[a:b])) for a, b in spans]
    means = [p.mean(0) for p in parts]
    weights = [b - a for a, b in spans]
    expected = sum(w * m for w, m in zip(weights, means, strict=True)) / sum(weights)
    close(embed(model, DNA, [seq, "ACG"], window=10, stride=6, batch_size=3)[0], expected)
    close(embed(model, DNA, [seq], pool="last", window=10, stride=6)[0], parts[-1][-1])
    total, count = torch.zeros(len(seq), 16), torch.zeros(len(seq), 1)
    for (a, b), p in zip(spans, parts, strict=True):
        total[a:b] += p
        count[a:b] += 1
    close(embed(model, DNA, [seq], pool="none", window=10, stride=6)[0], total / count)


def test_default_window_is_the_training_context():
    model = tiny("mamba")
    seq = "ACGTTGCAGGATTACAGATACCA"
    model.config.training_context = 8
    close(embed(model, DNA, [seq]), embed(model, DNA, [seq], window=8))
    assert not np.allclose(embed(model, DNA, [seq]), embed(model, DNA, [seq], window=0))


def test_a_window_longer_than_a_hyena_reads_is_refused():
    model = tiny("hyena", max_seq_len=16)
    close(embed(model, DNA, ["ACGT" * 10]), embed(model, DNA, ["ACGT" * 10], window=16))
    with pytest.raises(InputError, match="reads at most 16"):
        embed(model, DNA, ["ACGT" * 10], window=20)


# -- strands ----------------------------------------------------------------------------------


@pytest.mark.parametrize("pool", ["mean", "last", "none"])
def test_rc_average_is_the_mean_of_both_strands_run_by_hand(pool):
    model = tiny("mamba")
    got = embed(model, DNA, SEQS, pool=pool, rc_average=True, batch_size=3, window=0)
    for i, seq in enumerate(SEQS):
        fwd, rev = hidden_alone(model, ids_of(seq)), hidden_alone(model, ids_of(rc(seq)))
        if pool == "mean":
            expected = (fwd.mean(0) + rev.mean(0)) / 2
        elif pool == "last":
            expected = (fwd[-1] + rev[-1]) / 2
        else:
            expected = (fwd + rev.flip(0)) / 2  # the RC's letter j is the forward's L-1-j
        close(got[i], expected)


def test_rcps_caduceus_is_already_the_same_on_both_strands():
    model = tiny("caduceus-rcps")
    for layer in (-1, 1):
        fwd = embed(model, DNA, SEQS, layer=layer, window=0)
        rev = embed(model, DNA, [rc(s) for s in SEQS], layer=layer, window=0)
        close(fwd, rev)
        close(embed(model, DNA, SEQS, layer=layer, window=0, rc_average=True), fwd)
    letters = embed(model, DNA, SEQS, pool="none", window=0)
    back = embed(model, DNA, [rc(s) for s in SEQS], pool="none", window=0)
    for a, b in zip(letters, back, strict=True):
        close(a, b[::-1])


def test_rc_average_is_refused_for_proteins():
    model = tiny("mamba", tok=PROTEIN)
    model.config.alphabet = "protein"
    with pytest.raises(InputError, match="needs DNA"):
        embed(model, PROTEIN, ["MKVL"], rc_average=True)


# -- the command --------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(main, ["embed", *[str(a) for a in args]])


def saved(model, path: Path, tok=DNA, **config) -> Path:
    for key, value in config.items():
        setattr(model.config, key, value)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def test_cli_writes_arrays_and_an_index_readable_by_numpy_and_pandas(tmp_path):
    model = tiny("mamba")
    saved(model, tmp_path / "m", objective="causal", alphabet="dna")
    (tmp_path / "a.fa").write_text(">first one\nACGTTGCA\n>second\nGATTACA\nGATTACA\n")
    (tmp_path / "b.tsv").write_text("name\tseq\nthird\tCCGTA\n")
    out = tmp_path / "emb"
    result = run(
        "--model",
        tmp_path / "m",
        tmp_path / "a.fa",
        tmp_path / "b.tsv",
        "--sequence-col",
        "seq",
        "--out",
        out,
        "--device",
        "cpu",
        "--no-progress",
        "--window",
        6,
    )
    assert result.exit_code == 0, result.output
    assert "sequences/s" in result.output and "mean pooling" in result.output
    assert "d=16" in result.output and "layer 2" in result.output
    x = np.load(out / "embeddings.npy")
    with open(out / "index.tsv", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    assert rows == [
        ["row", "name", "length", "windows"],
        ["0", "first", "8", "2"],
        ["1", "second", "14", "3"],
        ["2", "third", "5", "1"],
    ]
    if importlib.util.find_spec("pandas") is not None:  # not a bioseq dependency
        import pandas as pd

        index = pd.read_csv(out / "index.tsv", sep="\t")
        assert index["name"].tolist() == ["first", "second", "third"]
        assert index["length"].tolist() == [8, 14, 5]
    seqs = ["ACGTTGCA", "GATTACAGATTACA", "CCGTA"]
    assert x.shape == (3, 16) and x.dtype == np.float32
    close(x, embed(model, DNA, seqs, window=6))
    info = json.loads((out / "info.json").read_text())
    assert info["pool"] == "mean" and info["dim"] == 16 and info["window"] == 6

    result = run(
        "--model",
        tmp_path / "m",
        tmp_path / "a.fa",
        "--out",
        out,
        "--pool",
        "none",
        "--device",
        "cpu",
        "--no-progress",
    )
    assert result.exit_code == 2 and "--overwrite" in result.output  # a folder is not replaced
    result = run(
        "--model",
        tmp_path / "m",
        tmp_path / "a.fa",
        "--out",
        out,
        "--pool",
        "none",
        "--device",
        "cpu",
        "--no-progress",
        "--overwrite",
    )
    assert result.exit_code == 0, result.output
    with np.load(out / "embeddings.npz") as arrays:
        assert sorted(arrays.files) == ["0", "1"]
        assert arrays["0"].shape == (8, 16) and arrays["1"].shape == (14, 16)
    assert not (out / "embeddings.npy").exists()


@pytest.mark.parametrize(
    "protein, extra, message",
    [
        (True, ["--rc-average"], "--rc-average needs DNA"),
        (False, ["--layer", "3"], "--layer 3 is out of range: the model returns 3 hidden states"),
        (False, ["--layer", "-4"], "--layer -4 is out of range"),
        (False, ["--window", "4", "--stride", "5"], "--stride 5 is longer than --window 4"),
        (False, ["--pool", "cls"], "causal model"),
    ],
)
def test_cli_refuses_bad_input_in_one_line(tmp_path, protein, extra, message):
    tok = PROTEIN if protein else DNA
    saved(
        tiny("mamba", tok=tok),
        tmp_path / "m",
        tok=tok,
        objective="causal",
        alphabet="protein" if protein else "dna",
    )
    (tmp_path / "a.fa").write_text(">a\nMKVL\n" if protein else ">a\nACGT\n")
    result = run(
        "--model",
        tmp_path / "m",
        tmp_path / "a.fa",
        "--out",
        tmp_path / "emb",
        "--device",
        "cpu",
        "--no-progress",
        *extra,
    )
    assert result.exit_code == 2, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "emb").exists()
