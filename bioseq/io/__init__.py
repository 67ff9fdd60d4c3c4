"""Sequence input: alphabets, FASTA/GenBank/GFF3/alignment readers, and datasets.

>>> from bioseq.io import Genome, read_genbank
>>> from bioseq.data import default_genome
>>> with Genome(default_genome()) as genome:
...     genome.fetch("NC_000913.3", 0, 12)
'AGCTTTTCATTC'
"""

from bioseq.io.alphabet import DNA, PROTEIN, RNA, Alphabet, complement, reverse_complement
from bioseq.io.datasets import GenomeWindows, LengthBucketSampler, SequenceRecords
from bioseq.io.fasta import FastaRecord, Genome, iter_fasta
from bioseq.io.formats import detect_format, open_genome
from bioseq.io.genbank import CDS, CodingAnnotation, GenBankGenome, GenBankRecord, read_genbank
from bioseq.io.gff import read_gff
from bioseq.io.proteins import Alignment, read_alignment, read_protein_fasta
from bioseq.io.source import InMemoryGenome, SequenceSource
from bioseq.io.summary import summarize

__all__ = [
    "DNA", "RNA", "PROTEIN", "Alphabet", "complement", "reverse_complement",
    "Genome", "FastaRecord", "iter_fasta", "GenBankGenome", "GenBankRecord", "CDS",
    "CodingAnnotation", "read_genbank", "read_gff", "Alignment", "read_alignment",
    "read_protein_fasta", "InMemoryGenome", "SequenceSource", "GenomeWindows",
    "SequenceRecords", "LengthBucketSampler", "detect_format", "open_genome", "summarize",
]  # fmt: skip
