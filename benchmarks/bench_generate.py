"""Generation (issue 16): are samples E. coli-like, and how much does the state save?

    python benchmarks/bench_generate.py quality --model runs/demo --out samples.fa
    python benchmarks/bench_generate.py quality --samples samples.fa   # score a FASTA only
    python benchmarks/bench_generate.py speed --length 2000            # tiny random models

``quality`` samples ``--prompts x --n`` sequences of ``--length`` bases from a model of the
bundled E. coli genome (``bioseq pretrain --out runs/demo``), each after a ``--prompt-length``
prompt drawn from the genome's train split (the first nine tenths; the prompt is not part of
the sample), and compares them with the genome: GC content (pooled and per sample) against
the whole genome's, and the 6-mer spectrum's Jensen-Shannon divergence (bits, forward strand,
k-mers within a sequence) from the held-out last tenth. Reference rows, each of the same
shape (number x length): an order-0 random sequence with the genome's GC content, and
stretches of the train split itself (how close real E. coli gets at this sample size).

``speed`` times ``sample_tokens`` (what ``bioseq generate`` runs) on tiny random models
(Mamba, Transformer: ``d_model`` 64, 2 layers; Hyena, which keeps no cache, for reference) or
on ``--model`` (e.g. ``runs/demo-mamba``): one prompt of ``--prompt-length`` tokens continued
by ``--length`` tokens, ``--batch`` rows, with the model's state or cache, and re-reading the
whole sequence for every token. Both draw the same tokens with the same seeds (checked).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from scipy.spatial.distance import jensenshannon

import bioseq.models  # noqa: F401  (registers the models)
from bioseq.data import default_genome
from bioseq.io.fasta import iter_fasta
from bioseq.io.inputs import open_genome
from bioseq.io.intervals import split_territory
from bioseq.tasks.adapt.generate import Prompt, generate_sequences, sample_tokens, write_fasta

K = 6
_CODE = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"ACGT"):
    _CODE[_c] = _i


def kmer_counts(sequences, k: int = K) -> np.ndarray:
    """Counts of the 4**k k-mers over all sequences (windows with a non-ACGT letter skipped)."""
    counts = np.zeros(4**k, dtype=np.int64)
    for seq in sequences:
        codes = _CODE[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        windows = windows[(windows >= 0).all(axis=1)]
        counts += np.bincount(windows @ (4 ** np.arange(k - 1, -1, -1)), minlength=4**k)
    return counts


def gc(sequences) -> float:
    text = "".join(sequences)
    acgt = sum(text.count(c) for c in "ACGT")
    return (text.count("G") + text.count("C")) / acgt


def js_bits(a: np.ndarray, b: np.ndarray) -> float:
    """Jensen-Shannon divergence (bits) between two count vectors."""
    return float(jensenshannon(a / a.sum(), b / b.sum(), base=2) ** 2)


def genome_parts() -> tuple[str, list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(whole genome text, train intervals, held-out intervals) as ``bioseq pretrain`` splits."""
    genome = open_genome(default_genome())
    territory = [(c, 0, n) for c, n in genome.contigs.items()]
    split = dict(split_by="interval", val_fraction=0.1, block_size=None)
    train = split_territory(territory, "train", **split)
    val = split_territory(territory, "val", **split)
    contigs = genome.contigs.items()
    text = "".join(genome.fetch_codes(c, 0, n).tobytes().decode() for c, n in contigs)
    return text, train, val


def stretches(genome: str, intervals, number: int, length: int, rng) -> list[str]:
    """``number`` random stretches of ``length`` bases from ``intervals`` (one contig here)."""
    out = []
    for _ in range(number):
        _, s, e = intervals[int(rng.integers(len(intervals)))]
        start = int(rng.integers(s, e - length))
        out.append(genome[start : start + length])
    return out


