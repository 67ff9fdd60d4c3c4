"""FASTA text: the one FASTA record parser (:func:`parse_fasta`) and streaming
(:func:`iter_fasta`).

:func:`parse_fasta` cuts byte lines into records (header, line number, the lines after it); the
genome reader (:mod:`bioseq.io.genome`, for plain gzip), the protein and alignment reader
(:mod:`bioseq.io.proteins`) and the ``##FASTA`` section of GFF3 (:mod:`bioseq.io.gff`) all read
through it. :func:`iter_fasta` streams :class:`FastaRecord` objects from a path (plain or any
gzip), an open file or standard input (``"-"``). Indexed random access is
:class:`bioseq.io.genome.Genome`.

>>> import shutil, tempfile
>>> from pathlib import Path
>>> from bioseq.io.fasta import iter_fasta
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "toy.fa").write_text(">chr1 a toy contig\\nACGTac\\ngtNN\\n>chr2\\nTTTT\\n")
>>> [(r.name, r.description, r.sequence, r.line) for r in iter_fasta(folder / "toy.fa")]
[('chr1', 'a toy contig', 'ACGTacgtNN', 1), ('chr2', '', 'TTTT', 4)]
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from bioseq.errors import InputError, located
from bioseq.io.alphabet import Alphabet, AmbiguousPolicy, InvalidPolicy, get_alphabet
from bioseq.io.compression import open_lines

__all__ = ["FastaRecord", "RawRecord", "iter_fasta", "parse_fasta"]

WHITESPACE = b" \t\r\n\v\f"
EMPTY_FASTA = "empty file (no FASTA records)"


@dataclass(frozen=True)
class FastaRecord:
    """One FASTA record: ``name`` is the header's first word, ``description`` the rest,
    ``line`` the 1-based line number of the header in its file."""

    name: str
    description: str
    sequence: str
    line: int

    def __len__(self) -> int:
        return len(self.sequence)


@dataclass
class RawRecord:
    """A record as :func:`parse_fasta` found it: the header line after ``>`` (bytes, line end
    kept), its 1-based line number, and every line after it up to the next header (endings
    kept, blank lines included, so ``lines[k]`` is file line ``line + 1 + k``)."""

    header: bytes
    line: int
    lines: list[bytes]


# ----------------------------------------------------------------------------- messages


def invalid_message(
    label: str,
    line: int | None,
    code: int,
    contig: str,
    alphabet: Alphabet,
    ambiguous: str,
) -> str:
    char = chr(code)
    what = f"invalid character {char!r}" if code < 128 else f"invalid non-ASCII byte 0x{code:02X}"
    if ambiguous == "error" and char.upper() in alphabet.ambiguous:
        hint = (
            f"ambiguity codes are rejected with ambiguous='error'; use ambiguous='unknown' "
            f"to map them to {alphabet.unknown}"
        )
    else:
        hint = (
            f"fix the file, or read such characters as {alphabet.unknown} with --invalid N "
            f"(info, fetch, score-vcf) or invalid='unknown' (Python)"
        )
    return located(
        label,
        line,
        f"{what} in contig {contig!r} (expected {alphabet.name}: {alphabet.describe()}; {hint})",
    )


def not_header(line: bytes) -> str:
    text = line.rstrip(b"\r\n").decode("utf-8", "replace")
    text = text if len(text) <= 30 else text[:27] + "..."
    return f"expected a FASTA header line starting with '>', found {text!r}"


# ----------------------------------------------------------------------------- parsing


def parse_fasta(
    lines: Iterable[bytes],
    label: str,
    *,
    comment: bytes | None = b";",
    first_line: int = 1,
    before_header: Callable[[bytes], str] = not_header,
    empty: str | None = EMPTY_FASTA,
) -> Iterator[RawRecord]:
    """The records of FASTA byte lines: the one FASTA parser.

    A line starting with ``>`` opens a record. Before the first one, blank lines and
    ``comment`` lines are skipped and anything else is an InputError ``label:line:
    before_header(line)``; no record at all is the InputError ``label: empty`` (none when
    ``empty`` is None). ``first_line`` numbers the first line (a section inside a file).

    >>> [(r.header, r.line, r.lines) for r in parse_fasta([b";c\\n", b">a x\\n", b"AC\\n"], "f")]
    [(b'a x\\n', 2, [b'AC\\n'])]
    """
    record: RawRecord | None = None
    for lineno, line in enumerate(lines, first_line):
        if line[:1] == b">":
            if record is not None:
                yield record
            record = RawRecord(line[1:], lineno, [])
        elif record is not None:
            record.lines.append(line)
        elif line.strip() and not (comment and line.startswith(comment)):
            raise InputError(located(label, lineno, before_header(line)))
    if record is not None:
        yield record
    elif empty is not None:
        raise InputError(f"{label}: {empty}")


def split_header(header: bytes, line: int, label: str) -> tuple[str, str]:
    """``(name, description)`` of a header: its first word and the rest."""
    parts = header.decode("utf-8", "replace").strip().split(None, 1)
    if not parts:
        raise InputError(located(label, line, "FASTA header with no name"))
    return parts[0], parts[1] if len(parts) > 1 else ""


def fasta_records(
    lines: Iterable[bytes], label: str
) -> Iterator[tuple[str, str, int, list[bytes]]]:
    """``(name, description, header_line, sequence_lines)`` per record of FASTA byte lines."""
    for raw in parse_fasta(lines, label):
        name, description = split_header(raw.header, raw.line, label)
        yield name, description, raw.line, raw.lines


def _line_of(seq_lines: list[bytes], index: int, header_line: int) -> int:
    """The file line holding base ``index`` of a record (whitespace removed)."""
    total = 0
    for k, line in enumerate(seq_lines):
        total += len(line.translate(None, WHITESPACE))
        if total > index:
            return header_line + 1 + k
    return header_line + len(seq_lines)


def check_codes(
    raw: bytes,
    table: np.ndarray,
    seq_lines: list[bytes],
    header_line: int,
    name: str,
    label: str,
    alphabet: Alphabet,
    ambiguous: str,
) -> np.ndarray:
    """``table[raw]`` (the alphabet's normalisation), or InputError at the first invalid
    character naming its file line."""
    codes = np.frombuffer(raw, dtype=np.uint8)
    out = table[codes]
    if not out.all():
        i = int(np.flatnonzero(out == 0)[0])
        line = _line_of(seq_lines, i, header_line)
        raise InputError(invalid_message(label, line, int(codes[i]), name, alphabet, ambiguous))
    return out


# ----------------------------------------------------------------------------- streaming


def iter_fasta(
    source: str | os.PathLike[str] | IO[str] | IO[bytes],
    alphabet: Alphabet | str | None = None,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
    normalize: bool = True,
) -> Iterator[FastaRecord]:
    """Stream the records of a FASTA file: a path (plain or gzip), ``"-"`` or an open handle.

    Whitespace (including ``\\r``) is removed from sequences. With an ``alphabet`` each record
    is checked (an invalid character raises InputError with file and line) and, if
    ``normalize``, normalised (upper case, aliases, policies); with ``normalize=False`` it is only
    checked. Without an alphabet characters are left as they are. Records with an empty
    sequence are yielded; an input with no record at all is an error.
    """
    alpha = get_alphabet(alphabet) if alphabet is not None else None
    table = alpha.table(ambiguous, invalid) if alpha is not None else None  # checks policies
    if isinstance(source, str) and source == "-":
        label = "<stdin>"
    elif isinstance(source, (str, os.PathLike)):
        label = str(source)
        if not Path(source).exists():
            raise InputError(f"{label}: no such file")
    else:
        label = str(getattr(source, "name", None) or "<stream>")
    return _iter_fasta(source, label, alpha, table, normalize, ambiguous)


def _iter_fasta(
    source: Any,
    label: str,
    alphabet: Alphabet | None,
    table: np.ndarray | None,
    normalize: bool,
    ambiguous: str,
) -> Iterator[FastaRecord]:
    with open_lines(source, label) as lines:
        for name, description, header_line, seq in fasta_records(lines, label):
            raw = b"".join(seq).translate(None, WHITESPACE)
            if alphabet is not None and table is not None:
                out = check_codes(raw, table, seq, header_line, name, label, alphabet, ambiguous)
                if normalize:
                    raw = out.tobytes()
            yield FastaRecord(name, description, raw.decode("latin-1"), header_line)
