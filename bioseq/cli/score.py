"""``bioseq score-vcf``, ``bioseq score-mutations`` and ``bioseq make-snv-vcf``.

Thin wrappers over :mod:`bioseq.tasks.variants`: parse options, call the API, report. Problems
with single records or rows are counted and shown (the first few of each kind), never fatal.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path

import click

from bioseq.errors import InputError

_EXAMPLES = 3  # problems shown per status


def _quiet_htslib() -> None:
    """htslib's own [E::...]/[W::...] lines would stand beside ours, which already say what
    went wrong (a status per record, one line per problem)."""
    import pysam

    pysam.set_verbosity(0)


def _warn(message: str) -> None:
    click.echo(f"bioseq: warning: {message}", err=True)


def _check_outputs(*paths: str | Path) -> None:
    """Check every output path up front, before a model is loaded or anything scored."""
    from bioseq.io.outputs import check_output

    for path in paths:
        check_output(path)


@contextlib.contextmanager
def _written_together(paths: list[Path]) -> Iterator[list[Path | None]]:
    """Temporary paths for ``paths`` (``[None]`` when there are none), renamed onto them only
    when the block succeeds: write the main output last, inside the block, so a failure
    anywhere replaces nothing."""
    from bioseq.io.outputs import atomic_output

    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(atomic_output(p)) for p in paths] or [None]


def _report_problems(problems: list[tuple[str, str, str]], total: int, what: str) -> None:
    """problems: (status, where, detail). One summary line, then a few examples per status."""
    counts = Counter(status for status, _, _ in problems)
    if not counts:
        return
    summary = ", ".join(f"{n:,} {status}" for status, n in counts.most_common())
    click.echo(f"not scored: {summary} (of {total:,} {what})", err=True)
    shown: dict[str, int] = defaultdict(int)
    for status, where, detail in problems:
        if shown[status] < _EXAMPLES:
            shown[status] += 1
            click.echo(f"  {status}: {where}: {detail}", err=True)


# -- score-vcf ------------------------------------------------------------------------------


@click.command("score-vcf")
@click.option("--model", required=True, help="Model directory or `bioseq pretrain` run.")
@click.option("--fasta", required=True, help="Reference: FASTA (plain/bgzip/gzip) or GenBank.")
@click.option("--vcf", "vcf_path", required=True, help="Variants: VCF (plain/gz) or BCF.")
@click.option("--out", required=True, help="OUT.vcf, OUT.vcf.gz (+ tabix), OUT.bcf or OUT.tsv.")
@click.option("--window", default=8192, show_default=True, help="Bases per window.")
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
@click.option("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available).")
@click.option("--trust-remote-code", is_flag=True,
              help="Run Python code that a model folder ships (auto_map). Off by default: only "
                   "for folders you trust.")  # fmt: skip
@click.option(
    "--invalid",
    type=click.Choice(["error", "N"]),
    default="error",
    show_default=True,
    help="Reference characters outside the DNA alphabet: stop, or read them as N.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def score_vcf(
    model: str, fasta: str, vcf_path: str, out: str, window: int, strand: str | None,
    reduce: str, masked_strategy: str | None, pll_window: int | None, batch_size: int,
    window_step: int, device: str | None, trust_remote_code: bool, invalid: str, progress: bool,
) -> None:  # fmt: skip
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
    from bioseq.io.inputs import open_genome

    _quiet_htslib()
    from bioseq.models.hub import load_model
    from bioseq.tasks.variants.dna import check_window, short
    from bioseq.tasks.variants.metrics import output_paths, write_metrics
    from bioseq.tasks.variants.scorers import scoring_meta
    from bioseq.tasks.variants.vcf import score_vcf as run
    from bioseq.tasks.variants.vcf import write_scores

    check_window(window, window_step)
    metrics_path, _ = output_paths(out)
    _check_outputs(out, metrics_path)
    loaded = load_model(model, device, trust_remote_code=trust_remote_code)
    genome = open_genome(fasta, invalid="unknown" if invalid == "N" else "error")
    result = run(
        loaded.model, loaded.tokenizer, genome, vcf_path, None, progress=progress,
        window=window, strand=strand, reduce=reduce, batch_size=batch_size,
        window_step=window_step, marginal=masked_strategy, pll_window=pll_window,
    )  # fmt: skip
    meta = {"model": str(Path(model)), "window": str(window), **scoring_meta(result.scorer)}
    if getattr(result.scorer, "note", ""):
        click.echo(f"note: {result.scorer.note}", err=True)
    extras = [] if result.snv_metrics is None else [metrics_path]
    with _written_together(extras) as (metrics_tmp, *_):
        if metrics_tmp is not None:
            write_metrics(metrics_tmp, result.snv_metrics)
        result.warning = write_scores(result, out, meta)  # replaces OUT, then the metrics
    if not result.data.entries:
        _warn(f"{vcf_path}: no variant records; wrote an empty {out}")
    alleles = result.alleles
    ok = sum(s.status == "ok" for s in alleles)
    rate = ok / result.seconds if result.seconds > 0 else 0.0
    click.echo(f"scored {ok:,} of {len(alleles):,} alleles in {result.seconds:.1f} s "
               f"({rate:,.1f} variants/s); wrote {out}", err=True)  # fmt: skip
    problems = [
        (s.status, entry.where() + ("" if entry.record is None else
                                    f" {s.chrom}:{s.pos} {short(s.ref)}>{short(s.alt)}"),
         s.detail)
        for entry, scores in zip(result.data.entries, result.scores, strict=True)
        for s in scores if s.status != "ok"
    ]  # fmt: skip
    _report_problems(problems, len(alleles), "alleles")
    if result.warning:
        _warn(result.warning)
    if result.snv_metrics is not None:
        m = result.snv_metrics
        click.echo(
            "codon position mean score: " + ", ".join(
                f"{p}: {m[f'mean_codon_pos{p}']:.4g}" for p in (1, 2, 3)
                if m[f"mean_codon_pos{p}"] is not None)
            + f"; AUROC synonymous vs nonsynonymous: {m['auroc_synonymous']}; "
            f"wrote {metrics_path}", err=True,
        )  # fmt: skip


# -- score-mutations ------------------------------------------------------------------------


def _mutation_model(models, strategy, alignment, theta, pseudocount, batch_size, device,
                    trust_remote_code=False, wildtype=None):  # fmt: skip
    """The scorer named by --model: the loaded model(s) (site-independent, or scored as their
    family says: :func:`bioseq.tasks.variants.scorers.mutation_scorer`); a model trained on
    alignment columns (``aligned`` in its config) reads the wild type's alignment."""
    from bioseq.models.hub import load_model
    from bioseq.tasks.variants.scorers import mutation_scorer

    loaded = [load_model(m, device, trust_remote_code=trust_remote_code, alignment=alignment,
                         theta=theta, pseudocount=pseudocount) for m in models]  # fmt: skip
    scorer = mutation_scorer(loaded, strategy, batch_size)
    aligned = [x for x in loaded if getattr(getattr(x.model, "config", None), "aligned", False)]
    if aligned:
        scorer = _aligned_scorer(scorer, aligned[0], wildtype or alignment)
    return scorer


