"""An order-k Markov reference: the bits per base a k-mer model gets on the validation split.

Every training run reports it beside its own validation loss, so a user sees at once whether the
network learned more than k-mer statistics. Counting is vectorised numpy (``np.bincount`` over
rolling base-``A`` context indices); positions whose context or target is not a letter of the
alphabet (``N``, ``X``, gaps) are skipped, and so are the first ``k`` symbols of a sequence.

>>> import numpy as np
>>> from bioseq.train.markov import MarkovModel
>>> seq = np.frombuffer(b"ACGT" * 1000, dtype=np.uint8)
>>> model = MarkovModel(order=2, letters="ACGT").fit([seq])
>>> round(model.bits_per_symbol([seq]), 3)  # a periodic sequence is almost fully predictable
0.004
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from bioseq.errors import InputError

_CHUNK = 1 << 22  # symbols counted per numpy pass, to bound memory on large genomes
_MAX_TABLE = 1 << 28  # contexts x symbols


class MarkovModel:
    """Order-``order`` Markov chain over ``letters`` with add-``alpha`` smoothing."""

    def __init__(self, order: int = 4, letters: str = "ACGT", alpha: float = 1.0) -> None:
        if order < 0:
            raise InputError(f"Markov order must be >= 0, not {order}")
        self.order, self.letters, self.alpha = order, letters, alpha
        self.size = len(letters)
        if self.size ** (order + 1) > _MAX_TABLE:
            raise InputError(
                f"an order-{order} Markov model over {self.size} letters needs "
                f"{self.size ** (order + 1):,} counts; lower markov_order"
            )
        self._index = np.full(256, 255, dtype=np.uint8)
        for i, letter in enumerate(letters):
            self._index[ord(letter)] = self._index[ord(letter.lower())] = i
        self.counts = np.zeros(self.size ** (order + 1), dtype=np.int64)

    def _kmers(self, codes: np.ndarray) -> np.ndarray:
        """Index of every valid ``(order + 1)``-mer ending at positions ``order..n-1``."""
        sym = self._index[codes]
        k, n = self.order + 1, len(codes)
        if n < k:
            return np.zeros(0, dtype=np.int64)
        bad = (sym == 255).astype(np.int32)
        # a k-mer is valid when none of its k symbols is invalid: a running count over k
        cum = np.concatenate([[0], np.cumsum(bad)])
        valid = (cum[k:] - cum[:-k]) == 0
        value = np.zeros(n - k + 1, dtype=np.int64)
        sym64 = np.where(sym == 255, 0, sym).astype(np.int64)
        for j in range(k):
            value = value * self.size + sym64[j : n - k + 1 + j]
        return value[valid]

    def _chunks(self, sequences: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
        for codes in sequences:
            codes = np.asarray(codes, dtype=np.uint8)
            # chunks overlap by ``order`` symbols so no k-mer is lost or counted twice
            for start in range(0, max(1, len(codes) - self.order), _CHUNK):
                yield self._kmers(codes[start : start + _CHUNK + self.order])

    def fit(self, sequences: Iterable[np.ndarray]) -> MarkovModel:
        """Add the k-mer counts of ``sequences`` (uint8 ASCII code arrays); returns ``self``."""
        for kmers in self._chunks(sequences):
            self.counts += np.bincount(kmers, minlength=self.counts.size)
        return self

    def log2_probs(self) -> np.ndarray:
        """``log2 P(symbol | context)`` for every ``(order + 1)``-mer index."""
        table = self.counts.reshape(-1, self.size).astype(np.float64) + self.alpha
        return np.log2(table / table.sum(axis=1, keepdims=True)).reshape(-1)

    def bits_per_symbol(self, sequences: Iterable[np.ndarray]) -> float:
        """Mean ``-log2 P`` over the scored positions of ``sequences`` (nan when none)."""
        logp, total, n = self.log2_probs(), 0.0, 0
        for kmers in self._chunks(sequences):
            total -= float(logp[kmers].sum())
            n += len(kmers)
        return total / n if n else float("nan")


def markov_bits_per_base(
    train: Iterable[np.ndarray],
    val: Iterable[np.ndarray],
    order: int = 4,
    letters: str = "ACGT",
    alpha: float = 1.0,
) -> float:
    """Fit an order-``order`` model on ``train``, return its bits per symbol on ``val``.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> random = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, 100_000)]
    >>> round(markov_bits_per_base([random[:80_000]], [random[80_000:]], order=1), 2)
    2.0
    """
    return MarkovModel(order, letters, alpha).fit(train).bits_per_symbol(val)
