"""An order-k Markov reference: the bits per base a k-mer model gets on the validation split.

Every training run reports it beside its own validation loss, so a user sees at once whether the
network learned more than k-mer statistics. Counting is vectorised numpy (``np.bincount`` over
rolling base-``A`` context indices); positions whose context or target is not a letter of the
alphabet (``N``, ``X``, gaps) are skipped, and so are the first ``k`` symbols of a sequence.
Text runs use :class:`ByteMarkovModel`: every one of the 256 byte values is a symbol, and the
``256 ** (k + 1)`` table is kept sparse (the observed k-grams only), giving bits per byte.

>>> import numpy as np
>>> from bioseq.models.markov import MarkovModel
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


def check_order(order: int, n_letters: int) -> None:
    """InputError when an order-``order`` table over ``n_letters`` letters is too large.

    >>> check_order(6, 20)
    Traceback (most recent call last):
    ...
    bioseq.errors.InputError: markov_order 6 over 20 letters needs 1,280,000,000 counts; \
at most 5 for 20 letters
    """
    if n_letters ** (order + 1) > _MAX_TABLE:
        highest = max(k for k in range(64) if n_letters ** (k + 1) <= _MAX_TABLE)
        raise InputError(
            f"markov_order {order} over {n_letters} letters needs "
            f"{n_letters ** (order + 1):,} counts; at most {highest} for {n_letters} letters"
        )


class MarkovModel:
    """Order-``order`` Markov chain over ``letters`` with add-``alpha`` smoothing."""

    def __init__(self, order: int = 4, letters: str = "ACGT", alpha: float = 1.0) -> None:
        if order < 0:
            raise InputError(f"Markov order must be >= 0, not {order}")
        self.order, self.letters, self.alpha = order, letters, alpha
        self.size = len(letters)
        check_order(order, self.size)
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
        for chunk in _overlapping_chunks(sequences, self.order):
            yield self._kmers(chunk)

    def fit(self, sequences: Iterable[np.ndarray]) -> MarkovModel:
        """Add the k-mer counts of ``sequences`` (uint8 ASCII code arrays); returns ``self``."""
        # one bincount per ~_CHUNK k-mers, not per sequence: the table (21^5 counts for order 4
        # over amino acids) would otherwise be swept once for each of thousands of homologs
        for kmers in _gathered(self._chunks(sequences)):
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


class TwoSidedMarkov:
    """The masked-LM reference: ``P(x_t | left context, right context)`` from the counts of
    ``(order + 1)``-mers with the target in the middle (``ceil(order / 2)`` letters on the
    left, ``floor(order / 2)`` on the right), with add-``alpha`` smoothing:

    ``P(x | c) = (n(c x) + alpha) / (n(c) + alpha A)`` over ``A`` letters.

    A context letter that is not there (past the end of the sequence the model sees, or not a
    letter: ``N``, padding, a special token) is summed out of the counts, so each position is
    scored with every neighbour that exists. It reads the true neighbours, not the masked
    input the network sees, so a network below it has beaten a slightly favoured reference.

    >>> seq = np.frombuffer(b"ACGT" * 500, dtype=np.uint8)
    >>> model = TwoSidedMarkov(order=2, letters="ACGT").fit([seq])
    >>> windows = np.array([[0, 1, 2], [-1, 1, 2], [-1, 1, -1]])  # A[C]G, ?[C]G, ?[C]?
    >>> (-model.log2_probs(windows)).round(3).tolist()
    [0.009, 0.009, 1.999]
    """

    def __init__(self, order: int = 4, letters: str = "ACGT", alpha: float = 1.0) -> None:
        self._counter = MarkovModel(order, letters, alpha)  # the same (order + 1)-mer counts
        self.order, self.letters, self.alpha = order, letters, alpha
        self.size, self.left, self.right = len(letters), (order + 1) // 2, order // 2
        self._tables: dict[tuple[int, ...], np.ndarray] = {}

    @property
    def index(self) -> np.ndarray:
        """ASCII code -> letter index (255: not a letter)."""
        return self._counter._index

    def fit(self, sequences: Iterable[np.ndarray]) -> TwoSidedMarkov:
        """Add the ``(order + 1)``-mer counts of ``sequences`` (uint8 ASCII code arrays)."""
        self._counter.fit(sequences)
        self._tables.clear()
        return self

    def _table(self, missing: tuple[int, ...]) -> np.ndarray:
        """Counts with the context columns ``missing`` summed out (kept as size-1 axes)."""
        if missing not in self._tables:
            shape = (self.size,) * (self.order + 1)
            counts = self._counter.counts.reshape(shape)
            self._tables[missing] = counts.sum(axis=missing, keepdims=True).astype(np.float64)
        return self._tables[missing]

    def log2_probs(self, windows: np.ndarray) -> np.ndarray:
        """``log2 P`` of each window's middle letter (column ``left``) given its context;
        ``windows`` is ``(n, order + 1)`` letter indices, ``-1`` where a letter is missing."""
        windows = np.asarray(windows, dtype=np.int64).reshape(-1, self.order + 1)
        if (windows[:, self.left] < 0).any():
            raise ValueError("every window's target (middle) letter must be present")
        out = np.empty(len(windows))
        absent = windows < 0
        patterns, inverse = np.unique(absent, axis=0, return_inverse=True)
        for p, pattern in enumerate(patterns):
            rows = np.flatnonzero(inverse.reshape(-1) == p)
            missing = tuple(int(j) for j in np.flatnonzero(pattern))
            table = self._table(missing)
            cols = np.where(pattern, 0, windows[rows]).T
            joint = table[tuple(cols)]
            context = table.sum(axis=self.left, keepdims=True)
            cols[self.left] = 0
            total = context[tuple(cols)]
            out[rows] = np.log2((joint + self.alpha) / (total + self.alpha * self.size))
        return out

    def masked_bits(self, letters: np.ndarray, targets: np.ndarray) -> tuple[float, int]:
        """``(sum of -log2 P, count)`` over the ``targets`` (bool) of ``(rows, length)`` letter
        indices (``-1``: not a letter); a row's context ends with the row."""
        letters = np.asarray(letters, dtype=np.int64)
        padded = np.pad(letters, ((0, 0), (self.left, self.right)), constant_values=-1)
        rows, cols = np.nonzero(targets)
        if not rows.size:
            return 0.0, 0
        windows = padded[rows[:, None], cols[:, None] + np.arange(self.order + 1)]
        return float(-self.log2_probs(windows).sum()), int(rows.size)


