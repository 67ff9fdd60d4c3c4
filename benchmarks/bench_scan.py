"""Benchmark the CPU selective scan against the PyTorch reference loop.

Usage::

    python benchmarks/bench_scan.py                  # batch 1, dim 512, N 16, L 16384
    python benchmarks/bench_scan.py --length 4096 --reps 5

Inputs follow the Mamba mixer: time-varying B and C (batch, N, L), A = -exp(A_log) with
A_log = log(1..N), D, z and delta_bias present, delta_softplus=True, fp32.

Every (backend, mode) cell runs in a fresh subprocess, so the memory figures do not see each
other's allocations:

* time: wall clock, best of ``--reps`` calls (the reference's forward+backward runs once at the
  default size: it takes seconds); the numba kernels are compiled (or loaded from the on-disk
  cache) by a small warm-up call before timing.
* peak memory: the process's peak resident set size during the first measured call minus its
  resident size just before it (Linux: the high-water mark ``VmHWM`` is reset through
  ``/proc/self/clear_refs`` first; elsewhere ``ru_maxrss`` is used, which can only over-count).
  That is the most memory the call had live on top of its inputs, counting torch's and numpy's
  allocations alike, which tracemalloc cannot.

"fwd" runs under ``torch.no_grad()`` (inference); "fwd+bwd" runs with every input requiring
grad and calls ``out.sum().backward()``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

BACKENDS = ("cpu", "reference")
MODES = ("fwd", "fwd+bwd")


def _inputs(batch: int, dim: int, state: int, length: int):
    import torch

    g = torch.Generator().manual_seed(0)
    u = torch.randn(batch, dim, length, generator=g)
    delta = torch.randn(batch, dim, length, generator=g) * 0.5 - 1.0
    a_log = torch.log(torch.arange(1, state + 1, dtype=torch.float32)).repeat(dim, 1)
    B = torch.randn(batch, state, length, generator=g)
    C = torch.randn(batch, state, length, generator=g)
    D = torch.ones(dim)
    z = torch.randn(batch, dim, length, generator=g)
    delta_bias = torch.randn(dim, generator=g) * 0.1
    return [u, delta, -torch.exp(a_log), B, C, D, z, delta_bias]


def _status_mib(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _reset_peak() -> float:
    """Reset the peak-RSS mark where the OS allows it; return the current RSS (MiB)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass
    now = _status_mib("VmRSS")
    return now if now is not None else _peak_rss_mib()


def _peak_rss_mib() -> float:
    hwm = _status_mib("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def worker(
    backend: str, mode: str, batch: int, dim: int, state: int, length: int, reps: int
) -> dict:
    """Measure one cell in this process; return times (s) and peak RSS growth (MiB)."""
    import torch

    from bioseq.models.ops import selective_scan

    grad = mode == "fwd+bwd"

    def call(tensors):
        u, delta, A, B, C, D, z, bias = tensors
        with torch.set_grad_enabled(grad):
            out = selective_scan(
                u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True, backend=backend
            )
            if grad:
                out.sum().backward()

    def fresh(tensors):
        return [t.detach().clone().requires_grad_(grad) for t in tensors]

    call(fresh(_inputs(1, 4, state, 64)))  # warm-up: numba compile / cache load
    tensors = _inputs(batch, dim, state, length)
    times = []
    for i in range(reps):
        args = fresh(tensors)
        before = _reset_peak()
        start = time.perf_counter()
        call(args)
        times.append(time.perf_counter() - start)
        if i == 0:
            peak = _peak_rss_mib() - before
        del args
    return {"time": min(times), "peak_mib": peak, "reps": reps}


def run_cell(backend: str, mode: str, args: argparse.Namespace) -> dict:
    reps = args.reps
    if backend == "reference":  # slow: one call is enough to time it
        reps = 1 if mode == "fwd+bwd" or args.length >= 8192 else min(reps, 2)
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        backend,
        mode,
        "--batch",
        str(args.batch),
        "--dim",
        str(args.dim),
        "--state",
        str(args.state),
        "--length",
        str(args.length),
        "--reps",
        str(reps),
    ]
    res = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--state", type=int, default=16)
    p.add_argument("--length", type=int, default=16384)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--worker", nargs=2, metavar=("BACKEND", "MODE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(
            json.dumps(
                worker(*args.worker, args.batch, args.dim, args.state, args.length, args.reps)
            )
        )
        return

    import torch

    print(
        f"selective scan, batch {args.batch}, dim {args.dim}, N {args.state}, "
        f"L {args.length}; torch threads {torch.get_num_threads()}"
    )
    results = {(b, m): run_cell(b, m, args) for m in MODES for b in BACKENDS}
    header = f"{'mode':<8} {'backend':<10} {'time s':>9} {'peak MiB':>10}"
    print(header + f" {'speedup':>9} {'memory':>8}")
    print("-" * (len(header) + 19))
    for m in MODES:
        ref = results["reference", m]
        for b in BACKENDS:
            r = results[b, m]
            speed = ref["time"] / r["time"]
            mem = r["peak_mib"] / ref["peak_mib"] if ref["peak_mib"] > 0 else float("nan")
            print(
                f"{m:<8} {b:<10} {r['time']:>9.3f} {r['peak_mib']:>10.1f} "
                f"{speed:>8.1f}x {mem:>8.3f}"
            )
    print("speedup = reference time / time; memory = peak RSS growth / reference's")


if __name__ == "__main__":
    main()
