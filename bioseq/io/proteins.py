"""Protein FASTA files and multiple sequence alignments (a2m, a3m, aligned FASTA).

Alignments keep each record's text as it is in the file (``aligned``), its residues with gaps
removed and normalised by the protein alphabet (``sequence``), and its match-state columns
(``match_columns``). The first record is the *wild type* (focus sequence); a header such as
``BLAT_ECOLX/24-286`` gives its numbering: residue ``offset + i`` is ``wildtype[i]``.

>>> from bioseq.io.proteins import read_alignment
>>> msa = read_alignment("BLAT_ECOLX_r24-286.a2m")  # doctest: +SKIP
>>> len(msa), msa.offset, msa.region, len(msa.wildtype), msa.width  # doctest: +SKIP
(8403, 24, (24, 286), 263, 253)
>>> msa.residue_number(0), msa.wildtype[0]  # doctest: +SKIP
(24, 'H')

Formats (``format="auto"`` picks by suffix, else by content):

* ``a2m``: upper case and ``-`` are match columns (the same number in every record), lower case
  are insertions and ``.`` pads insert columns.
* ``a3m``: like a2m but insert columns are not padded, so records differ in length.
  ``auto`` takes ``.a2m``/``.a3m`` by suffix, ``.fa``/``.fasta``/``.afa`` as aligned FASTA,
  and otherwise a2m or a3m when lower case or ``.`` occur (a2m if all rows are equally long).
* ``fasta``: aligned FASTA; every column is a match column, ``.`` is read as ``-``.

The wild type is the *full* first record (match and insert residues, upper-cased): for
``BLAT_ECOLX/24-286.a2m`` that is 263 residues (253 upper-case match columns plus 10 lower-case
insertions: ``hpetl`` at the start, ``e``, ``r`` and ``khw`` at the end), matching the header
range 286 - 24 + 1 = 263. A header range that disagrees with the wild type is an error;
without a range the numbering starts at 1. ``focus_columns[j]`` is the wild-type index of match
column ``j`` (-1 where the wild type has a gap), so that column is residue
``offset + focus_columns[j]``.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from bioseq.errors import InputError, located
from bioseq.io.alphabet import PROTEIN, Alphabet, AmbiguousPolicy, InvalidPolicy, get_alphabet
from bioseq.io.compression import open_text, reading_text
from bioseq.io.fasta import FastaRecord, parse_fasta
from bioseq.io.formats import file_suffix

__all__ = [
    "AlignedRecord",
    "Alignment",
    "ProteinRecord",
    "iter_protein_fasta",
    "read_alignment",
    "read_protein_fasta",
]

AlignmentFormat = Literal["auto", "a2m", "a3m", "fasta"]
FASTA_SUFFIXES = {".fa", ".fasta", ".afa", ".afasta", ".faa", ".mfa"}
_RANGE = re.compile(r"^(?P<id>.+)/(?P<start>\d+)-(?P<end>\d+)$")
_GAPS = b"-."
_EMPTY = "empty file, expected FASTA records ('>name' lines)"


ProteinRecord = FastaRecord  # one protein sequence; ``line`` is its header's line


@dataclass
class AlignedRecord:
    """One alignment row: raw ``aligned`` text, ungapped ``sequence`` and ``match_columns``."""

    name: str
    description: str
    aligned: str
    sequence: str
    match_columns: str
    line: int

    def __len__(self) -> int:
        return len(self.sequence)


@dataclass
class Alignment:
    """The records of an alignment file, the first one being the wild type."""

    records: list[AlignedRecord]
    format: str
    path: Path | None = None
    alphabet: Alphabet = PROTEIN
    region: tuple[int, int] | None = None
    focus_columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def wildtype(self) -> str:
        """The first record's full sequence (match and insert residues, upper case)."""
        return self.records[0].sequence

    @property
    def offset(self) -> int:
        """Residue number of ``wildtype[0]``: the header range start, else 1."""
        return self.region[0] if self.region else 1

    @property
    def names(self) -> list[str]:
        return [record.name for record in self.records]

    @property
    def width(self) -> int:
        """Number of match columns."""
        return len(self.records[0].match_columns)

    @property
    def focus_sequence(self) -> str:
        """The wild-type residues at the match columns."""
        return self.records[0].match_columns

    def residue_number(self, index: int) -> int:
        """Residue number (as in the header range) of wild-type index ``index``."""
        return self.offset + index

    def match_matrix(self) -> np.ndarray:
        """``(records, match columns)`` uint8 array of ASCII codes (``-`` for gaps)."""
        text = "".join(record.match_columns for record in self.records)
        codes = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        return codes.reshape(len(self.records), self.width)

    def sequence_weights(self, theta: float = 0.8) -> np.ndarray:
        """Per-record ``1 / neighbours at >= theta identity`` (see :mod:`bioseq.io.weights`)."""
        from bioseq.io.weights import sequence_weights  # numba: import bioseq.io loads none

        return sequence_weights(self.match_matrix(), theta)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[AlignedRecord]:
        return iter(self.records)

    def __getitem__(self, index: int) -> AlignedRecord:
        return self.records[index]

    def __repr__(self) -> str:
        return (
            f"Alignment({len(self)} records, {self.width} match columns, format={self.format!r}, "
            f"offset={self.offset})"
        )