class ByteMarkovModel:
    """Order-``order`` Markov chain over all 256 byte values, for text: sparse counts (sorted
    unique keys of the observed n-grams, 8 bits a byte) and interpolated Witten-Bell smoothing,

    ``P_j(s | c) = (n(c s) + t(c) P_{j-1}(s | c')) / (n(c) + t(c))``, ``P_{-1} = 1 / 256``,

    where ``c`` holds the last ``j`` bytes, ``c'`` the last ``j - 1``, ``n`` counts and ``t(c)``
    is the number of distinct bytes seen after ``c`` (an unseen context falls back entirely).
    Add-one smoothing, fine for 4 letters, would spread most of the mass over 256 unseen bytes.
    Positions with fewer than ``order`` bytes before them are neither counted nor scored.

    >>> text = np.frombuffer(b"hello world. " * 200, dtype=np.uint8)
    >>> model = ByteMarkovModel(order=3).fit([text])
    >>> model.bits_per_symbol([text]) < 0.001  # three bytes tell the next one
    True
    """

    size = 256

    def __init__(self, order: int = 4) -> None:
        if not 0 <= order <= 6:  # order + 1 bytes must fit an int64 key
            raise InputError(f"a byte Markov model's order must be in 0..6, not {order}")
        self.order = order
        self.masks = [(1 << 8 * (j + 1)) - 1 for j in range(order + 1)]
        empty = np.zeros(0, dtype=np.int64)
        self.tables = [(empty, empty)] * (order + 1)  # per order j: sorted keys, counts

    def _grams(self, codes: np.ndarray) -> np.ndarray:
        k, n = self.order + 1, len(codes)
        value = np.zeros(max(0, n - k + 1), dtype=np.int64)
        for j in range(k if n >= k else 0):
            value = (value << 8) | codes[j : n - k + 1 + j]
        return value

    def fit(self, sequences: Iterable[np.ndarray]) -> ByteMarkovModel:
        """Add the counts of ``sequences`` (uint8 arrays); returns ``self``."""
        parts = [[table] for table in self.tables]
        for chunk in _overlapping_chunks(sequences, self.order):
            grams = self._grams(chunk)
            for j, mask in enumerate(self.masks):
                parts[j].append(np.unique(grams & mask, return_counts=True))
        self.tables = []
        for tables in parts:
            keys, inverse = np.unique(np.concatenate([k for k, _ in tables]), return_inverse=True)
            counts = np.bincount(inverse, weights=np.concatenate([c for _, c in tables]))
            self.tables.append((keys, counts.astype(np.int64)))
        return self

    def bits_per_symbol(self, sequences: Iterable[np.ndarray]) -> float:
        """Mean ``-log2 P`` over the scored positions of ``sequences`` (nan when none)."""
        contexts = []
        for keys, counts in self.tables:
            found, inverse = np.unique(keys >> 8, return_inverse=True)
            seen = np.bincount(inverse, weights=counts, minlength=found.size)
            kinds = np.bincount(inverse, minlength=found.size).astype(np.float64)
            contexts.append((found, seen, kinds))
        total, n = 0.0, 0
        for chunk in _overlapping_chunks(sequences, self.order):
            grams = self._grams(chunk)
            prob = np.full(len(grams), 1 / self.size)
            for (keys, counts), (found, seen, kinds), mask in zip(
                self.tables, contexts, self.masks, strict=True
            ):
                gram = grams & mask
                hits = _lookup(keys, counts.astype(np.float64), gram)
                n_ctx, t_ctx = _lookup(found, seen, gram >> 8), _lookup(found, kinds, gram >> 8)
                with np.errstate(invalid="ignore", divide="ignore"):
                    mixed = (hits + t_ctx * prob) / (n_ctx + t_ctx)
                prob = np.where(n_ctx > 0, mixed, prob)
            total -= float(np.log2(prob).sum())
            n += len(grams)
        return total / n if n else float("nan")


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
    """``values`` of ``query`` in the sorted ``keys``; 0 where absent."""
    if not keys.size:
        return np.zeros(len(query))
    at = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return np.where(keys[at] == query, values[at], 0.0)


def _gathered(arrays: Iterable[np.ndarray]) -> Iterable[np.ndarray]:
    """``arrays`` concatenated into pieces of about ``_CHUNK`` elements (or one larger array)."""
    pending: list[np.ndarray] = []
    size = 0
    for array in arrays:
        pending.append(array)
        size += len(array)
        if size >= _CHUNK:
            yield np.concatenate(pending)
            pending, size = [], 0
    if pending:
        yield np.concatenate(pending)


def _overlapping_chunks(sequences: Iterable[np.ndarray], order: int) -> Iterable[np.ndarray]:
    """Pieces of at most ``_CHUNK + order`` symbols of every sequence; consecutive pieces overlap
    by ``order`` symbols, so no k-mer is lost or counted twice."""
    for codes in sequences:
        codes = np.asarray(codes, dtype=np.uint8)
        for start in range(0, max(1, len(codes) - order), _CHUNK):
            yield codes[start : start + _CHUNK + order]


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
