"""Variable-length sequence records as a PyTorch dataset, and how to batch them.

:class:`SequenceRecords` serves one item per record (proteins, reads) and pairs with
:meth:`SequenceRecords.collate` (:func:`pad_collate`) and :class:`LengthBucketSampler`::

    proteins = SequenceRecords("uniref50_sample.fa", tokenizer=tokenizer, max_length=512)
    loader = DataLoader(proteins, batch_sampler=LengthBucketSampler(proteins, 32),
                        collate_fn=proteins.collate)

>>> from bioseq.io.records import SequenceRecords, pad_collate
>>> records = SequenceRecords(["ACGT", "AC"])
>>> batch = records.collate([records[0], records[1]])
>>> batch["input_ids"].tolist(), batch["attention_mask"].tolist()
([[65, 67, 71, 84], [65, 67, 0, 0]], [[1, 1, 1, 1], [1, 1, 0, 0]])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from bioseq.errors import InputError
from bioseq.io.alphabet import Alphabet, as_codes
from bioseq.io.inputs import open_input

__all__ = ["ArrayTokenizer", "LengthBucketSampler", "SequenceRecords", "pad_collate"]


class ArrayTokenizer(Protocol):
    pad_token_id: int

    def encode_array(self, codes: np.ndarray, add_special_tokens: bool = False) -> np.ndarray: ...


class SequenceRecords(Dataset):
    """One item per record: proteins, reads, any short sequences.

    ``records`` is a list of sequences, a list of ``(name, sequence)`` pairs, or a FASTA or
    alignment file (a2m, a3m; gaps are removed). Records longer than ``max_length`` tokens
    (counting the bos/eos the tokenizer adds, assuming one token per residue) are cropped:
    ``crop="random"`` draws the offset from ``(seed, epoch, index)``, ``"center"`` and ``"left"``
    are fixed. ``alphabet`` normalises in-memory sequences (files are normalised by their
    readers). An item is ``{"input_ids", "name", "index", "start"}`` (``start``: the crop
    offset); batch items with :meth:`collate`, group them with :class:`LengthBucketSampler`.
    """

    def __init__(
        self,
        records: str | Path | Sequence[str | bytes | tuple[str, str | bytes]],
        *,
        tokenizer: ArrayTokenizer | None = None,
        max_length: int | None = None,
        crop: Literal["random", "center", "left"] = "random",
        add_special_tokens: bool = True,
        alphabet: Alphabet | None = None,
        seed: int = 0,
    ) -> None:
        if crop not in ("random", "center", "left"):
            raise InputError(f"crop must be 'random', 'center' or 'left', not {crop!r}")
        if isinstance(records, (str, Path)):
            pairs = _read_records(records, alphabet)
        else:
            pairs = [
                (str(i), r) if isinstance(r, (str, bytes)) else (str(r[0]), r[1])
                for i, r in enumerate(records)
            ]
        if not pairs:
            raise InputError(
                f"{records if isinstance(records, (str, Path)) else 'records'}: no sequences"
            )
        self.names = [name for name, _ in pairs]
        self._codes = [self._normalise(name, seq, alphabet) for name, seq in pairs]
        self.tokenizer = tokenizer
        self.add_special_tokens = add_special_tokens
        self.crop = crop
        self.seed = seed
        self.epoch = 0
        self.pad_token_id = int(tokenizer.pad_token_id) if tokenizer is not None else 0
        self.n_special = 0
        if tokenizer is not None and add_special_tokens:
            probe = self._codes[0][:1]
            self.n_special = len(tokenizer.encode_array(probe, True)) - len(
                tokenizer.encode_array(probe, False)
            )
        self._limit = None if max_length is None else max_length - self.n_special
        if self._limit is not None and self._limit <= 0:
            raise InputError(f"max_length {max_length} leaves no room beside the special tokens")

    @staticmethod
    def _normalise(name: str, seq: str | bytes | np.ndarray, alphabet: Alphabet | None):
        codes = as_codes(seq)
        if alphabet is None:
            return codes
        try:
            return alphabet.normalize_array(codes)
        except InputError as err:
            raise InputError(f"record {name!r}: {err}") from None

    def __len__(self) -> int:
        return len(self._codes)

    @property
    def lengths(self) -> np.ndarray:
        """Token length of every item after cropping (for :class:`LengthBucketSampler`)."""
        raw = np.array([len(c) for c in self._codes], dtype=np.int64)
        if self._limit is not None:
            raw = np.minimum(raw, self._limit)
        return raw + self.n_special

    def set_epoch(self, epoch: int) -> None:
        """Draw new random crops."""
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict[str, Any]:
        codes, start = self._codes[index], 0
        if self._limit is not None and len(codes) > self._limit:
            excess = len(codes) - self._limit
            if self.crop == "random":
                rng = np.random.default_rng([self.seed, self.epoch, index])
                start = int(rng.integers(0, excess + 1))
            elif self.crop == "center":
                start = excess // 2
            codes = codes[start : start + self._limit]
        if self.tokenizer is not None:
            ids = torch.from_numpy(self.tokenizer.encode_array(codes, self.add_special_tokens))
        else:
            ids = torch.from_numpy(codes.copy())
        return {"input_ids": ids, "name": self.names[index], "index": index, "start": start}

    def collate(self, batch: list[dict[str, Any]]) -> dict[str, Any]:
        """Pad a batch with the tokenizer's ``pad_token_id`` (see :func:`pad_collate`)."""
        return pad_collate(batch, self.pad_token_id)


