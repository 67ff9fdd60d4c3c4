"""Labelled sequence tables (what ``bioseq finetune``/``predict``/``embed`` read) and named
sequences from any sequence file.

A table is CSV or TSV (by suffix, gzip allowed; ``.txt`` is sniffed) with a header naming a
sequence column and, for training, a label column; or FASTA whose headers carry
``label=VALUE`` (``>seq1 label=coding``). Every other column is kept in ``columns``.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "train.csv"
>>> _ = path.write_text("name,sequence,label\\na,ACGT,1\\nb,GGCC,0\\n")
>>> table = read_table(path)
>>> table.names, table.sequences, table.labels
(['a', 'b'], ['ACGT', 'GGCC'], ['1', '0'])
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bioseq.errors import InputError, located
from bioseq.io.compression import ungzip
from bioseq.io.fasta import parse_fasta
from bioseq.io.formats import file_suffix
from bioseq.io.inputs import open_input

TABLE_SUFFIXES = {".csv": ",", ".tsv": "\t", ".tab": "\t"}
FASTA_SUFFIXES = {".fa", ".fasta", ".fna", ".faa", ".fas", ".ffn", ".mfa"}
_LABEL = re.compile(r"(?:^|\s)label=(\S+)")


@dataclass
class Table:
    """Rows of a sequence table: names, sequences, labels (strings, or None when the table has
    no label column) and the other columns by name."""

    path: Path
    names: list[str]
    sequences: list[str]
    labels: list[str] | None = None
    columns: dict[str, list[str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.sequences)

    def numeric_labels(self) -> list[float]:
        """The labels as numbers (regression); an InputError names the first that is not."""
        values = []
        for row, label in enumerate(self._labels(), start=2):
            try:
                values.append(float(label))
            except ValueError:
                raise InputError(
                    f"{self.path}: row {row}: label {label!r} is not a number "
                    "(regression needs numeric labels)"
                ) from None
        return values

    def _labels(self) -> list[str]:
        if self.labels is None:
            raise InputError(f"{self.path}: no labels")
        return self.labels


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    raw = ungzip(path.read_bytes(), path, reason=True)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None


def read_table(
    path: str | Path,
    sequence_col: str = "sequence",
    label_col: str | None = "label",
    name_col: str | None = None,
    require_labels: bool = True,
) -> Table:
    """Read a CSV/TSV table or a FASTA file with ``label=`` in its headers.

    ``name_col`` defaults to ``name``, ``id`` or ``mutant`` when present, else row numbers.
    With ``require_labels`` a missing label column (or FASTA header without ``label=``) is an
    InputError; otherwise ``labels`` is None when there are none.
    """
    path = Path(path)
    text = _read_text(path)
    if not text.strip():
        raise InputError(f"{path}: empty file (expected a header row and sequences)")
    suffix = file_suffix(path)
    if suffix in FASTA_SUFFIXES or text.lstrip().startswith(">"):
        return _read_fasta_table(path, text, require_labels and label_col is not None)
    delimiter = TABLE_SUFFIXES.get(suffix) or ("\t" if "\t" in text.splitlines()[0] else ",")
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [row for row in rows if any(cell.strip() for cell in row)]
    header = [cell.strip() for cell in rows[0]]
    body = rows[1:]
    if not body:
        raise InputError(f"{path}: no rows after the header")
    if sequence_col not in header:
        raise InputError(
            f"{path}: no column {sequence_col!r} (columns: {', '.join(header)}); "
            "name the sequence column with --sequence-col"
        )
    if label_col is not None and label_col not in header and require_labels:
        raise InputError(
            f"{path}: no column {label_col!r} (columns: {', '.join(header)}); "
            "name the label column with --label-col"
        )
    for number, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}: row {number}: {len(row)} fields, the header has {len(header)}"
            )
    columns = {name: [row[i].strip() for row in body] for i, name in enumerate(header)}
    sequences = columns.pop(sequence_col)
    for number, sequence in enumerate(sequences, start=2):
        if not sequence:
            raise InputError(f"{path}: row {number}: empty sequence")
    labels = columns.pop(label_col) if label_col in columns else None
    if labels is not None:
        for number, label in enumerate(labels, start=2):
            if not label:
                raise InputError(f"{path}: row {number}: empty label in {label_col!r}")
    name_col = name_col or next((c for c in ("name", "id", "mutant") if c in columns), None)
    if name_col is not None and name_col not in columns:
        raise InputError(f"{path}: no column {name_col!r} (columns: {', '.join(header)})")
    names = columns.pop(name_col) if name_col else [str(i) for i in range(1, len(body) + 1)]
    return Table(path, names, sequences, labels, columns)


def _read_fasta_table(path: Path, text: str, require_labels: bool) -> Table:
    names, sequences, labels = [], [], []
    for name, description, sequence, line in _fasta_records(path, text):
        match = _LABEL.search(description)
        if match is None and require_labels:
            raise InputError(f"{path}:{line}: header of {name!r} has no label=VALUE")
        names.append(name)
        sequences.append(sequence)
        labels.append(match.group(1) if match else None)
    has_labels = all(label is not None for label in labels)
    return Table(path, names, sequences, labels if has_labels else None)


def _fasta_records(path: Path, text: str) -> Iterator[tuple[str, str, str, int]]:
    """``(name, description, sequence, header line)`` per record (the FASTA parser; ``;``
    comment lines are skipped everywhere)."""
    lines = (line.encode("utf-8") for line in text.splitlines())
    records = parse_fasta(
        lines,
        str(path),
        empty="no FASTA record",
        before_header=lambda line: "sequence before the first '>' header",
    )
    for raw in records:
        parts = raw.header.decode("utf-8").strip().split(None, 1)
        if not parts:
            raise InputError(located(path, raw.line, "FASTA header without a name"))
        chunks = [
            "".join(line.decode("utf-8").split())
            for line in raw.lines
            if line.strip() and not line.startswith(b";")
        ]
        yield parts[0], (parts[1] if len(parts) > 1 else ""), "".join(chunks), raw.line


def read_named_sequences(path: str | Path, sequence_col: str = "sequence") -> Table:
    """Names and sequences of any input ``bioseq embed`` takes: FASTA, GenBank (one sequence
    per record), an a2m/a3m alignment (each homolog without its gaps) or a CSV/TSV table."""
    path = Path(path)
    if file_suffix(path) in TABLE_SUFFIXES or file_suffix(path) == ".txt":
        return read_table(path, sequence_col, None, require_labels=False)
    source = open_input(path)
    if source.format == "fasta":
        return read_table(path, label_col=None, require_labels=False)
    if source.format in ("genbank", "alignment"):
        records = list(source.records())
        return Table(path, [r.name for r in records], [r.sequence for r in records])
    raise InputError(f"{path}: a {source.format} file holds no sequences to embed")
