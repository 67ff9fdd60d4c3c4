"""BERT masking for masked-LM pretraining (``--objective mlm``), a pure function of its seed.

Each row's targets are ``max(1, round(fraction x n))`` of its ``n`` letter tokens (the alphabet's
letters: ``A C G T`` for DNA; never padding, special tokens or the ambiguous ``N`` / ``X``,
which carry nothing to predict and which the Markov reference cannot score), drawn without
replacement. Of the targets, 80% become ``[MASK]``, 10% a random letter token and 10% stay as
they are; ``labels`` hold the original ids at the targets and ``-100`` elsewhere, so the
model's own loss is the mean cross-entropy over the targets. Every row draws from
``numpy.random.default_rng(key)``: training rows use ``(seed, 0, step, global row)``, validation
rows ``(seed, 1, validation item)``, so a resumed run masks exactly as an uninterrupted one and
the validation targets are the same at every evaluation, whatever the training RNG did.

>>> import torch
>>> from bioseq.tokenizers import CharTokenizer
>>> masking = Masking.for_tokenizer(CharTokenizer("dna"), "ACGT")
>>> ids = torch.from_numpy(CharTokenizer("dna").encode_array(b"ACGT" * 5))[None]
>>> inputs, labels = masking.apply(ids, keys=[(0, 0, 0, 0)])
>>> int((labels != -100).sum())  # 15% of 20 letters
3
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bioseq.errors import InputError

IGNORE = -100
TRAIN_SALT, VAL_SALT = 0, 1  # the second entry of every row's RNG key


@dataclass(frozen=True)
class Masking:
    """How to mask: the ``[MASK]`` id, the letter token ids (targets and random
    replacements) and the fraction of letters that become targets."""

    mask_id: int
    letter_ids: tuple[int, ...]
    fraction: float = 0.15

    @classmethod
    def for_tokenizer(cls, tokenizer, letters: str, fraction: float = 0.15) -> Masking:
        """The masking of a single-character ``tokenizer`` whose targets are ``letters``."""
        mask_id = getattr(tokenizer, "mask_token_id", None)
        if mask_id is None:
            raise InputError("objective mlm needs a tokenizer with a [MASK] token")
        vocab = tokenizer.get_vocab()
        missing = [c for c in letters if c not in vocab]
        if missing:
            raise InputError(f"objective mlm: the tokenizer has no token for {missing[0]!r}")
        return cls(int(mask_id), tuple(int(vocab[c]) for c in letters), fraction)

    def apply(
        self, ids: torch.Tensor, keys: Sequence[Sequence[int]]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, labels)`` of the ``(batch, length)`` clean ``ids``; row ``i`` draws
        from ``numpy.random.default_rng(keys[i])``."""
        if len(keys) != ids.shape[0]:
            raise ValueError(f"{len(keys)} keys for {ids.shape[0]} rows")
        clean = ids.numpy()
        inputs, labels = clean.copy(), np.full_like(clean, IGNORE)
        letters = np.array(self.letter_ids, dtype=clean.dtype)
        candidates = np.isin(clean, letters)
        for row, key in enumerate(keys):
            rng = np.random.default_rng([int(k) for k in key])
            where = np.flatnonzero(candidates[row])
            if not where.size:
                continue
            n = max(1, round(self.fraction * where.size))
            chosen = np.sort(rng.choice(where, size=n, replace=False))
            draw = rng.random(n)
            random_letters = letters[rng.integers(0, len(letters), size=n)]
            labels[row, chosen] = clean[row, chosen]
            masked, replaced = chosen[draw < 0.8], (draw >= 0.8) & (draw < 0.9)
            inputs[row, masked] = self.mask_id
            inputs[row, chosen[replaced]] = random_letters[replaced]
        return torch.from_numpy(inputs), torch.from_numpy(labels)
