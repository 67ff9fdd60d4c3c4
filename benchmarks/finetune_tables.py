"""Write the two supervised benchmark tables (issue 16) as TSV files.

    python benchmarks/finetune_tables.py --out runs/tables            # full size
    python benchmarks/finetune_tables.py --out runs/tables-small --small    # CI / quick runs
    python benchmarks/finetune_tables.py --out runs/lambda --genbank \\
        bioseq/data/lambda_NC_001416.gbk --window 50 --stride 10 --skip-dms  # no shared data

Writes into ``--out``:

* ``coding_train.tsv``, ``coding_val.tsv``, ``coding_test.tsv``: 200-bp E. coli windows
  (columns ``name sequence label split start end``; label ``coding`` or ``intergenic``),
  balanced per split, split by genome position: test = the last tenth of the chromosome (the
  tenth ``bioseq pretrain`` holds out as validation), val = the tenth before it, train = the rest.
  See :mod:`bioseq.tasks.adapt.benchdata`.
* ``blat_2500.tsv``: BLAT_ECOLX (TEM-1) DMS, column ``2500`` (ampicillin 2,500 ug/ml), every
  mutant as its full mutated sequence of residues 24-286 (columns ``name sequence label fold``;
  ``fold`` 0-4 from a seeded shuffle, ProteinGym's ``fold_random_5`` protocol).

``--small`` keeps at most ``--max-per-class`` (default 100) windows per class and split and
``--small-mutants`` (default 500) mutants, drawn with the seed, folds kept. The data come from
``$BIOSEQ_SHARED_DATA`` (default ``../shared/data``) unless ``--genbank``/``--dms``/``--a2m``
name other files.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.tasks.adapt.benchdata import SPLITS, coding_windows, dms_table, write_table

DATA = Path(os.environ.get("BIOSEQ_SHARED_DATA", "../shared/data"))
GENBANK = DATA / "genomes/ecoli_k12_mg1655.gbff.gz"
DMS = DATA / "proteins/BLAT_ECOLX_Ranganathan2015.csv"
A2M = DATA / "proteins/BLAT_ECOLX_r24-286.a2m"


def write_tables(args: argparse.Namespace) -> list[str]:
    """Build and write the tables; returns one summary line per file."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = []
    if not args.skip_coding:
        started = time.perf_counter()
        rows = coding_windows(
            args.genbank,
            window=args.window,
            stride=args.stride,
            seed=args.seed,
            max_per_class=args.max_per_class if args.small else None,
        )
        for split in SPLITS:
            part = [r for r in rows if r.split == split]
            if not part:
                lines.append(f"coding_{split}.tsv: no window (not written)")
                continue
            write_table(part, out / f"coding_{split}.tsv")
            counts = Counter(r.label for r in part)
            span = f"{min(r.start for r in part):,}-{max(r.end for r in part):,}"
            lines.append(
                f"coding_{split}.tsv: {len(part):,} windows ({counts['coding']:,} "
                f"coding, {counts['intergenic']:,} intergenic), bases {span}"
            )
        lines.append(f"  ({time.perf_counter() - started:.1f} s from {args.genbank})")
    if not args.skip_dms:
        rows = dms_table(args.dms, args.a2m, args.score_col, n_folds=5, seed=args.seed)
        if args.small and len(rows) > args.small_mutants:
            keep = np.sort(
                np.random.default_rng(args.seed).choice(
                    len(rows), args.small_mutants, replace=False
                )
            )
            rows = [rows[i] for i in keep]
        name = f"blat_{args.score_col}.tsv"
        write_table(rows, out / name)
        folds = Counter(r.fold for r in rows)
        sizes = ", ".join(f"{folds[f]:,}" for f in sorted(folds))
        lines.append(f"{name}: {len(rows):,} mutants, folds {sizes}")
    return lines


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="folder for the TSV files")
    p.add_argument("--small", action="store_true", help="capped tables for CI / quick runs")
    p.add_argument("--max-per-class", type=int, default=100, help="with --small (default 100)")
    p.add_argument("--small-mutants", type=int, default=500, help="with --small (default 500)")
    p.add_argument("--genbank", default=str(GENBANK), help=f"default {GENBANK}")
    p.add_argument("--window", type=int, default=200)
    p.add_argument("--stride", type=int, default=20, help="window grid step (default 20)")
    p.add_argument("--dms", default=str(DMS), help=f"default {DMS}")
    p.add_argument("--a2m", default=str(A2M), help="wild type = its first record")
    p.add_argument("--score-col", default="2500")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-coding", action="store_true")
    p.add_argument("--skip-dms", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        for line in write_tables(args):
            print(line)
    except InputError as err:
        print(f"finetune_tables: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
