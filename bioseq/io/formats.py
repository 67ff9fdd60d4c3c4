"""Recognise sequence files by content and open them with the right reader.

>>> from bioseq.data import example_genome
>>> from bioseq.io.formats import detect_format, open_genome
>>> detect_format(example_genome("lambda"))
'genbank'
>>> genome = open_genome(example_genome("lambda"))
>>> genome.contigs
{'NC_001416.1': 48502}
"""

from __future__ import annotations

import gzip
import zlib
from itertools import islice
from pathlib import Path
from typing import Literal

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, Alphabet, AmbiguousPolicy, InvalidPolicy, guess_alphabet
from bioseq.io.source import SequenceSource

Format = Literal["fasta", "genbank", "alignment", "gff"]
ALIGNMENT_SUFFIXES = {".a2m", ".a3m", ".sto", ".aln"}
GENBANK_SUFFIXES = {".gb", ".gbk", ".gbff", ".genbank"}
GZIP_MAGIC = b"\x1f\x8b"


def is_gzip(path: str | Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def head_lines(path: str | Path, n: int = 200) -> list[str]:
    """The first ``n`` lines of a plain or gzipped text file (decoded leniently)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a sequence file")
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rt", encoding="latin-1", newline=None) as handle:
            return [line.rstrip("\r\n") for line in islice(handle, n)]
    except (EOFError, OSError, zlib.error) as err:
        raise InputError(f"{path}: truncated or corrupt gzip file ({err})") from None


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bgz")]
    return suffixes[-1] if suffixes else ""


def detect_format(path: str | Path) -> Format:
    """``fasta``, ``genbank``, ``gff`` or ``alignment`` (a2m/a3m), by content and suffix."""
    path = Path(path)
    lines = [line for line in head_lines(path) if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file, expected FASTA, GenBank or an alignment")
    first = lines[0].lstrip("\ufeff")
    if first.startswith("LOCUS"):
        return "genbank"
    if first.startswith("##gff-version"):
        return "gff"
    if first.startswith(";"):  # FASTA ';' comment lines before the first header (as iter_fasta)
        first = next((line for line in lines if not line.startswith(";")), first)
    if first.startswith(">"):
        return "alignment" if _suffix(path) in ALIGNMENT_SUFFIXES else "fasta"
    if _suffix(path) in GENBANK_SUFFIXES:
        raise InputError(f"{path}:1: expected a GenBank 'LOCUS' line, found {first[:40]!r}")
    raise InputError(
        f"{path}:1: expected a FASTA header '>', a GenBank 'LOCUS' line or '##gff-version', "
        f"found {first[:40]!r}"
    )


def sniff_alphabet(path: str | Path) -> Alphabet:
    """Guess DNA or protein from the first lines of sequence in a FASTA or alignment file."""
    seq = "".join(line for line in head_lines(path, 2000) if not line.startswith((">", ";")))
    return guess_alphabet(seq.replace("-", "").replace(".", ""))


def open_genome(
    path: str | Path,
    alphabet: Alphabet = DNA,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> SequenceSource:
    """Open a FASTA (indexed) or GenBank file as a :class:`SequenceSource`."""
    kind = detect_format(path)
    if kind == "genbank":
        from bioseq.io.genbank import GenBankGenome

        return GenBankGenome(path, ambiguous=ambiguous, invalid=invalid)
    if kind in ("alignment", "gff"):
        raise InputError(f"{path}: is {kind} input, expected a genome (FASTA or GenBank)")
    from bioseq.io.fasta import Genome

    return Genome(path, alphabet=alphabet, ambiguous=ambiguous, invalid=invalid)
