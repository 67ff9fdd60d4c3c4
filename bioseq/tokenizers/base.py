"""The interface every bioseq tokenizer shares, on top of Hugging Face's python backend.

A :class:`SequenceTokenizer` is a ``transformers.PreTrainedTokenizer`` (the python backend,
``PythonBackend`` in transformers 5), so ``tokenizer(batch, padding=True, return_tensors="pt")``,
``save_pretrained`` / ``from_pretrained`` and ``AutoTokenizer.from_pretrained(dir)`` all behave as
for any Hugging Face tokenizer. Subclasses only build a vocabulary and implement
:meth:`SequenceTokenizer.encode_array`, a vectorised numpy encoder; every string path
(``encode``, ``__call__``, ``batch_encode``, ``tokenize``) goes through it, so the numpy hot path
and the Hugging Face API can never disagree.

Special tokens (ids 0-4 in every vocabulary, in this order):

=========  ===========  =============================================================
``[PAD]``  0            ``pad_token``
``[UNK]``  1            ``unk_token`` (only produced with ``unknown="unk"``)
``[CLS]``  2            ``bos_token`` **and** ``cls_token`` (one token, two names)
``[SEP]``  3            ``eos_token`` **and** ``sep_token`` (one token, two names)
``[MASK]`` 4            ``mask_token``
=========  ===========  =============================================================

With ``add_special_tokens=True`` a sequence becomes ``[CLS] seq [SEP]`` and a pair
``[CLS] a [SEP] b [SEP]``. ``decode`` skips special tokens by default (unlike Hugging Face,
whose default is ``skip_special_tokens=False``), so ``decode(encode(s)) == s``.

>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> tok.encode("ACGT")
[2, 5, 6, 7, 8, 3]
>>> batch = tok.batch_encode(["ACGT", "AC"], return_tensors="np")
>>> batch["input_ids"].tolist(), batch["attention_mask"].tolist()
([[2, 5, 6, 7, 8, 3], [2, 5, 6, 3, 0, 0]], [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch
from transformers import BatchEncoding, PreTrainedTokenizer

from bioseq.errors import InputError
from bioseq.io.alphabet import InvalidCharacterError, as_codes

UnknownPolicy = Literal["error", "unk"]
PaddingArg = bool | Literal["longest", "max_length", "do_not_pad"]
SeqInput = str | bytes | np.ndarray

PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
VOCAB_FILE = "vocab.json"


def check_unknown_policy(unknown: str) -> UnknownPolicy:
    if unknown not in ("error", "unk"):
        raise InputError(f"unknown-character policy must be 'error' or 'unk', got {unknown!r}")
    return unknown  # type: ignore[return-value]


class SequenceTokenizer(PreTrainedTokenizer):
    """Base class: a fixed vocabulary ``special tokens + subclass tokens`` and a numpy encoder.

    Subclasses pass their non-special tokens (in id order) as the first argument of
    ``super().__init__`` and implement :meth:`encode_array`. ``vocab``, when given, imposes the
    whole id layout instead (all tokens in id order; it must hold the special and the subclass
    tokens, anything else becomes an extra special token that encoding never produces).

    Constructor keyword arguments that describe the tokenizer (``alphabet``, ``k``, ``unknown``)
    must be forwarded to ``super().__init__`` too, so ``save_pretrained`` writes them to
    ``tokenizer_config.json``; ``from_pretrained`` rebuilds the vocabulary from them and checks
    it against ``vocab.json``. Ids outside the vocabulary make ``decode`` raise
    :class:`~bioseq.errors.InputError`.
    """

    vocab_files_names = {"vocab_file": VOCAB_FILE}
    model_input_names = ["input_ids", "attention_mask"]

    def __init__(
        self,
        tokens: Sequence[str],
        *,
        vocab: Sequence[str] | None = None,
        vocab_file: str | None = None,
        pad_token: Any = PAD,
        unk_token: Any = UNK,
        bos_token: Any = CLS,
        eos_token: Any = SEP,
        mask_token: Any = MASK,
        cls_token: Any = None,
        sep_token: Any = None,
        **kwargs: Any,
    ) -> None:
        specials = [str(t) for t in (pad_token, unk_token, bos_token, eos_token, mask_token)]
        aliases = (
            (cls_token, "cls_token", "bos_token", 2),
            (sep_token, "sep_token", "eos_token", 3),
        )
        for alias, name, same_as, index in aliases:
            if alias is not None and str(alias) != specials[index]:
                raise InputError(
                    f"{name} must equal {same_as} ({specials[index]!r}) in bioseq tokenizers, "
                    f"got {str(alias)!r}"
                )
        if vocab is None:
            self._id_to_token: list[str] = specials + list(tokens)
        else:  # an imposed id layout (e.g. a converted checkpoint's): extras are special tokens
            self._id_to_token = [str(t) for t in vocab]
            missing = [t for t in specials + list(tokens) if t not in self._id_to_token]
            if missing:
                raise InputError(f"vocab lacks the tokens {missing}")
            extras = [t for t in self._id_to_token if t not in specials and t not in tokens]
            known = [str(t) for t in kwargs.get("extra_special_tokens") or []]
            kwargs["extra_special_tokens"] = known + [t for t in extras if t not in known]
            kwargs["vocab"] = list(self._id_to_token)
        self._vocab: dict[str, int] = {t: i for i, t in enumerate(self._id_to_token)}
        if len(self._vocab) != len(self._id_to_token):
            raise InputError(f"duplicate tokens in vocabulary (special tokens are {specials})")
        self._token_array = np.array(self._id_to_token, dtype=object)
        if vocab_file is not None:
            self._check_vocab_file(vocab_file)
        kwargs.setdefault("special_tokens_pattern", "bos_eos")
        kwargs.setdefault("clean_up_tokenization_spaces", False)
        super().__init__(
            pad_token=pad_token,
            unk_token=unk_token,
            bos_token=bos_token,
            eos_token=eos_token,
            mask_token=mask_token,
            cls_token=bos_token,
            sep_token=eos_token,
            **kwargs,
        )

    # ----------------------------------------------------------------------------- vocabulary

    def _check_vocab_file(self, path: str) -> None:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved != self._vocab:
            raise InputError(
                f"{path}: vocabulary does not match {type(self).__name__} built from "
                "tokenizer_config.json (was the file edited, or saved by another version?)"
            )

    @property
    def bases_per_token(self) -> int:
        """Nominal number of sequence characters per (non-special) token."""
        return 1

    @property
    def token_lengths(self) -> np.ndarray:
        """Sequence characters held by each token id (0 for special tokens), read-only.

        ``token_lengths[ids].sum()`` is the exact number of bases a tokenised stretch covers,
        whatever the tokenizer (single bases, k-mers with single-base fallback, BPE), so bits per
        base and windows in bases agree across tokenizers.
        """
        if getattr(self, "_token_lengths", None) is None:
            special = set(self.all_special_ids)
            lengths = np.array(
                [
                    0 if i in special else self._token_length(t)
                    for i, t in enumerate(self._id_to_token)
                ],
                dtype=np.int64,
            )
            lengths.flags.writeable = False
            self._token_lengths = lengths
        return self._token_lengths

    def _token_length(self, token: str) -> int:
        return len(token)

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (special tokens included, user-added tokens excluded)."""
        return len(self._id_to_token)

    def get_vocab(self) -> dict[str, int]:
        vocab = dict(self._vocab)
        vocab.update(self._added_tokens_encoder)
        return vocab

    def _convert_token_to_id(self, token: str) -> int:
        return self._vocab.get(token, self._vocab[str(self.unk_token)])

    def _convert_id_to_token(self, index: int) -> str:
        if not 0 <= index < len(self._id_to_token):
            raise InputError(f"token id {index} out of range (vocabulary size {self.vocab_size})")
        return self._id_to_token[index]

    def convert_tokens_to_string(self, tokens: list[str]) -> str:
        return "".join(tokens)

    def save_vocabulary(
        self, save_directory: str, filename_prefix: str | None = None
    ) -> tuple[str, ...]:
        prefix = f"{filename_prefix}-" if filename_prefix else ""
        path = os.path.join(save_directory, prefix + VOCAB_FILE)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self._vocab, f, indent=1, ensure_ascii=False)
            f.write("\n")
        return (path,)

    # ----------------------------------------------------------------------------- encoding

    def encode_array(self, codes: SeqInput, add_special_tokens: bool = False) -> np.ndarray:
        """Encode a 1-D uint8 array of ASCII codes (or str/bytes) into int64 token ids."""
        raise NotImplementedError

    @staticmethod
    def _as_codes(codes: SeqInput) -> np.ndarray:
        if isinstance(codes, np.ndarray) and codes.dtype != np.uint8:
            raise InputError(f"encode_array expects uint8 ASCII codes, got dtype {codes.dtype}")
        arr = as_codes(codes)
        if arr.ndim != 1:
            raise InputError(f"encode_array expects a 1-D array, got shape {arr.shape}")
        return arr

    def _with_specials(self, ids: np.ndarray, add_special_tokens: bool) -> np.ndarray:
        if not add_special_tokens:
            return ids
        out = np.empty(ids.size + 2, dtype=np.int64)
        out[0] = self._vocab[str(self.bos_token)]
        out[1:-1] = ids
        out[-1] = self._vocab[str(self.eos_token)]
        return out

    def _text_to_array(self, text: SeqInput, split_special_tokens: bool = False) -> np.ndarray:
        """Token ids of one sequence, no special tokens added.

        Literal special tokens written in a string (``"AC[MASK]GT"``) are recognised, as in Hugging
        Face, unless ``split_special_tokens`` is true.
        """
        if not isinstance(text, str) or split_special_tokens or not self._has_added_token(text):
            return self.encode_array(text)
        parts: list[np.ndarray] = []
        start = 0
        for piece in self.tokens_trie.split(text):
            if piece in self._added_tokens_encoder:
                parts.append(np.array([self._added_tokens_encoder[piece]], dtype=np.int64))
            elif piece:
                try:
                    parts.append(self.encode_array(piece))
                except InvalidCharacterError as err:  # report the position in the whole string
                    raise InvalidCharacterError(err.char, err.index + start, err.alphabet) from None
            start += len(piece)
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _has_added_token(self, text: str) -> bool:
        return any(token in text for token in self._added_tokens_encoder)

    def _tokenize(self, text: str, **kwargs: Any) -> list[str]:
        return [self._id_to_token[i] for i in self.encode_array(text).tolist()]

    def encode(  # type: ignore[override]
        self,
        text: Any,
        text_pair: Any = None,
        add_special_tokens: bool = True,
        **kwargs: Any,
    ) -> list[int]:
        """Token ids of one sequence; plain calls go straight to the numpy encoder."""
        if isinstance(text, str) and text_pair is None and not any(kwargs.values()):
            ids = self._text_to_array(text, self.split_special_tokens)
            return self._with_specials(ids, add_special_tokens).tolist()
        return super().encode(text, text_pair, add_special_tokens=add_special_tokens, **kwargs)

    def _encode_plus(  # type: ignore[override]
        self,
        text: Any,
        text_pair: Any = None,
        *args: Any,
        is_split_into_words: bool = False,
        **kwargs: Any,
    ) -> BatchEncoding:
        # Hugging Face's python backend tokenises strings one character-token at a time; hand it
        # ids from the numpy encoder instead (lists of ints are accepted as pre-encoded input).
        if not is_split_into_words:
            split = kwargs.get("split_special_tokens", self.split_special_tokens)
            if isinstance(text, str) and text:
                text = self._text_to_array(text, split).tolist() or ""
            if isinstance(text_pair, str) and text_pair:
                text_pair = self._text_to_array(text_pair, split).tolist() or ""
        return super()._encode_plus(
            text, text_pair, *args, is_split_into_words=is_split_into_words, **kwargs
        )

    def batch_encode(
        self,
        sequences: Sequence[SeqInput],
        *,
        add_special_tokens: bool = True,
        padding: PaddingArg = True,
        truncation: bool = False,
        max_length: int | None = None,
        padding_side: Literal["left", "right"] | None = None,
        pad_to_multiple_of: int | None = None,
        return_tensors: Literal["pt", "np"] | None = "pt",
    ) -> BatchEncoding:
        """Encode a batch to a padded ``input_ids`` / ``attention_mask`` pair.

        Same ids as ``tokenizer(sequences, padding=..., truncation=..., max_length=...)`` but
        vectorised per sequence, and sequences may also be uint8 arrays. ``padding`` is
        ``True``/``"longest"`` (pad to the longest), ``"max_length"`` or ``False``; truncation
        (at ``self.truncation_side``) keeps the special tokens, so every row has at most
        ``max_length`` ids. ``return_tensors`` is ``"pt"``, ``"np"`` or ``None`` (lists).
        """
        if isinstance(sequences, (str, bytes, np.ndarray)):
            raise InputError("batch_encode expects a list of sequences (use encode for one)")
        strategy = _padding_strategy(padding)
        if (strategy == "max_length" or truncation) and max_length is None:
            raise InputError(f"padding={padding!r}/truncation={truncation!r} need max_length")
        side = padding_side or self.padding_side
        if side not in ("left", "right"):
            raise InputError(f"padding_side must be 'left' or 'right', got {side!r}")
        n_special = 2 if add_special_tokens else 0
        rows = []
        for seq in sequences:
            ids = self._text_to_array(seq)
            if truncation and max_length is not None and ids.size + n_special > max_length:
                keep = max(max_length - n_special, 0)
                ids = ids[:keep] if self.truncation_side == "right" else ids[ids.size - keep :]
            rows.append(self._with_specials(ids, add_special_tokens))
        lengths = [r.size for r in rows]
        if strategy == "do_not_pad":
            if return_tensors is not None and len(set(lengths)) > 1:
                raise InputError("sequences of different lengths need padding to become tensors")
            width = lengths[0] if lengths else 0
        elif strategy == "max_length":
            width = max([max_length or 0, *lengths])
        else:
            width = max(lengths, default=0)
        if strategy != "do_not_pad" and pad_to_multiple_of and width % pad_to_multiple_of:
            width += pad_to_multiple_of - width % pad_to_multiple_of
        if strategy == "do_not_pad" and return_tensors is None:
            data: dict[str, Any] = {
                "input_ids": [r.tolist() for r in rows],
                "attention_mask": [[1] * n for n in lengths],
            }
            return BatchEncoding(data)
        input_ids = np.full((len(rows), width), self.pad_token_id, dtype=np.int64)
        attention_mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            cols = slice(0, row.size) if side == "right" else slice(width - row.size, width)
            input_ids[i, cols] = row
            attention_mask[i, cols] = 1
        return _batch(input_ids, attention_mask, return_tensors)

    # ----------------------------------------------------------------------------- decoding

    def decode(  # type: ignore[override]
        self, token_ids: Any, skip_special_tokens: bool = True, **kwargs: Any
    ) -> str | list[str]:
        """Ids (list, array, tensor, or a batch of them) back to sequence text.

        Special tokens are skipped by default, so ``decode(encode(s)) == s`` for normalised ``s``.
        """
        return super().decode(token_ids, skip_special_tokens=skip_special_tokens, **kwargs)

    def batch_decode(  # type: ignore[override]
        self, sequences: Any, skip_special_tokens: bool = True, **kwargs: Any
    ) -> list[str]:
        return super().batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)

    def _decode(  # type: ignore[override]
        self,
        token_ids: int | list[int],
        skip_special_tokens: bool = False,
        clean_up_tokenization_spaces: bool | None = None,
        **kwargs: Any,
    ) -> str:
        ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            if ids.min() >= 0 and ids.max() < len(self):  # user-added tokens: generic path
                return super()._decode(ids.tolist(), skip_special_tokens=skip_special_tokens)
            bad = int(ids[(ids < 0) | (ids >= len(self))][0])
            raise InputError(f"token id {bad} out of range (vocabulary size {len(self)})")
        if skip_special_tokens:
            ids = ids[~np.isin(ids, self.all_special_ids)]
        return "".join(self._token_array[ids].tolist())


def _padding_strategy(padding: PaddingArg) -> str:
    if padding is True or padding == "longest":
        return "longest"
    if padding is False or padding == "do_not_pad":
        return "do_not_pad"
    if padding == "max_length":
        return "max_length"
    raise InputError(f"padding must be True, False, 'longest' or 'max_length', got {padding!r}")


def _batch(input_ids: np.ndarray, attention_mask: np.ndarray, return_tensors: str | None):
    if return_tensors == "pt":
        data: dict[str, Any] = {
            "input_ids": torch.from_numpy(input_ids),
            "attention_mask": torch.from_numpy(attention_mask),
        }
    elif return_tensors == "np":
        data = {"input_ids": input_ids, "attention_mask": attention_mask}
    elif return_tensors is None:
        data = {"input_ids": input_ids.tolist(), "attention_mask": attention_mask.tolist()}
    else:
        raise InputError(f"return_tensors must be 'pt', 'np' or None, got {return_tensors!r}")
    return BatchEncoding(data)
