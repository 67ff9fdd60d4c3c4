"""Variant-scoring throughput: 1,000 SNVs in 100 windows of 8,192 bp, with and without reuse.

    python benchmarks/bench_variants.py                       # Mamba, the issue's setting
    python benchmarks/bench_variants.py --models mamba,hyena,transformer
    python benchmarks/bench_variants.py --naive-windows 10    # naive pass on a subset

The SNVs are real E. coli positions (the bundled genome): 100 blocks of 64 bases spread along
the chromosome, 10 SNVs at distinct positions in each, so with ``window_step=64`` the 10 SNVs of
a block share one 8,192-bp reference window. Models are tiny and random (d_model 32, 2 layers):
the benchmark measures the scoring machinery, not a model. Three ways to score:

* naive: each SNV's reference and alternative windows, two full forward passes (batch 1);
* windows once: each reference window scored once, every alternative window in full, batched
  (``PairScorer(strategy="full")``);
* reuse: windows once plus suffix-only recomputation (Transformer: key/value cache; Mamba: the
  state at each variant position, computed once and continued in parallel; Hyena has no cache,
  so only the suffix is summed);
* auto: what ``bioseq score-vcf`` does (reuse, except Transformer on the CPU: windows once).

Rates are variants per second; speed-ups are against naive. The last column is the largest
difference between a method's scores and the naive ones on the variants both scored.
"""

from __future__ import annotations

import argparse
import random
import time

import numba
import torch

import bioseq.models  # noqa: F401
from bioseq.data import default_genome
from bioseq.io import Genome
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.tasks.variants import DnaVariantScorer, Variant, naive_pair_scores, window_bounds
from bioseq.tokenizers import CharTokenizer

CONTIG = "NC_000913.3"
STEP = 64


def tiny_model(kind: str, vocab: int, window: int):
    torch.manual_seed(0)
    if kind == "mamba":
        return MambaLM(MambaConfig.from_preset("tiny", vocab_size=vocab, d_model=32)).eval()
    if kind == "hyena":
        config = HyenaConfig.from_preset(
            "tiny", vocab_size=vocab, d_model=32, max_seq_len=window + 8, embed_dropout=0.0
        )
        return HyenaLM(config).eval()
    config = TransformerConfig.from_preset("tiny", vocab_size=vocab, d_model=32)
    return TransformerLM(config).eval()


def make_snvs(genome: Genome, n_windows: int, per_window: int, window: int) -> list[Variant]:
    rng = random.Random(0)
    length = genome.contigs[CONTIG]
    spacing = (length - 2 * window) // n_windows
    variants = []
    for w in range(n_windows):
        block = window + w * spacing // STEP * STEP
        for pos0 in sorted(rng.sample(range(block, block + STEP), per_window)):
            ref = genome.fetch(CONTIG, pos0, pos0 + 1)
            alt = rng.choice([b for b in "ACGT" if b != ref])
            variants.append(Variant(CONTIG, pos0 + 1, ref, alt))
    return variants


def naive(model, tokenizer, genome: Genome, variants: list[Variant], window: int) -> list[float]:
    pairs = []
    for v in variants:
        pos0 = v.pos - 1
        start, end = window_bounds(pos0, 1, False, genome.contigs[CONTIG], window, STEP)
        ref = genome.fetch(CONTIG, start, end)
        pairs.append((ref, ref[: pos0 - start] + v.alt + ref[pos0 - start + 1 :]))
    return [p.llr("mean") for p in naive_pair_scores(model, tokenizer, pairs, add_bos=False)]


METHODS = (("naive", None), ("windows once", "full"), ("reuse", "reuse"), ("auto", "auto"))


@torch.no_grad()
def run_methods(model, tokenizer, genome, variants, args) -> list[tuple[str, float, int, float]]:
    """``(method, seconds, variants, max |score - naive|)`` per method.

    The methods take turns on chunks of ``--chunk`` windows, so a change in the machine's load
    during the run affects them all alike.
    """
    scorers = {}
    for name, strategy in METHODS[1:]:
        scorers[name] = DnaVariantScorer(
            model,
            tokenizer,
            genome,
            window=args.window,
            window_step=STEP,
            batch_size=args.batch_size,
            strategy=strategy,
        )
        scorers[name].score(variants[: args.per_window])  # warm-up (numba, allocator)
    naive_windows = args.naive_windows or args.windows
    seconds = dict.fromkeys(scorers, 0.0) | {"naive": 0.0}
    scores: dict[str, list[float]] = {name: [] for name in seconds}
    for first in range(0, args.windows, args.chunk):
        chunk = variants[first * args.per_window : (first + args.chunk) * args.per_window]
        if first < naive_windows:
            out, took = timed(lambda c=chunk: naive(model, tokenizer, genome, c, args.window))
            seconds["naive"] += took
            scores["naive"] += out
        for name, scorer in scorers.items():
            out, took = timed(lambda c=chunk, s=scorer: s.score(c))
            seconds[name] += took
            scores[name] += [v.score for v in out]
    rows = []
    for name, _ in METHODS:
        diff = max(abs(a - b) for a, b in zip(scores[name], scores["naive"], strict=False))
        rows.append((name, seconds[name], len(scores[name]), diff))
    return rows


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mamba", help="mamba, hyena, transformer (a,b,...)")
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--per-window", type=int, default=10)
    parser.add_argument("--window", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=10, help="windows per turn of each method")
    parser.add_argument(
        "--naive-windows",
        type=int,
        default=None,
        help="score only this many windows naively (default: all)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch and numba threads (1 avoids contention on shared machines)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    tokenizer = CharTokenizer("dna")
    genome = Genome(default_genome())
    variants = make_snvs(genome, args.windows, args.per_window, args.window)
    n_naive = args.per_window * (args.naive_windows or args.windows)
    print(
        f"{len(variants):,} SNVs in {args.windows} windows of {args.window:,} bp, "
        f"{args.threads} thread(s); naive on {n_naive:,} SNVs"
    )
    header = "| model | method | variants | seconds | variants/s | speed-up | max abs diff |"
    print(header + "\n|---|---|--:|--:|--:|--:|--:|")
    for kind in args.models.split(","):
        model = tiny_model(kind, tokenizer.vocab_size, args.window)
        rows = run_methods(model, tokenizer, genome, variants, args)
        base = rows[0][2] / rows[0][1]  # naive variants per second
        for name, seconds, n, diff in rows:
            rate = n / seconds
            print(
                f"| {kind} | {name} | {n:,} | {seconds:.1f} | {rate:.1f} | {rate / base:.1f}x | "
                f"{diff:.1e} |"
            )


if __name__ == "__main__":
    main()
