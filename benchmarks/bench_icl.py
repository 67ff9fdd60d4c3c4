"""In-context-learning probe speed on CPU (or a GPU with --device cuda): the figures of issue 6.

    python benchmarks/bench_icl.py prompts                  # prompts/s at 128 shots, small models
    python benchmarks/bench_icl.py suite --kind transformer # full suite on a tiny model
    python benchmarks/bench_icl.py suite --functions 10     # estimate from 10 of the 100 functions
    python benchmarks/bench_icl.py all --threads 1          # one thread: best on a busy machine

Models are untrained and use the single-nucleotide tokenizer, so a 128-shot prompt is 2,184
tokens. Transformer and Mamba timings do not depend on the weights; Hyena's do, through the
number of fixed-point passes (about 3 per prompt for the untrained small model, 5-6 for tiny).
``prompts`` decodes 8 symbols greedily per prompt, as the suite does: Transformer with
its KV cache, Mamba with its recurrent state, Hyena (no cache) by fixed-point passes over
prompt + draft (exactly greedy; at most 8 passes, fewer when the draft settles).
"""

from __future__ import annotations

import argparse
import time

import torch

import bioseq.models  # noqa: F401
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.tasks.icl import CausalLMAdapter, load_functions, make_trial, run_bitstring
from bioseq.tasks.icl.suite import DEFAULT_SHOTS
from bioseq.tokenizers import CharTokenizer

KINDS = ("hyena", "mamba", "transformer")


def build(kind: str, size: str, vocab_size: int) -> torch.nn.Module:
    torch.manual_seed(0)
    if kind == "hyena":
        return HyenaLM(HyenaConfig.from_preset(size, vocab_size=vocab_size, max_seq_len=4096))
    if kind == "mamba":
        return MambaLM(MambaConfig.from_preset(size, vocab_size=vocab_size))
    return TransformerLM(TransformerConfig.from_preset(size, vocab_size=vocab_size))


def adapter_for(kind: str, size: str, device: str, batch_size: int) -> CausalLMAdapter:
    tokenizer = CharTokenizer("dna")
    model = build(kind, size, tokenizer.vocab_size)
    return CausalLMAdapter(model, tokenizer, f"{size} {kind}", device, batch_size)


def prompts_per_second(size: str, device: str, batch_size: int, n_prompts: int) -> None:
    functions = load_functions()
    prompts = [make_trial(functions[i % 100], 128, i).text for i in range(n_prompts)]
    print(
        f"\nGreedy decoding of 8 symbols after 128-shot prompts ({len(prompts[0]):,} "
        f"symbols), untrained {size} models, batch {batch_size}, {n_prompts} prompts, "
        f"{device}"
    )
    print("| model | parameters | decoding | seconds | prompts/s |")
    print("|---|---|---|---|---|")
    for kind in KINDS:
        adapter = adapter_for(kind, size, device, batch_size)
        adapter.complete(prompts[:1])  # warm-up (numba compilation, allocator)
        start = time.perf_counter()
        adapter.complete(prompts)
        seconds = time.perf_counter() - start
        n_params = sum(p.numel() for p in adapter.model.parameters())
        cache = {
            "hyena": "no cache: fixed-point passes",
            "mamba": "recurrent state",
            "transformer": "KV cache",
        }[kind]
        print(
            f"| {adapter.name} | {n_params / 1e6:.2f} M | {cache} | {seconds:.1f} | "
            f"{n_prompts / seconds:.2f} |",
            flush=True,
        )


def suite(kind: str, size: str, device: str, batch_size: int, n_functions: int, trials: int):
    functions = load_functions()[:n_functions]
    adapter = adapter_for(kind, size, device, batch_size)
    adapter.complete([make_trial(functions[0], 1, 0).text])  # warm-up
    print(
        f"\nBitstring suite, untrained {size} {kind}, genomic form, {len(functions)} of 100 "
        f"functions x {len(DEFAULT_SHOTS)} shot counts x {trials} trials, batch {batch_size}, "
        f"{device}"
    )
    print("| shots | prompts | seconds |")
    print("|---|---|---|")
    total = 0.0
    for n in DEFAULT_SHOTS:
        start = time.perf_counter()
        rows = run_bitstring(adapter, functions, (n,), trials, "genomic")
        seconds = time.perf_counter() - start
        total += seconds
        print(f"| {n} | {len(rows)} | {seconds:.1f} |", flush=True)
    scale = 100 / len(functions)
    label = "measured" if scale == 1 else f"estimated from {len(functions)} functions (x{scale:g})"
    print(f"| all | {len(functions) * len(DEFAULT_SHOTS) * trials} | {total:.1f} |")
    print(
        f"Full suite (100 x 8 x {trials} = {800 * trials:,} prompts), one form: "
        f"{total * scale / 60:.1f} min, {label}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["prompts", "suite", "all"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", default=None, help="preset (prompts: small, suite: tiny)")
    parser.add_argument("--kind", choices=KINDS, default="transformer", help="suite model")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--prompts", type=int, default=16, help="prompts timed per model")
    parser.add_argument("--functions", type=int, default=100, help="suite: first N functions")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch threads: {torch.get_num_threads()}")
    if args.table in ("prompts", "all"):
        prompts_per_second(args.size or "small", args.device, args.batch_size, args.prompts)
    if args.table in ("suite", "all"):
        suite(
            args.kind,
            args.size or "tiny",
            args.device,
            args.batch_size,
            args.functions,
            args.trials,
        )


if __name__ == "__main__":
    main()
