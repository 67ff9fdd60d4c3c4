"""Per-record statistics of sequence files: length, GC fraction, N fraction, CDS count.

>>> from bioseq.data import example_genome
>>> from bioseq.io.summary import summarize
>>> [record] = summarize(example_genome("lambda"))
>>> record.length, round(record.gc_fraction, 4), record.cds_count
(48502, 0.4986, 73)

GC fraction is G+C over the unambiguous bases (A, C, G, T); N fraction is the share of the
record that is unknown (N for nucleotides, X for proteins). Proteins have no GC fraction.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bioseq.io.alphabet import DNA, Alphabet, InvalidPolicy, as_codes
from bioseq.io.fasta import iter_fasta
from bioseq.io.gff import read_gff
from bioseq.io.inputs import InputFile, open_input

CHUNK = 1 << 23


@dataclass
class RecordSummary:
    file: str
    name: str
    alphabet: str
    length: int
    gc_fraction: float | None
    n_fraction: float
    cds_count: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class _Counter:
    """Accumulates byte counts of normalised sequence, chunk by chunk."""

    def __init__(self) -> None:
        self.counts = np.zeros(256, dtype=np.int64)

    def add(self, codes: np.ndarray) -> None:
        self.counts += np.bincount(codes, minlength=256)

    def summary(self, file: str, name: str, alphabet: Alphabet, cds: int | None) -> RecordSummary:
        c = self.counts
        length = int(c.sum())
        unknown = int(c[ord(alphabet.unknown)])
        gc = None
        if alphabet.is_nucleotide():
            at = int(c[ord("A")] + c[ord("T")] + c[ord("U")])
            gc_count = int(c[ord("G")] + c[ord("C")])
            gc = gc_count / (gc_count + at) if gc_count + at else 0.0
        n_fraction = unknown / length if length else 0.0
        return RecordSummary(file, name, alphabet.name, length, gc, n_fraction, cds)


def _summarize_sequences(
    file: str, records: Iterable[tuple[str, str | np.ndarray, int | None]], alphabet: Alphabet
) -> Iterator[RecordSummary]:
    for name, seq, cds in records:
        counter = _Counter()
        counter.add(as_codes(seq))
        yield counter.summary(file, name, alphabet, cds)


def summarize(
    path: str | Path, alphabet: Alphabet | None = None, invalid: InvalidPolicy = "error"
) -> list[RecordSummary]:
    """Summarise every record of a FASTA, GenBank, GFF3 or alignment file (``-``: stdin FASTA).

    ``invalid="unknown"`` counts characters outside the alphabet as N (or X) instead of failing.
    """
    return list(iter_summaries(path, alphabet, invalid))


def iter_summaries(
    path: str | Path, alphabet: Alphabet | None = None, invalid: InvalidPolicy = "error"
) -> Iterator[RecordSummary]:
    """:func:`summarize` one record at a time."""
    file = str(path)
    if file == "-":
        alphabet = alphabet or DNA
        stream = iter_fasta("-", alphabet=alphabet, invalid=invalid)
        yield from _summarize_sequences(
            file, ((r.name, r.sequence, None) for r in stream), alphabet
        )
        return
    source = open_input(path, alphabet)
    kind = source.format
    if kind == "genbank":
        records = ((r.name, r.sequence, len(r.cds)) for r in source.records(invalid=invalid))
        yield from _summarize_sequences(file, records, DNA)
    elif kind == "gff":
        yield from _summarize_gff(path)
    elif kind == "alignment":
        records = ((r.name, r.sequence, None) for r in source.records(invalid=invalid))
        yield from _summarize_sequences(file, records, source.alphabet)
    else:
        yield from _summarize_fasta(source, invalid)


def _summarize_gff(path: str | Path) -> Iterator[RecordSummary]:
    """GC and N from an embedded ##FASTA section when there is one; else only the length."""
    for record in read_gff(path):
        cds = record.feature_counts.get("CDS", 0)
        if record.sequence is not None:
            yield from _summarize_sequences(str(path), [(record.name, record.sequence, cds)], DNA)
        else:
            yield RecordSummary(
                str(path), record.name, DNA.name, record.length or 0, None, 0.0, cds
            )


def _summarize_fasta(source: InputFile, invalid: InvalidPolicy) -> Iterator[RecordSummary]:
    with source.source(invalid=invalid) as genome:
        for name, length in genome.contigs.items():
            counter = _Counter()
            for start in range(0, length, CHUNK):
                counter.add(genome.fetch_codes(name, start, min(start + CHUNK, length)))
            yield counter.summary(str(source.path), name, source.alphabet, None)
