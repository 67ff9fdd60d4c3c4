"""Protein substitutions: parse ``H24C`` / ``H24C:G45A``, read DMS tables, score them.

Positions are residue numbers: ``wildtype[position - offset]`` is the wild-type residue, so
``offset`` is the number of the sequence's first residue (1 by default; 24 for BLAT_ECOLX's
alignment). Every row gets a status; a bad one never stops the run:

``ok`` (scored), ``malformed`` (not ``H24C``-like), ``position_out_of_range``,
``wildtype_mismatch`` (the sequence has another residue there), ``sequence_mismatch`` (a
ProteinGym ``mutated_sequence`` that the mutant does not produce), ``not_in_alignment`` (the
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
from bioseq.tasks.variants.likelihood import PairScorer

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
            raise InputError(f"mutation {part.strip()!r} is not like 'H24C' (residue, number, "
                             "residue)")  # fmt: skip
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
            return "wildtype_mismatch", f"{sub}: residue {sub.position} is {wildtype[index]}, " \
                f"not {sub.wt}"  # fmt: skip
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
        hits = sum(0 <= s.position - offset < len(wildtype) and
                   wildtype[s.position - offset] == s.wt for s in subs)  # fmt: skip
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
    from bioseq.io.proteins import parse_region, read_alignment, read_protein_fasta

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
    """A DMS table: header columns, rows (dicts of strings) and their line numbers."""

    path: Path
    columns: list[str]
    rows: list[dict[str, str]]
    lines: list[int]
    delimiter: str


def read_mutation_table(path: str | Path) -> MutationTable:
    """Read an EVmutation (``;``, ``#`` comments) or ProteinGym/CSV/TSV mutation table."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    with open(path, encoding="utf-8-sig", newline="") as handle:
        numbered = [(n, line) for n, line in enumerate(handle, start=1)
                    if line.strip() and not line.startswith("#")]  # fmt: skip
    if not numbered:
        raise InputError(f"{path}: no header line (the table is empty)")
    header = numbered[0][1]
    delimiter = max(";\t,", key=header.count)
    reader = csv.reader([line for _, line in numbered], delimiter=delimiter)
    columns = [c.strip() for c in next(reader)]
    rows = [dict(zip(columns, (v.strip() for v in values), strict=False)) for values in reader]
    return MutationTable(path, columns, rows, [n for n, _ in numbered[1:]], delimiter)


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

    def score_mutants(self, wildtype: str, offset: int, mutants: Sequence[Mutant], progress=None):
        seqs = [apply_mutant(wildtype, m, offset) for m in mutants]
        return [(s, "ok") for s in self.score_sequences(wildtype, seqs, progress)]


def score_mutations(
    model: MutationModel, wildtype: str, table: MutationTable, offset: int = 1,
    mutant_col: str = "mutant", score_col: str | None = None, progress=None,
) -> list[MutationScore]:  # fmt: skip
    """Check and score every row of ``table``; one :class:`MutationScore` per row, in order."""
    for column in (mutant_col, score_col):
        if column is not None and column not in table.columns:
            raise InputError(f"{table.path}: no column {column!r} (columns: "
                             f"{', '.join(table.columns)})")  # fmt: skip
    results, todo = [], []
    for row, line in zip(table.rows, table.lines, strict=True):
        result = MutationScore(row.get(mutant_col, ""), line=line, row=row)
        result.measured = _number(row.get(score_col)) if score_col else None
        results.append(result)
        try:
            mutant = parse_mutant(result.mutant)
        except InputError as err:
            result.status, result.detail = "malformed", str(err)
            continue
        problem = check_mutant(mutant, wildtype, offset)
        expected = row.get("mutated_sequence")
        if problem is None and expected and expected != apply_mutant(wildtype, mutant, offset):
            problem = ("sequence_mismatch", f"{result.mutant}: mutated_sequence differs")
        if problem is not None:
            result.status, result.detail = problem
            continue
        todo.append((result, mutant))
    scored = model.score_mutants(wildtype, offset, [m for _, m in todo], progress=progress) \
        if todo else []  # fmt: skip
    for (result, _), (score, status) in zip(todo, scored, strict=True):
        result.score, result.status = score, status
        if status != "ok":
            result.detail = f"{result.mutant}: {status.replace('_', ' ')}"
    return results


def write_mutation_scores(scores: Sequence[MutationScore], columns: Sequence[str], out) -> None:
    """CSV: the input columns, then ``score`` and ``status`` (score empty when not scored)."""
    extra = [c for c in ("score", "status") if c in columns]
    names = list(columns) + [f"bioseq_{c}" if c in extra else c for c in ("score", "status")]
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for s in scores:
            score = "" if s.score is None else f"{s.score:.6g}"
            writer.writerow([s.row.get(c, "") for c in columns] + [score, s.status])
