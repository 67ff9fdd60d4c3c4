"""Training speed and a CPU learning curve: the tables of issue 4.

    python benchmarks/bench_train.py                        # tokens/s, tiny + small, L = 1k, 8k
    python benchmarks/bench_train.py --device cuda          # the same in bf16 on a GPU, with MFU
    python benchmarks/bench_train.py --curve                # 20 min on E. coli: val bits/base
    python benchmarks/bench_train.py --curve --minutes 2    # a quick look
    python benchmarks/bench_train.py --pipeline             # the input pipeline, old vs new

Speed: one optimizer step (forward, backward, gradient clipping, AdamW) on random DNA tokens,
``--tokens-per-step`` tokens per step (batch = tokens / L), best of the steps timed after a
warm-up step; each model runs in its own subprocess with a time limit. Model FLOPs utilisation
counts 6 x parameters per token plus the attention term 12 x layers x d_model x L for the
Transformer (Hyena's FFT convolution and Mamba's scan are not counted, so their MFU is a lower
bound), against ``--peak-tflops`` (default: 989 for an H100/H200 in dense bf16).

Curve: ``bioseq.train.pretrain`` on the E. coli genome (``../shared/data/genomes``, else the
bundled copy) for about ``--minutes``: the step count comes from a timed step, the validation
bits per base (512 fixed windows of the genome's last tenth) from about 40 evaluations. The PNG
goes next to RESULTS.md as ``train_curve.png``; the table is printed.

Pipeline (issue 19): ``bioseq.train.pretrain`` itself, steady-state tokens/s between its first
and last log lines (no validation), for the default tiny model and a data-loader-bound one
(a one-layer d_model 8 Transformer, batch 4,096 x 16 tokens: building a batch takes about as
long as the step), each run in its own subprocess:
the old pipeline (batches built inside the step, the loss and gradient norm read back after
every step, the non-fused AdamW skipping bad steps on the host) beside the new one with
``--workers`` 0, 1 and 2. The arms alternate over ``--rounds`` rounds (the best round counts),
so a change in the machine's load falls on all of them.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

import bioseq.models  # noqa: F401
from bioseq.models import CONFIG_CLASSES, MODEL_CLASSES

HERE = Path(__file__).resolve().parent
SHARED_ECOLI = HERE.parent.parent / "shared" / "data" / "genomes" / "ecoli_k12_mg1655.gbff.gz"
VOCAB = 10  # the DNA character tokenizer: 5 special tokens + A C G T N
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0}


def build(kind: str, size: str, length: int) -> torch.nn.Module:
    extra = {"max_seq_len": length} if kind == "hyena" else {}
    return MODEL_CLASSES[kind](CONFIG_CLASSES[kind].from_preset(size, vocab_size=VOCAB, **extra))


def flops_per_token(model: torch.nn.Module, kind: str, length: int) -> float:
    n_params = sum(p.numel() for p in model.parameters())
    n_params -= model.backbone.embedding.weight.numel()
    attention = 12 * model.config.n_layer * model.config.d_model * length
    return 6 * n_params + (attention if kind == "transformer" else 0)


def step_speed(kind: str, size: str, length: int, tokens: int, device: str, seconds: float):
    """Tokens per second of full optimizer steps (and the FLOPs per token)."""
    torch.manual_seed(0)
    model = build(kind, size, length).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.1)
    batch = max(1, tokens // length)
    ids = torch.randint(5, 9, (batch, length), device=device)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device == "cuda")

    def step() -> float:
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = model(ids, labels=ids).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    step()  # warm-up: kernels, allocator, numba compilation
    times, begin = [], time.perf_counter()
    while len(times) < 2 or (time.perf_counter() - begin < seconds and len(times) < 20):
        times.append(step())
    return {
        "tokens_per_s": batch * length / min(times),
        "flops_per_token": flops_per_token(model, kind, length),
        "params": sum(p.numel() for p in model.parameters()),
    }


def in_subprocess(args: list[str], timeout: float, threads: int, mode: str = "_one") -> dict:
    command = [sys.executable, __file__, mode, *args]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads)) if threads else None
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:80]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def speed_table(args: argparse.Namespace) -> None:
    peak = args.peak_tflops
    if peak is None and args.device == "cuda":
        name = torch.cuda.get_device_name()
        peak = next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
    threads = args.threads or torch.get_num_threads()
    where = (
        "bf16 autocast on " + torch.cuda.get_device_name()
        if args.device == "cuda"
        else (f"CPU, {threads} threads")
    )
    print(
        f"\nTraining speed: forward + backward + AdamW, {args.tokens_per_step:,} tokens per "
        f"step, {where}"
    )
    mfu = " MFU |" if peak else ""
    print(f"| model | size | parameters | L | batch | tokens/s |{mfu}")
    print("|---|---|---|---|---|---|" + ("---|" if peak else ""))
    for size in args.sizes:
        for kind in args.models:
            for length in args.lengths:
                one = [
                    kind,
                    size,
                    str(length),
                    str(args.tokens_per_step),
                    args.device,
                    str(args.seconds),
                ]
                r = in_subprocess(one, args.timeout, args.threads)
                batch = max(1, args.tokens_per_step // length)
                if "error" in r:
                    row = f"- | {length:,} | {batch} | fails ({r['error']}) |"
                    row += " - |" if peak else ""
                else:
                    row = f"{r['params'] / 1e6:.2f} M | {length:,} | {batch} | "
                    row += f"{r['tokens_per_s']:,.0f} |"
                    if peak:
                        achieved = r["tokens_per_s"] * r["flops_per_token"] / 1e12
                        row += f" {achieved / peak:.1%} |"
                print(f"| {kind} | {size} | {row}", flush=True)


PIPELINE_SETTINGS = {
    "default tiny": {},  # the demo's: hyena tiny, context 256, batch 16
    "loader-bound": {  # building a batch takes about as long as the step on one core
        "model": "transformer",
        "d_model": 8,
        "n_layer": 1,
        "context": 16,
        "batch_size": 4096,
    },
}
PIPELINE_ARMS = {  # name: (old pipeline, workers)
    "old": (True, 0),
    "new, workers 0 (CPU default)": (False, 0),
    "new, workers 1": (False, 1),
    "new, workers 2": (False, 2),
}


def pipeline_speed(setting: str, old: bool, workers: int, steps: int, threads: int) -> dict:
    """Tokens/s of ``pretrain`` from its median step (data, step and bookkeeping: the wall
    time between the starts of consecutive steps, the first two left out as warm-up), and
    the training process's own CPU time per step (where the batches are built shows here)."""
    import functools
    import statistics
    import tempfile

    import bioseq.train.loop as loop
    from bioseq.train import TrainConfig, pretrain
    from bioseq.train.model import make_optimizer

    if old:  # the loop as it was: read back every step, skip bad steps on the host
        loop.Trainer.sync_every_step = True
        loop.make_optimizer = functools.partial(make_optimizer, fused=False)
    marks, step = [], loop.Trainer._train_step

    def timed(self, micro):
        marks.append((time.perf_counter(), time.process_time()))
        return step(self, micro)

    loop.Trainer._train_step = timed
    config = TrainConfig(
        **PIPELINE_SETTINGS[setting],
        steps=steps,
        val_fraction=0.0,  # no validation: nothing but training steps
        log_every=max(1, steps // 4),
        save_every=10**6,
        device="cpu",
        threads=threads,
        workers=workers,
        overwrite=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        pretrain(dataclasses.replace(config, out=str(Path(tmp) / "run")), quiet=True)
    walls = [b[0] - a[0] for a, b in itertools.pairwise(marks[2:])]
    cpus = [b[1] - a[1] for a, b in itertools.pairwise(marks[2:])]
    tokens = config.batch_size * config.context  # genome windows fill the context
    return {
        "tokens_per_s": tokens / statistics.median(walls),
        "cpu_ms": 1e3 * statistics.median(cpus),
    }


def pipeline_table(args: argparse.Namespace) -> None:
    threads = args.threads or 1
    print(
        f"\nInput pipeline: pretrain on CPU ({threads} training thread(s), {os.cpu_count()} cores, "
        f"1-minute load {os.getloadavg()[0]:.1f} at the start), {args.rounds} rounds of "
        f"{args.pipeline_steps} steps; tokens/s of the median step, best round"
    )
    results: dict[tuple[str, str], list[dict]] = {}
    for _ in range(args.rounds):
        for setting in PIPELINE_SETTINGS:
            for arm, (old, workers) in PIPELINE_ARMS.items():
                one = [setting, str(int(old)), str(workers), str(args.pipeline_steps), str(threads)]
                r = in_subprocess(one, args.timeout, threads, mode="_pipeline")
                r = r if "tokens_per_s" in r else {"tokens_per_s": math.nan, "cpu_ms": math.nan}
                results.setdefault((setting, arm), []).append(r)
    print("| setting | pipeline | tokens/s (each round) | best | vs old | CPU ms/step, trainer |")
    print("|---|---|---|---|---|---|")
    for setting in PIPELINE_SETTINGS:
        base = max(r["tokens_per_s"] for r in results[(setting, "old")])
        for arm in PIPELINE_ARMS:
            runs = results[(setting, arm)]
            each = ", ".join(f"{r['tokens_per_s']:,.0f}" for r in runs)
            best = max(r["tokens_per_s"] for r in runs)
            cpu = min(r["cpu_ms"] for r in runs)
            print(f"| {setting} | {arm} | {each} | {best:,.0f} | {best / base:.2f}x | {cpu:,.0f} |")
    print(f"(1-minute load at the end {os.getloadavg()[0]:.1f})")


def curve(args: argparse.Namespace) -> None:
    from bioseq.data import default_genome
    from bioseq.train import TrainConfig, pretrain
    from bioseq.train.plot import read_metrics

    genome = SHARED_ECOLI if SHARED_ECOLI.exists() else default_genome()
    model, size = args.models[0], args.sizes[0]
    length = args.context
    threads = args.threads or torch.get_num_threads()  # the same for the timing and the run
    torch.set_num_threads(threads)
    timing = step_speed(model, size, length, args.batch_size * length, "cpu", 5.0)
    seconds_per_step = args.batch_size * length / timing["tokens_per_s"]
    budget = args.minutes * 60 * 0.9  # evaluations take about a tenth
    steps = max(20, int(budget / seconds_per_step))
    print(
        f"{genome.name}: {model} {size}, context {length}, batch {args.batch_size}: "
        f"{seconds_per_step:.2f} s per step -> {steps} steps",
        flush=True,
    )
    config = TrainConfig(
        inputs=[str(genome)],
        model=model,
        size=size,
        context=length,
        batch_size=args.batch_size,
        lr=args.lr,
        steps=steps,
        eval_every=max(1, steps // 40),
        eval_windows=512,
        final_eval_windows=512,
        log_every=max(1, steps // 200),
        save_every=steps,
        out=str(args.run_dir),
        overwrite=True,
        device="cpu",
        threads=threads,
    )
    pretrain(config, quiet=args.quiet)
    rows = [
        r
        for r in read_metrics(Path(args.run_dir) / "metrics.jsonl")
        if r["val_bits_per_base"] is not None
    ]
    markov = rows[-1]["markov_bits_per_base"]
    print(
        f"\nLearning curve, {model} {size}, context {length}, batch {args.batch_size}, "
        f"lr {args.lr:g}, CPU ({threads} threads), E. coli held-out tenth; "
        f"order-4 Markov {markov:.4f} bits/base"
    )
    print("| minutes | tokens | val bits/base |")
    print("|---|---|---|")
    shown = sorted({round(i * (len(rows) - 1) / 11) for i in range(12)})
    for r in (rows[i] for i in shown):
        print(f"| {r['elapsed_s'] / 60:.1f} | {r['tokens']:,} | {r['val_bits_per_base']:.4f} |")
    plot_curve(rows, markov, args.png, f"{model} {size}, context {length}, CPU")
    print(f"\nfigure: {args.png}")


def plot_curve(rows: list[dict], markov: float, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    minutes = [r["elapsed_s"] / 60 for r in rows]
    ax.plot(minutes, [r["val_bits_per_base"] for r in rows], "o-", ms=3, label="validation")
    ax.axhline(markov, color="gray", ls="--", label=f"order-4 Markov ({markov:.3f})")
    ax.set_xlabel("minutes of CPU training (evaluations included)")
    ax.set_ylabel("bits per base (held-out tenth of E. coli)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_one":
        kind, size, length, tokens, device, seconds = sys.argv[2:8]
        print(json.dumps(step_speed(kind, size, int(length), int(tokens), device, float(seconds))))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_pipeline":
        setting, old, workers, steps, threads = sys.argv[2:7]
        speed = pipeline_speed(setting, old == "1", int(workers), int(steps), int(threads))
        print(json.dumps(speed))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=["hyena", "mamba", "transformer"])
    parser.add_argument("--sizes", nargs="+", default=["tiny", "small"])
    parser.add_argument("--lengths", nargs="+", type=int, default=[1024, 8192])
    parser.add_argument(
        "--tokens-per-step", type=int, default=None, help="default: 8,192 on CPU, 65,536 on a GPU"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="timing per model")
    parser.add_argument("--timeout", type=float, default=300.0, help="limit per model")
    parser.add_argument("--peak-tflops", type=float, default=None)
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument("--curve", action="store_true", help="the learning curve instead")
    parser.add_argument(
        "--pipeline", action="store_true", help="old vs new input pipeline (issue 19) instead"
    )
    parser.add_argument("--pipeline-steps", type=int, default=24, help="steps per pipeline run")
    parser.add_argument("--rounds", type=int, default=2, help="pipeline rounds")
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--context", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--run-dir", type=Path, default=HERE / "runs" / "train_curve")
    parser.add_argument("--png", type=Path, default=HERE / "train_curve.png")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    if args.tokens_per_step is None:
        args.tokens_per_step = 65536 if args.device == "cuda" else 8192
    if args.pipeline:
        pipeline_table(args)
    elif args.curve:
        if args.models == parser.get_default("models"):
            args.models = ["hyena"]
        if args.sizes == parser.get_default("sizes"):
            args.sizes = ["tiny"]
        curve(args)
    else:
        speed_table(args)


if __name__ == "__main__":
    main()
