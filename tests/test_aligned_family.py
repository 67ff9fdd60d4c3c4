"""``bioseq pretrain X.a2m --aligned``: a masked model of an alignment's match columns (gaps a
token of their own), and ``score-mutations`` of such a model through the focus columns."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoTokenizer

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.models.hub import load_model
from bioseq.train import TrainConfig
from bioseq.train.data import ALIGNED_STATES, build_data

# Wild type MKLAVTWE numbered 5-12; columns: an insert column (m), K L, an insert column (a),
# V T W E. Match columns of the wild type: K6 L7 V9 T10 W11 E12 (M5 and A8 are insertions).
A2M = """>WT/5-12
mKLaVTWE
>h1
.KL.VSWE
>h2
.-LgV-WD
>h3
aRL.ITW-
>h4
.KIcVTYE
>gaps_only
.--.----
>h6
.KL.VTWE
>h7
.RLkVTWE
>h8
.KV.ITWD
"""
MATCH = {"WT/5-12": "KLVTWE", "h1": "KLVSWE", "h2": "-LV-WD", "h3": "RLITW-", "h4": "KIVTYE",
         "h6": "KLVTWE", "h7": "RLVTWE", "h8": "KVITWD"}  # fmt: skip
TINY = ["--model", "caduceus", "--d-model", "16", "--n-layer", "1", "--context", "16",
        "--batch-size", "4", "--steps", "3", "--log-every", "1", "--eval-every", "3",
        "--eval-windows", "4", "--final-eval-windows", "4", "--save-every", "3",
        "--threads", "1", "--markov-order", "2"]  # fmt: skip
DMS = """mutant,fitness
K6A,1.0
V9G,0.5
E12W,-1.0
M5A,0.2
A8G,0.3
K6A:V9G,0.1
L7W:A8C,0.4
"""


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def a2m(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("aln") / "fam.a2m"
    path.write_text(A2M)
    return path


@pytest.fixture(scope="module")
def run(a2m, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "aligned"
    result = run_cli("pretrain", a2m, "--aligned", "--out", out, "--quiet", *TINY)
    assert result.exit_code == 0, result.output
    return out


def test_data_yields_match_columns_with_gap_tokens(a2m):
    config = TrainConfig(
        inputs=[str(a2m)], model="caduceus", aligned=True, context=16, batch_size=4
    ).resolved()
    data = build_data(config)
    tok = data.tokenizer
    assert data.alignment_width == 6
    rows = {name: codes.tobytes().decode() for name, codes in data.train_pairs + data.val_pairs}
    assert rows == MATCH  # match columns only, gaps kept, the gaps-only record skipped
    [batch] = data.batch(step=0, context=16, batch_size=4)
    assert batch.clean_ids.shape == (4, 6)  # equal lengths, no BOS/EOS, no padding
    assert bool((batch.attention_mask == 1).all())
    decoded = {tok.decode(row.tolist()) for row in batch.clean_ids}
    assert decoded <= set(MATCH.values())
    assert tok.convert_tokens_to_ids("-") not in (tok.unk_token_id, None)


def test_masking_targets_gaps_and_replaces_with_the_21_states(a2m):
    config = TrainConfig(
        inputs=[str(a2m)],
        model="caduceus",
        aligned=True,
        context=16,
        batch_size=4,
        mask_fraction=0.5,
    ).resolved()
    data = build_data(config)
    tok, gap = data.tokenizer, data.tokenizer.convert_tokens_to_ids("-")
    assert data.markov_letters == ALIGNED_STATES == "ACDEFGHIKLMNPQRSTVWY-"
    letters = {tok.convert_ids_to_tokens(i) for i in data.masking.letter_ids}
    assert letters == set("ACDEFGHIKLMNPQRSTVWY-")
    clean = torch.full((50, 10), gap)  # rows of gaps only: every target is a gap
    inputs, labels = data.masking.apply(clean, [(0, 0, 0, r) for r in range(50)])
    targets = labels != -100
    assert int(targets.sum()) == 50 * 5 and bool((labels[targets] == gap).all())
    replaced = inputs[targets & (inputs != tok.mask_token_id) & (inputs != gap)]
    assert len(replaced) > 0  # the 10% random letters
    assert {tok.convert_ids_to_tokens(int(i)) for i in replaced} <= set(ALIGNED_STATES)


def test_run_saves_aligned_config_and_gap_tokenizer(run):
    config = json.loads((run / "final" / "config.json").read_text())
    assert config["aligned"] is True and config["alignment_width"] == 6
    assert config["column_embeddings"] == 6  # a learned vector per column
    tok = AutoTokenizer.from_pretrained(run / "final")
    assert tok.encode_array("KL-W").tolist() == [tok.convert_tokens_to_ids(c) for c in "KL-W"]
    assert "-" in tok.get_vocab()
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["val_masked_bits"] is not None and rows[-1]["markov_masked_bits"] is not None


def hand_scores(run: Path, strategy: str) -> dict[str, float]:
    """Scores from calling the model on the focus sequence KLVTWE (columns 0-5) directly."""
    loaded = load_model(run, "cpu")
    model, tok = loaded.model, loaded.tokenizer
    ids = torch.tensor([tok.convert_tokens_to_ids(c) for c in "KLVTWE"])

    def logp(columns: list[int]) -> torch.Tensor:
        x = ids.clone()
        if strategy == "masked-marginal":
            x[columns] = tok.mask_token_id
        with torch.no_grad():
            logits = model(input_ids=x[None]).logits[0, :, : len(tok)]
        return logits.double().log_softmax(-1)

    def term(lp, column: int, wt: str, mt: str) -> float:
        return float(
            lp[column, tok.convert_tokens_to_ids(mt)] - lp[column, tok.convert_tokens_to_ids(wt)]
        )

    both = logp([0, 2])
    return {
        "K6A": term(logp([0]), 0, "K", "A"),
        "V9G": term(logp([2]), 2, "V", "G"),
        "E12W": term(logp([5]), 5, "E", "W"),
        "K6A:V9G": term(both, 0, "K", "A") + term(both, 2, "V", "G"),
    }


@pytest.mark.parametrize("strategy", ["masked-marginal", "wildtype-marginal"])
def test_score_mutations_maps_residues_through_focus_columns(run, a2m, tmp_path, strategy):
    dms = tmp_path / "dms.csv"
    dms.write_text(DMS)
    out = tmp_path / "scores.csv"
    result = run_cli(
        "score-mutations",
        "--model",
        run,
        "--wildtype",
        a2m,
        "--mutations",
        dms,
        "--score-col",
        "fitness",
        "--strategy",
        strategy,
        "--no-progress",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    rows = {r["mutant"]: r for r in csv.DictReader(out.open())}
    for mutant in ("M5A", "A8G", "L7W:A8C"):  # the wild type's insertions: no column
        assert rows[mutant]["status"] == "not_in_alignment" and rows[mutant]["score"] == ""
    expected = hand_scores(run, strategy)
    for mutant, value in expected.items():
        assert rows[mutant]["status"] == "ok"
        assert float(rows[mutant]["score"]) == pytest.approx(value, rel=1e-4, abs=1e-5)
    assert len({round(v, 6) for v in expected.values()}) == 4  # the columns differ
    metrics = json.loads((tmp_path / "scores.metrics.json").read_text())
    assert (metrics["n_scored"], metrics["n_skipped"]) == (4, 3)


def test_plain_wildtype_or_another_alignment_is_one_line(run, tmp_path):
    dms = tmp_path / "dms.csv"
    dms.write_text(DMS)
    result = run_cli(
        "score-mutations",
        "--model",
        run,
        "--wildtype",
        "MKLAVTWE",
        "--offset",
        "5",
        "--mutations",
        dms,
        "--out",
        tmp_path / "a.csv",
    )
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--aligned" in lines[0] and "alignment" in lines[0]
    other = tmp_path / "other.a2m"
    other.write_text(">WT/6-10\nKLVTW\n>h\nKLVSW\n")
    result = run_cli(
        "score-mutations",
        "--model",
        run,
        "--wildtype",
        other,
        "--mutations",
        dms,
        "--out",
        tmp_path / "b.csv",
    )
    assert result.exit_code == 2
    assert "5 match columns" in result.output and "6" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "a.csv").exists() and not (tmp_path / "b.csv").exists()


def test_resume_cannot_change_aligned(run):
    before = sorted(p.name for p in run.iterdir())
    result = run_cli("pretrain", "--resume", run, "--no-aligned", "--steps", "4")
    assert result.exit_code == 2
    assert "aligned True -> False" in result.output
    assert sorted(p.name for p in run.iterdir()) == before


@pytest.mark.parametrize(
    ("extra", "fasta", "says"),
    [
        (["--model", "hyena"], False, "--model caduceus"),
        (["--model", "caduceus", "--objective", "causal"], False, "bidirectional"),
        (["--model", "caduceus", "--alphabet", "dna"], False, "not DNA"),
        (["--model", "caduceus"], True, "needs an a2m/a3m protein alignment"),
    ],
)
def test_aligned_refusals_are_one_line_and_write_nothing(a2m, tmp_path, extra, fasta, says):
    source = a2m
    if fasta:
        source = tmp_path / "seqs.fa"
        source.write_text("".join(f">{n}\n{s.replace('-', '')}\n" for n, s in MATCH.items()))
    out = tmp_path / "run"
    result = run_cli("pretrain", source, "--aligned", "--out", out, "--steps", "1", *extra)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1 and says in result.output
    assert not out.exists() or not any(out.iterdir())


def test_unaligned_protein_runs_are_unchanged(a2m):
    config = TrainConfig(inputs=[str(a2m)], model="caduceus", context=16, batch_size=4).resolved()
    data = build_data(config)
    assert not data.aligned and data.alignment_width is None
    rows = {name: codes.tobytes().decode() for name, codes in data.train_pairs + data.val_pairs}
    assert rows["WT/5-12"] == "MKLAVTWE" and rows["h2"] == "LGVWD"
    assert data.markov_letters == "ACDEFGHIKLMNPQRSTVWY*"


def test_column_embeddings_place_tokens_in_their_columns():
    from bioseq.errors import InputError
    from bioseq.models import CaduceusConfig, CaduceusLM

    torch.manual_seed(0)
    plain = CaduceusLM(CaduceusConfig(vocab_size=8, d_model=16, n_layer=1)).eval()
    columns = CaduceusLM(
        CaduceusConfig(vocab_size=8, d_model=16, n_layer=1, column_embeddings=5)
    ).eval()
    columns.load_state_dict(plain.state_dict(), strict=False)  # same weights, plus columns
    ids = torch.tensor([[5, 6, 7, 5]])
    with torch.no_grad():
        offsets = columns.backbone.column_embedding.weight[:4]
        expected = plain.backbone.embedding(ids) + offsets
        got = columns.backbone(ids, output_hidden_states=True).hidden_states[0]
        assert torch.allclose(got, expected)
        with pytest.raises(InputError, match="longer than the 5 alignment columns"):
            columns(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(InputError, match="rcps"):
        CaduceusConfig(vocab_size=8, rcps=True, complement_map=list(range(8)), column_embeddings=5)
