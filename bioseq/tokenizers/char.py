"""One token per base or residue: :class:`CharTokenizer`.

Vocabulary: the five special tokens (ids 0-4, see :mod:`bioseq.tokenizers.base`), then one token
per letter of the alphabet, in alphabet order:

* ``"dna"``: ``A C G T N`` (ids 5-9). Input is normalised by :data:`bioseq.io.alphabet.DNA`:
  lower case is upper-cased, ``U`` becomes ``T`` and every IUPAC ambiguity code (``RYSWKMBDHV``)
  becomes ``N``.
* ``"rna"``: ``A C G U N``, the same with ``T`` -> ``U``.
* ``"protein"``: the 22 :data:`~bioseq.io.alphabet.PROTEIN` letters ``ACDEFGHIKLMNPQRSTVWYX*``
  then the ambiguity letters ``B Z J``, which are kept as tokens (``U`` -> ``C``, ``O`` -> ``K``).
* any other string: its characters, one token each, in the given order (``"ACGT-"``). Lower-case
  input maps to the upper-case letter unless the lower-case letter is itself in the alphabet.

:meth:`CharTokenizer.from_vocab` imposes another id layout (e.g. a converted checkpoint's).

Characters outside the alphabet are never dropped or replaced silently: by default
(``unknown="error"``) they raise :class:`~bioseq.io.alphabet.InvalidCharacterError` (an
:class:`~bioseq.errors.InputError`) naming the character and its 0-based position;
``unknown="unk"`` encodes them as ``[UNK]`` instead (and ``decode`` then drops them, so the
round trip only holds for alphabet characters).

>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> tok.encode("acgtR", add_special_tokens=False)
[5, 6, 7, 8, 9]
>>> tok.decode(tok.encode("acgtR"))
'ACGTN'
>>> tok.encode_array(b"GATTACA").tolist()
[7, 5, 8, 8, 5, 6, 5]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import ALPHABETS, Alphabet, InvalidCharacterError
from bioseq.tokenizers.base import SeqInput, SequenceTokenizer, check_unknown_policy

_INVALID = 255  # marker in the uint8 lookup table


class CharTokenizer(SequenceTokenizer):
    """Single-character tokenizer for DNA, RNA, protein or a custom alphabet (see module doc)."""

    def __init__(
        self, alphabet: str | Alphabet = "dna", unknown: str = "error", **kwargs: Any
    ) -> None:
        self.alphabet, self._alphabet, letters = _resolve(alphabet)
        self.unknown = check_unknown_policy(unknown)
        super().__init__(list(letters), alphabet=self.alphabet, unknown=self.unknown, **kwargs)
        self._build_lookup(letters)

    @classmethod
    def from_vocab(
        cls, vocab: Sequence[str], alphabet: str | Alphabet = "dna", **kwargs: Any
    ) -> CharTokenizer:
        """A tokenizer with an imposed id layout: ``vocab`` lists every token in id order.

        For converted checkpoints whose ids must be kept. ``vocab`` must contain the alphabet
        letters and the special tokens (names overridable, e.g. ``pad_token="<pad>"``); any other
        token (``"[RESERVED]"``) becomes an extra special token that encoding never produces.
        The layout is saved in ``tokenizer_config.json`` and survives ``save_pretrained``.

        >>> tok = CharTokenizer.from_vocab(["[CLS]", "[SEP]", "[MASK]", "[PAD]", "[UNK]", *"ACGTN"])
        >>> tok.encode("GAT"), tok.pad_token_id
        ([0, 7, 5, 8, 1], 3)
        """
        return cls(alphabet, vocab=list(vocab), **kwargs)

    def _build_lookup(self, letters: str) -> None:
        """256-entry table: ASCII byte -> token id (``_INVALID`` where the byte is not allowed)."""
        ids = {c: self._vocab[c] for c in letters}
        table = np.full(256, _INVALID, dtype=np.int64)
        if self.alphabet in ALPHABETS:
            ambiguous = "keep" if self.alphabet == "protein" else "unknown"
            normalised = self._alphabet.table(ambiguous=ambiguous, invalid="error")
            for byte, norm in enumerate(normalised.tolist()):
                if norm:
                    table[byte] = ids[chr(norm)]
        else:
            for c in letters:
                table[ord(c)] = ids[c]
                if c.lower() not in ids:
                    table[ord(c.lower())] = ids[c]
        if self.unknown == "unk":
            table[table == _INVALID] = self.unk_token_id
        # A uint8 table (then one widening copy) is faster than gathering int64 directly.
        self._small = self.vocab_size < _INVALID
        self._lookup = table.astype(np.uint8) if self._small else table
        self._lookup.flags.writeable = False

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """Vectorised encoding of ASCII codes (uint8 array, bytes or str) to int64 ids.

        One table lookup per byte, no Python loop. Raises ``InvalidCharacterError`` on the first
        character outside the alphabet unless ``unknown="unk"``.
        """
        codes = self._as_codes(codes)
        ids = np.take(self._lookup, codes)
        if self.unknown == "error" and ids.size and ids.max() == _INVALID:
            i = int(np.flatnonzero(ids == _INVALID)[0])
            raise InvalidCharacterError(chr(int(codes[i])), i, self._alphabet)
        if self._small:
            ids = ids.astype(np.int64)
        return self._with_specials(ids, add_special_tokens)


def _resolve(alphabet: str | Alphabet) -> tuple[str, Alphabet, str]:
    """(name or characters as saved in the config, Alphabet, vocabulary letters)."""
    if isinstance(alphabet, Alphabet):
        name = alphabet.name.lower()
        if ALPHABETS.get(name) != alphabet:  # a custom Alphabet object: use its letters verbatim
            letters = alphabet.letters + alphabet.ambiguous
            return letters, Alphabet("custom", letters, ""), letters
        alphabet = name
    if not isinstance(alphabet, str) or not alphabet:
        raise InputError(
            f"alphabet must be 'dna', 'rna', 'protein' or a string of characters, got {alphabet!r}"
        )
    if alphabet.lower() in ALPHABETS:
        name = alphabet.lower()
        named = ALPHABETS[name]
        letters = named.letters + (named.ambiguous if name == "protein" else "")
        return name, named, letters
    if len(set(alphabet)) != len(alphabet):
        raise InputError(f"custom alphabet {alphabet!r} repeats a character")
    if not all(" " < c < "\x7f" for c in alphabet):
        raise InputError(f"custom alphabet {alphabet!r} must be printable ASCII without spaces")
    return alphabet, Alphabet("custom", alphabet, ""), alphabet
