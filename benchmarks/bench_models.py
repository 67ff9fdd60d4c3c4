"""Model speed and memory on CPU (or a GPU with --device cuda): the tables of issue 3.

    python benchmarks/bench_models.py mamba-vs-hf       # MambaLM vs transformers' MambaForCausalLM
    python benchmarks/bench_models.py scaling           # HyenaLM vs TransformerLM, L = 1k .. 64k
    python benchmarks/bench_models.py million           # 1,048,576-token forward, tiny Hyena/Mamba
    python benchmarks/bench_models.py all

Each measurement that reports peak memory runs in a fresh subprocess and reads its peak
resident set size (``ru_maxrss``) or, on CUDA, ``torch.cuda.max_memory_allocated``.
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
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.models.ops.allocator import tune_cpu_allocator

VOCAB = 16


def timed(fn, repeats: int = 3, device: str = "cpu", warmup: bool = True) -> float:
    if warmup:
        fn()  # numba compilation, allocator
    best = float("inf")
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def mamba_vs_hf(device: str, length: int = 4096, d_model: int = 256, n_layer: int = 4) -> None:
    from transformers import MambaConfig as HFMambaConfig
    from transformers import MambaForCausalLM

    ours = MambaLM(MambaConfig(vocab_size=VOCAB, d_model=d_model, n_layer=n_layer)).to(device)
    hf_config = HFMambaConfig(
        vocab_size=VOCAB,
        hidden_size=d_model,
        num_hidden_layers=n_layer,
        state_size=16,
        expand=2,
        conv_kernel=4,
        use_bias=False,
        use_conv_bias=True,
    )
    hf = MambaForCausalLM(hf_config).to(device)
    ids = torch.randint(0, VOCAB, (1, length), device=device)

    def step(model):
        def run():
            model.zero_grad(set_to_none=True)
            model(ids, labels=ids).loss.backward()

        return run

    t_ours = timed(step(ours), device=device)
    # no warm-up: nothing to compile, and on CPU one step takes many minutes (its fallback scan's
    # backward is quadratic in L: every per-step select backward allocates a full-size gradient)
    t_hf = timed(step(hf), repeats=1, device=device, warmup=False)
    print(
        f"\nMambaLM vs transformers MambaForCausalLM, forward+backward, d_model {d_model}, "
        f"{n_layer} layers, L {length}, batch 1, {device}"
    )
    print("| model | seconds | tokens/s | ratio |")
    print("|---|---|---|---|")
    print(f"| transformers MambaForCausalLM | {t_hf:.3f} | {length / t_hf:,.0f} | 1.0x |")
    print(f"| bioseq MambaLM | {t_ours:.3f} | {length / t_ours:,.0f} | {t_hf / t_ours:.1f}x |")


def build(kind: str, length: int, size: str = "tiny"):
    if kind == "hyena":
        config = HyenaConfig.from_preset(size, vocab_size=VOCAB, max_seq_len=length)
        return HyenaLM(config)
    if kind == "mamba":
        return MambaLM(MambaConfig.from_preset(size, vocab_size=VOCAB))
    return TransformerLM(TransformerConfig.from_preset(size, vocab_size=VOCAB))


def forward_once(kind: str, length: int, device: str, repeats: int) -> dict:
    """One model, one length: best forward time and peak memory (run in a subprocess)."""
    torch.manual_seed(0)
    model = build(kind, length).to(device).eval()
    ids = torch.randint(0, VOCAB, (1, length), device=device)
    with torch.no_grad():
        seconds = timed(lambda: model(ids), repeats=repeats, device=device)
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"seconds": seconds, "peak_gib": peak}


def in_subprocess(kind: str, length: int, device: str, repeats: int, timeout: float) -> dict:
    command = [sys.executable, __file__, "_one", kind, str(length), device, str(repeats)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["failed"])[-1]
        return {"error": last[:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def scaling(device: str, max_length: int = 65536, timeout: float = 300) -> None:
    print(
        f"\nForward time (inference, batch 1), tiny HyenaLM vs TransformerLM "
        f"(d_model 128, 2 layers), {device}"
    )
    print("| L | Hyena s | Hyena x per doubling | Transformer s | Transformer x per doubling |")
    print("|---|---|---|---|---|")
    previous = {"hyena": None, "transformer": None}
    failed = {"hyena": False, "transformer": False}
    length = 1024
    while length <= max_length:
        cells = []
        for kind in ("hyena", "transformer"):
            if failed[kind]:
                cells += ["-", "-"]
                continue
            result = in_subprocess(kind, length, device, repeats=2, timeout=timeout)
            if "error" in result:
                failed[kind] = True
                cells += [f"fails ({result['error']})", "-"]
                continue
            growth = "-" if previous[kind] is None else f"{result['seconds'] / previous[kind]:.2f}"
            previous[kind] = result["seconds"]
            cells += [f"{result['seconds']:.3f}", growth]
        print(f"| {length:,} | " + " | ".join(cells) + " |", flush=True)
        length *= 2


def million(device: str, timeout: float = 590) -> None:
    length = 1_048_576
    print(f"\n{length:,}-token single-nucleotide forward pass, batch 1, inference, {device}")
    print("| model | parameters | seconds | peak memory (GiB) |")
    print("|---|---|---|---|")
    for kind in ("hyena", "mamba"):
        n_params = sum(p.numel() for p in build(kind, length).parameters())
        result = in_subprocess(kind, length, device, repeats=1, timeout=timeout)
        if "error" in result:
            print(f"| tiny {kind} | {n_params:,} | fails ({result['error']}) | - |")
        else:
            print(
                f"| tiny {kind} | {n_params:,} | {result['seconds']:.1f} | "
                f"{result['peak_gib']:.2f} |",
                flush=True,
            )


def main() -> None:
    tune_cpu_allocator()  # as the CLI does; BIOSEQ_MALLOC_TUNING=0 measures without
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        kind, length, device, repeats = sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
        print(json.dumps(forward_once(kind, length, device, repeats)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", choices=["mamba-vs-hf", "scaling", "million", "all"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--max-length", type=int, default=65536, help="scaling: longest L")
    parser.add_argument(
        "--length",
        type=int,
        default=4096,
        help="mamba-vs-hf: L (on CPU transformers' step at 4,096 takes > 30 min)",
    )
    args = parser.parse_args()
    if args.table in ("mamba-vs-hf", "all"):
        mamba_vs_hf(args.device, length=args.length)
    if args.table in ("scaling", "all"):
        scaling(args.device, args.max_length)
    if args.table in ("million", "all"):
        million(args.device)


if __name__ == "__main__":
    main()
