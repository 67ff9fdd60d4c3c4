"""Sequence tokenizers: one character per token, non-overlapping k-mers, learned BPE merges, or
bytes of text.

All are Hugging Face python-backend tokenizers (``transformers.PreTrainedTokenizer``) with a
vectorised numpy fast path, :meth:`~bioseq.tokenizers.base.SequenceTokenizer.encode_array`, used by
the datasets. Importing this package registers them with ``transformers.AutoTokenizer``, so after
``import bioseq.tokenizers`` a directory written by ``save_pretrained`` loads with
``AutoTokenizer.from_pretrained(dir)`` as the same class.

Public API:

* :class:`CharTokenizer` (``alphabet="dna" | "rna" | "protein" | "<characters>"``)
* :class:`KmerTokenizer` (``k=6``, ``alphabet="dna" | "rna"``)
* :class:`ByteTokenizer` (UTF-8 bytes, ``alphabet="text"``: the linguistic control)
* :class:`BpeTokenizer` (learned merges, ``variable_length``), trained by :func:`train_bpe`;
  :func:`compression_report` measures bases per token of any of them on files
* :class:`SequenceTokenizer`: the shared interface (special tokens, ``encode``, ``decode``,
  ``encode_array``, ``batch_encode``, ``__call__``, ``save_pretrained``/``from_pretrained``)
* :func:`load_tokenizer`: ``"char"``, ``"protein"``, ``"kmer:6"``, ``"byte"``, a directory, ...
* :func:`save_tokenizer`: ``bioseq tokenizer train`` in one call (train or make, save, report)

>>> import numpy as np
>>> from bioseq.tokenizers import load_tokenizer
>>> tok = load_tokenizer("kmer:2")
>>> tok.encode_array(np.frombuffer(b"ACGTA", dtype=np.uint8)).tolist()
[6, 16, 21]
>>> tok.decode([2, 6, 16, 21, 3])
'ACGTA'
"""

from bioseq.tokenizers.auto import TOKENIZER_CLASSES, load_tokenizer, register_with_transformers
from bioseq.tokenizers.base import SequenceTokenizer
from bioseq.tokenizers.bpe import BpeTokenizer, compression_report, train_bpe
from bioseq.tokenizers.byte import ByteTokenizer
from bioseq.tokenizers.caduceus import caduceus_tokenizer, complement_map
from bioseq.tokenizers.char import CharTokenizer
from bioseq.tokenizers.evo2 import Evo2Tokenizer
from bioseq.tokenizers.kmer import KmerTokenizer
from bioseq.tokenizers.training import save_tokenizer

__all__ = [
    "TOKENIZER_CLASSES",
    "BpeTokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "Evo2Tokenizer",
    "KmerTokenizer",
    "SequenceTokenizer",
    "caduceus_tokenizer",
    "complement_map",
    "compression_report",
    "load_tokenizer",
    "register_with_transformers",
    "save_tokenizer",
    "train_bpe",
]

register_with_transformers()
