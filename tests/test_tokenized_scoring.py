"""Downstream tasks with multi-base tokenizers (k-mer, BPE): variant scores against a hand
computation, pretraining windows and bits per base, ICL continuations decoded to symbols."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.io.source import InMemoryGenome
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.tasks.icl.adapters import CausalLMAdapter
from bioseq.tasks.variants import DnaVariantScorer, Variant, window_bounds
from bioseq.tokenizers import KmerTokenizer, train_bpe


def random_dna(n: int, seed: int) -> str:
    rng = random.Random(seed)
    return "".join(rng.choice("ACGT") for _ in range(n))


@pytest.fixture(scope="module")
def genome() -> InMemoryGenome:
    # repeats give BPE long merges, random stretches short ones: windows tokenise unevenly
    unit = random_dna(7, 3)
    return InMemoryGenome({"chr1": random_dna(150, 1) + unit * 20 + random_dna(150, 2)})


@pytest.fixture(scope="module")
def bpe(genome):
    return train_bpe([genome.fetch("chr1"), random_dna(4000, 5)], vocab_size=64, progress=False)


def tokenizer_of(name: str, bpe):
    return bpe if name == "bpe" else KmerTokenizer(k=3)


def tiny(kind: str, vocab: int):
    torch.manual_seed(0)
    if kind == "hyena":
        config = HyenaConfig.from_preset("tiny", vocab_size=vocab, d_model=32, max_seq_len=256)
        return HyenaLM(config).eval()
    if kind == "mamba":
        return MambaLM(MambaConfig.from_preset("tiny", vocab_size=vocab, d_model=32)).eval()
    return TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=vocab, d_model=32)).eval()


def hand_total(model, tokenizer, window: str) -> tuple[float, int]:
    """Sum of log p(token_i | tokens before it), i >= 1, and the bases those tokens hold."""
    ids = tokenizer.encode_array(window)
    with torch.no_grad():
        logits = model(torch.from_numpy(ids)[None]).logits[0].double()
    logp = torch.log_softmax(logits[:-1], dim=-1)
    total = sum(float(logp[i, int(ids[i + 1])]) for i in range(len(ids) - 1))
    bases = sum(len(t) for t in tokenizer.convert_ids_to_tokens(ids[1:].tolist()))
    return total, bases


@pytest.mark.parametrize(
    "kind", ["hyena", pytest.param("mamba", marks=pytest.mark.slow), "transformer"]
)
@pytest.mark.parametrize("name", ["kmer", pytest.param("bpe", marks=pytest.mark.slow)])
def test_variant_scores_equal_a_hand_computation(name, kind, genome, bpe):
    tokenizer = tokenizer_of(name, bpe)
    model = tiny(kind, len(tokenizer))
    seq = genome.fetch("chr1")
    positions = (40, 151, 160, 170, 290)
    variants = [
        Variant("chr1", p, seq[p - 1], b) for p in positions for b in "ACGT" if b != seq[p - 1]
    ]
    variants.append(Variant("chr1", 200, seq[199:202], seq[199]))  # a deletion
    window = 96
    sums = DnaVariantScorer(model, tokenizer, genome, window=window, reduce="sum").score(variants)
    means = DnaVariantScorer(model, tokenizer, genome, window=window).score(variants)
    n_different = 0
    for variant, by_sum, by_mean in zip(variants, sums, means, strict=True):
        pos0 = variant.pos - 1
        indel = len(variant.ref) != len(variant.alt)
        start, end = window_bounds(pos0, len(variant.ref), indel, len(seq), window)
        ref_win = seq[start:end]
        alt_win = ref_win[: pos0 - start] + variant.alt + ref_win[pos0 - start + len(variant.ref) :]
        ref_total, ref_bases = hand_total(model, tokenizer, ref_win)
        alt_total, alt_bases = hand_total(model, tokenizer, alt_win)
        n_different += len(tokenizer.encode_array(ref_win)) != len(tokenizer.encode_array(alt_win))
        assert by_sum.status == "ok" and by_mean.status == "ok"
        assert by_sum.score == pytest.approx(alt_total - ref_total, abs=2e-3)
        if not indel:  # the mean is per base, the same denominator whatever the tokens
            if ref_bases == alt_bases:
                expected = (alt_total - ref_total) / ref_bases
            else:  # the first token (unscored) holds a different number of bases
                expected = alt_total / alt_bases - ref_total / ref_bases
            assert by_mean.score == pytest.approx(expected, abs=1e-4)
    if name == "bpe":  # the case this test is about: the alleles tokenise differently
        assert n_different > 0


def test_window_limit_counts_tokens_not_bases(bpe):
    unit = random_dna(7, 3)  # the fixture genome's repeat unit, which BPE merged
    seq = random_dna(600, 7) + unit * 60 + random_dna(600, 8)
    genome = InMemoryGenome({"chr1": seq})
    model = tiny("transformer", len(bpe))
    model.config.max_seq_len = 118  # the scorer reads this limit (Hyena's filters set it)
    window = 300  # more bases than the model reads tokens: fits in the repeat, not outside
    assert window / bpe.bases_per_token < 118  # so the constructor accepts it
    variants = [
        Variant("chr1", p, seq[p - 1], "A" if seq[p - 1] != "A" else "C")
        for p in range(200, 1600, 100)
    ]
    results = DnaVariantScorer(model, bpe, genome, window=window).score(variants)
    for variant, result in zip(variants, results, strict=True):
        start, end = window_bounds(variant.pos - 1, 1, False, len(seq), window)
        ref_win = seq[start:end]
        alt_win = ref_win[: variant.pos - 1 - start] + variant.alt + ref_win[variant.pos - start :]
        fits = max(len(bpe.encode_array(w)) for w in (ref_win, alt_win)) <= 118
        assert result.status == ("ok" if fits else "window_too_long"), (variant, result)
    assert {r.status for r in results} == {"ok", "window_too_long"}
    with pytest.raises(bioseq.errors.InputError, match="tokens"):
        DnaVariantScorer(model, bpe, genome, window=int(118 * bpe.bases_per_token * 2))


def test_pretrain_with_a_bpe_directory_reports_bits_per_base(tmp_path):
    lam = str(example_genome("lambda"))
    tok_dir = tmp_path / "bpe"
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["tokenizer", "train", "--type", "bpe", "--vocab-size", "128", "--out", str(tok_dir), lam],
    )
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    result = runner.invoke(
        main,
        [
            "pretrain",
            lam,
            "--tokenizer",
            str(tok_dir),
            "--out",
            str(run),
            "--steps",
            "4",
            "--d-model",
            "32",
            "--n-layer",
            "1",
            "--context",
            "64",
            "--batch-size",
            "4",
            "--eval-every",
            "2",
            "--eval-windows",
            "4",
            "--final-eval-windows",
            "8",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    last = rows[-1]
    # tokens hold several bases: bits per base is well below bits per token
    per_token = last["val_loss"] / np.log(2)
    assert last["val_bits_per_base"] < per_token / 1.5
    adapter = CausalLMAdapter.from_path(run)
    assert type(adapter.tokenizer).__name__ == "BpeTokenizer"


def test_icl_continuations_decode_bpe_tokens_to_symbols(bpe):
    model = tiny("transformer", len(bpe))
    adapter = CausalLMAdapter(model, bpe, name="bpe")
    assert adapter.encodes("ACGT")
    prompts = ["ACGTACGTAC", "GGATTACA"]
    for text in adapter.complete(prompts, n_symbols=6):
        symbols = text.replace("[SEP]", "")
        assert len(symbols) >= 6 and set(symbols) <= set("ACGTN"), text
