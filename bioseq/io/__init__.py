"""Sequence input: one entrance (:func:`open_input`), alphabets, FASTA/GenBank/GFF3/alignment
readers, and datasets.

>>> from bioseq.io import Genome, open_input
>>> from bioseq.data import default_genome
>>> with Genome(default_genome()) as genome:
...     genome.fetch("NC_000913.3", 0, 12)
'AGCTTTTCATTC'
>>> source = open_input(default_genome())
>>> source.format, source.compression, source.alphabet.name
('fasta', 'bgzf', 'DNA')

Every name is imported on first use, so ``import bioseq.io`` stays light: no torch, numba or
Biopython until a dataset or a reader that needs them is touched.
"""

from __future__ import annotations

from bioseq.lazy import lazy_exports

# name -> the module that defines it
_EXPORTS = {
    "DNA": "alphabet", "RNA": "alphabet", "PROTEIN": "alphabet", "Alphabet": "alphabet",
    "complement": "alphabet", "reverse_complement": "alphabet",
    "InputFile": "inputs", "open_input": "inputs", "detect_format": "inputs",
    "open_genome": "inputs", "Genome": "genome", "FastaRecord": "fasta", "iter_fasta": "fasta",
    "GenBankGenome": "genbank", "GenBankRecord": "genbank", "read_genbank": "genbank",
    "CDS": "coding", "CodingAnnotation": "coding", "read_gff": "gff", "Alignment": "proteins",
    "read_alignment": "proteins", "read_protein_fasta": "proteins",
    "InMemoryGenome": "source", "SequenceSource": "source", "summarize": "summary",
    "GenomeWindows": "windows", "SequenceRecords": "records",
    "LengthBucketSampler": "records", "pad_collate": "records",
}  # fmt: skip

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
