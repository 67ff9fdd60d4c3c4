"""StripedHyena (Evo 2) speed on CPU (issue 14): forward vs Hyena / Transformer, and generation
with the recurrent inference state vs recomputing the prefix.

    python benchmarks/bench_striped_hyena.py                   # L = 1k, 8k, 64k; 4k-token prompt
    python benchmarks/bench_striped_hyena.py --quick           # smoke run, under a minute
    python benchmarks/bench_striped_hyena.py --lengths 1024 4096 --threads 2 --budget 120

1. Forward tokens/s (no grad, fp32, batch 1) of a ~10 M-parameter StripedHyenaLM, HyenaLM and
   TransformerLM of the same width and depth (d_model 256, 12 layers). Each cell runs in a fresh
   subprocess (its own allocator state and peak memory): one warm-up pass, then the best of up
   to ``--repeats`` timed passes that fit in ``--budget`` seconds. A cell whose warm-up shows
   that no timed pass fits, or that is killed at the budget, prints "-" with the reason.
2. Greedy generation from a ``--prompt``-token prompt with the StripedHyena inference state
   (``generate()``'s default) vs ``use_cache=False`` (the whole prefix recomputed per token).
   The cached rate is given end to end (prefill included) and in steady state (the time of N
   tokens minus that of 1, i.e. without the prefill); the ratio is per generated token.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

import bioseq.models  # noqa: F401
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    StripedHyenaConfig,
    StripedHyenaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.models.ops.allocator import tune_cpu_allocator

VOCAB = 512  # Evo 2's byte vocabulary
D_MODEL, N_LAYER = 256, 12
KINDS = ("striped-hyena", "hyena", "transformer")
NAMES = {"striped-hyena": "StripedHyenaLM", "hyena": "HyenaLM", "transformer": "TransformerLM"}


def build(kind: str, length: int) -> torch.nn.Module:
    common = {"vocab_size": VOCAB, "d_model": D_MODEL, "n_layer": N_LAYER}
    if kind == "striped-hyena":
        return StripedHyenaLM(StripedHyenaConfig(**common))
    if kind == "hyena":  # learned positional features: max_seq_len must cover L
        return HyenaLM(HyenaConfig(max_seq_len=max(length, 1024), **common))
    return TransformerLM(TransformerConfig(**common))


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def forward_cell(kind: str, length: int, repeats: int, budget: float) -> dict:
    """One model at one length, in this (sub)process: best forward seconds and peak RSS."""
    start = time.perf_counter()
    torch.manual_seed(0)
    model = build(kind, length).eval()
    ids = torch.randint(0, VOCAB, (1, length))
    with torch.no_grad():
        t0 = time.perf_counter()
        model(ids)  # warm-up: allocator, thread pool, FFT plans
        warm = time.perf_counter() - t0
        best, runs = float("inf"), 0
        while runs < repeats and (runs == 0 or time.perf_counter() - start + best < budget):
            if runs == 0 and time.perf_counter() - start + warm > budget:
                return {"error": f"one pass {warm:.0f} s, no timed pass fits {budget:.0f} s"}
            t0 = time.perf_counter()
            model(ids)
            best, runs = min(best, time.perf_counter() - t0), runs + 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"seconds": best, "runs": runs, "peak_gib": peak}


def in_subprocess(kind: str, length: int, repeats: int, budget: float, threads: int) -> dict:
    command = [
        sys.executable,
        __file__,
        "_cell",
        kind,
        str(length),
        str(repeats),
        str(budget),
        str(threads),
    ]
    timeout = budget + 30  # import and model build on top of the passes
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"killed after {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1]
        return {"error": last[:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def forward_table(lengths: list[int], repeats: int, budget: float, threads: int) -> None:
    print(
        f"\nForward tokens/s (no grad, fp32, batch 1, CPU, {threads} threads), d_model "
        f"{D_MODEL}, {N_LAYER} layers, vocab {VOCAB}; best of up to {repeats} after a warm-up, "
        f"{budget:.0f} s a cell"
    )
    print("| model | parameters |")
    print("|---|---|")
    for kind in KINDS:
        print(f"| {NAMES[kind]} | {n_params(build(kind, 1024)):,} |")
    header = " | ".join(f"{NAMES[k]} tok/s" for k in KINDS)
    print(
        f"\n| L | {header} | StripedHyena / Hyena | StripedHyena / Transformer | "
        f"peak RSS GiB (SH / Hy / Tr) |"
    )
    print("|---|" + "---|" * (len(KINDS) + 3))
    notes = []
    for length in lengths:
        results = {kind: in_subprocess(kind, length, repeats, budget, threads) for kind in KINDS}
        cells, peaks = [], []
        for kind in KINDS:
            r = results[kind]
            if "error" in r:
                cells.append("-")
                peaks.append("-")
                notes.append(f"{NAMES[kind]} at L {length:,}: {r['error']}")
            else:
                cells.append(f"{length / r['seconds']:,.0f}")
                peaks.append(f"{r['peak_gib']:.2f}")

        def ratio(other: str, results: dict = results) -> str:
            a, b = results["striped-hyena"], results[other]
            if "error" in a or "error" in b:
                return "-"
            return f"{b['seconds'] / a['seconds']:.2f}x"

        print(
            f"| {length:,} | " + " | ".join(cells) + f" | {ratio('hyena')} | "
            f"{ratio('transformer')} | {' / '.join(peaks)} |",
            flush=True,
        )
    for note in notes:
        print(f"- {note}")


def greedy(model, ids: torch.Tensor, new_tokens: int, use_cache: bool) -> torch.Tensor:
    """Exactly ``new_tokens`` greedy tokens (no padding: the mask is all ones)."""
    return model.generate(
        ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        use_cache=use_cache,
        pad_token_id=1,
    )


def timed_generate(model, ids, new_tokens: int, use_cache: bool, repeats: int) -> float:
    def run():
        return greedy(model, ids, new_tokens, use_cache)

    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def generation_table(
    prompt: int, cached_tokens: int, uncached_tokens: int, repeats: int, threads: int
) -> None:
    torch.manual_seed(0)
    model = StripedHyenaLM(StripedHyenaConfig(vocab_size=VOCAB, d_model=D_MODEL, n_layer=N_LAYER))
    model.eval()
    ids = torch.randint(0, VOCAB, (1, prompt))
    with torch.no_grad():
        same = torch.equal(
            greedy(model, ids, uncached_tokens, False), greedy(model, ids, uncached_tokens, True)
        )
        t_one = timed_generate(model, ids, 1, True, repeats)
        t_cached = timed_generate(model, ids, cached_tokens, True, repeats)
        t_uncached = timed_generate(model, ids, uncached_tokens, False, max(1, repeats - 1))
    end_to_end = cached_tokens / t_cached
    steady = (cached_tokens - 1) / max(t_cached - t_one, 1e-9)
    uncached = uncached_tokens / t_uncached
    print(
        f"\nGreedy generation, StripedHyenaLM ({n_params(model):,} parameters), "
        f"{prompt:,}-token prompt, batch 1, fp32, CPU, {threads} threads; same tokens with "
        f"and without the state: {same}"
    )
    print("| mode | new tokens | seconds | tokens/s | vs no cache |")
    print("|---|---|---|---|---|")
    print(
        f"| no cache (prefix recomputed per token) | {uncached_tokens} | {t_uncached:.2f} | "
        f"{uncached:.2f} | 1.0x |"
    )
    print(
        f"| inference state, end to end (prefill included) | {cached_tokens} | {t_cached:.2f} "
        f"| {end_to_end:.1f} | {end_to_end / uncached:.1f}x |"
    )
    print(
        f"| inference state, steady state ({cached_tokens} minus 1 token) | "
        f"{cached_tokens - 1} | {t_cached - t_one:.2f} | {steady:.1f} | "
        f"{steady / uncached:.1f}x |"
    )
    print(f"(prefill + 1 token: {t_one:.2f} s)")


def main() -> None:
    tune_cpu_allocator()  # as the CLI does; BIOSEQ_MALLOC_TUNING=0 measures without
    if len(sys.argv) > 1 and sys.argv[1] == "_cell":
        kind, length, repeats, budget, threads = sys.argv[2:7]
        if int(threads) > 0:
            torch.set_num_threads(int(threads))
        print(json.dumps(forward_cell(kind, int(length), int(repeats), float(budget))))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 8192, 65536])
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes a cell, at most")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds a forward cell")
    parser.add_argument("--prompt", type=int, default=4096, help="generation prompt length")
    parser.add_argument("--cached-tokens", type=int, default=64)
    parser.add_argument("--uncached-tokens", type=int, default=8)
    parser.add_argument("--quick", action="store_true", help="smoke run: L 1k, 512-token prompt")
    parser.add_argument("--skip", choices=["forward", "generate"], help="leave one part out")
    args = parser.parse_args()
    if args.quick:
        args.lengths, args.repeats, args.budget = [1024], 1, 20.0
        args.prompt, args.cached_tokens, args.uncached_tokens = 512, 16, 2
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    if args.skip != "forward":
        forward_table(args.lengths, args.repeats, args.budget, threads)
    if args.skip != "generate":
        generation_table(
            args.prompt, args.cached_tokens, args.uncached_tokens, 1 if args.quick else 2, threads
        )


if __name__ == "__main__":
    main()
