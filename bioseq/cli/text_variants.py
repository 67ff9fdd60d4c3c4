"""``bioseq make-text-variants``, ``score-text`` and ``compare-variants``: options, then one
call each to :mod:`bioseq.tasks.variants.text_make` / ``text_run`` / ``text_compare``, whose
report is printed here."""

from __future__ import annotations

import click

from bioseq.cli.options import device_option, show_report, trust_remote_code_option


@click.command("make-text-variants")
@click.argument("text", required=False)
@click.option(
    "--out", required=True, help="OUT.tsv: id pos ref alt kind label word result context."
)
@click.option("--n", "n", type=int, default=500, show_default=True, help="Variants per class.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--region",
    type=click.Choice(["last-tenth", "all"]),
    default="last-tenth",
    show_default=True,
    help="Edit only the last tenth of the text (what pretrain --text holds out), or all of it.",
)
@click.option("--indels", is_flag=True, help="Also delete and insert letters (and separators).")
def make_text_variants(
    text: str | None, out: str, n: int, seed: int, region: str, indels: bool
) -> None:
    """Write single-character edits of a UTF-8 TEXT (default: the bundled book), labelled by
    what they do to their word: word (the result is another word of the text), nonword, space
    or punct. Classes are sampled separately, N each. Positions are 0-based characters; indels
    are written as in a VCF (REF and ALT share their first character).

    \b
    Example:
        bioseq make-text-variants --out alice_variants.tsv --n 500
    """
    from bioseq.tasks.variants.text_make import make_text_variants_run

    show_report(make_text_variants_run(text, out, n, seed, region, indels).report)


@click.command("score-text")
@click.option(
    "--model",
    required=True,
    help="A text model (run or model directory: pretrain --text, byte-level StripedHyena, a "
    "Hugging Face causal LM), markov:K (an order-K byte Markov model fitted on --train-text, "
    "Witten-Bell smoothed) or markov:K:add-one (the same counts, add-one smoothed).",
)
@click.option("--text", default=None, help="The text the variants edit [default: the bundled book]")
@click.option("--variants", required=True, help="make-text-variants table (pos ref alt ...).")
@click.option("--out", required=True, help="OUT.tsv (also OUT.metrics.json, OUT.classes.png).")
@click.option(
    "--window",
    type=int,
    default=None,
    help="Characters per window  [default: 128, or the most the model reads when fewer]",
)
@click.option(
    "--reduce",
    type=click.Choice(["sum", "mean"]),
    default="sum",
    show_default=True,
    help="Sum or per-character mean of log-likelihoods (indels always use the sum).",
)
@click.option("--batch-size", default=8, show_default=True, help="Sequences per forward pass.")
@click.option(
    "--window-step",
    default=1,
    show_default=True,
    help="Snap windows to this grid so nearby edits share one reference window.",
)
@click.option(
    "--train-text",
    multiple=True,
    help="markov:K: a text to fit on, each less --markov-holdout (repeatable, e.g. a --text "
    "run's inputs) [default: the bundled book].",
)
@click.option(
    "--markov-holdout",
    type=float,
    default=0.1,
    show_default=True,
    help="markov:K: the last fraction of --train-text left out (as pretrain --text does).",
)
@device_option
@trust_remote_code_option
@click.option("--progress/--no-progress", default=True, show_default=True)
def score_text(
    model: str,
    text: str | None,
    variants: str,
    out: str,
    window: int | None,
    reduce: str,
    batch_size: int,
    window_step: int,
    train_text: tuple[str, ...],
    markov_holdout: float,
    device: str | None,
    trust_remote_code: bool,
    progress: bool,
) -> None:
    """Score text variants as score-vcf scores DNA ones: log-likelihood of the ALT window minus
    the REF window, by the same code. Prints the AUROC of word (positive) vs nonword edits and
    the mean score per class; rows outside the text or whose REF differs get a status.

    \b
    Example:
        bioseq score-text --model runs/text --variants alice_variants.tsv --out alice_scores.tsv
        bioseq score-text --model markov:4 --variants alice_variants.tsv --out markov4.tsv
    """
    from bioseq.tasks.variants.text_run import score_text_run

    run = score_text_run(
        model,
        variants,
        out,
        text=text,
        window=window,
        reduce=reduce,
        batch_size=batch_size,
        window_step=window_step,
        train_text=list(train_text) or None,
        markov_holdout=markov_holdout,
        device=device,
        trust_remote_code=trust_remote_code,
        progress=progress,
    )
    show_report(run.report)


@click.command("compare-variants")
@click.option(
    "--dna",
    multiple=True,
    help="NAME=scored.vcf.gz: score-vcf output of make-snv-vcf SNVs (repeatable).",
)
@click.option("--text", multiple=True, help="NAME=scores.tsv: score-text output (repeatable).")
@click.option("--out", required=True, help="OUT.tsv (also OUT.md and OUT.png).")
@click.option("--n-boot", type=int, default=1000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, default=0, show_default=True)
def compare_variants(dna: tuple[str, ...], text: tuple[str, ...], out: str, n_boot: int, seed: int):
    """Put DNA models' AUROC (synonymous vs nonsynonymous) and text models' AUROC (word vs
    nonword) side by side, with 95% bootstrap intervals: one table and one figure. Inputs
    with the same NAME share a row.

    \b
    Example:
        bioseq compare-variants --dna hyena=heldout_scored.vcf.gz \\
            --text hyena=alice_scores.tsv --out compare.tsv
    """
    from bioseq.tasks.variants.text_compare import compare_variants as run
    from bioseq.tasks.variants.text_compare import parse_named

    named = [parse_named(s) for s in dna], [parse_named(s) for s in text]
    show_report(run(*named, out, n_boot, seed).report)
