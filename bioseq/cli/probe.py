"""``bioseq probe``: in-context learning probes on one or several models
(:func:`bioseq.tasks.icl.run.run_probes`)."""

from __future__ import annotations

import click

from bioseq.cli.options import device_option, threads_option, trust_remote_code_option
from bioseq.errors import InputError


def parse_shots(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``: distinct, increasing, each from 1 to 255."""
    from bioseq.tasks.icl.run import check_shots

    try:
        shots = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise InputError(f"--shots: expected comma-separated integers, got {text!r}") from None
    return check_shots(shots, name="--shots")


@click.command()
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    metavar="DIR",
    help="A bioseq model or run directory, or a local Hugging Face causal LM "
    "directory. Repeat to compare models in one plot.",
)
@click.option(
    "--suite",
    type=click.Choice(["bitstring", "recall", "all"]),
    default="bitstring",
    show_default=True,
    help="Which probes to run.",
)
@click.option(
    "--form",
    type=click.Choice(["genomic", "linguistic", "both"]),
    default="both",
    show_default=True,
    help="Prompt form ('both' skips forms a tokenizer cannot encode).",
)
@click.option(
    "--shots",
    default="1,2,4,8,16,32,64,128",
    show_default=True,
    help="Comma-separated numbers of demonstrations.",
)
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    default=8,
    show_default=True,
    help="Trials per function and shot count.",
)
@click.option(
    "--deranged", is_flag=True, help="Also run the deranged-label control (demo outputs permuted)."
)
@click.option(
    "--functions",
    default=None,
    metavar="IDS",
    help="Only these function ids, e.g. '1-22,39' (default: all 100).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@device_option
@trust_remote_code_option
@threads_option
@click.option(
    "--bootstrap",
    type=click.IntRange(min=10),
    default=5000,
    show_default=True,
    help="Cluster-bootstrap replicates for standard errors (the paper's 5,000).",
)
@click.option(
    "--parse",
    type=click.Choice(["harness", "strict"]),
    default="harness",
    show_default=True,
    help="How completions are read: harness (the paper's: case-insensitive, only the form's "
    "symbols kept, then up to 8 bit symbols) or strict (the raw text, stop at any other "
    "character).",
)
@click.option(
    "--derangement",
    type=click.Choice(["best-of-256", "index"]),
    default="best-of-256",
    show_default=True,
    help="--deranged control: of 256 random derangements keep the one leaving the fewest "
    "demonstrations with their true output (the paper's), or the first one drawn (index).",
)
@click.option("--reference", is_flag=True, help="Draw the paper's Table 4 curves in icl.png.")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Output directory (created if needed).",
)
def probe(
    models: tuple[str, ...],
    suite: str,
    form: str,
    shots: str,
    trials: int,
    deranged: bool,
    functions: str | None,
    seed: int,
    batch_size: int,
    device: str | None,
    trust_remote_code: bool,
    threads: int | None,
    bootstrap: int,
    parse: str,
    derangement: str,
    reference: bool,
    out_dir: str,
) -> None:
    """In-context learning probes: the bitstring program-induction suite (100 functions, genomic
    and linguistic prompt forms) and recall probes (repeat copy, MQAR, label ICL).

    Writes results.csv (one row per trial), summary.json, icl.png and icl_bitload.png for the
    bitstring suite, recall.json and recall.png for the recall probes.

    \b
    Examples:
        bioseq probe --model runs/dna-small --out probes/dna-small
        bioseq probe --model runs/dna --model runs/text --form both --deranged --out probes/cmp
        bioseq probe --model qwen3-0.6b --form linguistic --shots 1,8,64 --trials 80 --out q
    """
    from bioseq.tasks.icl.run import run_probes

    result = run_probes(
        models,
        out_dir,
        suite=suite,
        form=form,
        shots=parse_shots(shots),
        trials=trials,
        deranged=deranged,
        functions=functions,
        seed=seed,
        batch_size=batch_size,
        device=device,
        trust_remote_code=trust_remote_code,
        threads=threads,
        bootstrap=bootstrap,
        reference=reference,
        parse=parse,
        derangement=derangement,
    )
    click.echo(result.report())
