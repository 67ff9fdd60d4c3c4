"""GenBank records with their coding sequences and a per-base coding annotation.

Files are read with Biopython, plain or gzip-compressed (detected by magic bytes). Every record
becomes a :class:`GenBankRecord` with a normalised DNA sequence, its ``CDS`` features (joined
locations, origin-spanning features of circular genomes, ribosomal slippage and
``/transl_except`` included) and a :class:`CodingAnnotation` that answers, for any 0-based genome
position, whether it is coding, its codon position and which substitutions are synonymous.

>>> from bioseq.data import example_genome
>>> from bioseq.io.genbank import GenBankGenome
>>> genome = GenBankGenome(example_genome("lambda"))
>>> record = genome.records[0]
>>> record.name, len(record.sequence), len(record.cds)
('NC_001416.1', 48502, 73)
>>> cds = record.cds[0]
>>> cds.parts, cds.strand, cds.translate(record.sequence) == cds.translation
([(190, 736)], 1, True)
>>> ann = genome.annotation("NC_001416.1")
>>> ann.codon_position(190), ann.codon_position(192), sorted(ann.synonymous_alternatives(192))
(1, 3, ['A', 'C', 'T'])

The genetic code, :class:`CDS` and :class:`CodingAnnotation` live in :mod:`bioseq.io.coding`.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from Bio import BiopythonParserWarning, SeqIO
from Bio.Data import CodonTable
from Bio.Seq import UndefinedSequenceError
from Bio.SeqFeature import AfterPosition, BeforePosition, SeqFeature
from Bio.SeqRecord import SeqRecord
from Bio.SeqUtils import seq1

from bioseq.errors import InputError
from bioseq.io.alphabet import DNA, AmbiguousPolicy, InvalidCharacterError, InvalidPolicy
from bioseq.io.coding import CDS, CodingAnnotation
from bioseq.io.compression import GZIP_READ_ERRORS, corrupt_gzip, open_text, reading_text
from bioseq.io.source import InMemoryGenome

__all__ = ["CDS", "CodingAnnotation", "GenBankGenome", "GenBankRecord", "read_genbank"]

_AA_CODES = {"Sec": "U", "Pyl": "O", "TERM": "*", "OTHER": "X"}
_TRANSL_EXCEPT = re.compile(
    r"pos:\s*(?P<comp>complement\()?\s*[<>]?(?P<a>\d+)(?:\.\.[<>]?(?P<b>\d+))?\)?\s*,\s*aa:\s*"
    r"(?P<aa>\w+)"
)


# --------------------------------------------------------------------------------------------
# Records and reading
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class GenBankRecord:
    """One GenBank record: normalised DNA sequence, CDS features and their annotation."""

    name: str
    description: str
    sequence: str
    cds: list[CDS]
    circular: bool = False

    @cached_property
    def annotation(self) -> CodingAnnotation:
        return CodingAnnotation(self.sequence, self.cds)

    def __len__(self) -> int:
        return len(self.sequence)

    def __repr__(self) -> str:
        return f"GenBankRecord({self.name!r}, {len(self.sequence)} bp, {len(self.cds)} CDS)"


def read_genbank(
    path: str | Path,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> list[GenBankRecord]:
    """Read every record of a (gzipped) GenBank file; raise :class:`InputError` on bad input."""
    path = Path(path)
    _check_header(path)
    raw = _parse(path)
    records: list[GenBankRecord] = []
    seen: set[str] = set()
    for number, record in enumerate(raw, start=1):
        converted = _convert(path, number, record, ambiguous, invalid)
        if converted.name in seen:
            raise InputError(f"{path}: duplicate record name {converted.name!r} (record {number})")
        seen.add(converted.name)
        records.append(converted)
    return records


def _check_header(path: Path) -> None:
    """Missing, empty or non-GenBank files fail here with a one-line message."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a GenBank file")
    with reading_text(path), open_text(path) as handle:
        number, first = next(((i, s) for i, s in enumerate(handle, 1) if s.strip()), (0, ""))
    if not first:
        raise InputError(f"{path}: empty file, expected GenBank")
    if not first.lstrip("\ufeff").startswith("LOCUS"):
        found = first.strip()[:40]
        raise InputError(
            f"{path}:{number}: not a GenBank file (expected a 'LOCUS' line, found {found!r})"
        )


