"""Genomic intervals: BED parsing, interval arithmetic and leakage-free train/val/test splits.

Intervals are 0-based and half-open, like BED and Python slices. A *territory* is a list of
merged intervals; :func:`split_territory` carves one into the part that belongs to a split.

>>> from bioseq.io.intervals import Interval, split_territory
>>> territory = [Interval("chr", 0, 1000)]
>>> split_territory(territory, "val", split_by="interval", val_fraction=0.1, block_size=None)
[Interval(contig='chr', start=900, end=1000)]

Split semantics (the same arguments always give the same, disjoint splits):

* ``split_by="contig"``: whole contigs go to one split, either named explicitly
  (``val_contigs``/``test_contigs``; every other contig is train) or drawn by ``seed``: going
  through the contigs in a seeded random order, val and then test take each contig that brings
  their share of the bases closer to their fraction (at least one contig per non-zero
  fraction); the rest is train. Needs two or more contigs.
* ``split_by="interval"``: every contig is cut into a fixed grid of ``block_size`` blocks
  (absolute coordinates ``[k * block_size, (k + 1) * block_size)``); the blocks that touch the
  territory are permuted by ``seed`` and the first ``round(fraction * n)`` (at least one) go to
  val, the next to test, the rest to train. With ``block_size=None`` each contig's territory is
  cut in order instead: the first ``1 - val - test`` of its bases are train, then val, then test
  (so ``val_fraction=0.1`` holds out the last tenth of each contig).

A split is a set of intervals and windows are drawn inside them, so a window never crosses
from one split into another (touching blocks of the same split merge, so a window may span
two train blocks, never a train and a val block). The split is computed over the territory you
pass: build every split of a data set from the same territory and split arguments.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from bioseq.errors import InputError, located
from bioseq.io.compression import open_text, reading_text

Split = Literal["train", "val", "test"]
SplitBy = Literal["contig", "interval"]
SPLITS = ("train", "val", "test")


class Interval(NamedTuple):
    """A 0-based, half-open region of one contig."""

    contig: str
    start: int
    end: int


def read_bed(path: str | Path) -> list[Interval]:
    """Read the first three columns of a BED file (plain or gzipped).

    Blank lines and ``#``, ``track`` and ``browser`` lines are skipped; a malformed line raises
    :class:`InputError` naming ``file:line``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such BED file")
    intervals = []
    with reading_text(path), open_text(path) as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            fields = line.split()
            if len(fields) < 3:
                raise InputError(
                    located(path, lineno, f"expected 'contig start end', found {line.strip()!r}")
                )
            try:
                start, end = int(fields[1]), int(fields[2])
            except ValueError:
                raise InputError(
                    located(
                        path,
                        lineno,
                        f"start and end must be integers, found {fields[1]!r} and {fields[2]!r}",
                    )
                ) from None
            if start < 0 or end < start:
                raise InputError(
                    located(path, lineno, f"need 0 <= start <= end, found {start} and {end}")
                )
            intervals.append(Interval(fields[0], start, end))
    return intervals


def group_intervals(intervals: Iterable[tuple[str, int, int]]) -> dict[str, list[tuple[int, int]]]:
    """Sorted, merged ``(start, end)`` spans per contig; contigs in order of first appearance."""
    spans: dict[str, list[tuple[int, int]]] = {}
    for contig, start, end in intervals:
        spans.setdefault(contig, [])
        if end > start:
            spans[contig].append((start, end))
    merged: dict[str, list[tuple[int, int]]] = {}
    for contig, items in spans.items():
        items.sort()
        out: list[tuple[int, int]] = []
        for start, end in items:
            if out and start <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], end))
            else:
                out.append((start, end))
        if out:
            merged[contig] = out
    return merged


def merge_intervals(intervals: Iterable[tuple[str, int, int]]) -> list[Interval]:
    """Merge overlapping and touching intervals (empty ones are dropped)."""
    return [Interval(c, s, e) for c, spans in group_intervals(intervals).items() for s, e in spans]


