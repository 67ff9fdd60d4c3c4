"""Protein substitutions: parse ``H24C`` / ``H24C:G45A``, read DMS tables, score them.

Positions are residue numbers: ``wildtype[position - offset]`` is the wild-type residue, so
``offset`` is the number of the sequence's first residue (1 by default; 24 for BLAT_ECOLX's
alignment). Every row gets a status; a bad one never stops the run:

``ok`` (scored), ``malformed`` (not ``H24C``-like), ``malformed_row`` (more or fewer fields
than the header), ``invalid_residue`` (a mutant residue other than the 20 amino acids, or
``*`` where the model's vocabulary has no stop), ``position_out_of_range``,
``wildtype_mismatch`` (the sequence has another residue there), ``sequence_mismatch`` (a
ProteinGym ``mutated_sequence`` that the mutant does not produce), ``duplicate`` (a mutant
already met on an earlier row: scored and counted once, there), ``not_in_alignment`` (the
site-independent model has no column there) and ``unsupported_residue``.

Tables: EVmutation (``;``-separated, ``#`` comment lines, column ``mutant``) and ProteinGym
(``mutant,mutated_sequence,DMS_score``); the delimiter is sniffed from the header line.

>>> parse_mutant("H24C:G45A")
(Substitution(wt='H', position=24, mt='C'), Substitution(wt='G', position=45, mt='A'))
>>> check_mutant(parse_mutant("K2A"), "MHKL", offset=1)
('wildtype_mismatch', 'K2A: residue 2 is H, not K')
>>> apply_mutant("MHKL", parse_mutant("H2C:L4W"), offset=1)
'MCKW'
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output
from bioseq.io.proteins import parse_region, read_alignment, read_protein_fasta
from bioseq.tasks.variants.likelihood import PairScorer
from bioseq.tasks.variants.metrics import MISSING, parse_label

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_MUTATION = re.compile(r"^([A-Za-z*])(\d+)([A-Za-z*])$")
WILDTYPE_NAMES = {"", "wt", "_wt", "wildtype", "wild_type", "wild-type", "synonymous"}
_GROUP = 256  # mutants per scoring group (progress granularity)


@dataclass(frozen=True)
class Substitution:
    """One substitution: wild-type residue, residue number, mutant residue."""

    wt: str
    position: int
    mt: str

    def __str__(self) -> str:
        return f"{self.wt}{self.position}{self.mt}"


Mutant = tuple[Substitution, ...]


def parse_mutant(text: str) -> Mutant:
    """``H24C`` or ``H24C:G45A`` (``WT``/``_wt``/empty: the wild type itself, no substitution).

    Raises :class:`InputError` naming the part that is not ``<residue><number><residue>``.
    """
    text = text.strip()
    if text.lower() in WILDTYPE_NAMES:
        return ()
    subs = []
    for part in text.split(":"):
        match = _MUTATION.match(part.strip())
        if match is None:
            raise InputError(
                f"mutation {part.strip()!r} is not like 'H24C' (residue, number, residue)"
            )
        subs.append(Substitution(match[1].upper(), int(match[2]), match[3].upper()))
    positions = [s.position for s in subs]
    if len(set(positions)) != len(positions):
        raise InputError(f"mutant {text!r} changes one position twice")
    return tuple(subs)


def check_mutant(mutant: Mutant, wildtype: str, offset: int = 1) -> tuple[str, str] | None:
    """``(status, detail)`` for the first substitution that does not fit ``wildtype``."""
    for sub in mutant:
        index = sub.position - offset
        if not 0 <= index < len(wildtype):
            return "position_out_of_range", (
                f"{sub}: residue {sub.position} is outside the sequence "
                f"({offset}-{offset + len(wildtype) - 1})"
            )
        if wildtype[index] != sub.wt:
            return (
                "wildtype_mismatch",
                f"{sub}: residue {sub.position} is {wildtype[index]}, not {sub.wt}",
            )
    return None


def apply_mutant(wildtype: str, mutant: Mutant, offset: int = 1) -> str:
    """The mutated sequence (substitutions assumed checked)."""
    seq = list(wildtype)
    for sub in mutant:
        seq[sub.position - offset] = sub.mt
    return "".join(seq)


def suggest_offset(mutants: Sequence[Mutant], wildtype: str, span: int = 2000) -> int | None:
    """The offset under which most wild-type residues match, when that beats offset 1.

    >>> suggest_offset([parse_mutant("H24C"), parse_mutant("K26A")], "HPK")
    24
    """
    subs = [s for m in mutants for s in m][:2000]
    best, best_hits = None, -1
    for offset in range(-span, span + 1):
        hits = sum(
            0 <= s.position - offset < len(wildtype) and wildtype[s.position - offset] == s.wt
            for s in subs
        )
        if hits > best_hits:
            best, best_hits = offset, hits
    return best if best_hits > 0 else None


def read_wildtype(spec: str, offset: int | None = None) -> tuple[str, int]:
    """The wild type and its offset from a sequence, a FASTA file or an alignment (a2m/a3m).

    An alignment gives its first record and header numbering (``BLAT_ECOLX/24-286``: 24), as
    does a FASTA header with a range; ``offset`` overrides; otherwise numbering starts at 1.

    >>> read_wildtype("mhkl")
    ('MHKL', 1)
    """
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() in (".a2m", ".a3m", ".sto", ".afa"):
            aln = read_alignment(path)
            return aln.wildtype, aln.offset if offset is None else offset
        records = read_protein_fasta(path)
        if not records:
            raise InputError(f"{path}: no sequence in the wild-type FASTA")
        region = parse_region(records[0].name)
        return records[0].sequence, offset if offset is not None else (region or (1,))[0]
    sequence = spec.strip().upper()
    if not re.fullmatch(r"[ACDEFGHIKLMNPQRSTVWYXBZJUO*]+", sequence):
        raise InputError(f"--wildtype {spec[:40]!r} is neither a file nor a protein sequence")
    return sequence, 1 if offset is None else offset


# -- tables -----------------------------------------------------------------------------


@dataclass
class MutationTable:
    """A DMS table: header columns, rows (dicts of strings) and their line numbers;
    ``errors`` says per row why it is malformed (``""`` when it is not)."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    delimiter: str
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.errors = self.errors or [""] * len(self.rows)

    def check_columns(self, **options: str | None) -> None:
        """InputError naming the option, the column and the columns there are, for each
        ``option=column`` (``mutant_col="mutant"``) naming no column; None is skipped."""
        for option, column in options.items():
            if column is not None and column not in self.columns:
                flag = "--" + option.replace("_", "-")
                raise InputError(
                    f"{self.path}: {flag} {column!r} names no column (columns: "
                    f"{', '.join(self.columns)})"
                )


