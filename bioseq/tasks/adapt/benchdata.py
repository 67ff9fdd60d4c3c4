"""The supervised benchmark tables: coding vs intergenic DNA windows and a DMS regression table.

Both are built from files (a GenBank annotation; a DMS table and its family alignment) by pure
functions and written as TSV with ``name``, ``sequence`` and ``label`` first, then ``split`` (and
the window's ``start``/``end``) or ``fold``.

>>> from bioseq.data import example_genome
>>> rows = coding_windows(example_genome("lambda"), window=50, stride=10)
>>> sorted({(r.split, r.label) for r in rows})[:2]
[('test', 'coding'), ('test', 'intergenic')]
>>> write_table(rows, "coding.tsv")  # doctest: +SKIP

Coding windows (:func:`coding_windows`):

* windows start on a grid of ``stride`` (absolute genome coordinates, 0-based, half-open);
  a window is ``coding`` when it lies wholly inside one part of one CDS (either strand;
  ``/pseudo`` CDS excluded) and ``intergenic`` when it overlaps no annotated feature at all
  (genes, CDS, RNAs, repeat regions, mobile elements, ...: every feature but ``source``).
  Windows with a letter other than A/C/G/T are left out.
* splits by genome position, per record, as pretraining's validation split
  (:func:`bioseq.io.intervals.split_territory` with ``block_size=None``): test is the last
  ``test_fraction``, val the ``val_fraction`` before it, train the rest; a window lies wholly
  inside its split. With the defaults the test tenth is exactly the tenth that
  ``bioseq pretrain`` holds out as validation (``val_fraction=0.1``), so a model pretrained
  here never saw the test windows.
* each split is balanced: the larger class is down-sampled (seeded) to the smaller one's size,
  and both to ``max_per_class`` when given.

DMS table (:func:`dms_table`): every scored mutant of the table applied to the wild type (the
alignment's first record, numbered from its header range), labelled with ``score_col`` and
assigned to one of ``n_folds`` folds at random. ProteinGym's ``fold_random_5`` draws each
mutant's fold uniformly at random; here a seeded shuffle
(``numpy.random.default_rng(seed).permutation``) deals the mutants out in turn, so every fold
gets ``n // n_folds`` or one more.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from Bio import SeqIO

from bioseq.errors import InputError
from bioseq.io.compression import is_gzip
from bioseq.io.genbank import GenBankRecord, read_genbank
from bioseq.io.intervals import Interval, split_territory
from bioseq.io.outputs import atomic_output
from bioseq.tasks.variants.metrics import MISSING
from bioseq.tasks.variants.mutations import (
    apply_mutant,
    check_mutant,
    check_residues,
    parse_mutant,
    read_mutation_table,
    read_wildtype,
)

__all__ = ["DmsRow", "WindowRow", "coding_windows", "dms_table", "write_table", "SPLITS"]

SPLITS = ("train", "val", "test")
CLASSES = ("coding", "intergenic")
IGNORED_FEATURES = frozenset({"source"})


class WindowRow(NamedTuple):
    """One DNA window: ``name`` is ``contig:start-end`` (0-based, half-open)."""

    name: str
    sequence: str
    label: str
    split: str
    start: int
    end: int


class DmsRow(NamedTuple):
    """One mutant: ``name`` is the mutant as written in the table (``H24C``)."""

    name: str
    sequence: str
    label: float
    fold: int


def coding_windows(
    genbank_path: str | Path,
    window: int = 200,
    stride: int = 20,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    max_per_class: int | None = None,
) -> list[WindowRow]:
    """Balanced coding/intergenic windows of a GenBank file, split by genome position.

    Rows come split by split (train, val, test), each in genome order (see the module doc).

    >>> from bioseq.data import example_genome
    >>> rows = coding_windows(example_genome("lambda"), window=50, stride=10)
    >>> all(len(r.sequence) == 50 for r in rows)
    True
    """
    if window < 1 or stride < 1:
        raise InputError(f"window and stride must be positive (got {window} and {stride})")
    if max_per_class is not None and max_per_class < 0:
        raise InputError(f"max_per_class must be 0 or more, not {max_per_class}")
    records = read_genbank(genbank_path)
    features = _feature_intervals(Path(genbank_path))
    found: dict[tuple[str, str], list[WindowRow]] = {(s, c): [] for s in SPLITS for c in CLASSES}
    for record in records:
        labels = _window_labels(record, features.get(record.name, []), window, stride)
        territory = [Interval(record.name, 0, len(record))]
        for split in SPLITS:
            fraction = {"val": val_fraction, "test": test_fraction}.get(split)
            if fraction == 0:
                continue
            for _, lo, hi in split_territory(
                territory, split, "interval", val_fraction, test_fraction, block_size=None
            ):
                for start in range(-(-lo // stride) * stride, hi - window + 1, stride):
                    label = labels.get(start)
                    sequence = record.sequence[start : start + window]
                    if label is None or sequence.strip("ACGT"):
                        continue
                    name = f"{record.name}:{start}-{start + window}"
                    row = WindowRow(name, sequence, label, split, start, start + window)
                    found[split, label].append(row)
    order = {record.name: i for i, record in enumerate(records)}
    rows: list[WindowRow] = []
    for index, split in enumerate(SPLITS):
        n = min(len(found[split, c]) for c in CLASSES)
        if max_per_class is not None:
            n = min(n, max_per_class)
        rng = np.random.default_rng([seed, index])
        chosen = []
        for label in CLASSES:
            pool = found[split, label]
            keep = np.sort(rng.choice(len(pool), size=n, replace=False)) if n else []
            chosen.extend(pool[i] for i in keep)
        rows.extend(sorted(chosen, key=lambda r: (order[r.name.rsplit(":", 1)[0]], r.start)))
    return rows


def _feature_intervals(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Every feature part but ``source``'s, per record (read_genbank keeps only CDS)."""
    opener = gzip.open if is_gzip(path) else open
    out: dict[str, list[tuple[int, int]]] = {}
    with opener(path, "rt", encoding="latin-1") as handle:
        for number, record in enumerate(SeqIO.parse(handle, "genbank"), start=1):
            name = record.id if record.id and record.id != "<unknown id>" else record.name
            out[name or f"record{number}"] = [
                (int(part.start), int(part.end))
                for feature in record.features
                if feature.type not in IGNORED_FEATURES and feature.location is not None
                for part in feature.location.parts
            ]
    return out