def intersect_intervals(
    a: Iterable[tuple[str, int, int]], b: Iterable[tuple[str, int, int]]
) -> list[Interval]:
    """The bases covered by both ``a`` and ``b``, merged, in ``a``'s contig order."""
    other = group_intervals(b)
    out = []
    for contig, spans in group_intervals(a).items():
        theirs = other.get(contig, [])
        i = j = 0
        while i < len(spans) and j < len(theirs):
            start, end = max(spans[i][0], theirs[j][0]), min(spans[i][1], theirs[j][1])
            if start < end:
                out.append(Interval(contig, start, end))
            if spans[i][1] < theirs[j][1]:
                i += 1
            else:
                j += 1
    return merge_intervals(out)


def restrict_territory(
    lengths: Mapping[str, int],
    bed: str | Path | Sequence[tuple[str, int, int]] | None = None,
    contigs: Sequence[str] | None = None,
    min_length: int = 1,
    source_name: str = "<memory>",
) -> list[Interval]:
    """The merged intervals of ``lengths``' contigs, restricted to ``contigs`` and ``bed``.

    Intervals shorter than ``min_length`` are dropped with a warning; if none is long enough,
    :class:`InputError` names the source and the longest interval.
    """
    for c in contigs or ():
        if c not in lengths:
            raise InputError(f"{source_name}: no contig named {c!r}")
    territory = [Interval(c, 0, lengths[c]) for c in (contigs or lengths)]
    where = f"{bed}: " if isinstance(bed, (str, Path)) else "bed: " if bed is not None else ""
    if bed is not None:
        intervals = read_bed(bed) if isinstance(bed, (str, Path)) else bed
        for c, s, e in intervals:
            if c not in lengths:
                raise InputError(f"{where}contig {c!r} is not in {source_name}")
            if not 0 <= s <= e <= lengths[c]:
                raise InputError(
                    f"{where}interval {c}:{s}-{e} is outside the contig (length {lengths[c]})"
                )
        territory = intersect_intervals(intervals, territory)
    territory = merge_intervals(territory)
    short = [(c, e - s) for c, s, e in territory if e - s < min_length]
    if short and len(short) == len(territory):
        c, n = max(short, key=lambda x: x[1])
        raise InputError(
            f"{where}{source_name}: no contig or interval holds a window of "
            f"{min_length} bp (longest: {c}, {n} bp)"
        )
    if short:
        examples = ", ".join(f"{c} ({n} bp)" for c, n in short[:3])
        warnings.warn(
            f"{source_name}: skipping {len(short)} contigs/intervals shorter than the "
            f"{min_length} bp window: {examples}",
            stacklevel=3,
        )
    return [iv for iv in territory if iv.end - iv.start >= min_length]


