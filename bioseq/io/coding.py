"""The genetic code and coding annotation: codon tables, CDS features and, per genome base,
whether it codes, its codon position and which substitutions are synonymous.

:mod:`bioseq.io.genbank` reads CDS features out of GenBank files into these objects; anything
else that knows where its genes are can build them directly.

>>> from bioseq.io.coding import CDS, CodingAnnotation
>>> genome = "CCATGAAATAGCC"
>>> cds = CDS(parts=[(2, 11)], strand=1)
>>> cds.translate(genome)
'MK'
>>> ann = CodingAnnotation(genome, [cds])
>>> ann.codon_position(2), ann.codon_position(7), sorted(ann.synonymous_alternatives(7))
(1, 3, ['G'])

Conventions (all coordinates 0-based, half-open like Python slices):

* ``CDS.parts`` are ``(start, end)`` intervals in transcription order; on the minus strand the
  bases of each part are read from ``end - 1`` down to ``start`` and complemented.
* ``codon_start`` (1..3) gives the first complete codon; bases before it and a trailing
  incomplete codon still have a codon position (their phase) but are never synonymous;
  ``CDS.complete_codon_mask`` tells them apart (``make-snv-vcf`` skips them).
* Overlapping genes: ``codon_position`` reports the **first CDS in file order** covering the
  base; ``cds_at`` lists all of them. Within one CDS, a base read twice (ribosomal slippage)
  reports its first reading.
* Synonymous alternatives are only defined inside coding sequence: a non-coding base has none.
  A substitution is synonymous when it keeps the amino acid in *every* CDS (and every reading
  frame of a slippage CDS) covering the base. The first codon of a complete CDS encodes ``M``
  whenever it is a start codon of the table (so ``ATG -> GTG`` is synonymous in table 11), stop
  codons encode ``*`` (so ``TAA -> TAG`` is synonymous), codons containing ``N`` or another
  ambiguity code have no synonymous alternatives, and nor do ``/transl_except`` codons (the
  recoding, e.g. selenocysteine at ``TGA``, depends on that exact codon).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from Bio.Data import CodonTable
from Bio.Seq import Seq

from bioseq.errors import InputError
from bioseq.io.alphabet import COMPLEMENT_TABLE, as_codes, reverse_complement

__all__ = ["BASES", "CDS", "CodingAnnotation", "codon_lookup"]

BASES = "ACGT"


# --------------------------------------------------------------------------------------------
# Codon tables as numpy lookups
# --------------------------------------------------------------------------------------------

_BASE_INDEX = np.full(256, 4, dtype=np.uint8)  # A C G T -> 0..3, anything else -> 4
for _i, _b in enumerate(BASES):
    _BASE_INDEX[ord(_b)] = _BASE_INDEX[ord(_b.lower())] = _i


@dataclass(frozen=True)
class _CodonLookup:
    """Amino acid (ASCII code) of each of the 64 codons ``16*b1 + 4*b2 + b3`` and start flags."""

    amino: np.ndarray
    start: np.ndarray
    start_codons: frozenset[str]


_LOOKUPS: dict[int, _CodonLookup] = {}


def codon_lookup(table: int) -> _CodonLookup:
    """The numpy codon lookup of an NCBI translation table (cached)."""
    if table not in _LOOKUPS:
        try:
            codons = CodonTable.unambiguous_dna_by_id[table]
        except KeyError:
            raise InputError(f"unknown translation table {table}") from None
        amino = np.zeros(64, dtype=np.uint8)
        start = np.zeros(64, dtype=bool)
        for i in range(64):
            codon = BASES[i // 16] + BASES[i // 4 % 4] + BASES[i % 4]
            amino[i] = ord(codons.forward_table.get(codon, "*"))
            start[i] = codon in codons.start_codons
        _LOOKUPS[table] = _CodonLookup(amino, start, frozenset(codons.start_codons))
    return _LOOKUPS[table]


# --------------------------------------------------------------------------------------------
# CDS
# --------------------------------------------------------------------------------------------


@dataclass(eq=False)
class CDS:
    """One CDS feature: where it lies on the genome and how it is translated.

    ``parts`` are 0-based half-open ``(start, end)`` intervals in transcription order and
    ``part_strands`` their strands (all equal to ``strand`` except for trans-spliced genes).
    ``transl_except`` holds ``(genome position of the codon's first base, amino acid)``.
    """

    parts: list[tuple[int, int]]
    strand: int
    locus_tag: str | None = None
    gene: str | None = None
    protein_id: str | None = None
    codon_start: int = 1
    transl_table: int = 11
    translation: str | None = None
    pseudo: bool = False
    partial_5prime: bool = False
    transl_except: list[tuple[int, str]] = field(default_factory=list)
    part_strands: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.part_strands:
            self.part_strands = [self.strand] * len(self.parts)

    @property
    def name(self) -> str:
        """The best identifier available: locus tag, gene, protein id or location."""
        return self.locus_tag or self.gene or self.protein_id or self.location_string()

    def location_string(self) -> str:
        return ",".join(f"{s}-{e}({'+' if st > 0 else '-'})" for (s, e), st in self._parts())

    def _parts(self) -> Iterator[tuple[tuple[int, int], int]]:
        return zip(self.parts, self.part_strands, strict=True)

    def __len__(self) -> int:
        return sum(end - start for start, end in self.parts)

    def genome_position_map(self) -> np.ndarray:
        """Genome coordinate (0-based) of every coding base, in transcription order."""
        pieces = [
            np.arange(s, e, dtype=np.int64) if st > 0 else np.arange(e - 1, s - 1, -1)
            for (s, e), st in self._parts()
        ]
        return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)

    def base_strands(self) -> np.ndarray:
        """The strand (+1/-1) of every coding base, in transcription order."""
        return np.repeat(np.array(self.part_strands, dtype=np.int8), [e - s for s, e in self.parts])

    def coding_codes(self, genome: str | bytes | np.ndarray) -> np.ndarray:
        """The spliced, oriented coding sequence as ASCII codes (uint8)."""
        codes = as_codes(genome)[self.genome_position_map()]
        minus = self.base_strands() < 0
        codes[minus] = COMPLEMENT_TABLE[codes[minus]]
        return codes

    def coding_sequence(self, genome_seq: str) -> str:
        """The spliced coding sequence read on the CDS strand (includes the stop codon)."""
        return "".join(
            genome_seq[s:e] if st > 0 else reverse_complement(genome_seq[s:e])
            for (s, e), st in self._parts()
        )

    @property
    def complete_start(self) -> bool:
        """True when the first codon is a real initiation codon (not 5'-partial, frame 1)."""
        return self.codon_start == 1 and not self.partial_5prime

    def codon_count(self) -> int:
        """Number of complete codons (from ``codon_start``)."""
        return (len(self) - (self.codon_start - 1)) // 3

    def complete_codon_mask(self) -> np.ndarray:
        """Bool per coding base (transcription order): True inside a complete codon, False for
        the bases before ``codon_start`` and a trailing partial codon (no amino acid)."""
        mask = np.zeros(len(self), dtype=bool)
        offset = self.codon_start - 1
        mask[offset : offset + 3 * max(self.codon_count(), 0)] = True
        return mask

    def translate(self, genome_seq: str) -> str:
        """Translate like GenBank ``/translation``: start codon as M, exceptions, no final stop."""
        offset = self.codon_start - 1
        coding = self.coding_sequence(genome_seq)[offset:]
        coding = coding[: len(coding) // 3 * 3]
        protein = list(str(Seq(coding).translate(table=self.transl_table)))
        starts = codon_lookup(self.transl_table).start_codons
        if protein and self.complete_start and coding[:3] in starts:
            protein[0] = "M"
        for index, amino in self.exception_codons():
            if index < len(protein):
                protein[index] = amino
        if protein and protein[-1] == "*":
            protein.pop()
        return "".join(protein)

    def exception_codons(self) -> list[tuple[int, str]]:
        """``/transl_except`` as ``(codon index, amino acid)`` pairs."""
        if not self.transl_except:
            return []
        positions = self.genome_position_map()
        out = []
        for genome_pos, amino in self.transl_except:
            hits = np.flatnonzero(positions == genome_pos)
            if hits.size:
                out.append(((int(hits[0]) - (self.codon_start - 1)) // 3, amino))
        return out


# --------------------------------------------------------------------------------------------
# Coding annotation
# --------------------------------------------------------------------------------------------


class CodingAnnotation:
    """Per-base coding annotation of one sequence, built from its CDS features.

    ``codon_positions`` (int8, 0 = non-coding, else 1/2/3 of the first CDS in file order) and
    ``coverage`` (number of CDS covering each base) are numpy arrays over the whole sequence;
    ``synonymous_mask`` (bool, shape ``(length, 4)``, columns A C G T on the genome strand) is
    computed on first use.
    """

    def __init__(self, sequence: str | bytes | np.ndarray, cds: list[CDS]) -> None:
        self._codes = np.array(as_codes(sequence), dtype=np.uint8)
        self.cds = list(cds)
        self.length = len(self._codes)
        self.codon_positions = np.zeros(self.length, dtype=np.int8)
        self.coverage = np.zeros(self.length, dtype=np.int16)
        for item in reversed(self.cds):  # reversed: the first CDS in file order is written last
            positions, first = np.unique(item.genome_position_map(), return_index=True)
            self.codon_positions[positions] = _phases(item)[first]
            self.coverage[positions] += 1
        self._part_start, self._part_end, self._part_cds = _part_index(self.cds)

    @property
    def coding_mask(self) -> np.ndarray:
        """True where at least one CDS covers the base."""
        return self.coverage > 0

    def _check(self, pos: int) -> int:
        if not 0 <= pos < self.length:
            raise InputError(f"position {pos} is outside the sequence (length {self.length})")
        return int(pos)

    def is_coding(self, pos: int) -> bool:
        return bool(self.coverage[self._check(pos)] > 0)

    def codon_position(self, pos: int) -> int:
        """1, 2 or 3 in the first CDS (file order) covering ``pos``; 0 when non-coding."""
        return int(self.codon_positions[self._check(pos)])

    def cds_at(self, pos: int) -> list[CDS]:
        """Every CDS covering ``pos``, in file order."""
        pos = self._check(pos)
        hit = (self._part_start <= pos) & (pos < self._part_end)
        return [self.cds[i] for i in np.unique(self._part_cds[hit])]

    @cached_property
    def synonymous_mask(self) -> np.ndarray:
        """``(length, 4)`` bool: substituting genome base A/C/G/T at a position is synonymous."""
        mask = np.zeros((self.length, 4), dtype=bool)
        mask[self.coverage > 0] = True
        for item in self.cds:
            positions = item.genome_position_map()
            syn = _synonymous_per_base(item, self._codes)
            if np.unique(positions).size == positions.size:
                mask[positions] &= syn
            else:  # a base read twice (ribosomal slippage): both readings must agree
                np.logical_and.at(mask, positions, syn)
        return mask

    def synonymous_alternatives(self, pos: int) -> set[str]:
        """Genome-strand bases that keep every covering CDS's protein; empty if non-coding."""
        row = self.synonymous_mask[self._check(pos)]
        return {BASES[i] for i in np.flatnonzero(row)}

    def __repr__(self) -> str:
        coding = int((self.coverage > 0).sum())
        return f"CodingAnnotation({self.length} bp, {len(self.cds)} CDS, {coding} coding bases)"


def _phases(item: CDS) -> np.ndarray:
    """Codon position (1..3) of every coding base in transcription order."""
    k = np.arange(len(item), dtype=np.int64)
    return ((k - (item.codon_start - 1)) % 3 + 1).astype(np.int8)


def _part_index(cds: list[CDS]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    starts, ends, owner = [], [], []
    for i, item in enumerate(cds):
        for start, end in item.parts:
            starts.append(start)
            ends.append(end)
            owner.append(i)
    return (
        np.array(starts, dtype=np.int64),
        np.array(ends, dtype=np.int64),
        np.array(owner, dtype=np.int64),
    )


def _synonymous_per_base(item: CDS, genome_codes: np.ndarray) -> np.ndarray:
    """``(len(item), 4)`` bool in transcription order, columns = genome-strand A/C/G/T."""
    n = len(item)
    offset = item.codon_start - 1
    n_codons = max(item.codon_count(), 0)
    out = np.zeros((n, 4), dtype=bool)
    if n_codons == 0:
        return out
    bases = _BASE_INDEX[item.coding_codes(genome_codes)]
    codons = bases[offset : offset + 3 * n_codons].reshape(n_codons, 3).astype(np.int64)
    syn = _synonymous_codons(item, codons)  # (n_codons, 3, 4) in coding-strand bases
    syn = syn.reshape(3 * n_codons, 4)
    minus = item.base_strands()[offset : offset + 3 * n_codons] < 0
    syn[minus] = syn[minus][:, ::-1]  # coding-strand base b is genome-strand base 3 - b
    out[offset : offset + 3 * n_codons] = syn
    return out


def _synonymous_codons(item: CDS, codons: np.ndarray) -> np.ndarray:
    """``(n_codons, 3, 4)``: replacing codon base j by coding-strand base b keeps the amino acid."""
    lookup = codon_lookup(item.transl_table)
    valid = (codons < 4).all(axis=1)
    safe = np.where(valid[:, None], codons, 0)
    weights = np.array([16, 4, 1])
    ref_index = safe @ weights
    ref_amino = _amino(lookup, ref_index, item.complete_start)
    syn = np.zeros((len(codons), 3, 4), dtype=bool)
    for j in range(3):
        for b in range(4):
            alt_index = ref_index + (b - safe[:, j]) * weights[j]
            same = _amino(lookup, alt_index, item.complete_start) == ref_amino
            syn[:, j, b] = same & (safe[:, j] != b)
    syn[~valid] = False
    for index, _amino_acid in item.exception_codons():
        if 0 <= index < len(codons):
            syn[index] = False
    return syn


def _amino(lookup: _CodonLookup, index: np.ndarray, complete_start: bool) -> np.ndarray:
    """Amino acid codes of codon indices; the first codon is M when it is a start codon."""
    amino = lookup.amino[index]
    if complete_start and index.size and lookup.start[index[0]]:
        amino[0] = ord("M")
    return amino
