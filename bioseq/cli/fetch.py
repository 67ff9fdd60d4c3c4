"""``bioseq fetch``: regions of a genome as FASTA, like ``samtools faidx``."""

from __future__ import annotations

import re

import click

from bioseq.errors import InputError
from bioseq.io.inputs import open_genome

REGION = re.compile(r"^(?P<contig>.+?)(?::(?P<start>[\d,]+)-(?P<end>[\d,]+))?$")


def parse_region(text: str) -> tuple[str, int | None, int | None]:
    """``chr1:101-200`` (1-based, inclusive, as samtools) -> ``("chr1", 100, 200)``."""
    match = REGION.match(text)
    if not match:
        raise InputError(f"region {text!r}: expected CONTIG or CONTIG:START-END")
    if match["start"] is None:
        return match["contig"], None, None
    start, end = int(match["start"].replace(",", "")), int(match["end"].replace(",", ""))
    if start < 1 or end < start:
        raise InputError(f"region {text!r}: START must be >= 1 and END >= START (1-based)")
    return match["contig"], start - 1, end


@click.command()
@click.argument("genome", type=click.Path())
@click.argument("regions", nargs=-1, required=True)
@click.option("--strand", type=click.Choice(["+", "-"]), default="+", show_default=True)
@click.option(
    "--width", type=int, default=60, show_default=True, help="Bases per line (0: one line)."
)
@click.option(
    "--invalid",
    type=click.Choice(["error", "N"]),
    default="error",
    show_default=True,
    help="Characters outside the DNA alphabet: stop, or read them as N.",
)
def fetch(genome: str, regions: tuple[str, ...], strand: str, width: int, invalid: str) -> None:
    """Print REGIONS (CONTIG or CONTIG:START-END, 1-based inclusive) of GENOME as FASTA.

    \b
    Example:
        bioseq fetch genome.fa.gz chr1:1,000,001-1,000,100 --strand -
    """
    if width < 0:
        raise InputError(f"--width {width}: expected bases per line (1 or more), or 0 for the "
                         "whole region on one line")  # fmt: skip
    source = open_genome(genome, invalid="unknown" if invalid == "N" else "error")
    spans = [(region, *_checked(source, genome, region)) for region in regions]
    for region, contig, start, end in spans:  # every region checked before any is printed
        seq = source.fetch(contig, start, end, strand=strand)
        click.echo(f">{region}{'(-)' if strand == '-' else ''}")
        step = width or max(len(seq), 1)
        for i in range(0, len(seq), step):
            click.echo(seq[i : i + step])


def _checked(source, genome: str, region: str) -> tuple[str, int, int | None]:
    """``(contig, start, end)`` of a region that lies inside the genome."""
    contig, start, end = parse_region(region)
    length = source.contigs.get(contig)
    if length is None:
        names = list(source.contigs)
        more = f", ... ({len(names):,} in all)" if len(names) > 5 else ""
        raise InputError(f"{genome}: no contig named {contig!r} (contigs: "
                         f"{', '.join(names[:5])}{more})")  # fmt: skip
    if end is not None and end > length:
        raise InputError(
            f"{genome}: region {region} extends past the end of {contig} (length {length:,})"
        )
    return contig, start or 0, end
