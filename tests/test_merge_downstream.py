"""MergeLM downstream: masked logits, masked-marginal variant scores against a hand computation
(both strands, indels), ``score-vcf`` on a saved merge model, and one-line errors from the
commands that need a causal LM (``score-mutations``, ``probe``)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.io import reverse_complement
from bioseq.io.source import InMemoryGenome
from bioseq.models import MergeConfig, MergeLM
from bioseq.tasks.variants import (
    MaskedMarginalScorer,
    Variant,
    dna_scorer,
    score_variants,
    window_bounds,
)
from bioseq.tokenizers import CharTokenizer

DNA_TOK = CharTokenizer("dna")
WINDOW = 64


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def model() -> MergeLM:
    torch.manual_seed(0)
    config = MergeConfig.from_preset(
        "tiny",
        vocab_size=DNA_TOK.vocab_size,
        d_model=32,
        n_layer=1,
        pad_token_id=0,
        backbone_kwargs={"max_seq_len": 512},
    )
    return MergeLM(config).eval()


@pytest.fixture(scope="module")
def genome() -> InMemoryGenome:
    rng = random.Random(3)
    return InMemoryGenome({"chr1": "".join(rng.choice("ACGT") for _ in range(300))})


@pytest.fixture(scope="module")
def merge_dir(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("merge")
    model.save_pretrained(path)
    DNA_TOK.save_pretrained(path)
    return path


def hand_score(model, genome, variant: Variant, rc: bool = False) -> float:
    """log p(ALT) - log p(REF) summed over the changed bases, masked in the REF window."""
    seq = genome.fetch("chr1")
    pos0 = variant.pos - 1
    start, end = window_bounds(pos0, len(variant.ref), False, len(seq), WINDOW)
    ref = seq[start:end]
    alt = ref[: pos0 - start] + variant.alt + ref[pos0 - start + len(variant.ref) :]
    if rc:
        ref, alt = reverse_complement(ref), reverse_complement(alt)
    ref_ids, alt_ids = DNA_TOK.encode_array(ref), DNA_TOK.encode_array(alt)
    changed = ref_ids != alt_ids
    with torch.no_grad():
        logits = model.masked_logits(
            torch.from_numpy(ref_ids)[None], torch.from_numpy(changed)[None]
        )
    logp = logits[0].float().log_softmax(-1).numpy()
    at = np.flatnonzero(changed)
    return float((logp[at, alt_ids[at]] - logp[at, ref_ids[at]]).sum())


def substitutions(genome) -> list[Variant]:
    """Two ALTs at one site, an MNV, one next to the contig start (a shorter window)."""
    seq = genome.fetch("chr1")
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    b = seq[149]
    return [
        Variant("chr1", 150, b, other[b]),
        Variant("chr1", 150, b, other[other[b]]),
        Variant("chr1", 200, seq[199:201], other[seq[199]] + other[seq[200]]),
        Variant("chr1", 5, seq[4], other[seq[4]]),
    ]


# -- masked logits ----------------------------------------------------------------------------


def test_masked_logits_mask_whole_tokens_and_are_deterministic(model):
    ids = torch.from_numpy(DNA_TOK.encode_array("ACGTTGCAAGGCTTAACCGT" * 4))[None]
    one = torch.zeros(ids.shape, dtype=torch.bool)
    one[0, 33] = True
    source = model.merge_tokens(ids).source
    whole = source == source[0, 33]  # every base of the token holding base 33
    assert whole.sum() > 1  # the tiny model merges base 33 with a neighbour
    with torch.no_grad():
        first = model.masked_logits(ids, one)
        assert torch.equal(first, model.masked_logits(ids, one))
        assert torch.equal(first, model.masked_logits(ids, whole))
        assert not torch.allclose(first, model(ids).logits)


# -- masked-marginal scores -------------------------------------------------------------------


def test_scores_equal_a_hand_computation(model, genome):
    variants = substitutions(genome)
    scorer = MaskedMarginalScorer(model, DNA_TOK, genome, window=WINDOW, batch_size=3)
    scores = scorer.score(variants)
    assert [s.status for s in scores] == ["ok"] * 4
    for variant, s in zip(variants, scores, strict=True):
        assert s.score == pytest.approx(hand_score(model, genome, variant), abs=1e-5)
        assert s.reverse is None
    assert scores[0].score != pytest.approx(scores[1].score)


def test_both_strands_average_the_reverse_complement_window(model, genome):
    variants = substitutions(genome)
    scores = dna_scorer(model, DNA_TOK, genome, window=WINDOW, strand="both").score(variants)
    for variant, s in zip(variants, scores, strict=True):
        forward = hand_score(model, genome, variant)
        reverse = hand_score(model, genome, variant, rc=True)
        assert (s.forward, s.reverse) == pytest.approx((forward, reverse), abs=1e-5)
        assert s.score == pytest.approx((forward + reverse) / 2, abs=1e-5)


def test_indels_are_unsupported(model, genome):
    seq = genome.fetch("chr1")
    variants = [Variant("chr1", 100, seq[99:102], seq[99]), Variant("chr1", 100, seq[99], "A")]
    variants.append(Variant("chr1", 100, "N", "A"))
    scores = MaskedMarginalScorer(model, DNA_TOK, genome, window=WINDOW).score(variants)
    assert scores[0].status == "indel_unsupported" and scores[0].score is None
    assert "substitutions only" in scores[0].detail
    assert scores[1].status == "ok" and scores[2].status == "ref_mismatch"
    # the plain API routes a masked model to the same scorer
    again = score_variants(model, DNA_TOK, genome, variants, window=WINDOW)
    assert [(a.status, a.score) for a in again] == [(s.status, s.score) for s in scores]


# -- the CLI ----------------------------------------------------------------------------------


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_score_vcf_with_a_merge_model(tmp_path, model, genome, merge_dir):
    fasta = tmp_path / "genome.fa"
    fasta.write_text(f">chr1\n{genome.fetch('chr1')}\n")
    variants = substitutions(genome)
    seq = genome.fetch("chr1")
    lines = [f"chr1\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\t.\t." for v in variants]
    lines.insert(3, f"chr1\t240\t.\t{seq[239:242]}\t{seq[239]}\t.\t.\t.")  # an indel
    vcf = tmp_path / "in.vcf"
    header = "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=300>\n#CHROM\tPOS\tID\tREF\tALT\t"
    vcf.write_text(header + "QUAL\tFILTER\tINFO\n" + "\n".join(lines) + "\n")
    out = tmp_path / "out.tsv"
    for reduce in ("mean", "sum"):  # --reduce is ignored
        result = run(
            "score-vcf",
            "--model",
            merge_dir,
            "--fasta",
            fasta,
            "--vcf",
            vcf,
            "--out",
            out,
            "--window",
            WINDOW,
            "--reduce",
            reduce,
            "--no-progress",
        )
        assert result.exit_code == 0, result.output
        rows = [line.split("\t") for line in out.read_text().splitlines()[1:]]
        assert [r[5] for r in rows] == ["ok", "ok", "ok", "indel_unsupported", "ok"]
        expected = [hand_score(model, genome, v) for v in variants]
        got = [float(r[4]) for i, r in enumerate(rows) if i != 3]
        assert got == pytest.approx(expected, abs=1e-4)


def one_line_error(result, path) -> str:
    """The error line, short once the (long, temporary) model path is left out."""
    assert result.exit_code == 2, result.output
    # a loaded machine may print the "loading ... " notice of a slow load first
    lines = [x for x in result.output.strip().splitlines() if not x.endswith(" ...")]
    message = "\n".join(lines)
    assert "\n" not in message and "Traceback" not in message
    assert len(message.replace(str(path), "runs/m")) < 200
    return message


def test_score_mutations_rejects_a_merge_model(tmp_path, merge_dir):
    table = tmp_path / "dms.csv"
    table.write_text("mutant,DMS_score\nM1A,0.5\n")
    result = run(
        "score-mutations",
        "--model",
        merge_dir,
        "--wildtype",
        "MKVL",
        "--mutations",
        table,
        "--out",
        tmp_path / "out.csv",
        "--no-progress",
    )
    message = one_line_error(result, merge_dir)
    assert "MergeLM" in message and "causal" in message


def test_probe_rejects_a_merge_model(tmp_path, merge_dir):
    result = run("probe", "--model", merge_dir, "--out", tmp_path / "probes")
    message = one_line_error(result, merge_dir)
    assert "MergeLM" in message and "cannot generate" in message


def test_unrecognized_model_types_give_a_short_error(tmp_path):
    config = {"model_type": "t5", "d_model": 8, "num_layers": 1, "num_heads": 1, "d_kv": 4}
    (tmp_path / "config.json").write_text(json.dumps(config))
    result = run(
        "score-vcf",
        "--model",
        tmp_path,
        "--fasta",
        "x.fa",
        "--vcf",
        "x.vcf",
        "--out",
        tmp_path / "o.tsv",
    )
    assert "model_type 't5' is not a causal LM" in one_line_error(result, tmp_path)
