"""``bioseq convert``: existing checkpoints into bioseq model directories."""

from __future__ import annotations

import click

from bioseq.models.convert import convert_checkpoint


@click.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False))
@click.argument("destination", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing, non-empty DESTINATION.")
def convert(source: str, destination: str, overwrite: bool) -> None:
    """Convert a mamba-ssm MambaLMHeadModel or HyenaDNA checkpoint directory.

    The result loads with AutoModelForCausalLM.from_pretrained after `import bioseq`.

    \b
    Example:
        bioseq convert hyenadna-tiny-1k-seqlen-hf models/hyenadna-tiny
    """
    out = convert_checkpoint(source, destination, overwrite)
    click.echo(f"wrote {out}")
