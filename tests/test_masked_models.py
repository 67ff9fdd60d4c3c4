"""Masked LMs everywhere a model is taken: tiny random ``EsmForMaskedLM`` folders (protein, DNA
characters, DNA 3-mers) and a tiny Caduceus, scored through ``score-vcf`` / ``score-mutations``
and checked against hand computations that call the Hugging Face model directly (mask by hand,
``log_softmax`` of the logits, positions shifted by the ``<cls>`` token by hand)."""

from __future__ import annotations

import doctest
import itertools
import json
import random
import shutil

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.io.alphabet import reverse_complement
from bioseq.io.source import InMemoryGenome
from bioseq.models.hub import load_model, scorer_kind
from bioseq.tasks.variants import masked_dna, masked_lm, masked_protein, scorers
from bioseq.tasks.variants.dna import Variant, window_bounds
from bioseq.tasks.variants.masked_dna import MaskedLMVariantScorer

pytestmark = pytest.mark.usefixtures("one_thread")

# ESM-2's vocabulary, in its order (facebook/esm2_t6_8M_UR50D vocab.txt)
ESM2_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-",
              "<null_1>", "<mask>"]  # fmt: skip
DNA_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"ACGTN", "<mask>"]
KMER_VOCAB = ["<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>",
              *("".join(p) for p in itertools.product("ACGT", repeat=3)), *"ACGTN"]  # fmt: skip
WINDOW = 48
COMP = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}


def esm_folder(path, vocab: list[str], seed: int, **config) -> tuple:
    """A saved random EsmForMaskedLM and its EsmTokenizer; returns (path, model, tokenizer)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tok = EsmTokenizer(str(path / "vocab.txt"))
    torch.manual_seed(seed)
    options = dict(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        pad_token_id=tok.pad_token_id,
        mask_token_id=tok.mask_token_id,
        position_embedding_type="rotary",
        token_dropout=True,
        max_position_embeddings=1026,
    )
    options.update(config)
    model = EsmForMaskedLM(EsmConfig(**options)).eval()
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path, model, tok


@pytest.fixture(scope="module")
def protein(tmp_path_factory):
    return esm_folder(tmp_path_factory.mktemp("esm_protein"), ESM2_VOCAB, 0)


@pytest.fixture(scope="module")
def dna(tmp_path_factory):
    # absolute positions: the window limit is checked (pad 1: positions 2..65, 64 tokens)
    return esm_folder(
        tmp_path_factory.mktemp("esm_dna"),
        DNA_VOCAB,
        1,
        position_embedding_type="absolute",
        max_position_embeddings=66,
        token_dropout=False,
    )


@pytest.fixture(scope="module")
def kmer(tmp_path_factory):
    return esm_folder(tmp_path_factory.mktemp("esm_kmer"), KMER_VOCAB, 2)


@pytest.fixture(scope="module")
def genome() -> InMemoryGenome:
    rng = random.Random(5)
    return InMemoryGenome({"chr1": "".join(rng.choice("ACGT") for _ in range(200))})


def run(*args, **kw):
    return CliRunner().invoke(main, [str(a) for a in args], **kw)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "\n" not in message and "Traceback" not in message, message
    return message


# -- hand computations -------------------------------------------------------------------------


@torch.no_grad()
def hand_logp(model, tok, seq: str, hide: list[int]) -> np.ndarray:
    """log-softmax (L, V) of ``<cls> seq <eos>`` with the bases ``hide`` (0-based) masked."""
    ids = [tok.cls_token_id, *tok.convert_tokens_to_ids(list(seq)), tok.eos_token_id]
    for i in hide:
        ids[1 + i] = tok.mask_token_id
    x = torch.tensor([ids])
    logits = model(input_ids=x, attention_mask=torch.ones_like(x)).logits
    return logits[0].log_softmax(-1).numpy()


def hand_marginal(model, tok, ref: str, alt: str, masked: bool) -> float:
    """sum over changed bases of log p(alt) - log p(ref), hidden (masked) or not (wild type)."""
    changed = [i for i in range(len(ref)) if ref[i] != alt[i]]
    logp = hand_logp(model, tok, ref, changed if masked else [])
    ids = tok.convert_tokens_to_ids
    return float(sum(logp[1 + i, ids(alt[i])] - logp[1 + i, ids(ref[i])] for i in changed))


def windows(genome, v: Variant, window: int = WINDOW) -> tuple[str, str]:
    seq = genome.fetch("chr1")
    pos0, indel = v.pos - 1, len(v.ref) != len(v.alt)
    start, end = window_bounds(pos0, len(v.ref), indel, len(seq), window)
    ref = seq[start:end]
    return ref, ref[: pos0 - start] + v.alt + ref[pos0 - start + len(v.ref) :]


def hand_pll(model, tok, seq: str, lo: int, hi: int) -> float:
    """Pseudo-log-likelihood of the bases lo..hi-1 of seq (each masked in turn)."""
    total = 0.0
    for i in range(lo, hi):
        total += hand_logp(model, tok, seq, [i])[1 + i, tok.convert_tokens_to_ids(seq[i])]
    return total


def hand_indel(model, tok, ref: str, alt: str, pll_window: int) -> float:
    """PLL(ALT sub-window) - PLL(REF sub-window): the documented choice, the bases between every
    leftmost and rightmost placement of the indel, and pll_window // 2 bases each side."""
    short, long_ = sorted((ref, alt), key=len)
    extra = len(long_) - len(short)
    # placements: long_ = short[:k] + inserted + short[k:] for the k where that holds
    ks = [
        k
        for k in range(len(short) + 1)
        if long_[:k] == short[:k] and long_[k + extra :] == short[k:]
    ]
    if ks:
        lo, hi_short = min(ks), max(ks)
    else:  # a complex change: trim shared ends
        p = next((i for i in range(len(short)) if ref[i] != alt[i]), len(short))
        s = next((i for i in range(len(short)) if ref[-1 - i] != alt[-1 - i]), len(short))
        lo, hi_short = min(p, len(short) - s), max(p, len(short) - s)
    h = pll_window // 2
    total = 0.0
    for seq, sign in ((alt, 1), (ref, -1)):
        hi = hi_short + len(seq) - len(short)
        total += sign * hand_pll(model, tok, seq, max(lo - h, 0), min(hi + h, len(seq)))
    return total