# --------------------------------------------------------------------------------------------
# FASTA records with line numbers (the one FASTA parser, over stripped lines)
# --------------------------------------------------------------------------------------------


@dataclass
class _RawRecord:
    header: str
    line: int
    chunks: list[str]
    chunk_lines: list[int]

    @property
    def name(self) -> str:
        return self.header.split(maxsplit=1)[0] if self.header.strip() else ""

    @property
    def description(self) -> str:
        parts = self.header.split(maxsplit=1)
        return parts[1] if len(parts) > 1 else ""

    def text(self) -> str:
        return "".join(self.chunks)

    def line_of(self, index: int) -> int:
        """File line of character ``index`` of the joined text."""
        starts = np.cumsum([0] + [len(c) for c in self.chunks[:-1]]).tolist()
        return self.chunk_lines[bisect.bisect_right(starts, index) - 1]


def _iter_raw(path: Path) -> Iterator[_RawRecord]:
    """FASTA records (:func:`~bioseq.io.fasta.parse_fasta` over stripped lines) with line
    numbers; leading ``#`` lines (a3m) are skipped."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a FASTA or alignment file")
    with reading_text(path), open_text(path) as handle:
        lines = (raw.rstrip("\r\n").strip().encode("latin-1") for raw in handle)
        records = parse_fasta(
            lines,
            str(path),
            comment=b"#",
            empty=_EMPTY,
            before_header=lambda line: _no_header(line.decode("latin-1")),
        )
        for raw in records:
            numbered = [(raw.line + 1 + k, line) for k, line in enumerate(raw.lines) if line]
            yield _RawRecord(
                raw.header.decode("latin-1").strip(),
                raw.line,
                [line.decode("latin-1") for _, line in numbered],
                [number for number, _ in numbered],
            )


def _no_header(line: str) -> str:
    return f"expected a FASTA header starting with '>', found {line[:40]!r}"


def _named(path: Path, record: _RawRecord) -> _RawRecord:
    if not record.name:
        raise InputError(located(path, record.line, "record header has no name"))
    return record


def _read_raw(path: Path) -> list[_RawRecord]:
    return [_named(path, record) for record in list(_iter_raw(path))]


def _invalid(path: Path, record: _RawRecord, index: int, alphabet: Alphabet, gaps: bool) -> str:
    char = record.text()[index]
    allowed = alphabet.describe() + (" and gaps - ." if gaps else "")
    return located(
        path,
        record.line_of(index),
        f"record {record.name!r}: invalid character {char!r} (expected {alphabet.name}: {allowed})",
    )


def _normalise(
    path: Path,
    record: _RawRecord,
    alphabet: Alphabet,
    ambiguous: AmbiguousPolicy,
    invalid: InvalidPolicy,
    gaps: bool,
) -> np.ndarray:
    """Upper-cased, normalised ASCII codes of a record's text; gaps kept when ``gaps``."""
    codes = np.frombuffer(record.text().encode("latin-1"), dtype=np.uint8)
    table = alphabet.table(ambiguous, invalid)
    out = table[codes]
    if gaps:
        out = np.where(np.isin(codes, np.frombuffer(_GAPS, dtype=np.uint8)), codes, out)
    bad = np.flatnonzero(out == 0)
    if bad.size:
        raise InputError(_invalid(path, record, int(bad[0]), alphabet, gaps))
    return out


def _decode(codes: np.ndarray) -> str:
    return codes.tobytes().decode("ascii")


# --------------------------------------------------------------------------------------------
# Protein FASTA
# --------------------------------------------------------------------------------------------


