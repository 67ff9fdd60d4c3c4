"""``bioseq score-vcf``, ``bioseq score-mutations`` and ``bioseq make-snv-vcf``: options, then
one call each to :mod:`bioseq.tasks.variants.run`, whose report is printed here."""

from __future__ import annotations

import click

from bioseq.cli.options import device_option, show_report, trust_remote_code_option
from bioseq.errors import InputError

# -- score-vcf ------------------------------------------------------------------------------


@click.command("score-vcf")
@click.option("--model", required=True, help="Model directory or `bioseq pretrain` run.")
@click.option("--fasta", required=True, help="Reference: FASTA (plain/bgzip/gzip) or GenBank.")
@click.option("--vcf", "vcf_path", required=True, help="Variants: VCF (plain/gz) or BCF.")
@click.option("--out", required=True, help="OUT.vcf, OUT.vcf.gz (+ tabix), OUT.bcf or OUT.tsv.")
@click.option(
    "--window",
    type=int,
    default=None,
    help="Bases per window  [default: 8192, or the most the model reads when fewer]",
)
@click.option(
    "--strand",
    type=click.Choice(["forward", "both"]),
    default=None,
    help="Score the + strand, or average it with the - strand. Default: forward for causal "
    "models and MergeLM, both for other masked LMs; an RC-equivariant model (config.rcps) is "
    "scored once, exactly.",
)
@click.option(
    "--reduce",
    type=click.Choice(["mean", "sum"]),
    default="mean",
    show_default=True,
    help="Per-token mean or sum of log-likelihoods (indels always use the sum). Ignored for "
    "masked models: their marginal scores are sums over the changed bases.",
)
@click.option(
    "--masked-strategy",
    type=click.Choice(["masked", "wildtype"]),
    default=None,
    help="Masked LMs: masked marginal (changed bases hidden, one pass per site; default) or "
    "wild-type marginal (one unmasked pass per window).",
)
@click.option(
    "--pll-window",
    type=click.IntRange(min=0),
    default=None,
    help="Masked LMs (not MergeLM): score indels by the pseudo-log-likelihood of the changed "
    "bases and PLL_WINDOW/2 bases on each side (default 32; one pass per base; 0: leave indels "
    "unscored).",
)
@click.option("--batch-size", default=8, show_default=True, help="Sequences per forward pass.")
@click.option(
    "--window-step",
    default=1,
    show_default=True,
    help="Snap windows to this grid so nearby SNVs share one reference window.",
)
@device_option
@trust_remote_code_option
@click.option(
    "--invalid",
    type=click.Choice(["error", "N"]),
    default="error",
    show_default=True,
    help="Reference characters outside the DNA alphabet: stop, or read them as N.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def score_vcf(
    model: str,
    fasta: str,
    vcf_path: str,
    out: str,
    window: int | None,
    strand: str | None,
    reduce: str,
    masked_strategy: str | None,
    pll_window: int | None,
    batch_size: int,
    window_step: int,
    device: str | None,
    trust_remote_code: bool,
    invalid: str,
    progress: bool,
) -> None:
    """Score every ALT of a VCF: log-likelihood of the ALT window minus the REF window.

    A masked model (MergeLM; Caduceus, Nucleotide Transformer and other masked LMs) scores
    substitutions by marginals instead: log p(ALT) - log p(REF) at the changed bases, hidden in
    the REF window (--masked-strategy masked) or read from one pass of it (wildtype). Indels:
    pseudo-log-likelihood of the ALT sub-window minus the REF's (--pll-window; MergeLM:
    indel_unsupported). --reduce is ignored for masked models.

    Every input record is written out with INFO BIOSEQ_LLR (per ALT) and BIOSEQ_STATUS (ok,
    or why not scored: ref_mismatch, contig_missing, window_mostly_N, symbolic_allele...).

    \b
    Example:
        bioseq score-vcf --model runs/ecoli --fasta genome.fa.gz --vcf calls.vcf.gz \\
            --out scored.vcf.gz --strand both
    """
    from bioseq.tasks.variants.run import score_vcf_run

    run = score_vcf_run(
        model,
        fasta,
        vcf_path,
        out,
        window=window,
        strand=strand,
        reduce=reduce,
        masked_strategy=masked_strategy,
        pll_window=pll_window,
        batch_size=batch_size,
        window_step=window_step,
        device=device,
        trust_remote_code=trust_remote_code,
        invalid=invalid,
        progress=progress,
    )
    show_report(run.report)


# -- score-mutations ------------------------------------------------------------------------


