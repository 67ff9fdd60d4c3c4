"""Every possible SNV of chosen GenBank CDS, as a VCF annotated with its coding effect.

Each base of a complete codon gets its three alternative bases, with INFO ``BIOSEQ_CDS`` (the
CDS name), ``BIOSEQ_CODON_POS`` (1, 2 or 3 in that CDS) and ``BIOSEQ_EFFECT`` (``synonymous``
when the substitution keeps the protein of every CDS covering the base, as
:meth:`~bioseq.io.coding.CodingAnnotation.synonymous_alternatives` says, else
``nonsynonymous``). A base covered by two chosen CDS is written once, for the first in file
order whose codon there is complete. Bases of partial codons (before
``codon_start``, or a trailing incomplete codon of a CDS whose length is not a multiple of 3)
encode no amino acid: they get no SNVs (:func:`partial_codon_bases` counts them).
``bioseq score-vcf`` keeps these fields, and reports the codon-position means and the
synonymous-vs-nonsynonymous AUROC of its scores when it sees them.

>>> from bioseq.data import example_genome
>>> from bioseq.io import read_genbank
>>> record = read_genbank(example_genome("lambda"))[0]
>>> (_, [nu1]), = select_cds([record], ["nu1"])
>>> snvs = coding_snvs(record, [nu1])
>>> len(snvs) == 3 * len(nu1)
True
>>> snv = snvs[3]
>>> snv.pos, snv.ref, snv.alt, snv.cds, snv.codon_position, snv.synonymous
(192, 'T', 'A', 'lambdap01', 2, False)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from bioseq.errors import InputError
from bioseq.io.coding import CDS
from bioseq.io.genbank import GenBankRecord, read_genbank
from bioseq.io.outputs import atomic_output, check_output

BASES = "ACGT"
INFO_FIELDS = {
    "BIOSEQ_CDS": ("1", "String", "CDS the SNV lies in (locus tag, gene or protein id)"),
    "BIOSEQ_CODON_POS": ("1", "Integer", "Codon position (1, 2 or 3) of the base in that CDS"),
    "BIOSEQ_EFFECT": ("1", "String", "synonymous or nonsynonymous (in every covering CDS)"),
}


@dataclass(frozen=True)
class CodingSnv:
    """One SNV of a coding base (1-based ``pos``, genome-strand ``ref``/``alt``)."""

    contig: str
    pos: int
    ref: str
    alt: str
    cds: str
    codon_position: int
    synonymous: bool


def _names(cds: CDS) -> set[str]:
    return {n for n in (cds.locus_tag, cds.gene, cds.protein_id, cds.name) if n}


def select_cds(
    records: Sequence[GenBankRecord],
    names: Sequence[str] | None = None,
    region: tuple[str, int, int] | None = None,
    limit: int | None = None,
) -> list[tuple[GenBankRecord, list[CDS]]]:
    """The CDS called ``names`` (locus tag, gene or protein id), or all CDS when None; only
    those wholly inside ``region`` (contig, 0-based start, end) when given; the first ``limit``.

    >>> from bioseq.data import example_genome
    >>> records = read_genbank(example_genome("lambda"))
    >>> [c.name for _, cds in select_cds(records, region=("NC_001416.1", 0, 2000)) for c in cds]
    ['lambdap01']
    """
    wanted = None if names is None else set(names)
    chosen = [
        (r, [c for c in r.cds if (wanted is None or _names(c) & wanted) and _inside(r, c, region)])
        for r in records
    ]
    if limit is not None:
        kept, left = [], limit
        for record, cds in chosen:
            kept.append((record, cds[: max(left, 0)]))
            left -= len(kept[-1][1])
        chosen = kept
    if wanted is not None:
        found = set().union(*(_names(c) for _, cds in chosen for c in cds))
        missing = sorted(wanted - found)
        if missing:
            examples = ", ".join(c.name for r in records for c in r.cds[:5])
            raise InputError(
                f"no CDS named {', '.join(missing)} (CDS are named by locus tag, "
                f"gene or protein id, e.g. {examples})"
            )
    return [(r, cds) for r, cds in chosen if cds]


def _inside(record: GenBankRecord, cds: CDS, region: tuple[str, int, int] | None) -> bool:
    if region is None:
        return True
    contig, start, end = region
    return record.name == contig and all(start <= s and e <= end for s, e in cds.parts)


def coding_snvs(record: GenBankRecord, cds: Sequence[CDS]) -> list[CodingSnv]:
    """All SNVs of the coding bases of ``cds`` in ``record``, sorted by position and base."""
    annotation = record.annotation
    seen: dict[int, tuple[str, int]] = {}
    for item in cds:
        complete = item.complete_codon_mask()
        positions = item.genome_position_map()[complete]
        phases = ((np.arange(len(item)) - (item.codon_start - 1)) % 3 + 1)[complete]
        for pos, phase in zip(positions.tolist(), phases.tolist(), strict=True):
            seen.setdefault(pos, (item.name, phase))
    out = []
    for pos in sorted(seen):
        ref = record.sequence[pos]
        if ref not in BASES:
            continue
        name, phase = seen[pos]
        synonymous = annotation.synonymous_mask[pos]
        out.extend(
            CodingSnv(record.name, pos + 1, ref, alt, name, phase, bool(synonymous[i]))
            for i, alt in enumerate(BASES)
            if alt != ref
        )
    return out


def partial_codon_bases(cds: Sequence[CDS]) -> int:
    """Genome bases of ``cds`` that lie only in partial codons (so get no SNV)."""
    complete: set[int] = set()
    partial: set[int] = set()
    for item in cds:
        positions, mask = item.genome_position_map(), item.complete_codon_mask()
        complete.update(positions[mask].tolist())
        partial.update(positions[~mask].tolist())
    return len(partial - complete)


def write_snv_vcf(
    records: Sequence[GenBankRecord],
    snvs: Sequence[CodingSnv],
    out: str | os.PathLike,
    source: str = "",
) -> None:
    """Write ``snvs`` as a VCF (``.gz``: bgzipped and tabix-indexed), replacing ``out`` (and its
    index) only once complete."""
    out = Path(out)
    header = pysam.VariantHeader()
    header.add_line("##source=bioseq make-snv-vcf")
    if source:
        header.add_line(f"##reference={source}")
    for record in records:
        header.contigs.add(record.name, length=len(record))
    for key, (number, kind, description) in INFO_FIELDS.items():
        header.info.add(key, number, kind, description)
    gz = out.name.lower().endswith((".gz", ".bgz"))
    with atomic_output(out, companions=(".tbi",)) as tmp:
        with pysam.VariantFile(str(tmp), "wz" if gz else "w", header=header) as handle:
            for snv in snvs:
                handle.write(
                    handle.new_record(
                        contig=snv.contig,
                        start=snv.pos - 1,
                        alleles=(snv.ref, snv.alt),
                        info={
                            "BIOSEQ_CDS": snv.cds,
                            "BIOSEQ_CODON_POS": snv.codon_position,
                            "BIOSEQ_EFFECT": "synonymous" if snv.synonymous else "nonsynonymous",
                        },
                    )
                )
        if gz:
            pysam.tabix_index(str(tmp), preset="vcf", force=True)


@dataclass
class SnvVcf:
    """What :func:`make_snv_vcf` wrote: the SNVs, and the bases of partial codons left out."""

    snvs: list[CodingSnv]
    partial_bases: int

    @property
    def n_cds(self) -> int:
        return len({s.cds for s in self.snvs})


def make_snv_vcf(
    genbank: str | os.PathLike,
    out: str | os.PathLike,
    cds_names: Sequence[str] | None = None,
    region: tuple[str, int, int] | None = None,
    limit: int | None = None,
) -> SnvVcf:
    """Every SNV of the chosen CDS (see :func:`select_cds`) of a GenBank file, written to
    ``out``. InputError, and ``out`` left as it was, when there is none."""
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit}: expected a number of CDS, at least 1")
    check_output(out)
    records = read_genbank(genbank)
    chosen = select_cds(records, cds_names, region, limit)
    snvs = [snv for record, cds in chosen for snv in coding_snvs(record, cds)]
    if not snvs:
        where = None if region is None else f"{region[0]}:{region[1] + 1}-{region[2]}"
        why = f"no CDS lies wholly inside --region {where}" if where else "no CDS to mutate"
        raise InputError(f"{genbank}: {why} ({out} not written)")
    write_snv_vcf(records, snvs, out, source=str(genbank))
    return SnvVcf(snvs, partial_codon_bases([c for _, cds in chosen for c in cds]))
