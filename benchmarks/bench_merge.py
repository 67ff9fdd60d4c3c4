"""Learned merging (MergeLM) against a single-base model with the same backbone, CPU bases/s.

    taskset -c 0 python benchmarks/bench_merge.py                      # hyena, L = 1k, 4k, 16k
    taskset -c 0 python benchmarks/bench_merge.py --backbone mamba --lengths 1024 4096

Both models are the tiny preset (d_model 128, 2 backbone layers); the merge model adds its local
encoder (4 merge layers), a 1-layer latent decoder and a 1-layer local decoder, at merge ratio 2.
"train step" is forward + backward of the pretraining loss (for MergeLM: its unmasked tokenizing
pass, the masked pass, both losses); "forward" is inference on the whole sequence. Ratios are
MergeLM / single-base speed measured in the same run.
"""

from __future__ import annotations

import argparse

import torch

import bioseq.models  # noqa: F401
from bioseq.models import CONFIG_CLASSES, MODEL_CLASSES, MergeConfig, MergeLM

VOCAB = 10


def timed(fn, repeats: int = 3) -> float:
    import time

    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def build(backbone: str, length: int, merge: bool, ratio: float):
    kwargs = {"max_seq_len": length} if backbone == "hyena" else {}
    torch.manual_seed(0)
    if merge:
        config = MergeConfig.from_preset(
            "tiny", vocab_size=VOCAB, backbone=backbone, merge_ratio=ratio, backbone_kwargs=kwargs
        )
        return MergeLM(config)
    return MODEL_CLASSES[backbone](
        CONFIG_CLASSES[backbone].from_preset("tiny", vocab_size=VOCAB, **kwargs)
    )


def measure(model, length: int, batch: int, repeats: int) -> tuple[float, float]:
    ids = torch.randint(5, 9, (batch, length))

    def step():
        model.zero_grad(set_to_none=True)
        model(ids, labels=ids).loss.backward()

    def forward():
        with torch.no_grad():
            model(ids)

    model.train()
    t_step = timed(step, repeats)
    model.eval()
    t_fwd = timed(forward, repeats)
    return batch * length / t_step, batch * length / t_fwd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="hyena", choices=list(MODEL_CLASSES))
    parser.add_argument("--lengths", type=int, nargs="+", default=[1024, 4096, 16384])
    parser.add_argument("--ratio", type=float, default=2.0)
    parser.add_argument("--bases-per-batch", type=int, default=16384)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"\nMergeLM (ratio {args.ratio:g}) vs single-base {args.backbone}, tiny, CPU, 1 thread, "
        f"bases/s (batch = {args.bases_per_batch:,} bases / L)"
    )
    print("| L | model | params | train step bases/s | forward bases/s | step ratio | fwd ratio |")
    print("|---|---|---|---|---|---|---|")
    for length in args.lengths:
        batch = max(1, args.bases_per_batch // length)
        speeds = {}
        for merge in (False, True):
            model = build(args.backbone, length, merge, args.ratio)
            n_params = sum(p.numel() for p in model.parameters()) / 1e6
            speeds[merge] = (n_params, *measure(model, length, batch, args.repeats))
        for merge in (False, True):
            n_params, step, fwd = speeds[merge]
            name = f"MergeLM({args.backbone})" if merge else f"{args.backbone} single-base"
            ratios = (
                f"{step / speeds[False][1]:.2f}x | {fwd / speeds[False][2]:.2f}x"
                if merge
                else "1.00x | 1.00x"
            )
            print(
                f"| {length:,} | {name} | {n_params:.2f} M | {step:,.0f} | {fwd:,.0f} | {ratios} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