@click.command("score-mutations")
@click.option(
    "--model",
    "models",
    multiple=True,
    required=True,
    help="Model directory or run (twice for causal-both), or 'site-independent'.",
)
@click.option(
    "--wildtype",
    default=None,
    help="Wild type: a sequence, a FASTA file, or an a2m/a3m (its first record).",
)
@click.option(
    "--offset",
    type=int,
    default=None,
    help="Residue number of the wild type's first residue (default 1, or the range "
    "in an alignment/FASTA header such as BLAT_ECOLX/24-286).",
)
@click.option("--mutations", required=True, help="Table: EVmutation (;) or ProteinGym (,) format.")
@click.option("--mutant-col", default="mutant", show_default=True)
@click.option("--score-col", default=None, help="Measured column: Spearman, AUROC, scatter plot.")
@click.option(
    "--strategy",
    type=click.Choice(["causal", "causal-both", "masked-marginal", "wildtype-marginal"]),
    default=None,
    help="Causal LMs: causal (default) or causal-both; masked LMs (ESM-2...): masked-marginal "
    "(default) or wildtype-marginal.",
)
@click.option(
    "--context-mask",
    type=float,
    default=0.0,
    show_default=True,
    help="masked-marginal: also hide this fraction of the other residues in each pass, "
    "averaging over --context-draws random masks (e.g. the model's --mask-fraction).",
)
@click.option("--context-draws", type=int, default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the context masks.")
@click.option("--alignment", default=None, help="a2m/a3m homologs (for site-independent).")
@click.option("--binary-col", default=None, help="0/1 column for AUROC (ProteinGym DMS_score_bin).")
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="AUROC of measured >= THRESHOLD (when no --binary-col).",
)
@click.option(
    "--theta",
    type=float,
    default=0.8,
    show_default=True,
    help="Identity for site-independent sequence weights.",
)
@click.option("--unweighted", is_flag=True, help="Site-independent without sequence weights.")
@click.option("--pseudocount", type=float, default=0.1, show_default=True)
@click.option("--batch-size", default=8, show_default=True)
@device_option
@trust_remote_code_option
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--out", required=True, help="OUT.csv (also OUT.metrics.json, OUT.scatter.png).")
def score_mutations(
    models: tuple[str, ...],
    wildtype: str | None,
    offset: int | None,
    mutations: str,
    mutant_col: str,
    score_col: str | None,
    strategy: str | None,
    context_mask: float,
    context_draws: int,
    seed: int,
    alignment: str | None,
    binary_col: str | None,
    threshold: float | None,
    theta: float,
    unweighted: bool,
    pseudocount: float,
    batch_size: int,
    device: str | None,
    trust_remote_code: bool,
    progress: bool,
    out: str,
) -> None:
    """Zero-shot scores of protein substitutions (H24C, H24C:G45A) in a DMS table.

    causal: log p(mutant) - log p(wild type); causal-both: the average of a left-to-right and
    a right-to-left model; masked LMs (ESM-2): masked-marginal, the sum over the substitutions
    of log p(mutant residue) - log p(wild-type residue) with all mutated positions masked in
    one pass, or wildtype-marginal, read from one pass of the wild type; site-independent:
    per-column log-odds from --alignment. A masked model trained with --aligned reads the
    wild type's match columns: give --wildtype as the alignment (X.a2m); substitutions at its
    insertions (lower case) are skipped as not_in_alignment.

    \b
    Example:
        bioseq score-mutations --model site-independent --alignment BLAT_ECOLX_r24-286.a2m \\
            --wildtype BLAT_ECOLX_r24-286.a2m --mutations BLAT_ECOLX_Ranganathan2015.csv \\
            --score-col 2500 --out blat.csv
    """
    from bioseq.tasks.variants.run import score_mutations_run

    run = score_mutations_run(
        models,
        mutations,
        out,
        wildtype=wildtype,
        offset=offset,
        mutant_col=mutant_col,
        score_col=score_col,
        strategy=strategy,
        alignment=alignment,
        binary_col=binary_col,
        threshold=threshold,
        theta=None if unweighted else theta,
        pseudocount=pseudocount,
        batch_size=batch_size,
        device=device,
        trust_remote_code=trust_remote_code,
        progress=progress,
        context_mask=context_mask,
        context_draws=context_draws,
        seed=seed,
    )
    show_report(run.report)


# -- make-snv-vcf ---------------------------------------------------------------------------


@click.command("make-snv-vcf")
@click.option("--genbank", required=True, help="GenBank file (plain or gzip).")
@click.option(
    "--cds",
    "cds_names",
    multiple=True,
    help="CDS to mutate, by locus tag, gene or protein id (repeatable).",
)
@click.option("--all-cds", is_flag=True, help="Every CDS of the file.")
@click.option(
    "--region", default=None, help="Only CDS wholly inside CONTIG:START-END (1-based, inclusive)."
)
@click.option("--limit", type=int, default=None, help="At most this many CDS (file order).")
@click.option("--out", required=True, help="OUT.vcf or OUT.vcf.gz (bgzip + tabix).")
def make_snv_vcf(
    genbank: str,
    cds_names: tuple[str, ...],
    all_cds: bool,
    region: str | None,
    limit: int | None,
    out: str,
) -> None:
    """Write every possible SNV of chosen CDS as a VCF, annotated with the CDS, the codon
    position (BIOSEQ_CODON_POS) and synonymous/nonsynonymous (BIOSEQ_EFFECT). Bases of partial
    codons (a CDS whose length is not a multiple of 3, or codon_start > 1) are skipped.

    \b
    Example:
        bioseq make-snv-vcf --genbank ecoli.gbff.gz --cds thrA --cds lacZ --out snvs.vcf.gz
        bioseq make-snv-vcf --genbank ecoli.gbff.gz --region NC_000913.3:4177488-4641652 \
            --limit 10 --out heldout.vcf.gz
        bioseq score-vcf --model runs/ecoli --fasta ecoli.gbff.gz --vcf snvs.vcf.gz --out s.tsv
    """
    from bioseq.io.regions import parse_region
    from bioseq.tasks.variants.run import make_snv_vcf_run

    where = None
    if region is not None:
        contig, start, end = parse_region(region)
        if start is None:
            raise InputError(f"--region {region!r}: expected CONTIG:START-END")
        where = (contig, start, end)
    run = make_snv_vcf_run(genbank, out, cds_names, all_cds, where, limit)
    show_report(run.report)