def rc(seq: str) -> str:
    return "".join(COMP[b] for b in reversed(seq))


# -- loader and families -----------------------------------------------------------------------


def test_loader_loads_masked_lms_and_names_their_family(protein, dna):
    for path, _, _ in (protein, dna):
        loaded = load_model(path, "cpu")
        assert type(loaded.model).__name__ == "EsmForMaskedLM"
        assert loaded.masked and loaded.kind == "masked" == scorer_kind(loaded.model)
    assert scorers.family(loaded.model).strategies == ("masked-marginal", "wildtype-marginal")


def test_loader_refuses_an_auto_map_folder(dna, genome, tmp_path):
    folder = tmp_path / "remote"
    shutil.copytree(dna[0], folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_evil.EvilForMaskedLM"}
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InputError, match="--trust-remote-code"):
        load_model(folder, "cpu")
    fasta, vcf = write_inputs(
        tmp_path, genome, [Variant("chr1", 20, genome.fetch("chr1")[19], "N")]
    )
    message = one_line_error(
        run(
            "score-vcf",
            "--model",
            folder,
            "--fasta",
            fasta,
            "--vcf",
            vcf,
            "--out",
            tmp_path / "o.tsv",
            "--no-progress",
        )
    )
    assert "--trust-remote-code" in message and not (tmp_path / "o.tsv").exists()


def test_probe_refuses_a_masked_model_in_one_line(protein, tmp_path):
    message = one_line_error(run("probe", "--model", protein[0], "--out", tmp_path / "p"))
    assert "ESM masked LM" in message and "cannot generate" in message and "causal" in message