def _window_labels(
    record: GenBankRecord, features: list[tuple[int, int]], window: int, stride: int
) -> dict[int, str]:
    """Grid start -> ``coding`` / ``intergenic`` for the windows that are either."""
    length = len(record)
    covered = np.zeros(length + 1, dtype=np.int64)
    for start, end in features:
        covered[max(start, 0)] += 1
        covered[min(end, length)] -= 1
    prefix = np.concatenate([[0], np.cumsum(np.cumsum(covered)[:length] > 0)])
    starts = np.arange(0, length - window + 1, stride)
    labels = {int(s): "intergenic" for s in starts[prefix[starts + window] == prefix[starts]]}
    for cds in record.cds:
        if cds.pseudo:
            continue
        for start, end in cds.parts:
            first = -(-start // stride) * stride
            labels.update((s, "coding") for s in range(first, end - window + 1, stride))
    return labels


def dms_table(
    csv_path: str | Path,
    a2m: str | Path,
    score_col: str,
    n_folds: int = 5,
    seed: int = 0,
    mutant_col: str = "mutant",
) -> list[DmsRow]:
    """The mutants of a DMS table as full mutated sequences, their score and a random fold.

    ``a2m`` is the family alignment (or a FASTA / sequence) whose first record is the wild
    type, numbered from its header range (``BLAT_ECOLX/24-286``: residue 24 first). Rows with
    no score (empty, NA, nan) are left out, as is a mutant met again; a mutant that does not
    fit the wild type is an InputError naming ``file:line``.

    >>> rows = dms_table("BLAT_ECOLX_Ranganathan2015.csv", "BLAT_ECOLX_r24-286.a2m",
    ...                  "2500")  # doctest: +SKIP
    >>> rows[0].name, rows[0].sequence[:4], rows[0].fold  # doctest: +SKIP
    ('H24A', 'APET', 3)
    """
    if n_folds < 2:
        raise InputError(f"n_folds must be 2 or more, not {n_folds}")
    table = read_mutation_table(csv_path)
    table.check_columns(mutant_col=mutant_col, score_col=score_col)
    wildtype, offset = read_wildtype(str(a2m))
    kept: list[tuple[str, str, float]] = []
    seen: set[tuple] = set()
    for row, line, error in zip(table.rows, table.lines, table.errors, strict=True):
        where = f"{table.path}:{line}"
        if error:
            raise InputError(f"{where}: {error}")
        text = row.get(score_col, "").strip()
        if text.lower() in MISSING:
            continue
        try:
            label = float(text)
            mutant = parse_mutant(row.get(mutant_col, ""))
        except (InputError, ValueError) as err:
            raise InputError(f"{where}: {err}") from None
        problem = check_residues(mutant, "ACDEFGHIKLMNPQRSTVWY*") or check_mutant(
            mutant, wildtype, offset
        )
        if problem is not None or not np.isfinite(label):
            detail = problem[1] if problem else f"score {text!r} is not a finite number"
            raise InputError(f"{where}: {detail}")
        key = tuple(sorted(mutant, key=lambda sub: sub.position))
        if key in seen:
            continue
        seen.add(key)
        kept.append((row.get(mutant_col, ""), apply_mutant(wildtype, mutant, offset), label))
    if not kept:
        raise InputError(f"{table.path}: no row has a score in column {score_col!r}")
    folds = np.empty(len(kept), dtype=np.int64)
    folds[np.random.default_rng(seed).permutation(len(kept))] = np.arange(len(kept)) % n_folds
    return [DmsRow(n, s, y, int(f)) for (n, s, y), f in zip(kept, folds, strict=True)]


def write_table(rows: Sequence[NamedTuple] | Iterable[dict], path: str | Path) -> Path:
    """Write rows (named tuples or dicts with the same keys) as TSV with a header line.

    Columns are the rows' fields in order (``name``, ``sequence``, ``label`` first for the
    tables of this module); the file is replaced only once complete.

    >>> write_table([DmsRow("H24A", "APET", 0.5, 1)], "t.tsv")  # doctest: +SKIP
    """
    rows = [r._asdict() if hasattr(r, "_asdict") else dict(r) for r in rows]
    if not rows:
        raise InputError(f"{path}: no rows to write")
    columns = list(rows[0])
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, columns, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return Path(path)
