"""Masked-marginal scoring speed: one masked pass per site (shared by its ALTs) vs one per allele.

    python benchmarks/bench_masked.py                          # 1,000 SNVs, 8,192-bp windows
    python benchmarks/bench_masked.py --n 30 --window 1024     # a smoke run (seconds)
    python benchmarks/bench_masked.py --model esm --device cuda

The SNVs are real E. coli positions (the bundled genome): ``--n / 3`` sites, every ``--spacing``
bases from position 1,000,000, each with its three ALTs. The model is tiny and random (Caduceus
``d_model`` 32, 2 layers, RC-equivariant, so one strand is exact; or an ``EsmForMaskedLM`` of
the same size with rotary positions): the benchmark measures the scoring machinery. Ways to
score, each on the forward strand:

* naive masked: one masked pass per allele, batched ``--batch-size`` at a time (written out
  here: mask the SNV's base in its reference window, read log p(ALT) - log p(REF));
* shared masked: ``MaskedLMVariantScorer(marginal="masked")``, what ``bioseq score-vcf`` does:
  one masked pass per distinct site, shared by its ALTs;
* wild type: ``marginal="wildtype"``, one unmasked pass per reference window (here one per site);
* wild type, grid: the same with ``window_step=--wt-step``, so nearby sites share a window.

The table gives forward passes (rows of batches), seconds, variants/s and the speed-up over
naive; the check at the end: shared masked scores equal the naive ones, and wild-type scores
equal a per-allele unmasked reading of the same windows (the first ``--check``; both to 1e-4).
On 2 shared CPU cores, one thread, the full default run takes about 15 minutes (a pass over
8 windows of 8,192 bases: ~3.7 s).
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from bench_variants import timed  # benchmarks/ is on the path when run as a script

import bioseq.models  # noqa: F401  (registers the models)
from bioseq.data import default_genome
from bioseq.io import Genome
from bioseq.tasks.variants import Variant, window_bounds
from bioseq.tasks.variants.masked_dna import MaskedLMVariantScorer
from bioseq.tasks.variants.masked_lm import MaskedLMReader
from bioseq.tokenizers import CharTokenizer, caduceus_tokenizer, complement_map

CONTIG = "NC_000913.3"
FIRST = 1_000_000


def tiny_model(kind: str, device: str):
    """A tiny random masked DNA model and its tokenizer."""
    torch.manual_seed(0)
    if kind == "caduceus":
        from bioseq.models import CaduceusConfig, CaduceusLM

        tok = caduceus_tokenizer()
        config = CaduceusConfig.from_preset(
            "tiny",
            vocab_size=len(tok),
            d_model=32,
            n_layer=2,
            rcps=True,
            complement_map=complement_map(tok),
        )
        return CaduceusLM(config).eval().to(device), tok
    from transformers import EsmConfig, EsmForMaskedLM

    tok = CharTokenizer("dna")
    config = EsmConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        pad_token_id=tok.pad_token_id,
        mask_token_id=tok.mask_token_id,
        position_embedding_type="rotary",
        token_dropout=False,
    )
    return EsmForMaskedLM(config).eval().to(device), tok


def make_snvs(genome: Genome, n: int, spacing: int) -> list[Variant]:
    """``n`` SNVs: three ALTs at each of ``ceil(n / 3)`` sites ``spacing`` bases apart."""
    variants = []
    for s in range((n + 2) // 3):
        pos0 = FIRST + s * spacing
        ref = genome.fetch(CONTIG, pos0, pos0 + 1)
        variants += [Variant(CONTIG, pos0 + 1, ref, alt) for alt in "ACGT" if alt != ref]
    return variants[:n]


def per_allele(reader: MaskedLMReader, genome: Genome, variants, window: int, masked: bool):
    """One pass per allele (masked at the SNV, or not), in batches: the naive reading."""
    passes = []
    for v in variants:
        pos0 = v.pos - 1
        start, end = window_bounds(pos0, 1, False, genome.contigs[CONTIG], window)
        tokens = reader.tokenize(genome.fetch(CONTIG, start, end))
        at = tokens.start + pos0 - start
        ids = tokens.masked([at]) if masked else tokens.ids
        passes.append((ids, [(at, reader.symbol_id(v.alt)), (at, int(tokens.ids[at]))]))
    return [float(alt - ref) for alt, ref in reader.read(passes)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="SNVs (three per site)")
    parser.add_argument("--window", type=int, default=8192)
    parser.add_argument("--spacing", type=int, default=7, help="bases between sites")
    parser.add_argument(
        "--wt-step",
        type=int,
        default=None,
        help="window grid of the shared wild-type run (default window/4)",
    )
    parser.add_argument("--model", choices=["caduceus", "esm"], default="caduceus")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--check",
        type=int,
        default=60,
        help="alleles read unmasked one by one to check the wild type",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    genome = Genome(default_genome())
    model, tok = tiny_model(args.model, args.device)
    variants = make_snvs(genome, args.n, args.spacing)
    sites = len({v.pos for v in variants})
    rows: list[int] = []
    model.register_forward_pre_hook(
        lambda m, a, kw: rows.append(
            (kw.get("input_ids") if kw.get("input_ids") is not None else a[0]).shape[0]
        ),
        with_kwargs=True,
    )
    options = dict(window=args.window, strand="forward", batch_size=args.batch_size)
    reader = MaskedLMReader(model, tok, args.batch_size)
    wt_step = args.wt_step or max(args.window // 4, 1)
    runs = {
        "naive masked": lambda: per_allele(reader, genome, variants, args.window, True),
        "shared masked": lambda: [
            s.score
            for s in MaskedLMVariantScorer(model, tok, genome, marginal="masked", **options).score(
                variants
            )
        ],
        "wild type": lambda: [
            s.score
            for s in MaskedLMVariantScorer(
                model, tok, genome, marginal="wildtype", **options
            ).score(variants)
        ],
        f"wild type, grid {wt_step}": lambda: [
            s.score
            for s in MaskedLMVariantScorer(
                model, tok, genome, marginal="wildtype", window_step=wt_step, **options
            ).score(variants)
        ],
    }
    MaskedLMVariantScorer(model, tok, genome, **options).score(variants[:3])  # warm-up
    print(
        f"{len(variants):,} SNVs at {sites:,} sites, {args.window:,}-bp windows, tiny "
        f"{args.model} on {args.device}, batch {args.batch_size}"
    )
    print(f"{'method':<24}{'passes':>8}{'seconds':>10}{'variants/s':>12}{'speed-up':>10}")
    scores, naive_seconds = {}, None
    for name, fn in runs.items():
        rows.clear()
        scores[name], seconds = timed(fn)
        naive_seconds = naive_seconds or seconds
        print(
            f"{name:<24}{sum(rows):>8,}{seconds:>10.2f}{len(variants) / seconds:>12.1f}"
            f"{naive_seconds / seconds:>9.1f}x"
        )
    unmasked = per_allele(reader, genome, variants[: args.check], args.window, False)
    checks = {
        "shared masked vs naive masked": (scores["shared masked"], scores["naive masked"]),
        f"wild type vs per-allele unmasked (first {len(unmasked)})": (
            scores["wild type"][: len(unmasked)],
            unmasked,
        ),
    }
    ok = True
    for what, (a, b) in checks.items():
        diff = float(np.max(np.abs(np.subtract(a, b))))
        ok &= diff < 1e-4
        print(f"{what}: max |difference| {diff:.2e}")
    if not ok:
        raise SystemExit("scores disagree")


if __name__ == "__main__":
    main()