def read_mutation_table(path: str | Path) -> MutationTable:
    """Read an EVmutation (``;``, ``#`` comments) or ProteinGym/CSV/TSV mutation table.

    Each line is one row (a quoted field cannot span lines). A row with more or fewer fields
    than the header is kept with its ``errors`` entry set; binary content, text that is not
    UTF-8 and an unclosed quote are one-line InputErrors naming the line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    numbered = [
        (n, line)
        for n, line in enumerate(_text(path).split("\n"), start=1)
        if line.strip() and not line.startswith("#")
    ]
    if not numbered:
        raise InputError(f"{path}: no header line (the table is empty)")
    delimiter = max(";\t,", key=numbered[0][1].count)
    columns = [c.strip() for c in _fields(path, *numbered[0], delimiter)]
    rows, errors = [], []
    for number, line in numbered[1:]:
        values = _fields(path, number, line, delimiter)
        rows.append(dict(zip(columns, (v.strip() for v in values), strict=False)))
        fits = len(values) == len(columns)
        errors.append(
            "" if fits else f"{_count(len(values), 'field')}, but the header has {len(columns)}"
        )
    return MutationTable(path, columns, rows, [n for n, _ in numbered[1:]], delimiter, errors)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _text(path: Path) -> str:
    """The file as text; InputError naming the line of a NUL byte or of bytes not UTF-8."""
    data = path.read_bytes()
    if b"\0" in data:
        line = data[: data.index(b"\0")].count(b"\n") + 1
        raise InputError(f"{path}:{line}: binary content (a NUL byte); expected a text table")
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(
            f"{path}:{line}: byte 0x{data[err.start]:02X} is not UTF-8 text; expected a text table"
        ) from None


def _fields(path: Path, number: int, line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter, strict=True))
    except csv.Error as err:
        why = "an unclosed quote" if line.count('"') % 2 else str(err)
        raise InputError(f"{path}:{number}: cannot split into fields ({why})") from None


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# -- scoring ----------------------------------------------------------------------------


@dataclass
class MutationScore:
    """The score of one table row (``None`` unless ``status == "ok"``)."""

    mutant: str
    score: float | None = None
    status: str = "ok"
    detail: str = ""
    measured: float | None = None
    line: int | None = None
    row: dict[str, str] = field(default_factory=dict)
    measured_error: str = ""  # the measured text when it is not a number (left out)


class MutationModel(Protocol):
    """Anything that scores checked mutants of a wild type: one ``(score, status)`` each."""

    def score_mutants(
        self, wildtype: str, offset: int, mutants: Sequence[Mutant], progress=None
    ) -> list[tuple[float | None, str]]: ...


class CausalMutationScorer:
    """``log p(mutant) - log p(wild type)`` under a causal LM (``strategy="causal"``), or the
    average of a left-to-right and a right-to-left model (``causal-both``, Tranception's
    mirror: the reverse model reads the sequences reversed).

    Sequences are scored with BOS and EOS tokens, as protein records are in pretraining.
    """

    def __init__(self, forward=None, reverse=None, batch_size: int = 8) -> None:
        """``forward``/``reverse``: ``(model, tokenizer)`` pairs (either may be None)."""
        if forward is None and reverse is None:
            raise InputError("a causal mutation scorer needs a forward or a reverse model")
        self.scorers: list[tuple[PairScorer, bool]] = []  # (scorer, reads reversed sequences)
        for pair, flip in ((forward, False), (reverse, True)):
            if pair is not None:
                model, tokenizer = pair
                scorer = PairScorer(model, tokenizer, batch_size, add_bos=True, add_eos=True)
                self.scorers.append((scorer, flip))

    def score_sequences(
        self, wildtype: str, sequences: Sequence[str], progress=None
    ) -> list[float]:
        """Average over the models of the summed log-likelihood difference."""
        total = [0.0] * len(sequences)
        done_pairs = [0]

        def tick(n: int) -> None:  # progress in mutants, whichever model is scoring
            before = done_pairs[0] // len(self.scorers)
            done_pairs[0] += n
            if progress is not None:
                progress(done_pairs[0] // len(self.scorers) - before)

        for scorer, flip in self.scorers:
            wt = wildtype[::-1] if flip else wildtype
            seqs = [s[::-1] for s in sequences] if flip else list(sequences)
            groups = [(wt, seqs[i : i + _GROUP]) for i in range(0, len(seqs), _GROUP)]
            done = scorer.score(groups, progress=tick)
            for i, pair in enumerate(p for group in done for p in group):
                total[i] += pair.llr("sum") / len(self.scorers)
        return total

    @property
    def residues(self) -> str:
        """Mutant residues it scores: the 20, and ``*`` where every tokenizer has a ``*``."""
        stop = all("*" in getattr(s.tokenizer, "get_vocab", dict)() for s, _ in self.scorers)
        return AMINO_ACIDS + ("*" if stop else "")

    def score_mutants(self, wildtype: str, offset: int, mutants: Sequence[Mutant], progress=None):
        seqs = [apply_mutant(wildtype, m, offset) for m in mutants]
        return [(s, "ok") for s in self.score_sequences(wildtype, seqs, progress)]


def score_mutations(
    model: MutationModel,
    wildtype: str,
    table: MutationTable,
    offset: int = 1,
    mutant_col: str = "mutant",
    score_col: str | None = None,
    progress=None,
) -> list[MutationScore]:
    """Check and score every row of ``table``; one :class:`MutationScore` per row, in order.

    A mutant met again (same substitutions, in any order) gets status ``duplicate`` and no
    score: it is scored, and counted in the metrics, once, on its first row.
    """
    table.check_columns(mutant_col=mutant_col, score_col=score_col)
    residues = getattr(model, "residues", AMINO_ACIDS)
    results, todo, first_line = [], [], {}
    for row, line, error in zip(table.rows, table.lines, table.errors, strict=True):
        result = MutationScore(row.get(mutant_col, ""), line=line, row=row)
        results.append(result)
        if score_col:
            result.measured, result.measured_error = _measurement(row.get(score_col))
        mutant, problem = _check_row(result, error, wildtype, offset, residues)
        if problem is None:
            key = tuple(sorted(mutant, key=lambda sub: sub.position))
            if key in first_line:
                problem = (
                    "duplicate",
                    f"{result.mutant or 'wild type'}: the same mutant as "
                    f"line {first_line[key]} (scored there)",
                )
            first_line.setdefault(key, line)
        if problem is not None:
            result.status, result.detail = problem
            continue
        todo.append((result, mutant))
    scored = (
        model.score_mutants(wildtype, offset, [m for _, m in todo], progress=progress)
        if todo
        else []
    )
    for (result, _), (score, status) in zip(todo, scored, strict=True):
        result.score, result.status = score, status
        if status != "ok":
            result.detail = f"{result.mutant}: {status.replace('_', ' ')}"
    return results


def _check_row(
    result: MutationScore, error: str, wildtype: str, offset: int, residues: str
) -> tuple[Mutant | None, tuple[str, str] | None]:
    """The row's mutant and ``(status, detail)`` of its first problem, if any."""
    if error:
        return None, ("malformed_row", error)
    try:
        mutant = parse_mutant(result.mutant)
    except InputError as err:
        return None, ("malformed", str(err))
    problem = check_residues(mutant, residues) or check_mutant(mutant, wildtype, offset)
    expected = result.row.get("mutated_sequence")
    if problem is None and expected and expected != apply_mutant(wildtype, mutant, offset):
        problem = ("sequence_mismatch", f"{result.mutant}: mutated_sequence differs")
    return mutant, problem


