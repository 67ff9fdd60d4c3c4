"""``bioseq info``: what is in a sequence file."""

from __future__ import annotations

import json

import click

from bioseq.data import default_genome
from bioseq.io.alphabet import get_alphabet
from bioseq.io.summary import iter_summaries


def _fraction(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if value == 0 or value >= 1e-4 else f"{value:.1e}"


@click.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per record, one per line.")
@click.option(
    "--alphabet",
    type=click.Choice(["auto", "dna", "rna", "protein"]),
    default="auto",
    show_default=True,
    help="Alphabet of FASTA input; auto guesses from the first lines.",
)
@click.option(
    "--invalid",
    type=click.Choice(["error", "N"]),
    default="error",
    show_default=True,
    help="What to do with characters outside the alphabet: stop, or count them as N (X).",
)
def info(paths: tuple[str, ...], as_json: bool, alphabet: str, invalid: str) -> None:
    """Length, GC fraction and N fraction of every record in FASTA, GenBank, GFF3 (with its
    ##FASTA section) or alignment files.

    PATHS may be plain, gzip or bgzip files; '-' reads FASTA from standard input. With no
    PATHS, describes the bundled default genome (E. coli K-12 MG1655).

    \b
    Example:
        bioseq info genome.fa.gz proteins.a2m --json
    """
    paths = paths or (str(default_genome()),)
    chosen = None if alphabet == "auto" else get_alphabet(alphabet)
    if not as_json:
        click.echo("file\trecord\talphabet\tlength\tgc_fraction\tn_fraction\tcds")
    for path in paths:
        for record in iter_summaries(path, chosen, "unknown" if invalid == "N" else "error"):
            if as_json:
                click.echo(json.dumps(record.to_dict()))
            else:
                cds = "-" if record.cds_count is None else str(record.cds_count)
                click.echo(
                    f"{record.file}\t{record.name}\t{record.alphabet}\t{record.length}\t"
                    f"{_fraction(record.gc_fraction)}\t{_fraction(record.n_fraction)}\t{cds}"
                )
