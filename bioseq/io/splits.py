"""What a training run holds out for validation, decided in one place for every kind of data.

A run names contigs (records) to hold out, ``val_contigs``, or a fraction, ``val_fraction``.
:class:`ValidationSplit` applies that rule to a genome territory (named contigs, or the last
fraction of every contig: :func:`~bioseq.io.intervals.split_territory`), to records (named
records, or a seeded random fraction of them) and to a text (its last fraction).

>>> from bioseq.io.intervals import Interval
>>> split = ValidationSplit(val_fraction=0.1)
>>> split.of_territory([Interval("chr", 0, 1000)], ["chr"], "genome.fa")
([Interval(contig='chr', start=0, end=900)], [Interval(contig='chr', start=900, end=1000)])
>>> split.of_records(["a", "b", "c", "d"], "p.fa").tolist()
[False, False, True, False]
>>> split.tail_start(1000)
900
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from bioseq.errors import InputError
from bioseq.io.intervals import Interval, split_territory

__all__ = ["ValidationSplit"]

RECORD_SEED = 0  # the held-out records are the same whatever the run's seed


@dataclass(frozen=True)
class ValidationSplit:
    """Hold out ``val_contigs`` (contigs or records by name) or else ``val_fraction``."""

    val_fraction: float | None = 0.0
    val_contigs: Sequence[str] = ()

    @property
    def holds_out(self) -> bool:
        return bool(self.val_contigs or self.val_fraction)

    def of_territory(
        self, territory: Sequence[Interval], contigs: Collection[str], label: str
    ) -> tuple[list[Interval], list[Interval]]:
        """(train, validation) intervals: whole ``val_contigs`` (which must be among
        ``contigs``), or the last ``val_fraction`` of every contig's territory."""
        for contig in self.val_contigs:
            if contig not in contigs:
                names = list(contigs)
                known = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
                raise InputError(f"{label}: no contig named {contig!r} (val_contigs; has {known})")
        if not self.holds_out:
            return list(territory), []
        split = dict(
            split_by="contig" if self.val_contigs else "interval",
            val_fraction=self.val_fraction or 0.0,
            val_contigs=self.val_contigs or None,
            block_size=None,
        )
        return split_territory(territory, "train", **split), split_territory(
            territory, "val", **split
        )

    def of_records(self, names: Sequence[str], label: str) -> np.ndarray:
        """Bool per record, True when held out: the records named in ``val_contigs``, or
        ``round(val_fraction * n)`` (at least one) drawn with a fixed seed."""
        held = np.zeros(len(names), dtype=bool)
        if self.val_contigs:
            wanted = set(self.val_contigs)
            held = np.array([name in wanted for name in names], dtype=bool)
            missing = wanted - set(names)
            if missing:
                raise InputError(f"{label}: no record named {sorted(missing)[0]!r} (val_contigs)")
        elif self.val_fraction:
            if len(names) < 2:
                raise InputError(f"{label}: a validation split needs at least 2 records")
            n_val = max(1, round(self.val_fraction * len(names)))
            held[np.random.default_rng(RECORD_SEED).permutation(len(names))[:n_val]] = True
        return held

    def tail_start(self, length: int) -> int:
        """Where the held-out tail (the last ``val_fraction``) of ``length`` items begins."""
        return length - round(length * (self.val_fraction or 0.0))
