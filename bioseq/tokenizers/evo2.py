"""Evo 2's byte-level tokenizer: :class:`Evo2Tokenizer` (written by ``bioseq convert`` for Evo 2).

Evo 2 reads a sequence as its UTF-8 bytes, and the byte value is the token id (vocabulary 512,
ids 256-511 unused); id 0 is the end of a document (EOS) and id 1 is padding, so bytes 0x00
and 0x01 are never produced from text. DNA is read as upper-case ASCII: lower-case letters
(soft-masked FASTA) are read as their upper-case letter, so ``"acgt"`` and ``"ACGT"`` get the
same ids. No special tokens are added (``add_special_tokens`` changes nothing, as in Evo 2);
Evo 2 has no BOS token, so ``bos_token`` is the end-of-document token (id 0), which is what
precedes a document in Evo 2's training stream; scoring that prepends a BOS prepends id 0.

Token names: ``<eos>`` (0), ``<pad>`` (1), bytes 2-255 named as in
:class:`~bioseq.tokenizers.byte.ByteTokenizer` (``"A"``, ``"<0x0A>"``), ``<unk>`` (256, never
produced), ``<mask>`` (257, never produced), ``<unused258>`` ... ``<unused511>``.

>>> from bioseq.tokenizers.evo2 import Evo2Tokenizer
>>> tok = Evo2Tokenizer()
>>> tok("ACGTacgt")["input_ids"]
[65, 67, 71, 84, 65, 67, 71, 84]
>>> tok.eos_token_id, tok.pad_token_id, tok.vocab_size
(0, 1, 512)
>>> tok.decode([65, 67, 0, 71, 84])
'ACGT'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bioseq.errors import InputError
from bioseq.tokenizers.base import SeqInput, SequenceTokenizer
from bioseq.tokenizers.byte import BYTE_NAMES, BytesDecoding

VOCAB_SIZE = 512
EOS, PAD, UNK, MASK = "<eos>", "<pad>", "<unk>", "<mask>"
EVO2_VOCAB = [EOS, PAD, *BYTE_NAMES[2:256], UNK, MASK] + [
    f"<unused{i}>" for i in range(258, VOCAB_SIZE)
]


class Evo2Tokenizer(BytesDecoding, SequenceTokenizer):
    """UTF-8 bytes as ids, Evo 2's layout (see module doc); ``uppercase`` reads a-z as A-Z."""

    alphabet = "evo2"

    def __init__(self, uppercase: bool = True, **kwargs: Any) -> None:
        for key in (
            "vocab",
            "pad_token",
            "unk_token",
            "bos_token",
            "eos_token",
            "mask_token",
            "cls_token",
            "sep_token",
            "extra_special_tokens",
        ):
            kwargs.pop(key, None)  # fixed by Evo 2, whatever a saved config says
        kwargs["special_tokens_pattern"] = "none"
        self.uppercase = bool(uppercase)
        super().__init__(
            EVO2_VOCAB[2:],
            vocab=EVO2_VOCAB,
            pad_token=PAD,
            unk_token=UNK,
            bos_token=EOS,
            eos_token=EOS,
            mask_token=MASK,
            uppercase=self.uppercase,
            **kwargs,
        )
        lookup = np.arange(256, dtype=np.int64)
        if self.uppercase:
            lookup[ord("a") : ord("z") + 1] -= 32
        lookup.flags.writeable = False
        self._lookup = lookup

    def _token_length(self, token: str) -> int:
        return 1 if self._vocab[token] < 256 else 0

    def _with_specials(self, ids: np.ndarray, add_special_tokens: bool) -> np.ndarray:
        return ids  # Evo 2 adds no special tokens

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """UTF-8 bytes (str) or a uint8 array -> int64 ids; bytes 0x00 and 0x01 are refused."""
        if isinstance(codes, str):
            try:
                codes = codes.encode("utf-8")
            except UnicodeEncodeError as err:
                raise InputError(f"text is not valid Unicode at position {err.start}") from None
        arr = self._as_codes(codes)
        reserved = np.flatnonzero(arr < 2)
        if reserved.size:
            raise InputError(
                f"byte 0x{arr[reserved[0]]:02X} at position {int(reserved[0])} is "
                "reserved in Evo 2's vocabulary (0: end of sequence, 1: padding)"
            )
        return self._lookup[arr]

    def decode_bytes(self, token_ids: Any, skip_special_tokens: bool = True) -> bytes:
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = int(ids[(ids < 0) | (ids >= self.vocab_size)][0])
            raise InputError(f"token id {bad} out of range (vocabulary size {self.vocab_size})")
        named = (ids < 2) | (ids >= 256)
        if skip_special_tokens:
            return ids[~named].astype(np.uint8).tobytes()
        return b"".join(
            self._id_to_token[i].encode("utf-8") if (i < 2 or i >= 256) else bytes([i])
            for i in ids.tolist()
        )

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return self.decode_bytes(self.convert_tokens_to_ids(tokens), False).decode(
            "utf-8", errors="replace"
        )