# -- score-mutations ---------------------------------------------------------------------------

WT = "MKVLAAGIRSTEEPQWYHNCFDKLLAGVRS"
TABLE = ["K2A", "K2W", "V3L:L4G", "E12Q:E13D:P14A", "WT", "K2Z", "M2A", "V3L:L4G"]


def hand_mutant(model, tok, mutant: str, masked: bool, offset: int = 1) -> float:
    subs = [(m[0], int(m[1:-1]) - offset, m[-1]) for m in mutant.split(":")]
    logp = hand_logp(model, tok, WT, [i for _, i, _ in subs] if masked else [])
    ids = tok.convert_tokens_to_ids
    return float(sum(logp[1 + i, ids(mt)] - logp[1 + i, ids(wt)] for wt, i, mt in subs))


@pytest.mark.parametrize("strategy", ["masked-marginal", "wildtype-marginal"])
def test_score_mutations_marginals_match_the_hand_computation(protein, tmp_path, strategy):
    path, model, tok = protein
    table = tmp_path / "dms.csv"
    table.write_text("mutant,DMS_score\n" + "".join(f"{m},{i / 10}\n" for i, m in enumerate(TABLE)))
    out = tmp_path / "out.csv"
    result = run(
        "score-mutations",
        "--model",
        path,
        "--wildtype",
        WT,
        "--mutations",
        table,
        "--score-col",
        "DMS_score",
        "--strategy",
        strategy,
        "--out",
        out,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
    assert [r[-1] for r in rows] == ["ok"] * 5 + [
        "invalid_residue",
        "wildtype_mismatch",
        "duplicate",
    ]
    masked = strategy == "masked-marginal"
    expected = [hand_mutant(model, tok, m, masked) for m in TABLE[:4]] + [0.0]
    assert [float(r[2]) for r in rows[:5]] == pytest.approx(expected, abs=2e-4)
    if masked:  # the marginals differ: masking is real
        assert expected[0] != pytest.approx(hand_mutant(model, tok, "K2A", False), abs=1e-3)


def test_masked_marginal_maps_residue_numbers_past_cls_with_an_offset(protein):
    _, model, tok = protein
    from bioseq.tasks.variants.mutations import parse_mutant

    scorer = masked_protein.MaskedMutationScorer(model, tok)
    shifted = scorer.score_mutants(WT, 24, [parse_mutant("K25A"), parse_mutant("W39Y")])
    assert [s for s, _ in shifted] == pytest.approx(
        [hand_mutant(model, tok, "K25A", True, 24), hand_mutant(model, tok, "W39Y", True, 24)],
        abs=2e-4,
    )


def test_one_masked_pass_per_distinct_set_of_positions(protein):
    _, model, tok = protein
    from bioseq.tasks.variants.mutations import parse_mutant

    rows = []
    hook = model.register_forward_pre_hook(
        lambda m, a, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        mutants = [parse_mutant(m) for m in ("K2A", "K2W", "K2L", "V3L:L4G", "L4G:V3A", "A5C")]
        masked_protein.MaskedMutationScorer(model, tok).score_mutants(WT, 1, mutants)
        assert sum(rows) == 3  # {2}, {3, 4}, {5}
        rows.clear()
        masked_protein.MaskedMutationScorer(model, tok, "wildtype-marginal").score_mutants(
            WT, 1, mutants
        )
        assert sum(rows) == 1
    finally:
        hook.remove()


def test_wrong_strategy_for_the_model_kind_is_one_line(protein, dna, tmp_path):
    table = tmp_path / "dms.csv"
    table.write_text("mutant\nK2A\n")
    base = [
        "score-mutations",
        "--wildtype",
        WT,
        "--mutations",
        table,
        "--out",
        tmp_path / "o.csv",
        "--no-progress",
    ]
    message = one_line_error(run(*base, "--model", protein[0], "--strategy", "causal"))
    assert "--strategy causal" in message and "masked-marginal" in message
    message = one_line_error(run(*base, "--model", dna[0]))
    assert "not a protein model" in message
    fasta, vcf = write_inputs(
        tmp_path, InMemoryGenome({"chr1": "ACGT" * 50}), [Variant("chr1", 5, "A", "C")]
    )
    message = one_line_error(
        run(
            "score-vcf",
            "--model",
            protein[0],
            "--fasta",
            fasta,
            "--vcf",
            vcf,
            "--out",
            tmp_path / "o.tsv",
            "--window",
            16,
        )
    )
    assert "protein model" in message


# -- score-vcf ---------------------------------------------------------------------------------


def variants_of(genome) -> list[Variant]:
    seq = genome.fetch("chr1")
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    b = seq[99]
    return [
        Variant("chr1", 100, b, other[b]),  # two ALTs at one site
        Variant("chr1", 100, b, other[other[b]]),
        Variant("chr1", 60, seq[59:61], other[seq[59]] + other[seq[60]]),  # an MNV
        Variant("chr1", 140, seq[139:142], seq[139]),  # a deletion
        Variant("chr1", 30, seq[29], seq[29] + "GA"),  # an insertion
        Variant("chr1", 170, "N" if seq[169] != "N" else "A", "C"),  # REF mismatch
    ]


def write_inputs(tmp_path, genome, variants) -> tuple:
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">chr1\n{genome.fetch('chr1')}\n")
    vcf = tmp_path / "in.vcf"
    lines = [f"chr1\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t." for v in variants]
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=200>\n#CHROM\tPOS\tID\tREF\t"
        "ALT\tQUAL\tFILTER\tINFO\n" + "\n".join(lines) + "\n"
    )
    return fasta, vcf


