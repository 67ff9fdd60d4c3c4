"""Does MergeLM learn to merge repeats into longer tokens? Bases per token, repeat vs random.

Sequences of 256 bases, half random and half a tandem repeat of a random 2-6 base unit (which
half: random). A small transformer-backbone MergeLM (ratio 2) is trained for ``--steps`` steps,
then its bases per token are measured in each half of 64 held-out sequences (a token straddling
the edge counted pro rata), untrained and trained, for a few data seeds.

    OMP_NUM_THREADS=1 taskset -c 0 python benchmarks/merge_adaptivity.py
"""

from __future__ import annotations

import argparse

import torch

from bioseq.models import MergeConfig, MergeLM

PAD, FIRST, LAST = 0, 5, 8  # CharTokenizer("dna") ids of [PAD], A and T


def repeat_batch(gen: torch.Generator, n: int, length: int = 256):
    ids = torch.randint(FIRST, LAST + 1, (n, length), generator=gen)
    repeat = torch.zeros(n, length, dtype=torch.bool)
    half = length // 2
    for i in range(n):
        period = int(torch.randint(2, 7, (1,), generator=gen))
        unit = torch.randint(FIRST, LAST + 1, (period,), generator=gen)
        start = half * int(torch.randint(0, 2, (1,), generator=gen))
        ids[i, start : start + half] = unit.repeat(half // period + 1)[:half]
        repeat[i, start : start + half] = True
    return ids, repeat


def region_bases_per_token(model: MergeLM, ids: torch.Tensor, region: torch.Tensor) -> float:
    state = model.merge_tokens(ids)
    share = 1 / state.sizes.gather(1, state.source)  # each base's share of its token
    return float(region.sum() / (share * region).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    test_ids, repeat = repeat_batch(torch.Generator().manual_seed(123), 64)
    print("| data seed | untrained repeat | untrained random | trained repeat | trained random |")
    print("|---|---|---|---|---|")
    for seed in range(args.seeds):
        torch.manual_seed(0)
        config = MergeConfig.from_preset(
            "tiny", vocab_size=10, d_model=64, n_layer=1, pad_token_id=PAD, backbone="transformer"
        )
        model = MergeLM(config).eval()
        before = [region_bases_per_token(model, test_ids, r) for r in (repeat, ~repeat)]
        model.train()
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
        gen = torch.Generator().manual_seed(1 + seed)
        for _ in range(args.steps):
            ids, _ = repeat_batch(gen, 16)
            model(ids, labels=ids).loss.backward()
            optimizer.step()
            optimizer.zero_grad()
        model.eval()
        after = [region_bases_per_token(model, test_ids, r) for r in (repeat, ~repeat)]
        cells = " | ".join(f"{x:.2f}" for x in before + after)
        print(f"| {seed} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
