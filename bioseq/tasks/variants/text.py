"""Text as a sequence source, and the text variant table (``make-text-variants`` /
``score-text``): the linguistic twin of a genome and its VCF.

Positions are 0-based **character** offsets into the decoded UTF-8 text (not bytes), half-open
like Python slices, so ``text[pos : pos + len(ref)] == ref`` checks a row. Substitutions have
one character in REF and ALT; indels are written as in a VCF, REF and ALT sharing their first
character (the one before the edit). Table cells escape backslash, tab, newline and carriage
return as ``\\\\``, ``\\t``, ``\\n``, ``\\r``, so a REF that is a newline reads ``\\n``.

>>> source = TextSource("Alice was beginning")
>>> source.contigs, source.fetch("text", 6, 9)
({'text': 19}, 'was')
>>> escape("a\\tb\\n"), unescape(escape("a\\tb\\n")) == "a\\tb\\n"
('a\\\\tb\\\\n', True)
"""

from __future__ import annotations

import codecs
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.io.compression import ungzip
from bioseq.io.outputs import atomic_output
from bioseq.io.splits import ValidationSplit

CONTIG = "text"  # the one contig name of a text source
COLUMNS = ("id", "pos", "ref", "alt", "kind", "label", "word", "result", "context")
REQUIRED = ("pos", "ref", "alt")
HELD_OUT = 0.1  # "last-tenth": what `bioseq pretrain --text` holds out (--val-fraction 0.1)
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}


def escape(value: str) -> str:
    """A TSV cell: backslash, tab, newline and carriage return escaped."""
    return "".join(_ESCAPES.get(ch, ch) for ch in value)


def unescape(value: str) -> str:
    """The inverse of :func:`escape` (an unknown escape keeps its backslash)."""
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value) and value[i + 1] in _UNESCAPES:
            out.append(_UNESCAPES[value[i + 1]])
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def read_text(path: str | os.PathLike) -> str:
    """A UTF-8 text file (gzip recognised by its magic number; a leading BOM dropped);
    InputError naming the first byte that is not UTF-8."""
    path = Path(path)
    data = ungzip(path.read_bytes(), path).removeprefix(codecs.BOM_UTF8)
    if not data:
        raise InputError(f"{path}: empty file, expected UTF-8 text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InputError(
            f"{path}: not UTF-8 text (byte {err.start:,} is {data[err.start]:#04x})"
        ) from None


def held_out_start(text: str, fraction: float = HELD_OUT) -> int:
    """The character where the last ``fraction`` of the text's UTF-8 bytes begins: the part
    ``bioseq pretrain --text --val-fraction FRACTION`` never trains on (a character that the
    byte boundary cuts counts as trained on).

    >>> held_out_start("a" * 100), held_out_start("é" * 100)
    (90, 90)
    """
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    cut = ValidationSplit(fraction).tail_start(len(data))
    starts = np.flatnonzero((data & 0xC0) != 0x80)  # the first byte of every character
    return int(np.searchsorted(starts, cut))


class TextSource:
    """A text as a :class:`~bioseq.io.source.SequenceSource` of one contig (``text``):
    ``fetch`` returns characters, ``fetch_codes`` their UTF-8 bytes."""

    alphabet = None  # any Unicode character

    def __init__(self, text: str, path: str | os.PathLike | None = None) -> None:
        self.text = text
        self.path = Path(path) if path is not None else None

    @property
    def contigs(self) -> dict[str, int]:
        return {CONTIG: len(self.text)}

    def _check(self, contig: str, start: int, end: int | None) -> tuple[int, int]:
        end = len(self.text) if end is None else end
        if contig != CONTIG or not 0 <= start <= end <= len(self.text):
            raise InputError(
                f"{self.path or '<text>'}: {contig}:{start}-{end} is outside the text "
                f"({len(self.text):,} characters)"
            )
        return start, end

    def fetch(self, contig: str, start: int = 0, end: int | None = None, strand: str = "+") -> str:
        if strand != "+":
            raise InputError("a text has one strand (+)")
        start, end = self._check(contig, start, end)
        return self.text[start:end]

    def fetch_codes(
        self, contig: str, start: int = 0, end: int | None = None, strand: str = "+"
    ) -> np.ndarray:
        return np.frombuffer(self.fetch(contig, start, end, strand).encode("utf-8"), np.uint8)


@dataclass
class TextVariant:
    """One row of a text variant table: ``pos`` (0-based character), REF, ALT, its label
    (``word``, ``nonword``, ``space``, ``punct``; empty when unknown), the table's other
    cells as read (``cells``) and, for a row that cannot be read, ``error``."""

    line: int
    pos: int
    ref: str
    alt: str
    label: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    error: str = ""


def read_variant_table(path: str | os.PathLike) -> tuple[list[str], list[TextVariant]]:
    """The header and rows of a text variant table (TSV with at least ``pos ref alt``).
    A row whose position is not a number is kept with ``error`` set; a table without rows,
    or without the columns, is an InputError."""
    path = Path(path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    lines = [line for line in lines if line.strip() and not line.startswith("#")]
    if not lines:
        raise InputError(f"{path}: empty table; expected a header ({' '.join(COLUMNS)}) and rows")
    header = lines[0].split("\t")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(
            f"{path}: no {', '.join(missing)} column in the header (expected tab-separated "
            f"{' '.join(COLUMNS)}; make one with bioseq make-text-variants)"
        )
    if len(lines) == 1:
        raise InputError(f"{path}: no variant rows after the header (an empty table)")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        values = line.split("\t")
        cells = dict(zip(header, values + [""] * (len(header) - len(values)), strict=True))
        ref, alt = unescape(cells["ref"]), unescape(cells["alt"])
        row = TextVariant(number, -1, ref, alt, cells.get("label", ""), cells)
        try:
            row.pos = int(cells["pos"])
        except ValueError:
            row.error = f"pos {cells['pos'][:20]!r} is not a whole number"
        rows.append(row)
    return header, rows


def write_variant_table(rows: list[dict[str, str]], out: str | os.PathLike) -> None:
    """``rows`` (cells by :data:`COLUMNS`, unescaped) as a TSV, replaced once complete."""
    with atomic_output(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join(COLUMNS) + "\n")
        for row in rows:
            handle.write("\t".join(escape(str(row.get(c, ""))) for c in COLUMNS) + "\n")
