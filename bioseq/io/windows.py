"""Fixed-length genome windows as a PyTorch dataset: :class:`GenomeWindows`.

>>> from bioseq.io.source import InMemoryGenome
>>> from bioseq.io.windows import GenomeWindows
>>> genome = InMemoryGenome({"chr1": "ACGT" * 500, "chr2": "GATTACA" * 300})
>>> train = GenomeWindows(genome, 100, split="train", split_by="interval", val_fraction=0.2,
...                       block_size=500, seed=1)
>>> item = train[0]
>>> sorted(item), item["input_ids"].shape
(['contig', 'input_ids', 'source', 'start', 'strand'], torch.Size([100]))
>>> train.set_epoch(1)  # new random windows; items depend only on (seed, epoch, index)

:class:`GenomeWindows` is map-style, so it works with any number of DataLoader workers and with
``DistributedSampler`` (or :meth:`GenomeWindows.shard`). Pass file paths rather than open
readers when using workers: paths are opened lazily (through :func:`~bioseq.io.inputs.open_input`),
once per process, so no file handle is shared or pickled. Call ``set_epoch`` on the dataset (and
on a distributed sampler) before each epoch; it reaches the workers unless
``persistent_workers=True``::

    train = GenomeWindows("genome.fa", 1024, split="train", val_fraction=0.05,
                          rc_augment=True, tokenizer=tokenizer)
    sampler = DistributedSampler(train)          # or shuffle=True on one process
    loader = DataLoader(train, batch_size=64, sampler=sampler, num_workers=4)
    for epoch in range(epochs):
        train.set_epoch(epoch)
        sampler.set_epoch(epoch)
        for batch in loader: ...

BED parsing and the split rules live in :mod:`bioseq.io.intervals`; datasets of whole records
(proteins, reads) in :mod:`bioseq.io.records`.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from bioseq.errors import InputError
from bioseq.io.inputs import open_genome
from bioseq.io.intervals import (
    Split,
    SplitBy,
    intersect_intervals,
    restrict_territory,
    split_territory,
)
from bioseq.io.records import ArrayTokenizer
from bioseq.io.source import SequenceSource

__all__ = ["GenomeWindows"]

_CHUNK = 1024  # random windows drawn per numpy call; one Generator per (seed, epoch, chunk)
_SCAN = 1 << 22  # bases scanned at a time when counting N in tiled windows
_MAX_ATTEMPTS = 100


def _name(source: SequenceSource) -> str:
    return str(source.path) if getattr(source, "path", None) is not None else "<memory>"


class GenomeWindows(Dataset):
    """Windows of ``window_length`` bases from one or more genomes.

    ``mode="random"``: ``num_windows`` windows per epoch (default: territory length //
    ``window_length``) at uniformly random positions. ``mode="tiled"``: consecutive windows every
    ``stride`` bases (default ``window_length``) from the start of each region; a tail shorter
    than a window is not used. Windows are drawn from the *territory*: all contigs, or
    ``contigs``, or ``bed`` intervals, then the part of it that belongs to ``split`` (see
    :mod:`bioseq.io.intervals`; ``split_seed`` is kept apart from ``seed`` so every split and
    run agrees on it). A window never leaves its territory interval, so never crosses into
    another split. Windows with more than ``max_n_fraction`` N are redrawn (random) or dropped
    (tiled). With ``rc_augment`` a window is reverse-complemented with probability 0.5.

    An item is ``{"input_ids", "source", "contig", "start", "strand"}``: ``start`` is the
    forward-strand start, ``strand`` ``"-"`` when reverse-complemented, ``input_ids`` the
    tokenizer's int64 ids or, without a tokenizer, the uint8 ASCII codes. Items depend only on
    ``(seed, epoch, index)``, whatever the number of workers.
    """

    def __init__(
        self,
        sources: str | Path | SequenceSource | Sequence[str | Path | SequenceSource],
        window_length: int,
        *,
        mode: Literal["random", "tiled"] = "random",
        num_windows: int | None = None,
        stride: int | None = None,
        bed: str | Path | Sequence[tuple[str, int, int]] | None = None,
        contigs: Sequence[str] | None = None,
        split: Split | None = None,
        split_by: SplitBy = "contig",
        val_fraction: float = 0.0,
        test_fraction: float = 0.0,
        val_contigs: Sequence[str] | None = None,
        test_contigs: Sequence[str] | None = None,
        block_size: int | None = 100_000,
        split_seed: int = 0,
        max_n_fraction: float | None = 0.1,
        rc_augment: bool = False,
        tokenizer: ArrayTokenizer | None = None,
        add_special_tokens: bool = False,
        seed: int = 0,
    ) -> None:
        if window_length <= 0:
            raise InputError(f"window_length must be positive, not {window_length}")
        if mode not in ("random", "tiled"):
            raise InputError(f"mode must be 'random' or 'tiled', not {mode!r}")
        if split is None and (val_fraction or test_fraction or val_contigs or test_contigs):
            raise InputError("split fractions or contigs given without split='train'|'val'|'test'")
        if isinstance(sources, (str, Path)) or not isinstance(sources, Sequence):
            sources = [sources]
        self._specs = list(sources)
        self._opened: list[SequenceSource] | None = None
        self._pid: int | None = None
        self.window_length = window_length
        self.mode = mode
        self.stride = stride or window_length
        self.max_n_fraction = max_n_fraction
        self.rc_augment = rc_augment
        self.tokenizer = tokenizer
        self.add_special_tokens = add_special_tokens
        self.seed = seed
        self.epoch = 0
        self._cache: dict[int, tuple[list, list, list | None]] = {}

        opened = self._sources()
        self._unknown = [ord(s.alphabet.unknown) for s in opened]
        self._max_n = (
            window_length if max_n_fraction is None else int(max_n_fraction * window_length)
        )
        lengths: dict[str, int] = {}
        for source in opened:
            for c, n in source.contigs.items():
                lengths[c] = max(n, lengths.get(c, 0))
        names = ", ".join(map(_name, opened))
        territory = restrict_territory(lengths, bed, contigs, window_length, names)
        if split is not None:
            territory = split_territory(
                territory,
                split,
                split_by,
                val_fraction,
                test_fraction,
                val_contigs,
                test_contigs,
                split_seed,
                block_size,
            )
        regions = []  # (source index, contig, start, end), each holding >= 1 window
        for i, source in enumerate(opened):
            extent = [(c, 0, n) for c, n in source.contigs.items()]
            for c, s, e in intersect_intervals(territory, extent):
                if e - s >= window_length:
                    regions.append((i, c, s, e))
        if not regions:
            where = "the territory" if split is None else f"split {split!r}"
            raise InputError(
                f"{names}: {where} holds no window of "
                f"{window_length} bp (for an interval split, try a larger block_size)"
            )
        self._reg_src = [r[0] for r in regions]
        self._reg_contig = [r[1] for r in regions]
        self._reg_start = np.array([r[2] for r in regions], dtype=np.int64)
        lengths = np.array([r[3] - r[2] for r in regions], dtype=np.int64)
        self.total_length = int(lengths.sum())
        if mode == "random":
            self._n_starts = lengths - window_length + 1
            self._cum = np.cumsum(self._n_starts)
            self._cum_list = self._cum.tolist()
            default = self.total_length // window_length
            self._len = default if num_windows is None else num_windows
        else:
            self._tiles = (lengths - window_length) // self.stride + 1
            self._cum = np.cumsum(self._tiles)
            self._cum_list = self._cum.tolist()
            self._tile_index: np.ndarray | None = None
            self._len = int(self._cum[-1])
            if max_n_fraction is not None and max_n_fraction < 1:
                self._tile_index = self._scan_tiles(opened)
                self._len = len(self._tile_index)
                if not self._len:
                    raise InputError(
                        f"{names}: every tiled window has more than {max_n_fraction:.0%} N"
                    )

    def _sources(self) -> list[SequenceSource]:
        """The sources, opened once per process (DataLoader workers open their own)."""
        if self._pid != os.getpid():
            self._opened = [
                open_genome(s) if isinstance(s, (str, Path)) else s for s in self._specs
            ]
            self._pid = os.getpid()
        return self._opened

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_opened=None, _pid=None, _cache={})
        return state

    def _scan_tiles(self, opened: list[SequenceSource]) -> np.ndarray:
        """Global tile numbers of the tiled windows with at most ``max_n_fraction`` N."""
        keep, first, L, stride = [], 0, self.window_length, self.stride
        per_scan = max(1, _SCAN // stride)
        for r, n_tiles in enumerate(self._tiles.tolist()):
            source, contig = opened[self._reg_src[r]], self._reg_contig[r]
            base = int(self._reg_start[r])
            for k0 in range(0, n_tiles, per_scan):
                ks = np.arange(k0, min(k0 + per_scan, n_tiles))
                lo, hi = base + k0 * stride, base + int(ks[-1]) * stride + L
                is_n = source.fetch_codes(contig, lo, hi) == self._unknown[self._reg_src[r]]
                cum = np.concatenate([[0], np.cumsum(is_n, dtype=np.int64)])
                offsets = (ks - k0) * stride
                n_count = cum[offsets + L] - cum[offsets]
                keep.append(first + ks[n_count <= self._max_n])
            first += n_tiles
        return np.concatenate(keep) if keep else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self._len

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of random windows (and strands). Call before each epoch's iteration."""
        self.epoch = epoch
        self._cache = {}

    def shard(self, rank: int, world_size: int) -> Subset:
        """Every ``world_size``-th item from ``rank`` (or use ``DistributedSampler``)."""
        return Subset(self, range(rank, len(self), world_size))

    def _chunk(self, c: int) -> tuple[list, list, list | None]:
        """Regions, starts and strands (``True`` = minus) of chunk ``c`` of this epoch."""
        chunk = self._cache.get(c)
        if chunk is None:
            n = min(_CHUNK, self._len - c * _CHUNK)
            rng = np.random.default_rng([self.seed, self.epoch, 0, c])
            regions = starts = []
            if self.mode == "random":
                u = rng.integers(0, self._cum[-1], n)
                r = np.searchsorted(self._cum, u, side="right")
                starts = (self._reg_start[r] + u - self._cum[r] + self._n_starts[r]).tolist()
                regions = r.tolist()
            minus = (rng.random(n) < 0.5).tolist() if self.rc_augment else None
            if len(self._cache) >= 64:
                self._cache.clear()
            chunk = self._cache[c] = (regions, starts, minus)
        return chunk

    def _redraw(self, index: int, attempt: int) -> tuple[int, int]:
        rng = np.random.default_rng([self.seed, self.epoch, 1, index, attempt])
        u = int(rng.integers(0, self._cum_list[-1]))
        r = bisect_right(self._cum_list, u)
        return r, int(self._reg_start[r]) + u - self._cum_list[r] + int(self._n_starts[r])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self._len:
            raise IndexError(f"window {index} out of range for {self._len} windows")
        regions, starts, minus = self._chunk(index // _CHUNK)
        strand = "-" if minus is not None and minus[index % _CHUNK] else "+"
        sources, L = self._sources(), self.window_length
        if self.mode == "random":
            r, start = regions[index % _CHUNK], starts[index % _CHUNK]
            for attempt in range(1, _MAX_ATTEMPTS + 1):
                src = self._reg_src[r]
                codes = sources[src].fetch_codes(self._reg_contig[r], start, start + L, strand)
                if self._max_n >= L or np.count_nonzero(codes == self._unknown[src]) <= self._max_n:
                    break
                r, start = self._redraw(index, attempt)
            else:
                raise InputError(
                    f"no window with at most {self.max_n_fraction:.0%} N found in "
                    f"{_MAX_ATTEMPTS} draws: the territory is mostly N"
                )
        else:
            tile = index if self._tile_index is None else int(self._tile_index[index])
            r = bisect_right(self._cum_list, tile)
            k = tile - self._cum_list[r] + int(self._tiles[r])
            start = int(self._reg_start[r]) + k * self.stride
            src = self._reg_src[r]
            codes = sources[src].fetch_codes(self._reg_contig[r], start, start + L, strand)
        if self.tokenizer is not None:
            ids = torch.from_numpy(self.tokenizer.encode_array(codes, self.add_special_tokens))
        else:
            ids = torch.from_numpy(codes.copy())
        return {
            "input_ids": ids,
            "source": src,
            "contig": self._reg_contig[r],
            "start": start,
            "strand": strand,
        }

    def __repr__(self) -> str:
        return (
            f"GenomeWindows({len(self)} {self.mode} windows of {self.window_length} bp "
            f"from {len(self._reg_src)} regions, {self.total_length} bp)"
        )