def hand_variant(model, tok, genome, v: Variant, masked: bool, strands: int, pll: int) -> float:
    ref, alt = windows(genome, v)
    pairs = [(ref, alt), (rc(ref), rc(alt))][:strands]
    if len(v.ref) == len(v.alt):
        return float(np.mean([hand_marginal(model, tok, r, a, masked) for r, a in pairs]))
    return float(np.mean([hand_indel(model, tok, r, a, pll) for r, a in pairs]))


@pytest.mark.parametrize("strategy", ["masked", "wildtype"])
def test_score_vcf_marginals_and_indel_pll_match_the_hand_computation(
    dna, genome, tmp_path, strategy
):
    path, model, tok = dna
    variants = variants_of(genome)
    fasta, vcf = write_inputs(tmp_path, genome, variants)
    out = tmp_path / "out.vcf"
    result = run(
        "score-vcf",
        "--model",
        path,
        "--fasta",
        fasta,
        "--vcf",
        vcf,
        "--out",
        out,
        "--window",
        WINDOW,
        "--strand",
        "forward",
        "--masked-strategy",
        strategy,
        "--pll-window",
        6,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert f"##bioseq_score={strategy}_marginal" in text and "##bioseq_indels=pll_window_6" in text
    tsv = tmp_path / "out.tsv"
    run(
        "score-vcf",
        "--model",
        path,
        "--fasta",
        fasta,
        "--vcf",
        vcf,
        "--out",
        tsv,
        "--window",
        WINDOW,
        "--strand",
        "forward",
        "--masked-strategy",
        strategy,
        "--pll-window",
        6,
        "--no-progress",
    )
    rows = [line.split("\t") for line in tsv.read_text().splitlines()[1:]]
    assert [r[5] for r in rows] == ["ok"] * 5 + ["ref_mismatch"]
    masked = strategy == "masked"
    expected = [hand_variant(model, tok, genome, v, masked, 1, 6) for v in variants[:5]]
    assert [float(r[4]) for r in rows[:5]] == pytest.approx(expected, abs=2e-4)


def test_both_strands_average_the_reverse_complement(dna, genome):
    _, model, tok = dna
    variants = variants_of(genome)[:5]
    scorer = MaskedLMVariantScorer(model, tok, genome, window=WINDOW, pll_window=4)  # default
    assert scorer.orientations == ("+", "-") and not scorer.rc_exact
    scores = scorer.score(variants)
    expected = [hand_variant(model, tok, genome, v, True, 2, 4) for v in variants]
    assert [s.score for s in scores] == pytest.approx(expected, abs=2e-4)
    forward = [hand_variant(model, tok, genome, v, True, 1, 4) for v in variants]
    assert [s.forward for s in scores] == pytest.approx(forward, abs=2e-4)
    assert scores[0].reverse != pytest.approx(scores[0].forward, abs=1e-3)


def test_one_pass_per_site_shared_by_its_alts(dna, genome):
    _, model, tok = dna
    seq = genome.fetch("chr1")
    snvs = [Variant("chr1", p, seq[p - 1], b) for p in (50, 90) for b in "ACGT" if b != seq[p - 1]]
    rows = []
    hook = model.register_forward_pre_hook(
        lambda m, a, kw: rows.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        for marginal, passes in (("masked", 2), ("wildtype", 2)):
            rows.clear()
            scorer = MaskedLMVariantScorer(
                model, tok, genome, window=WINDOW, strand="forward", marginal=marginal
            )
            assert [s.status for s in scorer.score(snvs)] == ["ok"] * 6
            assert sum(rows) == passes
        rows.clear()  # wild type with windows on a grid: nearby sites share one pass
        scorer = MaskedLMVariantScorer(
            model, tok, genome, window=WINDOW, strand="forward", marginal="wildtype", window_step=24
        )
        scorer.score([Variant("chr1", p, seq[p - 1], "N") for p in (49, 50, 52)])
        assert sum(rows) == 1
    finally:
        hook.remove()


def test_window_and_indel_limits(dna, genome):
    _, model, tok = dna
    with pytest.raises(InputError, match="--window 62 or less"):
        MaskedLMVariantScorer(model, tok, genome, window=64)  # 64 + <cls>/<eos> > 64 positions
    seq = genome.fetch("chr1")
    long_del = Variant("chr1", 100, seq[99:110], seq[99])
    scorer = MaskedLMVariantScorer(model, tok, genome, window=WINDOW, pll_window=8)
    assert scorer.score([long_del])[0].status == "indel_too_long"
    scorer = MaskedLMVariantScorer(model, tok, genome, window=WINDOW, pll_window=0)
    assert scorer.score([long_del])[0].status == "indel_unsupported"


def test_kmer_tokens_score_whole_tokens_or_say_they_moved(kmer, genome):
    _, model, tok = kmer
    seq = genome.fetch("chr1")
    scorer = MaskedLMVariantScorer(model, tok, genome, window=WINDOW, strand="forward")
    b = seq[99]
    alt = "A" if b != "A" else "C"
    snv, to_n = Variant("chr1", 100, b, alt), Variant("chr1", 100, b, "N")
    good, moved = scorer.score([snv, to_n])
    assert moved.status == "tokenization_differs" and moved.score is None
    # by hand: tokens of 3 (the window's first base at a token start), the one holding the SNV
    ref, alt_w = windows(genome, snv)
    start, _ = window_bounds(99, 1, False, len(seq), WINDOW)
    t = (99 - start) // 3
    ids = tok(ref)["input_ids"]
    assert tok.convert_ids_to_tokens(ids)[1 + t] == ref[3 * t : 3 * t + 3]
    masked = list(ids)
    masked[1 + t] = tok.mask_token_id
    with torch.no_grad():
        logp = model(input_ids=torch.tensor([masked])).logits[0].log_softmax(-1)
    alt_id, ref_id = tok.convert_tokens_to_ids([alt_w[3 * t : 3 * t + 3], ref[3 * t : 3 * t + 3]])
    assert good.status == "ok"
    assert good.score == pytest.approx(float(logp[1 + t, alt_id] - logp[1 + t, ref_id]), abs=2e-4)


def test_options_that_a_family_does_not_take(genome):
    from bioseq.models import MambaConfig, MambaLM
    from bioseq.tokenizers import CharTokenizer

    tok = CharTokenizer("dna")
    causal = MambaLM(MambaConfig.from_preset("tiny", vocab_size=len(tok), d_model=16))
    with pytest.raises(InputError, match="--masked-strategy wildtype"):
        scorers.dna_scorer(causal, tok, genome, marginal="wildtype", window=WINDOW)
    with pytest.raises(InputError, match="--pll-window"):
        scorers.dna_scorer(causal, tok, genome, pll_window=8, window=WINDOW)
    assert (
        type(scorers.dna_scorer(causal, tok, genome, window=WINDOW)).__name__ == "DnaVariantScorer"
    )


# -- Caduceus ----------------------------------------------------------------------------------


def caduceus(rcps: bool):
    from bioseq.models import CaduceusConfig, CaduceusLM
    from bioseq.tokenizers import caduceus_tokenizer, complement_map

    tok = caduceus_tokenizer()
    torch.manual_seed(3)
    config = CaduceusConfig.from_preset(
        "tiny",
        vocab_size=len(tok),
        d_model=16,
        n_layer=2,
        rcps=rcps,
        complement_map=complement_map(tok),
    )
    return CaduceusLM(config).eval(), tok


@pytest.mark.parametrize("rcps", [True, False])
def test_caduceus_scores_the_same_on_both_strands_when_rcps(rcps):
    model, tok = caduceus(rcps)
    assert scorer_kind(model) == "masked"
    rng = random.Random(8)
    seq = "".join(rng.choice("ACGT") for _ in range(40))
    fwd, rev = InMemoryGenome({"c": seq}), InMemoryGenome({"c": reverse_complement(seq)})
    # windows cover the whole contig, so the mirrored variant has the mirrored window
    rseq = reverse_complement(seq)
    pairs = [
        (Variant("c", 12, seq[11], COMP[seq[11]]), Variant("c", 29, rseq[28], seq[11])),
        (Variant("c", 20, seq[19:21], "GG"), Variant("c", 20, rseq[19:21], "CC")),
        (Variant("c", 25, seq[24:27], seq[24]), Variant("c", 13, rseq[12:15], rseq[12])),
    ]
    options = dict(window=128, strand="both", pll_window=4)
    one = MaskedLMVariantScorer(model, tok, fwd, **options)
    other = MaskedLMVariantScorer(model, tok, rev, **options)
    assert one.orientations == (("+",) if rcps else ("+", "-"))
    assert bool(one.note) == rcps
    for v, mirrored in pairs:
        (a,), (b,) = one.score([v]), other.score([mirrored])
        assert a.status == b.status == "ok"
        if rcps:
            assert a.reverse is None and a.score == pytest.approx(b.score, abs=1e-4)
        else:  # both strands, averaged: the same number from either genome too
            assert a.score == pytest.approx(b.score, abs=1e-4)
            assert a.forward == pytest.approx(b.reverse, abs=1e-4)
            assert a.forward != pytest.approx(a.reverse, abs=1e-4)


def test_caduceus_score_vcf_through_the_cli(tmp_path, genome):
    model, tok = caduceus(True)
    folder = tmp_path / "cad"
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    variants = variants_of(genome)
    fasta, vcf = write_inputs(tmp_path, genome, variants)
    out = tmp_path / "o.tsv"
    result = run(
        "score-vcf",
        "--model",
        folder,
        "--fasta",
        fasta,
        "--vcf",
        vcf,
        "--out",
        out,
        "--window",
        WINDOW,
        "--strand",
        "both",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert "reverse-complement equivariant" in result.output
    rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
    assert [r[5] for r in rows] == ["ok"] * 5 + ["ref_mismatch"]
    direct = MaskedLMVariantScorer(model, tok, genome, window=WINDOW).score(variants[:5])
    assert [float(r[4]) for r in rows[:5]] == pytest.approx([s.score for s in direct], abs=1e-4)


def test_module_doctests():
    for module in (masked_lm, masked_dna, masked_protein, scorers):
        assert doctest.testmod(module).failed == 0, module.__name__


@torch.no_grad()
def hand_mean_marginal(model, tok, rows: list[torch.Tensor], subs: list[tuple[str, int, str]]):
    """Mean over the given input rows of sum log p(mt) - log p(wt) at the (0-based) residues."""
    ids = tok.convert_tokens_to_ids
    values = []
    for row in rows:
        x = row[None]
        logp = model(input_ids=x, attention_mask=torch.ones_like(x)).logits[0].log_softmax(-1)
        values.append(sum(float(logp[1 + i, ids(mt)] - logp[1 + i, ids(wt)]) for wt, i, mt in subs))
    return float(np.mean(values))


def test_context_masks_average_the_marginal_over_random_masks_of_the_rest(protein):
    _, model, tok = protein
    from bioseq.tasks.variants.mutations import parse_mutant

    seen: list[torch.Tensor] = []
    hook = model.register_forward_pre_hook(
        lambda m, a, kw: seen.extend(kw["input_ids"].clone()), with_kwargs=True
    )
    scorer = masked_protein.MaskedMutationScorer(model, tok, context_mask=0.3, draws=6, seed=3)
    alone = {}
    try:
        for mutant in ("K2A", "V3L:L4G"):
            seen.clear()
            ((score, status),) = scorer.score_mutants(WT, 1, [parse_mutant(mutant)])
            subs = [(m[0], int(m[1:-1]) - 1, m[-1]) for m in mutant.split(":")]
            assert status == "ok" and len(seen) == 6  # one pass per draw
            for row in seen:  # the mutated residues always hidden, <cls>/<eos> never
                assert all(int(row[1 + i]) == tok.mask_token_id for _, i, _ in subs)
                assert int(row[0]) == tok.cls_token_id and int(row[-1]) == tok.eos_token_id
            assert len({tuple(r.tolist()) for r in seen}) > 1  # the draws differ
            rows = list(seen)  # the hand computation's own passes go through the hook too
            assert score == pytest.approx(hand_mean_marginal(model, tok, rows, subs), abs=2e-4)
            alone[mutant] = score
        seen.clear()
        together = scorer.score_mutants(WT, 1, [parse_mutant(m) for m in ("V3L:L4G", "K2A")])
        assert [s for s, _ in together] == pytest.approx([alone["V3L:L4G"], alone["K2A"]])
        # the share of the other residues hidden is the fraction asked for
        seen.clear()
        many = masked_protein.MaskedMutationScorer(model, tok, context_mask=0.3, draws=200)
        many.score_mutants(WT, 1, [parse_mutant("K2A")])
        hidden = [
            int(r[1 + j]) == tok.mask_token_id for r in seen for j in range(len(WT)) if j != 1
        ]
        assert np.mean(hidden) == pytest.approx(0.3, abs=0.04)
    finally:
        hook.remove()
    plain = masked_protein.MaskedMutationScorer(model, tok).score_mutants(
        WT, 1, [parse_mutant("K2A")]
    )
    assert plain[0][0] == pytest.approx(hand_mutant(model, tok, "K2A", True), abs=2e-4)
    assert plain[0][0] != pytest.approx(alone["K2A"], abs=1e-4)


def test_context_mask_is_refused_where_it_means_nothing(protein, tmp_path):
    path, _, _ = protein
    table = tmp_path / "dms.csv"
    table.write_text("mutant,DMS_score\nK2A,0.1\n")
    common = ["score-mutations", "--model", path, "--wildtype", WT, "--mutations", table]
    for extra, says in (
        (["--strategy", "wildtype-marginal", "--context-mask", "0.3"], "masked-marginal only"),
        (["--context-mask", "1.5"], "fraction in [0, 1)"),
        (["--context-mask", "0.3", "--context-draws", "0"], "at least 1"),
    ):
        result = run(*common, *extra, "--out", tmp_path / "o.csv", "--no-progress")
        assert result.exit_code == 2 and says in one_line_error(result)
