"""Protein (or other) training data: one record per sequence, length-bucketed batches, a held-out
set of records; with ``aligned``, an alignment's match columns.

* :class:`RecordData`: one record per sequence (:class:`~bioseq.io.records.SequenceRecords`,
  cropped to ``context`` tokens), batches of similar length
  (:class:`~bioseq.io.records.LengthBucketSampler`), a seeded tenth of the records held out.
  With ``aligned`` (a2m/a3m, masked models) a record is its match columns instead, ``-`` a
  token of its own (:data:`ALIGNED_PROTEIN`), one position per column and no BOS/EOS, so every
  record is ``alignment_width`` tokens long; records of gaps only are skipped.

>>> aligned_tokenizer().encode_array("AC-W").tolist()
[5, 6, 30, 23]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.io.inputs import InputFile, open_input
from bioseq.io.records import LengthBucketSampler, SequenceRecords, pad_collate
from bioseq.io.splits import ValidationSplit
from bioseq.tokenizers import CharTokenizer
from bioseq.train.config import TrainConfig
from bioseq.train.data.base import IGNORE, Batch, TrainData, evenly_spaced

__all__ = ["ALIGNED_PROTEIN", "ALIGNED_STATES", "RecordData", "aligned_tokenizer"]

ALIGNED_PROTEIN = "ACDEFGHIKLMNPQRSTVWYX*BZJ-"  # the tokenizer letters of an aligned run
ALIGNED_STATES = "ACDEFGHIKLMNPQRSTVWY-"  # its targets and Markov letters: 20 amino acids + gap


def aligned_tokenizer() -> CharTokenizer:
    """The tokenizer of an ``aligned`` run: the protein letters and the gap ``-``."""
    return CharTokenizer(ALIGNED_PROTEIN)


class RecordData(TrainData):
    """Protein (or other) records: length-bucketed train batches, a held-out set of records."""

    def __init__(
        self, paths: Sequence[Path | InputFile], config: TrainConfig, tokenizer, alphabet: str
    ) -> None:
        super().__init__(config, tokenizer, alphabet)
        theta, self.aligned = config.sequence_weights, config.aligned
        self.alignment_width: int | None = None  # aligned: match columns per record
        pairs, weights = [], []
        files = [open_input(p, alphabet) for p in paths]
        paths = [f.path for f in files]
        for path, file in zip(paths, files, strict=True):
            found, found_weights, width = _read_records(file, theta, self.aligned)
            pairs += [(name, self._orient(codes)) for name, codes in found]
            weights.append(found_weights)
            if self.aligned and self.alignment_width not in (None, width):
                raise InputError(
                    f"{path}: {width} match columns, but {paths[0]} has "
                    f"{self.alignment_width}; --aligned takes one alignment "
                    "width"
                )
            self.alignment_width = width if self.aligned else None
        weights = np.concatenate(weights)
        names = ", ".join(str(p) for p in paths)
        if self.aligned and self.alignment_width > config.context:
            raise InputError(
                f"{names}: {self.alignment_width} match columns is more than "
                f"--context {config.context}; raise --context (--aligned reads "
                "whole rows)"
            )
        split = ValidationSplit(config.val_fraction, config.val_contigs)
        held = split.of_records([name for name, _ in pairs], names)
        self.train_pairs = [p for p, h in zip(pairs, held, strict=True) if not h]
        self.val_pairs = [p for p, h in zip(pairs, held, strict=True) if h]
        # sampling probabilities of the train records (None: uniform epochs)
        self.train_p = None if theta is None else weights[~held] / weights[~held].sum()
        if not self.train_pairs:
            raise InputError(f"{names}: no records left for training after the validation split")
        self._train: dict[int, tuple[SequenceRecords, LengthBucketSampler]] = {}
        self._epoch_batches: dict[tuple[int, int], list[list[int]]] = {}
        self.val = self._records(self.val_pairs, config.context, "left") if self.val_pairs else None
        self.train_records(config.context)
        self.description = (
            f"{names}: {len(pairs):,} {alphabet} records, train {len(self.train_pairs):,}, "
            f"validation {len(self.val_pairs):,}"
        )
        if theta is not None:
            self.description += (
                f"; sampled by sequence weight (theta {theta}, effective records "
                f"{weights[~held].sum():,.1f})"
            )

    @property
    def has_val(self) -> bool:
        return self.val is not None

    @property
    def markov_letters(self) -> str:
        """Aligned runs: the 20 amino acids and the gap (EVmutation's 21 states)."""
        return ALIGNED_STATES if self.config.aligned else super().markov_letters

    def max_tokens(self, context: int) -> int:
        longest = self.train_records(context)[0].lengths.max()
        if self.val is not None:
            longest = max(longest, self.val.lengths.max())
        return int(min(context, longest))

    def _records(self, pairs, context: int, crop: str) -> SequenceRecords:
        return SequenceRecords(
            pairs,
            tokenizer=self.tokenizer,
            max_length=context,
            crop=crop,
            seed=self.config.seed,
            # masked models read bare records (aligned: bare columns), as they are scored
            add_special_tokens=self.config.objective != "mlm",
        )

    def train_records(self, context: int) -> tuple[SequenceRecords, LengthBucketSampler]:
        if context not in self._train:
            records = self._records(self.train_pairs, context, "random")
            bs = self.config.batch_size
            if len(records) < bs:
                raise InputError(f"{len(records)} training records is fewer than --batch-size {bs}")
            sampler = LengthBucketSampler(records, bs, seed=self.config.seed, drop_last=True)
            self._train[context] = (records, sampler)
        return self._train[context]

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        if self.train_p is not None:
            return self._weighted_items(step, context, batch_size, share)
        records, sampler = self.train_records(context)  # batches of config.batch_size
        epoch, index = divmod(step, len(sampler))
        key = (context, epoch)
        if key not in self._epoch_batches:
            sampler.set_epoch(epoch)
            self._epoch_batches = {key: list(sampler)}  # keep one epoch's order
        records.set_epoch(epoch)
        return [records[i]["input_ids"] for i in self._epoch_batches[key][index][share]]

    def _weighted_items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        """Records drawn with replacement by sequence weight; a pure function of (seed, step)."""
        records, _ = self.train_records(context)
        rng = np.random.default_rng([self.config.seed, step])
        chosen = rng.choice(len(records), size=batch_size, p=self.train_p)
        records.set_epoch(step)  # a fresh random crop of long records at every step
        chosen = chosen[share]
        chosen = chosen[np.argsort(records.lengths[chosen], kind="stable")]  # less padding
        return [records[int(i)]["input_ids"] for i in chosen]

    def _val_indices(self, n: int) -> np.ndarray:
        order = evenly_spaced(len(self.val), n)
        return order[np.argsort(self.val.lengths[order], kind="stable")]  # less padding

    def _val_items(self, indices: np.ndarray) -> list:
        return [self.val[int(i)]["input_ids"] for i in indices]

    def _collate(self, items: list, context: int) -> Batch:
        batch = pad_collate([{"input_ids": ids} for ids in items], self.pad_id)
        ids, mask = batch["input_ids"], batch["attention_mask"]
        labels = ids.masked_fill(mask == 0, IGNORE)
        return self._batch(ids, labels)

    def markov_sequences(self):
        return (c for _, c in self.train_pairs), (c for _, c in self.val_pairs)


def _read_records(
    file: InputFile, theta: float | None = None, aligned: bool = False
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray, int | None]:
    """(name, codes) of every record, their sequence weights at ``theta`` (ones if None) and,
    for ``aligned``, the alignment's width: records are then match columns (gaps kept; rows
    of gaps only left out)."""
    path, kind, alphabet = file.path, file.format, file.alphabet.name.lower()
    if aligned and (kind != "alignment" or alphabet != "protein"):
        what = f"an alignment of {alphabet}" if kind == "alignment" else f"{kind} of {alphabet}"
        raise InputError(f"{path}: is {what}; --aligned needs an a2m/a3m protein alignment")
    if aligned:
        alignment = file.alignment()
        weights = alignment.sequence_weights(theta) if theta is not None else None
        rows = [(r.name, r.match_columns) for r in alignment.records]
        kept = np.array([set(row) != {"-"} for _, row in rows], dtype=bool)
        if not kept.any():
            raise InputError(f"{path}: every record is gaps only in the match columns")
        pairs = [
            (name, np.frombuffer(row.encode("ascii"), dtype=np.uint8))
            for (name, row), keep in zip(rows, kept, strict=True)
            if keep
        ]
        weights = np.ones(len(pairs)) if weights is None else weights[kept]
        return pairs, weights, alignment.width
    if kind == "alignment":
        alignment = file.alignment()
        records = alignment.records  # sequence: gaps removed
        weights = alignment.sequence_weights(theta) if theta is not None else None
    elif kind == "fasta":
        if theta is not None:
            raise InputError(
                f"{path}: sequence weights need an alignment (a2m/a3m), not unaligned FASTA"
            )
        records, weights = list(file.records()), None
    else:
        raise InputError(f"{path}: is {kind} input, expected FASTA or an alignment of {alphabet}")
    pairs = [(r.name, np.frombuffer(r.sequence.encode("ascii"), dtype=np.uint8)) for r in records]
    return pairs, np.ones(len(pairs)) if weights is None else weights, None