def quality(args) -> None:
    genome, train, val = genome_parts()
    rng = np.random.default_rng(args.seed)
    held_out = kmer_counts([genome[s:e] for _, s, e in val])
    if args.samples:
        samples = [r.sequence for r in iter_fasta(args.samples)]
        print(f"{args.samples}: {len(samples)} samples")
    else:
        starts = stretches(genome, train, args.prompts, args.prompt_length, rng)
        prompts = [Prompt(f"ecoli{i}", p) for i, p in enumerate(starts)]
        torch.set_num_threads(args.threads)
        result = generate_sequences(
            args.model,
            prompts,
            n=args.n,
            length=args.length,
            seed=args.seed,
            temperature=args.temperature,
            batch_size=args.batch_size,
            device=args.device,
            progress=True,
        )
        samples = [s.sequence for s in result.samples]
        if args.out:
            write_fasta(result.samples, args.out)
        print(
            f"{len(samples)} samples x {args.length} bases from {args.model}: "
            f"{result.n_tokens:,} tokens in {result.seconds:.0f} s "
            f"({result.tokens_per_s:,.0f} tokens/s)"
        )
    number, length = len(samples), int(np.median([len(s) for s in samples]))
    genome_gc = gc([genome])
    p = [(1 - genome_gc) / 2, genome_gc / 2, genome_gc / 2, (1 - genome_gc) / 2]
    random = ["".join(rng.choice(list("ACGT"), size=length, p=p)) for _ in range(number)]
    real = stretches(genome, train, number, length, rng)
    rows = [
        ("samples", samples),
        ("order-0 random, genome GC", random),
        ("E. coli train-split stretches", real),
    ]
    print(
        f"\ngenome GC {100 * genome_gc:.2f}%; held-out {sum(e - s for _, s, e in val):,} bp; "
        f"{number} sequences x {length:,} bp per row\n"
    )
    print(
        f"| {'sequences':<30} | GC % | GC - genome (points) | per-sequence GC sd | "
        f"6-mer JS to held-out (bits) |"
    )
    print(
        f"|{'-' * 32}|-----:|---------------------:|-------------------:|"
        f"----------------------------:|"
    )
    for name, seqs in rows:
        g = gc(seqs)
        sd = np.std([gc([s]) for s in seqs])
        print(
            f"| {name:<30} | {100 * g:.2f} | {100 * (g - genome_gc):+.2f} | "
            f"{100 * sd:.2f} | {js_bits(kmer_counts(seqs), held_out):.4f} |"
        )


def tiny_model(kind: str, vocab: int, context: int):
    from bioseq.models import (
        HyenaConfig,
        HyenaLM,
        MambaConfig,
        MambaLM,
        TransformerConfig,
        TransformerLM,
    )

    torch.manual_seed(0)
    size = dict(vocab_size=vocab, d_model=64, n_layer=2)
    if kind == "mamba":
        return MambaLM(MambaConfig.from_preset("tiny", **size)).eval()
    if kind == "transformer":
        return TransformerLM(TransformerConfig.from_preset("tiny", **size)).eval()
    return HyenaLM(HyenaConfig.from_preset("tiny", max_seq_len=context, **size)).eval()


def speed(args) -> None:
    import numba

    from bioseq.tokenizers import CharTokenizer

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))  # the CPU scan
    tok = CharTokenizer("dna")
    allowed = [tok.convert_tokens_to_ids(c) for c in "ACGT"]
    prompt = np.random.default_rng(0).choice(allowed, size=args.prompt_length).tolist()
    seeds = list(range(args.batch))
    print(
        f"prompt {args.prompt_length} tokens, {args.length} new tokens, batch {args.batch}, "
        f"{args.threads} thread(s), {args.device}\n"
    )
    print("| model | with state / cache (tokens/s) | re-reading (tokens/s) | speed-up |")
    print("|---|---:|---:|---:|")
    if args.model:  # a trained model (e.g. runs/demo-mamba) instead of the tiny random ones
        from bioseq.models.hub import load_model

        loaded = load_model(args.model, args.device)
        models = [(f"{type(loaded.model).__name__} {args.model}", loaded.model)]
    else:
        context = args.prompt_length + args.length
        models = [
            (kind, tiny_model(kind, len(tok), context).to(args.device))
            for kind in args.models.split(",")
        ]
    for kind, model in models:
        rates, outputs = [], []
        for use_cache in (True, False):  # warm up (numba compiles the scan on first use)
            sample_tokens(model, prompt, seeds, 8, allowed, use_cache=use_cache)
        for use_cache in (True, False):
            began = time.perf_counter()
            tokens, _, _ = sample_tokens(
                model, prompt, seeds, args.length, allowed, use_cache=use_cache
            )
            rates.append(args.batch * args.length / (time.perf_counter() - began))
            outputs.append(tokens)
        same = "" if torch.equal(*outputs) else " (tokens differ)"
        print(f"| {kind} | {rates[0]:,.0f} | {rates[1]:,.0f} | {rates[0] / rates[1]:.1f}x{same} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    q = sub.add_parser("quality")
    q.add_argument("--model", default="runs/demo")
    q.add_argument("--samples", type=Path, help="Score this FASTA instead of sampling.")
    q.add_argument("--prompts", type=int, default=10)
    q.add_argument("--n", type=int, default=10, help="Samples per prompt.")
    q.add_argument("--length", type=int, default=2000)
    q.add_argument("--prompt-length", type=int, default=32)
    q.add_argument("--temperature", type=float, default=1.0)
    q.add_argument("--batch-size", type=int, default=10)
    q.add_argument("--out", type=Path, help="Write the samples here (FASTA).")
    q.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("speed")
    s.add_argument("--models", default="mamba,transformer,hyena")
    s.add_argument("--model", default=None, help="A model or run directory instead (DNA).")
    s.add_argument("--length", type=int, default=2000)
    s.add_argument("--prompt-length", type=int, default=16)
    s.add_argument("--batch", type=int, default=1)
    for p in (q, s):
        p.add_argument("--device", default="cpu")
        p.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    quality(args) if args.what == "quality" else speed(args)


if __name__ == "__main__":
    main()
