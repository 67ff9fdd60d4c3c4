"""Non-overlapping k-mers: :class:`KmerTokenizer`.

Vocabulary: the five special tokens (ids 0-4, see :mod:`bioseq.tokenizers.base`), then all
``4**k`` k-mers over ``ACGT`` in lexicographic order (``AAAAAA`` = 5, ``AAAAAC`` = 6, ...; the id
of a k-mer is ``5 + its base-4 value`` with A=0 C=1 G=2 T=3), then the single-base tokens
``A C G T N`` (for ``k == 1`` the k-mers already are ``A C G T``, so only ``N`` is added).
With ``alphabet="rna"`` the letters are ``ACGU``.

The sequence is normalised like :class:`~bioseq.tokenizers.char.CharTokenizer` (upper case,
IUPAC codes -> ``N``) and cut into windows ``[0, k), [k, 2k), ...``. Two explicit rules make the
encoding lossless, so ``decode(encode(s)) == s`` for every normalised ``s`` and nothing is ever
out of vocabulary:

1. **Remainder**: the final ``len(s) % k`` bases, too few for a k-mer, are emitted as single-base
   tokens.
2. **N rule**: a window that contains ``N`` (or, with ``unknown="unk"``, an invalid character) is
   emitted as ``k`` single-base tokens instead of one k-mer token.

So a sequence of ``n`` bases gives between ``n // k + n % k`` and ``n`` tokens; windows never shift,
which keeps k-mer boundaries at fixed positions (multiples of ``k``) of the input.

Characters outside the alphabet raise :class:`~bioseq.io.alphabet.InvalidCharacterError` naming
the character and position, unless ``unknown="unk"`` (then they become ``[UNK]`` single tokens).

>>> from bioseq.tokenizers import KmerTokenizer
>>> tok = KmerTokenizer(k=3)
>>> tok.convert_ids_to_tokens(tok.encode("ACGTNAGGTT", add_special_tokens=False))
['ACG', 'T', 'N', 'A', 'GGT', 'T']
>>> tok.decode(tok.encode("ACGTNAGGTT"))
'ACGTNAGGTT'
"""

from __future__ import annotations

from itertools import product
from typing import Any

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import ALPHABETS, Alphabet, InvalidCharacterError
from bioseq.tokenizers.base import SeqInput, SequenceTokenizer, check_unknown_policy

MAX_K = 10
_N, _UNK, _INVALID = 4, 5, 255  # base codes beyond A=0 C=1 G=2 T=3


class KmerTokenizer(SequenceTokenizer):
    """Non-overlapping k-mer tokenizer for DNA or RNA with single-base fallback (see module doc)."""

    def __init__(
        self, k: int = 6, alphabet: str = "dna", unknown: str = "error", **kwargs: Any
    ) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
            raise InputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if kwargs.get("vocab") is not None:
            raise InputError("KmerTokenizer has a fixed vocabulary layout (no vocab argument)")
        name = alphabet.name.lower() if isinstance(alphabet, Alphabet) else str(alphabet).lower()
        if name not in ("dna", "rna"):
            raise InputError(f"KmerTokenizer alphabet must be 'dna' or 'rna', got {alphabet!r}")
        self.k = int(k)
        self.alphabet = name
        self._alphabet: Alphabet = ALPHABETS[name]
        self.unknown = check_unknown_policy(unknown)
        bases = self._alphabet.letters.replace(self._alphabet.unknown, "")  # ACGT / ACGU
        kmers = ["".join(p) for p in product(bases, repeat=self.k)]
        singles = [b for b in self._alphabet.letters if self.k > 1 or b not in bases]
        super().__init__(
            kmers + singles, alphabet=self.alphabet, k=self.k, unknown=self.unknown, **kwargs
        )
        self._kmer_offset = self._vocab[bases[0] * self.k]
        # single-base token id by base code: A C G T N, then [UNK]
        self._single_ids = np.array(
            [self._vocab[b] for b in self._alphabet.letters] + [self.unk_token_id], dtype=np.int64
        )
        # ASCII byte -> base code (0-3 ACGT, 4 N, 5 unknown->[UNK], 255 invalid)
        normalised = self._alphabet.table(ambiguous="unknown", invalid="error")
        code_of = {ord(b): i for i, b in enumerate(self._alphabet.letters)}
        table = np.array([code_of.get(n, _INVALID) for n in normalised.tolist()], dtype=np.uint8)
        if self.unknown == "unk":
            table[table == _INVALID] = _UNK
        table.flags.writeable = False
        self._codes_table = table

    @property
    def bases_per_token(self) -> int:
        """Bases in a k-mer token (single-base fallback tokens hold one)."""
        return self.k

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """Vectorised k-mer encoding of ASCII codes (uint8 array, bytes or str) to int64 ids.

        The sequence is reshaped to ``(n // k, k)`` windows; base-4 values are computed column by
        column, windows holding ``N`` are expanded into single-base tokens, and the remainder is
        appended as single-base tokens. No Python loop over bases or windows.
        """
        raw = self._as_codes(codes)
        base = np.take(self._codes_table, raw)
        top = int(base.max()) if base.size else 0
        if top == _INVALID:
            i = int(np.flatnonzero(base == _INVALID)[0])
            raise InvalidCharacterError(chr(int(raw[i])), i, self._alphabet)
        k = self.k
        n_windows = base.size // k
        windows = base[: n_windows * k].reshape(n_windows, k)
        tail = base[n_windows * k :]
        value = np.zeros(n_windows, dtype=np.int32)  # 4**k < 2**31 for k <= MAX_K
        for j in range(k):  # k column passes: value = value * 4 + base
            value <<= 2
            value |= windows[:, j]
        # windows holding N / [UNK], found from the (usually few) non-ACGT positions
        pure = np.ones(n_windows, dtype=bool)
        if top >= _N:
            pure[np.flatnonzero(windows.reshape(-1) >= _N) // k] = False
        if pure.all():
            out = np.empty(n_windows + tail.size, dtype=np.int64)
            np.add(value, self._kmer_offset, out=out[:n_windows])
            out[n_windows:] = self._single_ids[tail]
            return self._with_specials(out, add_special_tokens)
        # variable-length output: 1 token per pure window, k per impure window, then the tail
        counts = np.where(pure, 1, k)
        ends = np.cumsum(counts)
        starts = ends - counts
        total = int(ends[-1]) if n_windows else 0
        out = np.empty(total + tail.size, dtype=np.int64)
        out[starts[pure]] = value[pure] + self._kmer_offset
        impure = np.flatnonzero(~pure)
        if impure.size:
            positions = starts[impure][:, None] + np.arange(k)
            out[positions] = self._single_ids[windows[impure]]
        out[total:] = self._single_ids[tail]
        return self._with_specials(out, add_special_tokens)
