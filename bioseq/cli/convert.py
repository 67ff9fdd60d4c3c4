"""``bioseq convert``: existing checkpoints into bioseq model directories."""

from __future__ import annotations

import click


@click.command()
@click.argument("source", type=click.Path(exists=True))
@click.argument("destination", type=click.Path(file_okay=False))
@click.option("--overwrite", is_flag=True, help="Replace an existing, non-empty DESTINATION.")
@click.option(
    "--config",
    "config",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Evo 2 only: the model's YAML config from the evo2 package (default: the one "
    "*.yml beside the checkpoint).",
)
def convert(source: str, destination: str, overwrite: bool, config: str | None) -> None:
    """Convert a mamba-ssm MambaLMHeadModel, HyenaDNA, Caduceus or Evo 2 checkpoint.

    SOURCE is a model directory, or for Evo 2 a folder holding the checkpoint (*.pt, or byte
    shards *.pt.part0..N) and its YAML config, or the *.pt file itself with --config.

    The result loads with AutoModelForCausalLM.from_pretrained after `import bioseq.models`
    (Caduceus, a masked LM: AutoModelForMaskedLM). A Caduceus release folder (config.json
    with model_type "caduceus") gets the 12-token Caduceus tokenizer; its remote code is
    never run.

    \b
    Example:
        bioseq convert hyenadna-tiny-1k-seqlen-hf models/hyenadna-tiny
        bioseq convert caduceus-ps_seqlen-131k_d_model-256_n_layer-16 models/caduceus-ps
        bioseq convert evo2_1b_base.pt models/evo2-1b --config evo2-1b-8k.yml
    """
    from bioseq.models.convert import convert_checkpoint  # torch: only when a command runs

    out = convert_checkpoint(source, destination, overwrite, config=config)
    click.echo(f"wrote {out}")
