"""One token per byte of UTF-8 text: :class:`ByteTokenizer`, the tokenizer of ``pretrain --text``.

Vocabulary: the five special tokens (ids 0-4, see :mod:`bioseq.tokenizers.base`), then the 256
byte values in order (byte ``b`` is id ``b + 5``). Strings are encoded as UTF-8, so any text
(every script, emoji, control characters) encodes without an unknown token and
``decode(encode(s)) == s``. A byte token is named by its character for printable ASCII and space
(``"a"``, ``" "``) and ``<0xNN>`` otherwise (``"<0x0A>"`` is a newline), as in SentencePiece's
byte fallback. Its ``alphabet`` is ``"text"`` and ``bases_per_token`` is 1, so the bits per
"base" a training run reports are bits per byte.

``decode`` joins the bytes and reads them as UTF-8; a multi-byte character cut in two (a lone
byte of it) becomes U+FFFD. :meth:`ByteTokenizer.decode_bytes` returns the raw bytes.

>>> from bioseq.tokenizers import ByteTokenizer
>>> tok = ByteTokenizer()
>>> tok.encode("Hi\\n", add_special_tokens=False)
[77, 110, 15]
>>> tok.convert_ids_to_tokens([77, 15, 200])
['H', '<0x0A>', '<0xC3>']
>>> tok.decode(tok.encode("naïve 42"))
'naïve 42'
>>> tok.encode_array(b"ACGT").tolist()
[70, 72, 76, 89]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bioseq.errors import InputError
from bioseq.tokenizers.base import SeqInput, SequenceTokenizer

ALPHABET = "text"
BYTE_NAMES = [chr(b) if 0x20 <= b < 0x7F else f"<0x{b:02X}>" for b in range(256)]


class BytesDecoding:
    """``decode`` of tokenizers whose ids stand for bytes: their ``decode_bytes``, as UTF-8."""

    def _decode(  # type: ignore[override]
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):  # user-added tokens
            return super()._decode(ids.tolist(), skip_special_tokens=skip_special_tokens)
        data = self.decode_bytes(ids, skip_special_tokens=skip_special_tokens)
        return data.decode("utf-8", errors="replace")


class ByteTokenizer(BytesDecoding, SequenceTokenizer):
    """Byte-level tokenizer for UTF-8 text (see module doc); no unknown token is ever produced."""

    def __init__(self, alphabet: str = ALPHABET, **kwargs: Any) -> None:
        if alphabet != ALPHABET:
            raise InputError(f"ByteTokenizer reads {ALPHABET!r}, not alphabet {alphabet!r}")
        self.alphabet = ALPHABET
        super().__init__(BYTE_NAMES, alphabet=ALPHABET, **kwargs)
        lookup = np.array([self._vocab[name] for name in BYTE_NAMES], dtype=np.int64)
        lookup.flags.writeable = False
        self._lookup = lookup  # byte -> id
        byte_of = np.full(self.vocab_size, -1, dtype=np.int64)  # id -> byte (-1: not a byte)
        byte_of[lookup] = np.arange(256)
        self._byte_of = byte_of
        self._byte_of_name = {name: b for b, name in enumerate(BYTE_NAMES)}

    def _token_length(self, token: str) -> int:
        return 1  # "<0x0A>" names one byte

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """Vectorised encoding of text (str, as UTF-8), bytes or a uint8 array to int64 ids."""
        if isinstance(codes, str):
            try:
                codes = codes.encode("utf-8")
            except UnicodeEncodeError as err:  # a lone surrogate is not text
                raise InputError(f"text is not valid Unicode at position {err.start}") from None
        ids = self._lookup[self._as_codes(codes)]
        return self._with_specials(ids, add_special_tokens)

    def decode_bytes(self, token_ids: Any, skip_special_tokens: bool = True) -> bytes:
        """The bytes of ``token_ids`` (special tokens skipped, or kept as their UTF-8 names)."""
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = int(ids[(ids < 0) | (ids >= self.vocab_size)][0])
            raise InputError(f"token id {bad} out of range (vocabulary size {self.vocab_size})")
        if skip_special_tokens:
            ids = ids[~np.isin(ids, self.all_special_ids)]
        values = self._byte_of[ids]
        named = np.flatnonzero(values < 0)
        if not named.size:
            return values.astype(np.uint8).tobytes()
        pieces, start = [], 0
        for i in named.tolist():  # special tokens kept as text: rare, a short loop
            pieces += [
                values[start:i].astype(np.uint8).tobytes(),
                self._id_to_token[int(ids[i])].encode("utf-8"),
            ]
            start = i + 1
        pieces.append(values[start:].astype(np.uint8).tobytes())
        return b"".join(pieces)

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        data = b"".join(
            bytes([self._byte_of_name[t]]) if t in self._byte_of_name else t.encode("utf-8")
            for t in tokens
        )
        return data.decode("utf-8", errors="replace")