def _parse(path: Path) -> list[SeqRecord]:
    """Biopython parse with gzip, parser errors and truncation turned into ``InputError``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BiopythonParserWarning)
        try:
            with open_text(path) as handle:
                records = list(SeqIO.parse(handle, "genbank"))
        except GZIP_READ_ERRORS as err:
            raise corrupt_gzip(path, err) from None
        except (ValueError, AssertionError, IndexError, KeyError, TypeError) as err:
            # Biopython's scanner fails on damaged files in several ways, not only ValueError
            # (an AssertionError for a feature line that neither starts nor continues a
            # /qualifier, for one)
            message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise InputError(f"{path}: malformed GenBank file ({message})") from None
    for warning in caught:
        text = str(warning.message)
        if "Premature end of file" in text or "Expected sequence length" in text:
            raise InputError(f"{path}: truncated GenBank file ({text.splitlines()[0]})")
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if not records:
        raise InputError(f"{path}: no GenBank records found")
    return records


def _record_sequence(
    path: Path, name: str, record: SeqRecord, ambiguous: AmbiguousPolicy, invalid: InvalidPolicy
) -> str:
    try:
        raw = bytes(record.seq)
    except UndefinedSequenceError:
        raw = b""
    if not raw:
        raise InputError(
            f"{path}: record {name!r} has no sequence (empty ORIGIN or CONTIG-only record)"
        )
    try:
        return DNA.normalize(raw, ambiguous, invalid)  # type: ignore[return-value]
    except InvalidCharacterError as err:
        raise InputError(
            f"{path}: record {name!r}, position {err.index + 1}: invalid character "
            f"{err.char!r} (expected DNA: {DNA.describe()})"
        ) from None


def _convert(
    path: Path,
    number: int,
    record: SeqRecord,
    ambiguous: AmbiguousPolicy,
    invalid: InvalidPolicy,
) -> GenBankRecord:
    name = record.id if record.id and record.id != "<unknown id>" else record.name
    name = name or f"record{number}"
    sequence = _record_sequence(path, name, record, ambiguous, invalid)
    where = f"{path}: record {name!r}"
    cds = [
        _make_cds(where, feature, len(sequence))
        for feature in record.features
        if feature.type == "CDS"
    ]
    circular = record.annotations.get("topology") == "circular"
    return GenBankRecord(name, record.description, sequence, cds, circular)


def _qualifier(feature: SeqFeature, key: str) -> str | None:
    values = feature.qualifiers.get(key)
    return values[0] if values else None


def _int_qualifier(where: str, feature: SeqFeature, key: str, default: int) -> int:
    value = _qualifier(feature, key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{where}: CDS has /{key}={value!r}, expected an integer") from None


def _make_cds(where: str, feature: SeqFeature, length: int) -> CDS:
    location = feature.location
    label = _qualifier(feature, "locus_tag") or _qualifier(feature, "gene") or "?"
    if location is None:
        raise InputError(f"{where}: CDS {label!r} has an unreadable location")
    parts = list(location.parts)
    if any(part.ref for part in parts):
        raise InputError(f"{where}: CDS {label!r} refers to another record ({location})")
    intervals = [(int(p.start), int(p.end)) for p in parts]
    if any(not 0 <= s < e <= length for s, e in intervals):
        raise InputError(f"{where}: CDS {label!r} at {location} lies outside the {length} bp")
    strands = [-1 if p.strand == -1 else 1 for p in parts]
    codon_start = _int_qualifier(where, feature, "codon_start", 1)
    if codon_start not in (1, 2, 3):
        raise InputError(f"{where}: CDS {label!r} has /codon_start={codon_start}, expected 1-3")
    return CDS(
        parts=intervals,
        strand=strands[0],
        locus_tag=_qualifier(feature, "locus_tag"),
        gene=_qualifier(feature, "gene"),
        protein_id=_qualifier(feature, "protein_id"),
        codon_start=codon_start,
        transl_table=_transl_table(where, label, feature),
        translation=_qualifier(feature, "translation"),
        pseudo="pseudo" in feature.qualifiers or "pseudogene" in feature.qualifiers,
        partial_5prime=_partial_5prime(parts[0], strands[0]),
        transl_except=_transl_except(where, label, feature),
        part_strands=strands,
    )


def _transl_table(where: str, label: str, feature: SeqFeature) -> int:
    table = _int_qualifier(where, feature, "transl_table", 11)
    if table not in CodonTable.unambiguous_dna_by_id:
        known = ", ".join(map(str, sorted(CodonTable.unambiguous_dna_by_id)))
        raise InputError(
            f"{where}: CDS {label!r} has /transl_table={table}, not an NCBI "
            f"translation table ({known})"
        )
    return table


def _partial_5prime(first_part: object, strand: int) -> bool:
    if strand > 0:
        return isinstance(first_part.start, BeforePosition)  # type: ignore[attr-defined]
    return isinstance(first_part.end, AfterPosition)  # type: ignore[attr-defined]


def _transl_except(where: str, label: str, feature: SeqFeature) -> list[tuple[int, str]]:
    """``/transl_except=(pos:a..b,aa:Xxx)`` as (0-based first base of the codon, amino acid)."""
    out = []
    for value in feature.qualifiers.get("transl_except", []):
        match = _TRANSL_EXCEPT.search(value)
        if match is None:
            raise InputError(f"{where}: CDS {label!r} has unreadable /transl_except={value!r}")
        first = int(match["a"]) - 1
        if match["comp"] and match["b"]:
            first = int(match["b"]) - 1  # the codon's first base is its right end on minus
        out.append((first, _amino_letter(match["aa"])))
    return out


def _amino_letter(code: str) -> str:
    if code in _AA_CODES:
        return _AA_CODES[code]
    if len(code) == 1:
        return code.upper()
    return seq1(code) or "X"


# --------------------------------------------------------------------------------------------
# Sequence source
# --------------------------------------------------------------------------------------------


class GenBankGenome(InMemoryGenome):
    """All records of a GenBank file as a sequence source, with their CDS annotation."""

    def __init__(
        self,
        path: str | Path,
        ambiguous: AmbiguousPolicy = "unknown",
        invalid: InvalidPolicy = "error",
    ) -> None:
        self.records = read_genbank(path, ambiguous=ambiguous, invalid=invalid)
        self._by_name = {record.name: record for record in self.records}
        pairs = [(record.name, record.sequence) for record in self.records]
        # sequences are already normalised with the caller's policies: keep them as they are
        super().__init__(pairs, path=path, alphabet=DNA, ambiguous="keep", invalid="error")

    def record(self, contig: str) -> GenBankRecord:
        if contig not in self._by_name:
            known = ", ".join(list(self._by_name)[:5])
            raise InputError(f"{self._name}: no record named {contig!r} (records: {known})")
        return self._by_name[contig]

    def annotation(self, contig: str) -> CodingAnnotation:
        """The coding annotation of one record."""
        return self.record(contig).annotation

    def __repr__(self) -> str:
        return f"GenBankGenome({self._name!r}, {len(self)} records)"
