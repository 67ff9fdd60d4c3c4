"""Tokenizer throughput and compression on the bundled E. coli genome: BPE, k-mer, single base.

    python benchmarks/bench_tokenizers.py [--vocab-size 4096] [--k 6] [--repeats 3]

Trains a BPE vocabulary on the whole genome (timed), then prints one table: encoding throughput
(MB/s of sequence through ``encode_array``), bases per token, and the throughput ratio against
single-base encoding measured in the same run. Set RAYON_NUM_THREADS=1 for one-thread figures
(Hugging Face tokenizers encodes a batch of chunks on every core otherwise).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_io import best_time  # benchmarks/ is on the path when run as a script

from bioseq.data import default_genome
from bioseq.io import Genome
from bioseq.tokenizers import CharTokenizer, KmerTokenizer, SequenceTokenizer, train_bpe


def measure(tok: SequenceTokenizer, codes: np.ndarray, repeats: int) -> tuple[float, float]:
    """(MB/s, bases per token)."""
    n_tokens = tok.encode_array(codes).size
    return codes.size / 1e6 / best_time(
        lambda: tok.encode_array(codes), repeats
    ), codes.size / n_tokens


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with Genome(default_genome()) as genome:
        codes = genome.fetch_codes(next(iter(genome.contigs)))
    start = time.perf_counter()
    bpe = train_bpe([codes], vocab_size=args.vocab_size, progress=False)
    train_s = time.perf_counter() - start
    rows = [
        ("single base", CharTokenizer("dna")),
        (f"{args.k}-mer", KmerTokenizer(args.k)),
        (f"BPE {len(bpe)} (chunks of {bpe.chunk_length})", bpe),
    ]
    figures = [(label, *measure(tok, codes, args.repeats)) for label, tok in rows]
    single = figures[0][1]
    print(f"E. coli K-12 MG1655, {codes.size:,} bp; BPE trained on it in {train_s:.1f} s")
    print(f"| {'tokenizer':<30} | {'encode MB/s':>11} | {'vs single base':>14} | bases/token |")
    print(f"|{'-' * 32}|{'-' * 13}|{'-' * 16}|-------------|")
    for label, rate, ratio in figures:
        print(f"| {label:<30} | {rate:>11,.1f} | {rate / single:>13.3f}x | {ratio:>11.3f} |")


if __name__ == "__main__":
    main()