def _read_records(path: str | Path, alphabet: Alphabet | None) -> list[tuple[str, Any]]:
    """``(name, sequence)`` of every record of a FASTA, alignment (gaps removed) or GenBank
    file, read in ``alphabet`` (else the one its content suggests)."""
    return [(r.name, r.sequence) for r in open_input(path, alphabet).records()]


def pad_collate(batch: list[dict[str, Any]], pad_token_id: int = 0) -> dict[str, Any]:
    """Stack items padded to the longest: ``input_ids``, ``attention_mask`` (1 = token),
    ``lengths``; other keys become tensors when they hold ints, else lists."""
    seqs = [item["input_ids"] for item in batch]
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    ids = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True, padding_value=pad_token_id)
    mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).long()
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "lengths": lengths}
    for key in batch[0]:
        if key != "input_ids":
            values = [item[key] for item in batch]
            is_int = all(isinstance(v, int) for v in values)
            out[key] = torch.tensor(values, dtype=torch.long) if is_int else values
    return out


class LengthBucketSampler(Sampler[list[int]]):
    """Batches of records of similar length, reshuffled each epoch from ``(seed, epoch)``.

    Each epoch the indices are shuffled, cut into buckets of ``bucket_size`` (default 50
    batches), each bucket is sorted by length and cut into batches, and the batches are
    shuffled. Every index appears exactly once per epoch (unless ``drop_last`` drops the short
    batches). With ``num_replicas > 1`` rank ``rank`` takes every ``num_replicas``-th batch and
    all ranks get the same number of batches (the few left over are dropped). Use as
    ``DataLoader(ds, batch_sampler=sampler, collate_fn=ds.collate)``.
    """

    def __init__(
        self,
        lengths: Sequence[int] | np.ndarray | SequenceRecords,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        bucket_size: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        if batch_size <= 0:
            raise InputError(f"batch_size must be positive, not {batch_size}")
        if not 0 <= rank < num_replicas:
            raise InputError(f"rank {rank} is outside 0..{num_replicas - 1}")
        self.lengths = np.asarray(getattr(lengths, "lengths", lengths), dtype=np.int64)
        self.batch_size = batch_size
        bucket = bucket_size or 50 * batch_size
        self.bucket_size = -(-bucket // batch_size) * batch_size  # a multiple of batch_size
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _batches(self) -> list[list[int]]:
        n, bs = len(self.lengths), self.batch_size
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        batches = []
        for b0 in range(0, n, self.bucket_size):
            pool = order[b0 : b0 + self.bucket_size]
            pool = pool[np.argsort(self.lengths[pool], kind="stable")]
            batches.extend(pool[i : i + bs].tolist() for i in range(0, len(pool), bs))
        if self.drop_last:
            batches = [b for b in batches if len(b) == bs]
        if self.shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
        if self.num_replicas > 1:
            per_rank = len(batches) // self.num_replicas
            batches = batches[self.rank :: self.num_replicas][:per_rank]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self._batches())

    def __len__(self) -> int:
        n, bs = len(self.lengths), self.batch_size
        count = n // bs if self.drop_last else -(-n // bs)  # buckets are whole batches
        return count // self.num_replicas if self.num_replicas > 1 else count