def _aligned_scorer(scorer, loaded, spec: str):
    """The scorer of a model trained with --aligned: it reads the wild type's match columns,
    so the wild type must be given as an alignment."""
    from bioseq.io.inputs import detect_format
    from bioseq.io.proteins import read_alignment
    from bioseq.tasks.variants.masked_protein import AlignedMutationScorer

    path = Path(spec)
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".a2m", ".a3m") or detect_format(path) != "alignment":
        raise InputError(f"--wildtype {spec[:40]}: {loaded.path} was trained on alignment "
                         "columns (--aligned); give the wild type as its a2m/a3m alignment, "
                         "not a sequence or FASTA")  # fmt: skip
    width = int(loaded.model.config.alignment_width)
    return AlignedMutationScorer(scorer, read_alignment(path), width, str(path))


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
@click.option("--device", default=None, help="cpu, cuda, cuda:1... (default: cuda if available).")
@click.option("--trust-remote-code", is_flag=True,
              help="Run Python code that a model folder ships (auto_map). Off by default: only "
                   "for folders you trust.")  # fmt: skip
@click.option("--progress/--no-progress", default=True, show_default=True)
@click.option("--out", required=True, help="OUT.csv (also OUT.metrics.json, OUT.scatter.png).")
def score_mutations(
    models: tuple[str, ...], wildtype: str | None, offset: int | None, mutations: str,
    mutant_col: str, score_col: str | None, strategy: str | None, alignment: str | None,
    binary_col: str | None, threshold: float | None, theta: float, unweighted: bool,
    pseudocount: float, batch_size: int, device: str | None, trust_remote_code: bool,
    progress: bool, out: str,
) -> None:  # fmt: skip
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
    from tqdm.auto import tqdm

    from bioseq.tasks.variants import metrics as m
    from bioseq.tasks.variants import mutations as mut

    if wildtype is None and alignment is None:
        raise InputError("give --wildtype (sequence, FASTA or alignment) or --alignment")
    if threshold is not None and score_col is None:
        raise InputError("--threshold needs --score-col (the measured column it cuts)")
    sequence, offset = mut.read_wildtype(wildtype or alignment, offset)
    table = mut.read_mutation_table(mutations)
    table.check_columns(mutant_col=mutant_col, score_col=score_col, binary_col=binary_col)
    if binary_col is not None:
        mut.check_labels(table, binary_col)
    measured = score_col is not None or binary_col is not None
    metrics_path, plot_path = m.output_paths(out)
    _check_outputs(out, *((metrics_path, plot_path) if measured else ()))
    model = _mutation_model(models, strategy, alignment, None if unweighted else theta,
                            pseudocount, batch_size, device, trust_remote_code,
                            wildtype)  # fmt: skip
    with tqdm(total=len(table.rows), unit="mutant", disable=not progress) as bar:
        scores = mut.score_mutations(model, sequence, table, offset, mutant_col, score_col,
                                     progress=bar.update)  # fmt: skip
    metrics = m.mutation_metrics(scores, binary_col, threshold) if measured else None
    pairs = [(s.score, s.measured) for s in scores if None not in (s.score, s.measured)]
    extras = [] if metrics is None else [metrics_path, plot_path][: 1 + bool(pairs)]
    with _written_together(extras) as (metrics_tmp, *plot_tmp):
        if metrics is not None:
            m.write_metrics(metrics_tmp, metrics)
        if plot_tmp:
            rho = "n/a" if metrics["spearman"] is None else f"{metrics['spearman']:.3f}"
            title = f"{Path(mutations).name}: Spearman {rho} (n = {metrics['n_scored']:,})"
            m.scatter_plot([p[0] for p in pairs], [p[1] for p in pairs], plot_tmp[0], title,
                           xlabel=score_col or "measured")  # fmt: skip
        mut.write_mutation_scores(scores, table.columns, out)  # OUT first, then the rest
    _report_mutations(scores, sequence, offset, score_col, out)
    if metrics is not None:
        click.echo(", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in metrics.items()))  # fmt: skip
        click.echo(f"wrote {' and '.join(map(str, extras))}", err=True)


def _report_mutations(scores, sequence: str, offset: int, score_col: str | None, out) -> None:
    """The summary lines of score-mutations: counts, problems, unreadable measurements, and a
    better --offset when most wild-type residues mismatch."""
    from bioseq.tasks.variants import mutations as mut

    n_ok = sum(s.status == "ok" for s in scores)
    click.echo(f"scored {n_ok:,} of {len(scores):,} mutants; wrote {out}", err=True)
    problems = [(s.status, f"line {s.line}", s.detail) for s in scores if s.status != "ok"]
    _report_problems(problems, len(scores), "rows")
    unreadable = [s for s in scores if s.measured_error]
    if unreadable:
        first = unreadable[0]
        rows = f"{len(unreadable):,} row" + ("s have" if len(unreadable) > 1 else " has")
        _warn(f"{rows} a {score_col} value that is not a number (line {first.line}: "
              f"{first.measured_error[:30]!r}); left out of the metrics")  # fmt: skip
    if sum(s.status == "wildtype_mismatch" for s in scores) > len(scores) // 2:
        parsed = []
        for s in scores:
            try:
                parsed.append(mut.parse_mutant(s.mutant))
            except InputError:
                continue
        better = mut.suggest_offset(parsed, sequence)
        if better is not None and better != offset:
            _warn(f"most wild-type residues do not match at offset {offset}; "
                  f"--offset {better} matches more")  # fmt: skip


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
    genbank: str, cds_names: tuple[str, ...], all_cds: bool, region: str | None,
    limit: int | None, out: str,
) -> None:  # fmt: skip
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
    from bioseq.cli.fetch import parse_region

    _quiet_htslib()
    from bioseq.io.genbank import read_genbank
    from bioseq.tasks.variants import snv as mk

    if sum((bool(cds_names), all_cds, region is not None)) != 1:
        raise InputError("choose CDS with --cds (repeatable), --region or --all-cds (one of them)")
    if limit is not None and limit < 1:
        raise InputError(f"--limit {limit}: expected a number of CDS, at least 1")
    where = None
    if region is not None:
        contig, start, end = parse_region(region)
        if start is None:
            raise InputError(f"--region {region!r}: expected CONTIG:START-END")
        where = (contig, start, end)
    _check_outputs(out)
    records = read_genbank(genbank)
    chosen = mk.select_cds(records, list(cds_names) or None, where, limit)
    snvs = [snv for record, cds in chosen for snv in mk.coding_snvs(record, cds)]
    if not snvs:
        why = f"no CDS lies wholly inside --region {region}" if region else "no CDS to mutate"
        raise InputError(f"{genbank}: {why} ({out} not written)")
    mk.write_snv_vcf(records, snvs, out, source=str(genbank))
    partial = mk.partial_codon_bases([c for _, cds in chosen for c in cds])
    if partial:
        _warn(f"skipped {partial:,} bases of partial codons (before codon_start or a trailing "
              "incomplete codon): they encode no amino acid")  # fmt: skip
    genes = len({s.cds for s in snvs})
    synonymous = sum(s.synonymous for s in snvs)
    click.echo(f"wrote {len(snvs):,} SNVs of {genes:,} CDS ({synonymous:,} synonymous) to {out}",
               err=True)  # fmt: skip
