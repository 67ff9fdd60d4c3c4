"""Every window the E. coli demo reads, for many seeds: `bioseq pretrain --out r --seed S` must
never fail on data (issue 13: reads at BGZF block starts once failed at seed 122 and 230).

Draws the training batches of every step and the final validation windows of the demo's
configuration for each seed, through the same code the training loop uses, and prints a table.

    python benchmarks/demo_seeds.py --seeds 0-300
"""

from __future__ import annotations

import argparse
import time

from bioseq.errors import InputError
from bioseq.train.config import TrainConfig
from bioseq.train.data import build_data


def check_seed(seed: int) -> tuple[int, str]:
    """(windows read, "" or the error) for the demo run with ``seed``."""
    config = TrainConfig(seed=seed).resolved()
    data = build_data(config)
    windows = 0
    try:
        for step in range(config.steps):
            windows += sum(
                len(b.input_ids) for b in data.batch(step, config.context, config.batch_size)
            )
        for batch in data.eval_batches(config.final_eval_windows, config.batch_size):
            windows += len(batch.input_ids)
    except InputError as err:
        return windows, str(err)
    return windows, ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0-300", help="FIRST-LAST, inclusive")
    first, last = map(int, parser.parse_args().seeds.split("-"))
    start, failures, total = time.perf_counter(), [], 0
    for seed in range(first, last + 1):
        windows, error = check_seed(seed)
        total += windows
        if error:
            failures.append((seed, error))
    print("| seeds | windows read | failures | seconds |")
    print("|---|---|---|---|")
    print(f"| {first}-{last} | {total:,} | {len(failures)} | {time.perf_counter() - start:.0f} |")
    for seed, error in failures:
        print(f"seed {seed}: {error}")


if __name__ == "__main__":
    main()
