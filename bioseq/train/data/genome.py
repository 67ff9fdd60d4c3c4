"""DNA training data: random windows of the train split of one or more genomes, tiled windows
of the validation split (:class:`~bioseq.io.windows.GenomeWindows`)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, reverse_complement_array
from bioseq.io.inputs import InputFile, open_input
from bioseq.io.intervals import Interval, restrict_territory
from bioseq.io.splits import ValidationSplit
from bioseq.io.windows import GenomeWindows
from bioseq.train.config import TrainConfig
from bioseq.train.data.base import Batch, TrainData, evenly_spaced

__all__ = ["GenomeData"]


class GenomeData(TrainData):
    """Random train windows and tiled validation windows of one or more genomes."""

    def __init__(self, paths: Sequence[Path | InputFile], config: TrainConfig, tokenizer) -> None:
        super().__init__(config, tokenizer, "dna")
        files = [open_input(p, DNA) for p in paths]
        self.sources = [f.source() for f in files]
        paths = [f.path for f in files]
        lengths: dict[str, int] = {}
        for source in self.sources:
            for contig, n in source.contigs.items():
                lengths[contig] = max(n, lengths.get(contig, 0))
        names = ", ".join(str(p) for p in paths)
        window = self.window_bases(config.context)
        longest = max(lengths, key=lengths.get)
        if lengths[longest] < window:
            raise InputError(
                f"{names}: context {config.context} ({window:,} bp) is longer than every contig "
                f"(longest: {longest}, {lengths[longest]:,} bp); lower --context"
            )
        territory = restrict_territory(lengths, min_length=window, source_name=names)
        split = ValidationSplit(config.val_fraction, config.val_contigs)
        train, val = split.of_territory(territory, lengths, names)
        self.train_intervals: list[Interval] = train
        self.val_intervals: list[Interval] = val
        self._train: dict[int, GenomeWindows] = {}
        self.val: GenomeWindows | None = None
        if split.holds_out:
            try:
                self.val = self._windows(self.val_intervals, window, mode="tiled")
            except InputError:
                what = (
                    "val_contigs" if config.val_contigs else f"the last {config.val_fraction:.0%}"
                )
                raise InputError(
                    f"{names}: the validation split ({what} of each contig) holds no window of "
                    f"{window:,} bp; lower --context or raise --val-fraction"
                ) from None
        self.train_windows(config.context)  # fails early when the train split is too small
        size = sum(e - s for _, s, e in self.train_intervals)
        val_size = sum(e - s for _, s, e in self.val_intervals)
        self.description = (
            f"{names}: {len(lengths)} contig(s), train {size:,} bp, validation {val_size:,} bp"
        )

    @property
    def has_val(self) -> bool:
        return self.val is not None

    def _windows(self, intervals, window: int, mode: str = "random") -> GenomeWindows:
        with warnings.catch_warnings():  # short intervals are skipped, as expected
            warnings.simplefilter("ignore")
            return GenomeWindows(
                self.sources,
                window,
                mode=mode,
                bed=list(intervals),
                rc_augment=self.config.rc_augment and mode == "random",
                seed=self.config.seed,
            )

    def train_windows(self, context: int) -> GenomeWindows:
        if context not in self._train:
            window = self.window_bases(context)
            self._train[context] = self._windows(self.train_intervals, window)
        return self._train[context]

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        windows, out = self.train_windows(context), []
        for g in range(step * batch_size + share.start, step * batch_size + share.stop):
            epoch, index = divmod(g, len(windows))
            if windows.epoch != epoch:
                windows.set_epoch(epoch)
            out.append(windows[index]["input_ids"].numpy())
        return out

    def _val_indices(self, n: int) -> np.ndarray:
        return evenly_spaced(len(self.val), n)

    def _val_items(self, indices: np.ndarray) -> list:
        return [self.val[int(i)]["input_ids"].numpy() for i in indices]

    def _collate(self, items: list, context: int) -> Batch:
        return self._window_batch(items, context)

    def _codes(self, intervals: list[Interval], rc: bool) -> Iterator[np.ndarray]:
        for source in self.sources:
            for contig, start, end in intervals:
                if contig in source.contigs and start < source.contigs[contig]:
                    codes = source.fetch_codes(contig, start, min(end, source.contigs[contig]))
                    yield self._orient(codes)
                    if rc:
                        yield self._orient(reverse_complement_array(codes))

    def markov_sequences(self):
        rc = self.config.rc_augment
        return self._codes(self.train_intervals, rc), self._codes(self.val_intervals, False)
