"""A small GFF3 reader: sequence regions, feature counts and an embedded ``##FASTA`` section.

Enough to describe a GFF3 file (``bioseq info``) and to take the genome out of one that carries
it; feature lines are checked for their nine columns and integer coordinates.

>>> from bioseq.io.gff import read_gff  # doctest: +SKIP
>>> [record] = read_gff("phix174.gff")  # doctest: +SKIP
>>> record.name, record.length, record.feature_counts["CDS"]  # doctest: +SKIP
('NC_001422.1', 5522, 11)
"""

from __future__ import annotations

import gzip
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, InvalidCharacterError
from bioseq.io.formats import is_gzip


@dataclass
class GffRecord:
    """One sequence id: its declared length, its features by type, its sequence if embedded."""

    name: str
    length: int | None = None
    sequence: str | None = None
    feature_counts: Counter = field(default_factory=Counter)


def _open_text(path: Path):
    opener = gzip.open if is_gzip(path) else open
    return opener(path, "rt", encoding="utf-8", errors="replace")


def read_gff(path: str | Path) -> list[GffRecord]:
    """Parse a GFF3 file into one :class:`GffRecord` per sequence id, in order of appearance."""
    path = Path(path)
    records: dict[str, GffRecord] = {}
    fasta: list[tuple[str, int, list[str]]] = []
    try:
        with _open_text(path) as handle:
            in_fasta = False
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if in_fasta:
                    _fasta_line(path, number, line, fasta)
                elif line.startswith("##FASTA"):
                    in_fasta = True
                elif line.startswith("##sequence-region"):
                    _sequence_region(path, number, line, records)
                elif line and not line.startswith("#"):
                    _feature(path, number, line, records)
    except (EOFError, OSError) as err:
        raise InputError(f"{path}: truncated or corrupt gzip file ({err})") from None
    for name, number, chunks in fasta:
        record = records.setdefault(name, GffRecord(name))
        try:
            record.sequence = DNA.normalize("".join(chunks))
        except InvalidCharacterError as err:
            raise InputError(f"{path}: sequence {name!r} (header line {number}): {err}") from None
        record.length = len(record.sequence)
    if not records:
        raise InputError(f"{path}: no features, sequence regions or sequences in this GFF file")
    return list(records.values())


def _sequence_region(path: Path, number: int, line: str, records: dict) -> None:
    parts = line.split()
    try:
        name, start, end = parts[1], int(parts[2]), int(parts[3])
    except (IndexError, ValueError):
        raise InputError(
            f"{path}:{number}: expected '##sequence-region NAME START END', found {line!r}"
        ) from None
    records.setdefault(name, GffRecord(name)).length = end - start + 1


def _feature(path: Path, number: int, line: str, records: dict) -> None:
    columns = line.split("\t")
    if len(columns) != 9:
        raise InputError(
            f"{path}:{number}: expected 9 tab-separated GFF3 columns, found {len(columns)}"
        )
    if not (columns[3].isdigit() and columns[4].isdigit()):
        raise InputError(f"{path}:{number}: start and end must be integers")
    records.setdefault(columns[0], GffRecord(columns[0])).feature_counts[columns[2]] += 1


def _fasta_line(path: Path, number: int, line: str, fasta: list) -> None:
    if line.startswith(">"):
        fasta.append((line[1:].split()[0] if line[1:].strip() else "", number, []))
    elif line.strip():
        if not fasta:
            raise InputError(f"{path}:{number}: sequence before any '>' header in ##FASTA")
        fasta[-1][2].append(line.strip())
