"""Find tokenizers by name or directory, and register them with ``transformers.AutoTokenizer``.

``load_tokenizer`` accepts:

* a tokenizer instance (returned as is);
* ``"char"`` (DNA), ``"dna"``, ``"rna"``, ``"protein"``, or ``"char:<alphabet>"``
  -> :class:`~bioseq.tokenizers.char.CharTokenizer`;
* ``"kmer"`` (k=6) or ``"kmer:<k>"`` -> :class:`~bioseq.tokenizers.kmer.KmerTokenizer`;
* ``"byte"`` or ``"text"`` -> :class:`~bioseq.tokenizers.byte.ByteTokenizer` (UTF-8 bytes);
* a directory written by :func:`~bioseq.tokenizers.bpe.train_bpe` then ``save_pretrained``
  -> :class:`~bioseq.tokenizers.bpe.BpeTokenizer` (a BPE vocabulary must be learned, so it has
  no short name);
* a directory written by ``save_pretrained`` -> the saved tokenizer.

How ``AutoTokenizer.from_pretrained(dir)`` finds our classes (transformers 5.x): it reads
``tokenizer_config.json``, whose ``"tokenizer_class"`` is the class name written by
``save_pretrained`` (``"CharTokenizer"``, ``"KmerTokenizer"``, ``"ByteTokenizer"``,
``"BpeTokenizer"``), and resolves that name with ``tokenizer_class_from_name``, which first looks
in the classes registered through ``AutoTokenizer.register``. ``register`` needs a config class as
mapping key; each tokenizer gets a small key config below (``model_type``
``bioseq-char-tokenizer`` and the like), which is never written to disk and never registered with
``AutoConfig``. No ``auto_map`` and no
``trust_remote_code``: the classes are found because ``import bioseq`` registered them.

>>> from bioseq.tokenizers import load_tokenizer
>>> type(load_tokenizer("kmer:4")).__name__, load_tokenizer("kmer:4").k
('KmerTokenizer', 4)
>>> load_tokenizer("protein").alphabet
'protein'
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PretrainedConfig

from bioseq.errors import InputError
from bioseq.tokenizers.base import SequenceTokenizer
from bioseq.tokenizers.bpe import BpeTokenizer
from bioseq.tokenizers.byte import ByteTokenizer
from bioseq.tokenizers.char import CharTokenizer
from bioseq.tokenizers.evo2 import Evo2Tokenizer
from bioseq.tokenizers.kmer import KmerTokenizer

TOKENIZER_CLASSES: dict[str, type[SequenceTokenizer]] = {
    "CharTokenizer": CharTokenizer,
    "KmerTokenizer": KmerTokenizer,
    "ByteTokenizer": ByteTokenizer,
    "BpeTokenizer": BpeTokenizer,
    "Evo2Tokenizer": Evo2Tokenizer,
}


class CharTokenizerKey(PretrainedConfig):
    """Registry key for :class:`CharTokenizer` in ``AutoTokenizer`` (not a model config)."""

    model_type = "bioseq-char-tokenizer"


class KmerTokenizerKey(PretrainedConfig):
    """Registry key for :class:`KmerTokenizer` in ``AutoTokenizer`` (not a model config)."""

    model_type = "bioseq-kmer-tokenizer"


class ByteTokenizerKey(PretrainedConfig):
    """Registry key for :class:`ByteTokenizer` in ``AutoTokenizer`` (not a model config)."""

    model_type = "bioseq-byte-tokenizer"


class BpeTokenizerKey(PretrainedConfig):
    """Registry key for :class:`BpeTokenizer` in ``AutoTokenizer`` (not a model config)."""

    model_type = "bioseq-bpe-tokenizer"


class Evo2TokenizerKey(PretrainedConfig):
    """Registry key for :class:`Evo2Tokenizer` in ``AutoTokenizer`` (not a model config)."""

    model_type = "bioseq-evo2-tokenizer"


def register_with_transformers() -> None:
    """Make ``AutoTokenizer.from_pretrained`` resolve our class names (idempotent)."""
    AutoTokenizer.register(CharTokenizerKey, tokenizer_class=CharTokenizer, exist_ok=True)
    AutoTokenizer.register(KmerTokenizerKey, tokenizer_class=KmerTokenizer, exist_ok=True)
    AutoTokenizer.register(ByteTokenizerKey, tokenizer_class=ByteTokenizer, exist_ok=True)
    AutoTokenizer.register(BpeTokenizerKey, tokenizer_class=BpeTokenizer, exist_ok=True)
    AutoTokenizer.register(Evo2TokenizerKey, tokenizer_class=Evo2Tokenizer, exist_ok=True)


def load_tokenizer(
    name_or_path: str | os.PathLike | SequenceTokenizer, **kwargs: Any
) -> SequenceTokenizer:
    """A tokenizer from a short name, a saved directory, or an existing instance (see module doc).

    Extra keyword arguments go to the constructor (e.g. ``unknown="unk"``) or to
    ``from_pretrained``.
    """
    if isinstance(name_or_path, SequenceTokenizer):
        return name_or_path
    path = Path(name_or_path)
    if path.is_dir():
        return _load_directory(path, **kwargs)
    spec = str(name_or_path).strip()
    kind, _, arg = spec.partition(":")
    kind = kind.lower()
    if kind in ("dna", "rna", "protein") and not arg:
        return CharTokenizer(kind, **kwargs)
    if kind in ("byte", "bytes", "text") and not arg:
        return ByteTokenizer(**kwargs)
    if kind == "char":
        return CharTokenizer(arg or "dna", **kwargs)
    if kind == "kmer":
        try:
            k = int(arg) if arg else 6
        except ValueError:
            raise InputError(f"bad k in tokenizer spec {spec!r} (expected e.g. 'kmer:6')") from None
        return KmerTokenizer(k=k, **kwargs)
    raise InputError(
        f"unknown tokenizer {spec!r}: expected 'char', 'dna', 'rna', 'protein', 'char:<alphabet>', "
        "'kmer', 'kmer:<k>', 'byte' or a directory saved with save_pretrained"
    )


def _load_directory(path: Path, **kwargs: Any) -> SequenceTokenizer:
    config_file = path / "tokenizer_config.json"
    if not config_file.is_file():
        raise InputError(f"{path}: no tokenizer_config.json (not a saved tokenizer directory)")
    try:
        class_name = json.loads(config_file.read_text(encoding="utf-8")).get("tokenizer_class")
    except json.JSONDecodeError as err:
        raise InputError(f"{config_file}: invalid JSON ({err})") from None
    cls = TOKENIZER_CLASSES.get(class_name)
    if cls is None:
        raise InputError(
            f"{config_file}: tokenizer_class {class_name!r} is not a bioseq tokenizer "
            f"(expected one of {', '.join(TOKENIZER_CLASSES)})"
        )
    return cls.from_pretrained(str(path), **kwargs)
