"""``bioseq embed``: sequence embeddings from a model into a folder of numpy arrays."""

from __future__ import annotations

import click

from bioseq.cli.options import device_option, trust_remote_code_option


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUTS...")
@click.option("--model", required=True, help="Model directory or `bioseq pretrain` run.")
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Output folder: embeddings.npy (or .npz), index.tsv, info.json.",
)
@click.option(
    "--layer",
    type=int,
    default=-1,
    show_default=True,
    help="Hidden state to read: 0 the embeddings, -1 the output, negative from the end.",
)
@click.option(
    "--pool",
    type=click.Choice(["mean", "last", "cls", "none"]),
    default="mean",
    show_default=True,
    help="Mean over letters, the last letter's token, the first (special) token, or "
    "none: one vector per letter (embeddings.npz).",
)
@click.option("--rc-average", is_flag=True, help="DNA: average the embeddings of both strands.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Windows per forward pass.",
)
@click.option(
    "--window",
    type=click.IntRange(min=0),
    default=None,
    help="Read longer sequences in windows of W letters (default: the model's "
    "training context; 0: whole sequences).",
)
@click.option(
    "--stride",
    type=click.IntRange(min=1),
    default=None,
    help="Letters between window starts (default: --window; at most --window).",
)
@click.option(
    "--sequence-col",
    default="sequence",
    show_default=True,
    help="Sequence column of CSV/TSV inputs.",
)
@device_option
@trust_remote_code_option
@click.option("--overwrite", is_flag=True, help="Replace a non-empty --out folder.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def embed(
    inputs: tuple[str, ...],
    model: str,
    out: str,
    layer: int,
    pool: str,
    rc_average: bool,
    batch_size: int,
    window: int | None,
    stride: int | None,
    sequence_col: str,
    device: str | None,
    trust_remote_code: bool,
    overwrite: bool,
    progress: bool,
) -> None:
    """Embed every sequence of INPUTS (FASTA, GenBank, a2m/a3m alignments without their gaps,
    CSV/TSV tables) with a model's hidden states.

    Writes OUT/embeddings.npy, (n, d) float32 with one row per record in input order
    (--pool none: OUT/embeddings.npz, one (length, d) array per record keyed "0", "1"...),
    OUT/index.tsv (row, name, length, windows) and OUT/info.json. Special tokens are left
    out of every pooling; an RC-equivariant Caduceus gives strand-invariant features.

    \b
    Examples:
        bioseq embed --model runs/demo genes.fa --out emb/genes --rc-average
        bioseq embed --model runs/p family.a2m --pool last --layer -2 --out emb/fam
    \b
        import numpy as np, pandas as pd
        x = np.load("emb/genes/embeddings.npy")
        names = pd.read_csv("emb/genes/index.tsv", sep="\\t")["name"]
    """
    from bioseq.tasks.adapt.embed import embed_files

    result = embed_files(
        model,
        inputs,
        out,
        layer=layer,
        pool=pool,
        rc_average=rc_average,
        batch_size=batch_size,
        window=window,
        stride=stride,
        sequence_col=sequence_col,
        device=device,
        trust_remote_code=trust_remote_code,
        overwrite=overwrite,
        progress=progress,
    )
    windows = f"windows of {result.window:,} letters" if result.window else "whole sequences"
    strands = ", both strands" if rc_average else ""
    plural = "s" if result.n != 1 else ""
    click.echo(
        f"embedded {result.n:,} sequence{plural} ({result.letters:,} letters; {windows}) "
        f"with {model} layer {result.layer} of 0..{result.n_states - 1}, {pool} pooling"
        f"{strands}, d={result.dim} in {result.seconds:.1f} s ({result.per_second:,.1f} "
        f"sequences/s); wrote {out}/{', '.join(result.files)}",
        err=True,
    )
