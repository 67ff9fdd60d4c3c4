"""``bioseq fetch``: regions of a genome as FASTA, like ``samtools faidx``
(:func:`bioseq.io.regions.fetch_regions`)."""

from __future__ import annotations

import click

from bioseq.errors import InputError
from bioseq.io.regions import fetch_regions


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
        raise InputError(
            f"--width {width}: expected bases per line (1 or more), or 0 for the "
            "whole region on one line"
        )
    for name, seq in fetch_regions(genome, regions, strand, invalid):
        click.echo(f">{name}")
        step = width or max(len(seq), 1)
        for i in range(0, len(seq), step):
            click.echo(seq[i : i + step])