def split_territory(
    territory: Sequence[tuple[str, int, int]],
    split: Split,
    split_by: SplitBy = "contig",
    val_fraction: float = 0.0,
    test_fraction: float = 0.0,
    val_contigs: Sequence[str] | None = None,
    test_contigs: Sequence[str] | None = None,
    seed: int = 0,
    block_size: int | None = 100_000,
) -> list[Interval]:
    """The part of ``territory`` that belongs to ``split`` (see the module docstring)."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {', '.join(SPLITS)}, not {split!r}")
    if split_by not in ("contig", "interval"):
        raise InputError(f"split_by must be 'contig' or 'interval', not {split_by!r}")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= value < 1:
            raise InputError(f"{name} must be in [0, 1), not {value}")
    if val_fraction + test_fraction >= 1:
        raise InputError("val_fraction + test_fraction must be below 1 (train would be empty)")
    explicit = bool(val_contigs or test_contigs)
    if explicit and split_by != "contig":
        raise InputError("val_contigs/test_contigs need split_by='contig'")
    if explicit and (val_fraction or test_fraction):
        raise InputError("give either val_contigs/test_contigs or fractions, not both")
    wanted = {"val": val_fraction or val_contigs, "test": test_fraction or test_contigs}
    if split != "train" and not wanted[split]:
        raise InputError(f"split={split!r} is empty: set {split}_fraction or {split}_contigs")
    spans = group_intervals(territory)
    if split_by == "contig":
        chosen = _contig_split(
            spans, split, val_fraction, test_fraction, val_contigs or (), test_contigs or (), seed
        )
        return [Interval(c, s, e) for c in chosen for s, e in spans[c]]
    if block_size is None:
        return _tail_split(spans, split, val_fraction, test_fraction)
    if block_size <= 0:
        raise InputError(f"block_size must be positive, not {block_size}")
    return _block_split(spans, split, val_fraction, test_fraction, seed, block_size)


def _contig_split(
    spans: dict[str, list[tuple[int, int]]],
    split: str,
    val_fraction: float,
    test_fraction: float,
    val_contigs: Sequence[str],
    test_contigs: Sequence[str],
    seed: int,
) -> list[str]:
    names = list(spans)
    if val_contigs or test_contigs:
        for contig in (*val_contigs, *test_contigs):
            if contig not in spans:
                raise InputError(f"split contig {contig!r} is not in the genome (or restriction)")
        both = set(val_contigs) & set(test_contigs)
        if both:
            raise InputError(f"contigs in both val_contigs and test_contigs: {sorted(both)}")
        held = {"val": set(val_contigs), "test": set(test_contigs)}
        held["train"] = set(names) - held["val"] - held["test"]
        return [c for c in names if c in held[split]]
    if len(names) < 2:
        raise InputError(
            f"split_by='contig' needs at least two contigs, found {len(names)}; "
            "use split_by='interval' for a single-contig genome"
        )
    length = {c: sum(e - s for s, e in spans[c]) for c in names}
    total = sum(length.values())
    order = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    held: dict[str, list[str]] = {}
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        held[name], size, target = [], 0, fraction * total
        for contig in list(order) if fraction else ():
            if not held[name] or abs(size + length[contig] - target) < abs(size - target):
                held[name].append(contig)
                order.remove(contig)
                size += length[contig]
    if not order:
        raise InputError(f"only {len(names)} contigs: val/test would leave nothing for train")
    held["train"] = order
    return [c for c in names if c in set(held[split])]


def _block_split(
    spans: dict[str, list[tuple[int, int]]],
    split: str,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    block_size: int,
) -> list[Interval]:
    blocks = []
    for contig, items in spans.items():
        ks = {k for s, e in items for k in range(s // block_size, (e - 1) // block_size + 1)}
        blocks.extend((contig, k) for k in sorted(ks))
    n = len(blocks)
    n_val = max(1, round(val_fraction * n)) if val_fraction else 0
    n_test = max(1, round(test_fraction * n)) if test_fraction else 0
    if n_val + n_test >= n and (val_fraction or test_fraction):
        raise InputError(
            f"only {n} blocks of {block_size} bp: val/test would leave nothing for train "
            "(lower block_size)"
        )
    order = np.random.default_rng(seed).permutation(n)
    bounds = {"val": (0, n_val), "test": (n_val, n_val + n_test), "train": (n_val + n_test, n)}
    lo, hi = bounds[split]
    chosen = [blocks[i] for i in sorted(order[lo:hi])]
    grid = [(c, k * block_size, (k + 1) * block_size) for c, k in chosen]
    territory = [(c, s, e) for c, items in spans.items() for s, e in items]
    return intersect_intervals(territory, grid)


def _tail_split(
    spans: dict[str, list[tuple[int, int]]], split: str, val_fraction: float, test_fraction: float
) -> list[Interval]:
    out = []
    for contig, items in spans.items():
        total = sum(e - s for s, e in items)
        cuts = {
            "train": (0, round(total * (1 - val_fraction - test_fraction))),
            "val": (
                round(total * (1 - val_fraction - test_fraction)),
                round(total * (1 - test_fraction)),
            ),
            "test": (round(total * (1 - test_fraction)), total),
        }
        lo, hi = cuts[split]
        offset = 0  # bases of territory before the current span
        for s, e in items:
            start, end = s + max(0, lo - offset), s + min(e - s, hi - offset)
            if start < end:
                out.append(Interval(contig, start, end))
            offset += e - s
    return out
