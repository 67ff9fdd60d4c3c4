"""A small GFF3 reader: sequence regions, feature counts and an embedded ``##FASTA`` section.

Enough to describe a GFF3 file (``bioseq info``) and to take the genome out of one that carries
it; feature lines are checked for their nine columns and integer coordinates.

>>> from bioseq.io.gff import read_gff  # doctest: +SKIP
>>> [record] = read_gff("phix174.gff")  # doctest: +SKIP
>>> record.name, record.length, record.feature_counts["CDS"]  # doctest: +SKIP
('NC_001422.1', 5522, 11)
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, InvalidCharacterError
from bioseq.io.compression import corrupt_gzip, open_text
from bioseq.io.fasta import parse_fasta


@dataclass
class GffRecord:
    """One sequence id: its declared length, its features by type, its sequence if embedded."""

    name: str
    length: int | None = None
    sequence: str | None = None
    feature_counts: Counter = field(default_factory=Counter)


def read_gff(path: str | Path) -> list[GffRecord]:
    """Parse a GFF3 file into one :class:`GffRecord` per sequence id, in order of appearance."""
    path = Path(path)
    records: dict[str, GffRecord] = {}
    fasta: list[tuple[str, int, list[str]]] = []
    try:
        with open_text(path, encoding="utf-8", errors="replace") as handle:
            for number, raw in enumerate(handle, start=1):
                line = raw.rstrip("\r\n")
                if line.startswith("##FASTA"):
                    fasta = _fasta_section(path, handle, number + 1)
                    break
                if line.startswith("##sequence-region"):
                    _sequence_region(path, number, line, records)
                elif line and not line.startswith("#"):
                    _feature(path, number, line, records)
    except (EOFError, OSError, zlib.error) as err:
        raise corrupt_gzip(path, err) from None
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


def _fasta_section(path: Path, handle: Iterable[str], first: int) -> list[tuple[str, int, list]]:
    """``(name, header line, sequence lines)`` of the ``##FASTA`` section (the FASTA parser)."""
    lines = (raw.rstrip("\r\n").encode("utf-8") for raw in handle)
    out = []
    for raw in parse_fasta(
        lines,
        str(path),
        comment=None,
        first_line=first,
        empty=None,
        before_header=lambda line: "sequence before any '>' header in ##FASTA",
    ):
        header = raw.header.decode("utf-8")
        name = header.split()[0] if header.strip() else ""
        out.append((name, raw.line, [ln.strip().decode("utf-8") for ln in raw.lines if ln.strip()]))
    return out


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
