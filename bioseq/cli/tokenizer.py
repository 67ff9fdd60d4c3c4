"""``bioseq tokenizer``: train a BPE (or save a k-mer) tokenizer and report its compression
(:func:`bioseq.tokenizers.training.save_tokenizer`,
:func:`bioseq.models.compression.token_compression`)."""

from __future__ import annotations

import click


@click.group()
def tokenizer() -> None:
    """Train tokenizers (BPE, k-mer) and measure their compression in bases per token."""


@tokenizer.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--type", "kind", type=click.Choice(["bpe", "kmer"]), default="bpe")
@click.option(
    "--vocab-size", type=int, default=4096, help="BPE vocabulary, special tokens included."
)
@click.option("--k", type=int, default=6, help="k-mer length (--type kmer).")
@click.option("--max-token-length", type=int, default=16, help="Longest BPE token, in bases.")
@click.option("--min-frequency", type=int, default=2, help="Fewest occurrences of a BPE merge.")
@click.option(
    "--chunk-length",
    type=int,
    default=None,
    help="Bases per BPE chunk, trained and encoded alone [default: 4096]",
)
@click.option("--alphabet", type=click.Choice(["auto", "dna", "protein"]), default="auto")
@click.option("--out", "-o", type=click.Path(), required=True, help="Directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing, non-empty --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train(
    inputs: tuple[str, ...],
    kind: str,
    vocab_size: int,
    k: int,
    max_token_length: int,
    min_frequency: int,
    chunk_length: int | None,
    alphabet: str,
    out: str,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Train a BPE tokenizer on INPUTS (FASTA, GenBank, protein FASTA or a2m/a3m files, or
    folders of them), or save a k-mer tokenizer, into OUT; then print the bases per token on
    each input and write them to OUT/compression.tsv. With no INPUTS, uses the bundled E. coli
    genome. OUT works as `bioseq pretrain --tokenizer OUT`. An existing OUT is replaced only
    with --overwrite, and only once the new tokenizer is complete.

    \b
    Examples:
        bioseq tokenizer train --out tok/bpe4k
        bioseq tokenizer train genome.fa.gz --vocab-size 8192 --max-token-length 12 --out tok/g
        bioseq tokenizer train --type kmer --k 6 --out tok/kmer6
    """
    from bioseq.tokenizers.training import report_table, save_tokenizer

    saved = save_tokenizer(
        inputs,
        out,
        kind=kind,
        vocab_size=vocab_size,
        k=k,
        max_token_length=max_token_length,
        min_frequency=min_frequency,
        chunk_length=chunk_length,
        alphabet=alphabet,
        overwrite=overwrite,
        progress=not quiet,
    )
    click.echo(report_table(saved.report))
    if not quiet:
        click.echo(
            f"saved {type(saved.tokenizer).__name__} ({len(saved.tokenizer)} tokens) to "
            f"{saved.path} in {saved.seconds:.1f} s",
            err=True,
        )


@tokenizer.command()
@click.argument("tokenizer_dir", metavar="TOKENIZER")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option(
    "--window", type=int, help="Learned merging: bases per window [default: the training context]"
)
def report(tokenizer_dir: str, inputs: tuple[str, ...], window: int | None) -> None:
    """Print the bases per token of TOKENIZER (a saved directory, a name such as kmer:6, or a
    `pretrain --model merge` run, whose learned tokens are counted) on each of INPUTS
    (default: the bundled E. coli genome).

    \b
    Examples:
        bioseq tokenizer report tok/bpe4k genome.fa.gz proteins.a2m
        bioseq tokenizer report runs/m genome.fa.gz
    """
    from bioseq.models.compression import token_compression
    from bioseq.tokenizers.training import input_paths, report_table

    click.echo(report_table(token_compression(tokenizer_dir, input_paths(inputs), window)))
