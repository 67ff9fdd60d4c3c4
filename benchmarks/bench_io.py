"""Sequence I/O throughput on the bundled E. coli genome, beside naive pure-Python baselines.

    python benchmarks/bench_io.py [--windows 20000]

Prints one table; each row is bioseq's path and the baseline measured in the same run.
Targets (issue 2): single-base encoding >= 200 MB/s; random 1 kb windows through
GenomeWindows >= 20,000 windows/s in one process.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import pyfaidx
import torch

from bioseq.data import default_genome
from bioseq.io import Genome, GenomeWindows
from bioseq.tokenizers import CharTokenizer, KmerTokenizer


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def encoding_rows(codes: np.ndarray) -> list[tuple[str, float, float, str]]:
    text = codes.tobytes().decode("ascii")
    megabytes = len(codes) / 1e6
    char, kmer = CharTokenizer("dna"), KmerTokenizer(6)
    vocab = char.get_vocab()

    def naive() -> list[int]:
        return [vocab[c] for c in text]

    baseline = megabytes / best_time(naive, 1)
    rows = [
        (
            "single-base encode (MB/s)",
            megabytes / best_time(lambda: char.encode_array(codes), 5),
            baseline,
            ">= 200",
        )
    ]
    rows.append(
        (
            "6-mer encode (MB/s)",
            megabytes / best_time(lambda: kmer.encode_array(codes), 5),
            baseline,
            "-",
        )
    )
    return rows


def window_rows(n_windows: int, length: int = 1024) -> list[tuple[str, float, float, str]]:
    tokenizer = CharTokenizer("dna")
    dataset = GenomeWindows(default_genome(), length, tokenizer=tokenizer, num_windows=n_windows)
    dataset[0]  # open the file and warm the caches

    def ours() -> None:
        for i in range(n_windows):
            dataset[i]

    fasta = pyfaidx.Fasta(str(default_genome()))
    name = next(iter(fasta.keys()))
    contig_length = len(fasta[name])
    vocab = tokenizer.get_vocab()
    rng = random.Random(0)
    n_naive = max(1, n_windows // 10)

    def naive() -> None:
        for _ in range(n_naive):
            start = rng.randrange(contig_length - length)
            seq = str(fasta[name][start : start + length]).upper()
            torch.tensor([vocab[c] for c in seq])

    rate = n_windows / best_time(ours, 3)
    baseline = n_naive / best_time(naive, 3)
    return [(f"random {length} bp windows (windows/s)", rate, baseline, ">= 20,000")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with Genome(default_genome()) as genome:
        name = next(iter(genome.contigs))
        codes = genome.fetch_codes(name)
    rows = encoding_rows(codes) + window_rows(args.windows)
    print(f"E. coli K-12 MG1655, {len(codes):,} bp (bundled bgzip FASTA)")
    print(f"| {'measure':<36} | {'bioseq':>12} | {'naive Python':>12} | {'ratio':>7} | target |")
    print(f"|{'-' * 38}|{'-' * 14}|{'-' * 14}|{'-' * 9}|--------|")
    for label, ours, baseline, target in rows:
        ratio = ours / baseline
        print(f"| {label:<36} | {ours:>12,.0f} | {baseline:>12,.1f} | {ratio:>6,.0f}x | {target} |")


if __name__ == "__main__":
    main()
