"""``bioseq tokenizer train`` as one call: train a BPE tokenizer (or make a k-mer one), save it
with its compression report, and say how long it took.

>>> from bioseq.tokenizers.training import report_table
>>> report_table([{"file": "g.fa", "bases": 100, "tokens": 25, "bases_per_token": 4.0}])
'file\\tbases\\ttokens\\tbases_per_token\\ng.fa\\t100\\t25\\t4.0'
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bioseq.data import default_genome
from bioseq.errors import InputError
from bioseq.io.outputs import atomic_directory, check_output_dir
from bioseq.tokenizers.base import SequenceTokenizer
from bioseq.tokenizers.bpe import DEFAULT_CHUNK_LENGTH, compression_report, train_bpe
from bioseq.tokenizers.kmer import KmerTokenizer

REPORT_COLUMNS = ("file", "bases", "tokens", "bases_per_token")
REPORT_FILE = "compression.tsv"  # beside the saved tokenizer


@dataclass
class SavedTokenizer:
    """What :func:`save_tokenizer` made: the tokenizer, where, its report and the time taken."""

    tokenizer: SequenceTokenizer
    path: Path
    report: list[dict[str, Any]]
    seconds: float


def input_paths(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    """``inputs`` as paths; none: the bundled E. coli genome."""
    return [Path(p) for p in inputs] if inputs else [default_genome()]


def report_table(report: list[dict[str, Any]]) -> str:
    """A compression report as TSV text (header, then one line per file)."""
    rows = [[str(row[c]) for c in REPORT_COLUMNS] for row in report]
    return "\n".join("\t".join(row) for row in [list(REPORT_COLUMNS), *rows])


def save_tokenizer(
    inputs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    kind: str = "bpe",
    vocab_size: int = 4096,
    k: int = 6,
    max_token_length: int = 16,
    min_frequency: int = 2,
    chunk_length: int | None = None,
    alphabet: str = "auto",
    overwrite: bool = False,
    progress: bool = True,
) -> SavedTokenizer:
    """Train a BPE tokenizer on ``inputs`` (FASTA, GenBank, protein FASTA or a2m/a3m files or
    folders; none: the bundled E. coli genome), or make a k-mer one (``kind="kmer"``), and
    save it in ``out`` with ``compression.tsv``, its bases per token on each input. An existing
    non-empty ``out`` is replaced only with ``overwrite``, and only once the new one is
    complete (checked before training)."""
    paths = input_paths(inputs)
    target = check_output_dir(out, overwrite)
    start = time.perf_counter()
    if kind == "kmer":
        if alphabet == "protein":
            raise InputError("--type kmer tokenizes DNA; use --type bpe for proteins")
        tokenizer = KmerTokenizer(k=k)
    elif kind == "bpe":
        tokenizer = train_bpe(
            paths,
            vocab_size=vocab_size,
            alphabet=alphabet,
            max_token_length=max_token_length,
            chunk_length=chunk_length or DEFAULT_CHUNK_LENGTH,
            min_frequency=min_frequency,
            progress=progress,
        )
    else:
        raise InputError(f"tokenizer type {kind!r}: expected bpe or kmer")
    with atomic_directory(target, overwrite=overwrite) as tmp:
        tokenizer.save_pretrained(str(tmp))
        report = compression_report(tokenizer, paths, progress=progress)
        (tmp / REPORT_FILE).write_text(report_table(report) + "\n", encoding="utf-8")
    return SavedTokenizer(tokenizer, target, report, time.perf_counter() - start)
