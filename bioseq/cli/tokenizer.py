"""``bioseq tokenizer``: train a BPE (or save a k-mer) tokenizer and report its compression."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from bioseq.errors import InputError

REPORT_COLUMNS = ("file", "bases", "tokens", "bases_per_token")
REPORT_FILE = "compression.tsv"


def _inputs(inputs: tuple[str, ...]) -> list[Path]:
    from bioseq.data import default_genome

    return [Path(p) for p in inputs] if inputs else [default_genome()]


def _report_lines(report: list[dict[str, Any]]) -> list[str]:
    rows = [[str(row[c]) for c in REPORT_COLUMNS] for row in report]
    return ["\t".join(row) for row in [list(REPORT_COLUMNS), *rows]]


def _echo_report(report: list[dict[str, Any]], out: Path | None = None) -> None:
    lines = _report_lines(report)
    click.echo("\n".join(lines))
    if out is not None:
        (out / REPORT_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


@click.group()
def tokenizer() -> None:
    """Train tokenizers (BPE, k-mer) and measure their compression in bases per token."""


@tokenizer.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--type", "kind", type=click.Choice(["bpe", "kmer"]), default="bpe")
@click.option("--vocab-size", type=int, default=4096,
              help="BPE vocabulary, special tokens included.")  # fmt: skip
@click.option("--k", type=int, default=6, help="k-mer length (--type kmer).")
@click.option("--max-token-length", type=int, default=16, help="Longest BPE token, in bases.")
@click.option("--min-frequency", type=int, default=2, help="Fewest occurrences of a BPE merge.")
@click.option("--chunk-length", type=int, default=None,
              help="Bases per BPE chunk, trained and encoded alone [default: 4096]")  # fmt: skip
@click.option("--alphabet", type=click.Choice(["auto", "dna", "protein"]), default="auto")
@click.option("--out", "-o", type=click.Path(), required=True, help="Directory to write.")
@click.option("--overwrite", is_flag=True, help="Replace an existing, non-empty --out.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def train(inputs: tuple[str, ...], kind: str, vocab_size: int, k: int, max_token_length: int,
          min_frequency: int, chunk_length: int | None, alphabet: str, out: str,
          overwrite: bool, quiet: bool) -> None:  # fmt: skip
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
    from bioseq.io.outputs import atomic_directory, check_output_dir
    from bioseq.tokenizers import KmerTokenizer, compression_report, train_bpe
    from bioseq.tokenizers.bpe import DEFAULT_CHUNK_LENGTH

    paths = _inputs(inputs)
    target = check_output_dir(out, overwrite)  # before training
    start = time.perf_counter()
    if kind == "kmer":
        if alphabet == "protein":
            raise InputError("--type kmer tokenizes DNA; use --type bpe for proteins")
        tok = KmerTokenizer(k=k)
    else:
        tok = train_bpe(
            paths, vocab_size=vocab_size, alphabet=alphabet, max_token_length=max_token_length,
            chunk_length=chunk_length or DEFAULT_CHUNK_LENGTH, min_frequency=min_frequency,
            progress=not quiet,
        )  # fmt: skip
    with atomic_directory(target, overwrite=overwrite) as tmp:
        tok.save_pretrained(str(tmp))
        _echo_report(compression_report(tok, paths, progress=not quiet), tmp)
    if not quiet:
        took = time.perf_counter() - start
        click.echo(f"saved {type(tok).__name__} ({len(tok)} tokens) to {target} in {took:.1f} s",
                   err=True)  # fmt: skip


@tokenizer.command()
@click.argument("tokenizer_dir", metavar="TOKENIZER")
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--window", type=int,
              help="Learned merging: bases per window [default: the training context]")  # fmt: skip
def report(tokenizer_dir: str, inputs: tuple[str, ...], window: int | None) -> None:
    """Print the bases per token of TOKENIZER (a saved directory, a name such as kmer:6, or a
    `pretrain --model merge` run, whose learned tokens are counted) on each of INPUTS
    (default: the bundled E. coli genome).

    \b
    Examples:
        bioseq tokenizer report tok/bpe4k genome.fa.gz proteins.a2m
        bioseq tokenizer report runs/m genome.fa.gz
    """
    from bioseq.tokenizers import compression_report, load_tokenizer

    merge_model = _merge_model(tokenizer_dir)
    if merge_model is not None:
        _echo_report(merge_model.compression_report(_inputs(inputs), window=window))
        return
    _echo_report(compression_report(load_tokenizer(tokenizer_dir), _inputs(inputs)))


def _merge_model(path: str):
    """The MergeLM saved in a run or model directory, or None if ``path`` holds none."""
    from bioseq.models.hub import load_model, model_type, resolve_model_dir

    if not Path(path).is_dir():
        return None  # a name such as kmer:6
    try:
        model_dir = resolve_model_dir(path)
    except InputError:
        return None  # a saved tokenizer, not a model
    if not (model_dir / "config.json").is_file() or model_type(model_dir) != "bioseq-merge":
        return None
    return load_model(model_dir, "cpu").model
