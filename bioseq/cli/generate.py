"""``bioseq generate``: sample sequences from a causal LM into a FASTA file."""

from __future__ import annotations

import click

from bioseq.cli.options import device_option, threads_option, trust_remote_code_option


@click.command()
@click.option("--model", required=True, help="Model directory or `bioseq pretrain` run.")
@click.option("--prompt", default=None, metavar="SEQ", help="Continue this sequence.")
@click.option(
    "--prompt-fasta",
    default=None,
    metavar="FILE",
    help="Continue each record of this FASTA (--n samples per record).",
)
@click.option(
    "--n", "n", type=click.IntRange(min=1), default=1, show_default=True, help="Samples per prompt."
)
@click.option(
    "--length",
    type=click.IntRange(min=1),
    required=True,
    help="Tokens generated per sample (bases, for single-base tokenizers).",
)
@click.option(
    "--temperature",
    type=click.FloatRange(min=0),
    default=1.0,
    show_default=True,
    help="Softmax temperature (0: greedy, always the likeliest token).",
)
@click.option(
    "--top-k",
    type=click.IntRange(min=0),
    default=None,
    help="Draw only from the K likeliest tokens (0: off).",
)
@click.option(
    "--top-p",
    type=click.FloatRange(min=0, max=1, min_open=True),
    default=None,
    help="Draw only from the likeliest tokens whose probabilities sum to P.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Sample k (counting across prompts) is drawn with seed SEED + k.",
)
@click.option(
    "--stop-at-end",
    is_flag=True,
    help="Let the end token be drawn; it ends that sample (default: every sample "
    "is --length tokens).",
)
@click.option(
    "--letters",
    default=None,
    help="Letters a drawn token may hold (default: the alphabet's, e.g. ACGT for DNA, "
    "the 20 amino acids for proteins; e.g. ACGTN to allow N).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Samples of one prompt generated together.",
)
@device_option
@threads_option
@trust_remote_code_option
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--out", required=True, help="Output FASTA.")
def generate(
    model: str,
    prompt: str | None,
    prompt_fasta: str | None,
    n: int,
    length: int,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    seed: int,
    stop_at_end: bool,
    letters: str | None,
    batch_size: int,
    device: str | None,
    threads: int | None,
    trust_remote_code: bool,
    progress: bool,
    out: str,
) -> None:
    """Sample sequences from a causal LM (Mamba, Transformer, StripedHyena, Hyena or a Hugging
    Face causal LM). Mamba and StripedHyena carry a recurrent state and Transformers a key/value
    cache, so each token costs one step; Hyena keeps no cache and re-reads the sequence (its
    last max_seq_len tokens) for every token.

    Only the alphabet's letters are drawn (A/C/G/T for DNA: not N or special tokens; see
    --letters). With no prompt, generation starts from the beginning token of a model trained
    with one (protein records); a genome model needs --prompt or --prompt-fasta. Headers name
    the prompt, the sample index and its seed; samples hold the generated letters only.

    \b
    Examples:
        bioseq generate --model runs/demo --prompt ATGACCATG --n 100 --length 2000 --out s.fa
        bioseq generate --model runs/p --n 10 --length 300 --top-p 0.95 --stop-at-end --out p.fa
    """
    from bioseq.tasks.adapt.generate import generate_sequences, prompts_from

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    result = generate_sequences(
        model,
        prompts_from(prompt, prompt_fasta),
        n=n,
        length=length,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        seed=seed,
        stop_at_end=stop_at_end,
        letters=letters,
        batch_size=batch_size,
        device=device,
        trust_remote_code=trust_remote_code,
        progress=progress,
        out=out,
    )
    how = "with its state/cache" if result.cached else "re-reading the sequence every token"
    click.echo(
        f"generated {len(result.samples):,} sequences, {result.n_tokens:,} tokens in "
        f"{result.seconds:.1f} s ({result.tokens_per_s:,.1f} tokens/s, {how}); "
        f"wrote {out}",
        err=True,
    )