def check_residues(mutant: Mutant, residues: str = AMINO_ACIDS) -> tuple[str, str] | None:
    """``("invalid_residue", detail)`` for the first substitution to a residue the model does
    not score: anything but the 20 amino acids, and ``*`` (a stop) unless ``residues`` has it.

    >>> check_residues(parse_mutant("H24Z"))
    ('invalid_residue', "H24Z: 'Z' is not one of the 20 amino acids (ACDEFGHIKLMNPQRSTVWY)")
    """
    for sub in mutant:
        if sub.mt not in residues:
            why = (
                "a stop, and the model's vocabulary has none"
                if sub.mt == "*"
                else f"not one of the 20 amino acids ({AMINO_ACIDS})"
            )
            return "invalid_residue", f"{sub}: {sub.mt!r} is {why}"
    return None


def check_labels(table: MutationTable, column: str) -> None:
    """InputError at the first row (``file:line``) whose ``column`` is not a binary label
    (see :func:`~bioseq.tasks.variants.metrics.parse_label`); malformed rows are skipped."""
    table.check_columns(binary_col=column)
    for row, line, error in zip(table.rows, table.lines, table.errors, strict=True):
        if error:
            continue
        try:
            parse_label(row.get(column))
        except ValueError as err:
            raise InputError(f"{table.path}:{line}: column {column!r}: {err}") from None


def _measurement(text: str | None) -> tuple[float | None, str]:
    """``(value, "")``, ``(None, "")`` when missing (empty, NA, nan), or ``(None, text)`` when
    the text is not a finite number."""
    if text is None or text.strip().lower() in MISSING:
        return None, ""
    value = _number(text)
    return (value, "") if value is not None else (None, text.strip())


def write_mutation_scores(scores: Sequence[MutationScore], columns: Sequence[str], out) -> None:
    """CSV: the input columns, then ``score`` and ``status`` (score empty when not scored);
    ``out`` is replaced only once the file is complete."""
    extra = [c for c in ("score", "status") if c in columns]
    names = list(columns) + [f"bioseq_{c}" if c in extra else c for c in ("score", "status")]
    with atomic_output(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for s in scores:
            score = "" if s.score is None else f"{s.score:.6g}"
            writer.writerow([s.row.get(c, "") for c in columns] + [score, s.status])
