"""Genome regions as samtools writes them (``chr1:1,001-2,000``: 1-based, inclusive), checked
against a genome and fetched: what ``bioseq fetch`` prints.

>>> parse_region("chr1:101-200"), parse_region("chrM")
(('chr1', 100, 200), ('chrM', None, None))
>>> from bioseq.data import example_genome
>>> [(name, len(seq)) for name, seq in fetch_regions(example_genome("lambda"),
...                                                   ["NC_001416.1:1-10"], strand="-")]
[('NC_001416.1:1-10(-)', 10)]
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence

from bioseq.errors import InputError
from bioseq.io.inputs import open_genome

REGION = re.compile(r"^(?P<contig>.+?)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")


def parse_region(text: str) -> tuple[str, int | None, int | None]:
    """``chr1:101-200`` (1-based, inclusive, as samtools) -> ``("chr1", 100, 200)``; a bare
    contig name -> ``(name, None, None)``."""
    match = REGION.match(text)
    if not match:
        raise InputError(f"region {text!r}: expected CONTIG or CONTIG:START-END")
    if match["start"] is None:
        return match["contig"], None, None
    start, end = int(match["start"].replace(",", "")), int(match["end"].replace(",", ""))
    if start < 1 or end < start:
        raise InputError(f"region {text!r}: START must be >= 1 and END >= START (1-based)")
    return match["contig"], start - 1, end


def check_region(contigs: dict[str, int], region: str, genome: str = "genome"):
    """``(contig, 0-based start, end or None)`` of ``region``, which must lie inside the
    genome whose contig lengths are ``contigs`` (InputError naming ``genome`` otherwise)."""
    contig, start, end = parse_region(region)
    length = contigs.get(contig)
    if length is None:
        names = list(contigs)
        more = f", ... ({len(names):,} in all)" if len(names) > 5 else ""
        raise InputError(
            f"{genome}: no contig named {contig!r} (contigs: {', '.join(names[:5])}{more})"
        )
    if end is not None and end > length:
        raise InputError(
            f"{genome}: region {region} extends past the end of {contig} (length {length:,})"
        )
    return contig, start or 0, end


def fetch_regions(
    genome: str | os.PathLike, regions: Sequence[str], strand: str = "+", invalid: str = "error"
) -> Iterator[tuple[str, str]]:
    """``(name, sequence)`` of each region of ``genome`` (FASTA or GenBank; ``strand="-"``:
    the reverse complement, named ``REGION(-)``), read one at a time. Every region is checked
    here, before any is read; ``invalid="N"`` reads characters outside the DNA alphabet as N."""
    source = open_genome(genome, invalid="unknown" if invalid == "N" else "error")
    spans = [(region, *check_region(source.contigs, region, str(genome))) for region in regions]
    suffix = "(-)" if strand == "-" else ""

    def read() -> Iterator[tuple[str, str]]:
        for region, contig, start, end in spans:
            yield f"{region}{suffix}", source.fetch(contig, start, end, strand=strand)

    return read()
