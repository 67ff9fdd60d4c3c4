"""What every kind of training data gives the loop: :class:`Batch`, :class:`TrainData` and the
staged context warm-up (:func:`context_at`).

>>> from bioseq.train.config import TrainConfig
>>> c = TrainConfig(context=512, context_warmup=300)
>>> [context_at(s, c) for s in (0, 99, 100, 200, 299, 300)]
[64, 64, 128, 256, 256, 512]
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from bioseq.io.alphabet import DNA, PROTEIN
from bioseq.models.markov import MarkovModel
from bioseq.train.config import TrainConfig
from bioseq.train.distributed import rank_slice
from bioseq.train.masking import TRAIN_SALT, VAL_SALT, Masking

__all__ = ["IGNORE", "Batch", "TrainData", "context_at", "evenly_spaced", "labelled_batch"]

MIN_WARMUP_CONTEXT = 64
IGNORE = -100


@dataclass
class Batch:
    """Token ids ``(batch, length)``, labels (``-100`` at padding) and the labelled count; a
    masked batch also has its attention mask (1 = a token, 0 = padding) and clean ids. The
    counts are plain ints, taken where the batch is built (a DataLoader worker), so the
    training step never reads a tensor back to count."""

    input_ids: torch.Tensor
    labels: torch.Tensor
    n_tokens: int  # positions whose next token is predicted (labels[:, 1:] != -100), or for
    # a masked batch the targets (labels != -100)
    n_bases: int = -1  # bases those predicted tokens hold (-1: one per token)
    attention_mask: torch.Tensor | None = None
    clean_ids: torch.Tensor | None = None  # masked batches: the ids before masking
    n_seen: int = -1  # tokens read (a masked batch reads more than it predicts; -1: n_tokens)

    def __post_init__(self) -> None:
        if self.n_bases < 0:
            self.n_bases = self.n_tokens
        if self.n_seen < 0:
            mask = self.attention_mask
            self.n_seen = self.n_tokens if mask is None else int(mask.sum())

    def _tensors(self) -> dict[str, torch.Tensor]:
        names = ("input_ids", "labels", "attention_mask", "clean_ids")
        return {k: getattr(self, k) for k in names if getattr(self, k) is not None}

    def pin_memory(self) -> Batch:
        """The batch in page-locked memory (what a DataLoader with ``pin_memory`` calls), so
        ``to(cuda, non_blocking=True)`` copies while the GPU computes."""
        return dataclasses.replace(self, **{k: t.pin_memory() for k, t in self._tensors().items()})

    def to(self, device: torch.device, non_blocking: bool = False) -> Batch:
        """The batch's tensors on ``device`` (counts unchanged).

        >>> b = Batch(torch.ones(1, 3, dtype=torch.long), torch.ones(1, 3, dtype=torch.long), 2)
        >>> b.to(torch.device("cpu")).n_seen
        2
        """
        moved = {k: t.to(device, non_blocking=non_blocking) for k, t in self._tensors().items()}
        return dataclasses.replace(self, **moved)


def labelled_batch(ids: torch.Tensor, labels: torch.Tensor, token_lengths: torch.Tensor) -> Batch:
    """A :class:`Batch` counting predicted tokens and the bases they hold (k-mers, BPE)."""
    predicted = labels[:, 1:]
    mask = predicted != IGNORE
    lengths = token_lengths[predicted.clamp(min=0)]
    return Batch(ids, labels, int(mask.sum()), int(lengths[mask].sum()))


def context_at(step: int, config: TrainConfig) -> int:
    """Tokens per sequence at ``step``: staged warm-up doubling from 64 up to ``context``."""
    if not config.context_warmup or config.context <= MIN_WARMUP_CONTEXT:
        return config.context
    stages = math.ceil(math.log2(config.context / MIN_WARMUP_CONTEXT))
    if step >= config.context_warmup:
        return config.context
    stage = step * stages // config.context_warmup
    return min(config.context, MIN_WARMUP_CONTEXT << stage)


class TrainData:
    """What the loop needs from the data; see :class:`GenomeData` and :class:`RecordData`."""

    alphabet: str
    tokenizer: object
    description: str
    unit = "base"  # what one symbol of the bits-per-symbol metrics is

    def __init__(self, config: TrainConfig, tokenizer, alphabet: str) -> None:
        self.config, self.tokenizer, self.alphabet = config, tokenizer, alphabet
        self.pad_id = int(tokenizer.pad_token_id)
        self.bases_per_token = float(getattr(tokenizer, "bases_per_token", 1))
        lengths = getattr(tokenizer, "token_lengths", None)
        self.token_lengths = None if lengths is None else torch.tensor(np.array(lengths))
        self._val_cache: dict[tuple[int, int, int], tuple[np.ndarray, list]] = {}
        self.masking: Masking | None = None
        if getattr(config, "objective", None) == "mlm":
            self.masking = Masking.for_tokenizer(
                tokenizer, self.markov_letters, config.mask_fraction
            )

    def batch(
        self,
        step: int,
        context: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        grad_accum: int = 1,
    ) -> list[Batch]:
        """This process's micro-batches of optimizer step ``step``."""
        per_rank = batch_size // world_size
        share = rank_slice(batch_size, rank, world_size)
        items = self._items(step, context, batch_size, share)
        micro = per_rank // grad_accum
        out = []
        for i in range(0, per_rank, micro):
            batch = self._collate(items[i : i + micro], context)
            if self.masking is not None:  # keyed by the row's place in the global batch
                first = step * batch_size + share.start + i
                keys = [(self.config.seed, TRAIN_SALT, step, first + j) for j in range(micro)]
                batch = self.mask(batch, keys)
            out.append(batch)
        return out

    def eval_batches(self, n: int, batch_size: int, rank: int = 0, world_size: int = 1):
        """Batches of a fixed, evenly spread subset of ``n`` validation items (0 = all)."""
        key = (n, rank, world_size)
        if key not in self._val_cache:  # the same items at every evaluation
            indices = self._val_indices(n)[rank::world_size]
            self._val_cache[key] = (indices, self._val_items(indices))
        indices, items = self._val_cache[key]
        for i in range(0, len(items), batch_size):
            batch = self._collate(items[i : i + batch_size], self.config.context)
            if self.masking is not None:  # the same targets at every evaluation
                seed = self.config.seed
                keys = [(seed, VAL_SALT, int(index)) for index in indices[i : i + batch_size]]
                batch = self.mask(batch, keys)
            yield batch

    def mask(self, batch: Batch, keys: list[tuple[int, ...]]) -> Batch:
        """``batch`` masked for the mlm objective, row ``r`` from the RNG key ``keys[r]``."""
        clean = batch.input_ids
        inputs, labels = self.masking.apply(clean, keys)
        n = int((labels != IGNORE).sum())
        attention = (batch.labels != IGNORE).long()  # the causal labels: -100 at padding only
        return Batch(inputs, labels, n, n, attention, clean)

    @property
    def has_val(self) -> bool:
        raise NotImplementedError

    def max_tokens(self, context: int) -> int:
        """The longest sequence, in tokens, of a batch at ``context`` (for the memory check)."""
        return context

    @property
    def markov_letters(self) -> str:
        """The symbols the Markov reference counts (``N``, ``X`` and the like are skipped)."""
        alphabet = DNA if self.alphabet == "dna" else PROTEIN
        return alphabet.letters.replace(alphabet.unknown, "")

    def markov_model(self, order: int):
        """An unfitted Markov reference model of this data's symbols."""
        return MarkovModel(order, self.markov_letters)

    def markov_sequences(self) -> tuple[Iterator[np.ndarray], Iterator[np.ndarray]]:
        """(train, val) uint8 code arrays, oriented as the model reads them."""
        raise NotImplementedError

    def _items(self, step: int, context: int, batch_size: int, share: slice) -> list:
        """Items ``share`` of the ``batch_size`` items of step ``step``."""
        raise NotImplementedError

    def _val_indices(self, n: int) -> np.ndarray:
        raise NotImplementedError

    def _val_items(self, indices: np.ndarray) -> list:
        raise NotImplementedError

    def _collate(self, items: list, context: int) -> Batch:
        raise NotImplementedError

    def _orient(self, codes: np.ndarray) -> np.ndarray:
        return codes[::-1].copy() if self.config.direction == "reverse" else codes

    def _window_batch(self, items: list, context: int) -> Batch:
        """Windows of codes, each tokenized and cropped to ``context``, right-padded."""
        ids = torch.full((len(items), context), self.pad_id, dtype=torch.long)
        for row, codes in enumerate(items):
            tokens = self.tokenizer.encode_array(self._orient(codes))[:context]
            ids[row, : len(tokens)] = torch.from_numpy(tokens)
        labels = ids.masked_fill(ids == self.pad_id, IGNORE)
        return self._batch(ids, labels)

    def _batch(self, ids: torch.Tensor, labels: torch.Tensor) -> Batch:
        if self.token_lengths is None:
            return Batch(ids, labels, int((labels[:, 1:] != IGNORE).sum()))
        return labelled_batch(ids, labels, self.token_lengths)

    def window_bases(self, context: int) -> int:
        """Bases per window that give ``context`` tokens: exact for fixed-length tokens, and for
        variable-length ones (BPE) a margin over the mean so most windows fill the context."""
        if getattr(self.tokenizer, "variable_length", False):
            return math.ceil(context * self.bases_per_token * 1.25) + 16
        return context * round(self.bases_per_token)


def evenly_spaced(total: int, n: int) -> np.ndarray:
    if n <= 0 or n >= total:
        return np.arange(total)
    return np.unique(np.linspace(0, total - 1, n).round().astype(np.int64))