def read_protein_fasta(
    path: str | Path,
    alphabet: Alphabet | str = PROTEIN,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> list[ProteinRecord]:
    """Read an (optionally gzipped) protein FASTA file into normalised records.

    Gaps are not allowed (use :func:`read_alignment`); empty records are an error.
    """
    return list(iter_protein_fasta(path, alphabet, ambiguous, invalid))


def iter_protein_fasta(
    path: str | Path,
    alphabet: Alphabet | str = PROTEIN,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> Iterator[ProteinRecord]:
    """:func:`read_protein_fasta` one record at a time (each checked as it is read)."""
    path = Path(path)
    alphabet = get_alphabet(alphabet)
    for raw in _iter_raw(path):
        _named(path, raw)
        if not raw.chunks:
            raise InputError(located(path, raw.line, f"record {raw.name!r} has no sequence"))
        codes = _normalise(path, raw, alphabet, ambiguous, invalid, gaps=False)
        yield ProteinRecord(raw.name, raw.description, _decode(codes), raw.line)


# --------------------------------------------------------------------------------------------
# Alignments
# --------------------------------------------------------------------------------------------


def read_alignment(
    path: str | Path,
    format: AlignmentFormat = "auto",
    alphabet: Alphabet | str = PROTEIN,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> Alignment:
    """Read an a2m, a3m or aligned FASTA file (plain or gzipped); the first record is the WT."""
    if format not in ("auto", "a2m", "a3m", "fasta"):
        raise InputError(f"unknown alignment format {format!r} (expected auto, a2m, a3m, fasta)")
    path = Path(path)
    alphabet = get_alphabet(alphabet)
    raws = _read_raw(path)
    fmt = _resolve_format(path, format, raws)
    records = [_aligned_record(path, raw, fmt, alphabet, ambiguous, invalid) for raw in raws]
    _check_widths(path, records, fmt)
    region = _check_wildtype(path, records[0])
    focus = _focus_columns(records[0].aligned, fmt)
    return Alignment(records, fmt, path, alphabet, region, focus)


def _resolve_format(path: Path, format: str, raws: list[_RawRecord]) -> str:
    if format != "auto":
        return format
    suffix = file_suffix(path)
    if suffix in (".a2m", ".a3m"):
        return suffix[1:]
    if suffix in FASTA_SUFFIXES:
        return "fasta"
    texts = [raw.text() for raw in raws]
    if not any("." in text or text != text.upper() for text in texts):
        return "fasta"
    return "a2m" if len({len(text) for text in texts}) == 1 else "a3m"


def _aligned_record(
    path: Path,
    raw: _RawRecord,
    fmt: str,
    alphabet: Alphabet,
    ambiguous: AmbiguousPolicy,
    invalid: InvalidPolicy,
) -> AlignedRecord:
    aligned = raw.text()
    codes = _normalise(path, raw, alphabet, ambiguous, invalid, gaps=True)
    raw_codes = np.frombuffer(aligned.encode("latin-1"), dtype=np.uint8)
    residue = (codes != ord("-")) & (codes != ord("."))
    if fmt == "fasta":
        match = np.where(residue, codes, ord("-")).astype(np.uint8)
    else:
        lower = (raw_codes >= ord("a")) & (raw_codes <= ord("z"))
        match = codes[(residue & ~lower) | (raw_codes == ord("-"))]
    return AlignedRecord(
        raw.name, raw.description, aligned, _decode(codes[residue]), _decode(match), raw.line
    )


def _check_widths(path: Path, records: list[AlignedRecord], fmt: str) -> None:
    """Every record must have as many match columns (a2m, a3m) or columns (fasta) as the first."""
    width = len(records[0].match_columns)
    for number, record in enumerate(records, start=1):
        if len(record.match_columns) != width:
            what = "columns" if fmt == "fasta" else "match columns (upper case and '-')"
            raise InputError(
                located(
                    path,
                    record.line,
                    f"record {number} {record.name!r} has {len(record.match_columns)} {what}, "
                    f"but record 1 has {width}",
                )
            )


def parse_region(name: str) -> tuple[int, int] | None:
    """``(start, end)`` from a ``NAME/start-end`` record name, else None.

    >>> parse_region("BLAT_ECOLX/24-286"), parse_region("P62593")
    ((24, 286), None)
    """
    match = _RANGE.match(name)
    return (int(match["start"]), int(match["end"])) if match else None


def _check_wildtype(path: Path, record: AlignedRecord) -> tuple[int, int] | None:
    if not record.sequence:
        raise InputError(located(path, record.line, f"record 1 {record.name!r} has no residues"))
    region = parse_region(record.name)
    if region is None:
        return None
    start, end = region
    expected = end - start + 1
    if len(record.sequence) != expected:
        raise InputError(
            f"{path}: record 1 {record.name!r}: wild type has {len(record.sequence)} residues "
            f"but header range {start}-{end} implies {expected}"
        )
    return region


def _focus_columns(aligned: str, fmt: str) -> np.ndarray:
    """Wild-type index of every match column, -1 where the wild type has a gap there."""
    codes = np.frombuffer(aligned.encode("latin-1"), dtype=np.uint8)
    residue = (codes != ord("-")) & (codes != ord("."))
    index = np.where(residue, np.cumsum(residue) - 1, -1)  # wild-type index of each character
    if fmt == "fasta":
        return index.astype(np.int64)
    lower = (codes >= ord("a")) & (codes <= ord("z"))
    return index[(residue & ~lower) | (codes == ord("-"))].astype(np.int64)
