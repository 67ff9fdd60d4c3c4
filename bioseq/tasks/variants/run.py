"""Whole runs of ``bioseq score-vcf``, ``score-mutations`` and ``make-snv-vcf``: load, score,
write every output, and say what happened.

Each function checks its outputs before any model loads, writes the main output and its
companions together (a failure anywhere replaces nothing) and returns a result whose
:class:`Report` holds the lines ``bioseq`` prints: notes (counts, the first few problems of each
kind), warnings, and results (the metrics line). Problems with single records or rows are
counted and shown, never fatal.

>>> from bioseq.tasks.variants.run import score_mutations_run
>>> run = score_mutations_run(["site-independent"], "dms.csv", "scores.csv",
...                           alignment="fam.a2m", score_col="score")  # doctest: +SKIP
>>> run.metrics["spearman"], run.report.notes()[0]  # doctest: +SKIP
(0.61, 'scored 4,990 of 4,997 mutants; wrote scores.csv')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from bioseq.errors import InputError
from bioseq.io.inputs import detect_format, open_genome
from bioseq.io.proteins import read_alignment
from bioseq.models.hub import LoadedModel, load_model
from bioseq.runtime import notice_if_slow
from bioseq.tasks.variants import metrics as m
from bioseq.tasks.variants import mutations as mut
from bioseq.tasks.variants import snv as mk
from bioseq.tasks.variants.dna import WindowTooLong, check_window, short
from bioseq.tasks.variants.masked_protein import AlignedMutationScorer
from bioseq.tasks.variants.mutations import MutationModel, MutationScore
from bioseq.tasks.variants.report import (
    Report,
    check_outputs,
    quiet_htslib,
    written_together,
)
from bioseq.tasks.variants.scorers import mutation_scorer, scoring_meta
from bioseq.tasks.variants.vcf import VcfResult, score_vcf, write_scores

DEFAULT_WINDOW = 8192  # score-vcf bases per window, when the model reads that many


def _load(
    model: str | os.PathLike | LoadedModel, device, progress: bool = False, **options
) -> LoadedModel:
    """``model`` loaded; with ``progress``, a line saying so when it takes over 2 s (loading,
    or fitting the site-independent model's sequence weights)."""
    if isinstance(model, LoadedModel):
        return model
    alignment = options.get("alignment")
    doing = (
        f"fitting the site-independent model on {alignment}"
        if str(model) == "site-independent" and alignment
        else f"loading {model}"
    )
    with notice_if_slow(f"{doing} ...", enabled=progress):
        return load_model(model, device, **options)


# -- score-vcf ------------------------------------------------------------------------------


@dataclass
class VcfRun:
    """What :func:`score_vcf_run` scored (``result``), wrote and has to say."""

    result: VcfResult
    written: list[Path]
    report: Report


def score_vcf_run(
    model: str | os.PathLike | LoadedModel,
    fasta: str | os.PathLike,
    vcf: str | os.PathLike,
    out: str | os.PathLike,
    window: int | None = None,
    strand: str | None = None,
    reduce: str = "mean",
    masked_strategy: str | None = None,
    pll_window: int | None = None,
    batch_size: int = 8,
    window_step: int = 1,
    device: str | None = None,
    trust_remote_code: bool = False,
    invalid: str = "error",
    progress: bool = True,
) -> VcfRun:
    """Score every ALT of ``vcf`` against the reference ``fasta`` (FASTA or GenBank) with
    ``model`` (a model or run directory, or a :class:`~bioseq.models.hub.LoadedModel`) and
    write ``out`` (``.vcf``, ``.vcf.gz`` + tabix, ``.bcf`` or ``.tsv``), plus
    ``OUT.metrics.json`` when the records carry ``make-snv-vcf``'s annotation.

    ``window=None`` reads :data:`DEFAULT_WINDOW` bases, or the most the model reads when that
    is fewer (a note says so); a window given that the model cannot read is an InputError.
    ``invalid="N"`` reads reference characters outside the DNA alphabet as N. The other
    options are those of :func:`bioseq.tasks.variants.scorers.dna_scorer`
    (``masked_strategy`` is its ``marginal``).
    """
    quiet_htslib()
    asked = window is not None
    window = window if asked else DEFAULT_WINDOW
    check_window(window, window_step)
    metrics_path, _ = m.output_paths(out)
    check_outputs(out, metrics_path)
    loaded = _load(model, device, progress, trust_remote_code=trust_remote_code)
    genome = open_genome(fasta, invalid="unknown" if invalid == "N" else "error")
    report = Report()
    name = model.path if isinstance(model, LoadedModel) else model
    options = dict(
        strand=strand,
        reduce=reduce,
        batch_size=batch_size,
        window_step=window_step,
        marginal=masked_strategy,
        pll_window=pll_window,
    )
    try:  # the scorer checks the window before the VCF is read: a retry costs nothing
        result = score_vcf(
            loaded.model, loaded.tokenizer, genome, vcf, None, progress, window=window, **options
        )
    except WindowTooLong as error:
        if asked:
            raise
        report.note(
            f"score-vcf: {name} reads at most {error.max_tokens:,} tokens: window "
            f"{error.fits:,} (not {window:,})"
        )
        window = error.fits
        result = score_vcf(
            loaded.model, loaded.tokenizer, genome, vcf, None, progress, window=window, **options
        )
    if getattr(result.scorer, "note", ""):
        report.note(f"note: {result.scorer.note}")
    meta = {"model": str(Path(name)), "window": str(window), **scoring_meta(result.scorer)}
    extras = [] if result.snv_metrics is None else [metrics_path]
    with written_together(extras) as (metrics_tmp, *_):
        if metrics_tmp is not None:
            m.write_metrics(metrics_tmp, result.snv_metrics)
        result.warning = write_scores(result, out, meta)  # replaces OUT, then the metrics
    _report_vcf(result, report, vcf, out, metrics_path)
    return VcfRun(result, [Path(out), *extras], report)


def _report_vcf(result: VcfResult, report: Report, vcf, out, metrics_path: Path) -> None:
    if not result.data.entries:
        report.warn(f"{vcf}: no variant records; wrote an empty {out}")
    alleles = result.alleles
    ok = sum(s.status == "ok" for s in alleles)
    rate = ok / result.seconds if result.seconds > 0 else 0.0
    report.note(
        f"scored {ok:,} of {len(alleles):,} alleles in {result.seconds:.1f} s "
        f"({rate:,.1f} variants/s); wrote {out}"
    )
    problems = [
        (s.status, _where(entry, s), s.detail)
        for entry, scores in zip(result.data.entries, result.scores, strict=True)
        for s in scores
        if s.status != "ok"
    ]
    report.problems(problems, len(alleles), "alleles")
    if result.warning:
        report.warn(result.warning)
    if result.snv_metrics is not None:
        s = result.snv_metrics
        means = ", ".join(
            f"{p}: {s[f'mean_codon_pos{p}']:.4g}"
            for p in (1, 2, 3)
            if s[f"mean_codon_pos{p}"] is not None
        )
        report.note(
            f"codon position mean score: {means}; AUROC synonymous vs nonsynonymous: "
            f"{s['auroc_synonymous']}; wrote {metrics_path}"
        )


def _where(entry, score) -> str:
    if entry.record is None:
        return entry.where()
    return f"{entry.where()} {score.chrom}:{score.pos} {short(score.ref)}>{short(score.alt)}"


# -- score-mutations --------------------------------------------------------------------------


def mutation_model(
    models: Sequence[str | os.PathLike | LoadedModel],
    strategy: str | None = None,
    alignment: str | os.PathLike | None = None,
    theta: float | None = 0.8,
    pseudocount: float = 0.1,
    batch_size: int = 8,
    device: str | None = None,
    trust_remote_code: bool = False,
    wildtype: str | None = None,
    progress: bool = False,
    context_mask: float = 0.0,
    context_draws: int = 16,
    seed: int = 0,
) -> MutationModel:
    """The scorer that ``models`` make together: ``site-independent`` (from ``alignment``,
    sequence weights at identity ``theta``, none when None), one causal model or a
    left-to-right and a right-to-left one (``causal-both``), or a masked model, scored as its
    family says (:func:`~bioseq.tasks.variants.scorers.mutation_scorer`). A model trained on
    alignment columns (``aligned`` in its config) reads the wild type's alignment
    (``wildtype``, else ``alignment``). ``context_mask``, ``context_draws``, ``seed``: a masked
    model's random context masks (``masked_protein.MaskedMutationScorer``)."""
    options = {"alignment": alignment, "theta": theta, "pseudocount": pseudocount}
    loaded = [
        _load(x, device, progress, trust_remote_code=trust_remote_code, **options) for x in models
    ]
    scorer = mutation_scorer(loaded, strategy, batch_size, context_mask, context_draws, seed)
    aligned = [x for x in loaded if getattr(getattr(x.model, "config", None), "aligned", False)]
    if aligned:
        scorer = aligned_scorer(scorer, aligned[0], str(wildtype or alignment))
    return scorer


def aligned_scorer(scorer, loaded: LoadedModel, spec: str) -> AlignedMutationScorer:
    """The scorer of a model trained with ``--aligned``: it reads the wild type's match
    columns, so the wild type must be given as an alignment (a2m/a3m)."""
    path = Path(spec)
    suffix = path.suffix.lower()
    if not path.is_file() or suffix not in (".a2m", ".a3m") or detect_format(path) != "alignment":
        raise InputError(
            f"--wildtype {spec[:40]}: {loaded.path} was trained on alignment columns "
            "(--aligned); give the wild type as its a2m/a3m alignment, not a sequence or FASTA"
        )
    width = int(loaded.model.config.alignment_width)
    return AlignedMutationScorer(scorer, read_alignment(path), width, str(path))


@dataclass
class MutationsRun:
    """What :func:`score_mutations_run` scored, measured, wrote and has to say."""

    scores: list[MutationScore]
    metrics: dict | None
    written: list[Path]
    report: Report
    wildtype: str = ""
    offset: int = 1


def score_mutations_run(
    models: Sequence[str | os.PathLike | LoadedModel],
    mutations: str | os.PathLike,
    out: str | os.PathLike,
    wildtype: str | None = None,
    offset: int | None = None,
    mutant_col: str = "mutant",
    score_col: str | None = None,
    strategy: str | None = None,
    alignment: str | os.PathLike | None = None,
    binary_col: str | None = None,
    threshold: float | None = None,
    theta: float | None = 0.8,
    pseudocount: float = 0.1,
    batch_size: int = 8,
    device: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = True,
    context_mask: float = 0.0,
    context_draws: int = 16,
    seed: int = 0,
) -> MutationsRun:
    """Score every row of the DMS table ``mutations`` and write ``out`` (CSV: the table, score
    and status); with a measured column (``score_col`` or ``binary_col``) also
    ``OUT.metrics.json`` (Spearman, AUROC against ``binary_col`` or measured >= ``threshold``)
    and ``OUT.scatter.png``.

    The wild type is ``wildtype`` (a sequence, FASTA or a2m/a3m) or the alignment's first
    record; its first residue is number ``offset`` (default: 1 or the header's range). The
    model: :func:`mutation_model`. When most wild-type residues mismatch, the report names an
    offset that matches more. ``context_mask``, ``context_draws``, ``seed``: see
    :func:`mutation_model`.
    """
    if wildtype is None and alignment is None:
        raise InputError("give --wildtype (sequence, FASTA or alignment) or --alignment")
    if threshold is not None and score_col is None:
        raise InputError("--threshold needs --score-col (the measured column it cuts)")
    sequence, offset = mut.read_wildtype(str(wildtype or alignment), offset)
    table = mut.read_mutation_table(mutations)
    table.check_columns(mutant_col=mutant_col, score_col=score_col, binary_col=binary_col)
    if binary_col is not None:
        mut.check_labels(table, binary_col)
    measured = score_col is not None or binary_col is not None
    metrics_path, plot_path = m.output_paths(out)
    check_outputs(out, *((metrics_path, plot_path) if measured else ()))
    model = mutation_model(
        models,
        strategy,
        alignment,
        theta,
        pseudocount,
        batch_size,
        device,
        trust_remote_code,
        wildtype,
        progress,
        context_mask,
        context_draws,
        seed,
    )
    with tqdm(total=len(table.rows), unit="mutant", disable=not progress) as bar:
        scores = mut.score_mutations(
            model, sequence, table, offset, mutant_col, score_col, progress=bar.update
        )
    metrics = m.mutation_metrics(scores, binary_col, threshold) if measured else None
    written = _write_mutations(scores, table.columns, metrics, out, Path(mutations), score_col)
    report = Report()
    _report_mutations(report, scores, sequence, offset, score_col, out)
    if metrics is not None:
        report.result(
            ", ".join(
                f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
            )
        )
        report.note(f"wrote {' and '.join(map(str, written[1:]))}")
    return MutationsRun(scores, metrics, written, report, sequence, offset)


def _write_mutations(scores, columns, metrics, out, table: Path, score_col) -> list[Path]:
    """OUT, and with metrics OUT.metrics.json and (when any row has a score and a
    measurement) OUT.scatter.png; all replaced together."""
    metrics_path, plot_path = m.output_paths(out)
    pairs = [(s.score, s.measured) for s in scores if None not in (s.score, s.measured)]
    extras = [] if metrics is None else [metrics_path, plot_path][: 1 + bool(pairs)]
    with written_together(extras) as (metrics_tmp, *plot_tmp):
        if metrics is not None:
            m.write_metrics(metrics_tmp, metrics)
        if plot_tmp:
            rho = "n/a" if metrics["spearman"] is None else f"{metrics['spearman']:.3f}"
            title = f"{table.name}: Spearman {rho} (n = {metrics['n_scored']:,})"
            m.scatter_plot(
                [p[0] for p in pairs],
                [p[1] for p in pairs],
                plot_tmp[0],
                title,
                xlabel=score_col or "measured",
            )
        mut.write_mutation_scores(scores, columns, out)  # OUT first, then the rest
    return [Path(out), *extras]


def _report_mutations(report: Report, scores, sequence: str, offset: int, score_col, out):
    """Counts, problems, unreadable measurements, and a better offset when most wild-type
    residues mismatch."""
    n_ok = sum(s.status == "ok" for s in scores)
    report.note(f"scored {n_ok:,} of {len(scores):,} mutants; wrote {out}")
    problems = [(s.status, f"line {s.line}", s.detail) for s in scores if s.status != "ok"]
    report.problems(problems, len(scores), "rows")
    unreadable = [s for s in scores if s.measured_error]
    if unreadable:
        first = unreadable[0]
        rows = f"{len(unreadable):,} row" + ("s have" if len(unreadable) > 1 else " has")
        report.warn(
            f"{rows} a {score_col} value that is not a number (line {first.line}: "
            f"{first.measured_error[:30]!r}); left out of the metrics"
        )
    better = better_offset(scores, sequence, offset)
    if better is not None:
        report.warn(
            f"most wild-type residues do not match at offset {offset}; "
            f"--offset {better} matches more"
        )


def better_offset(scores: Sequence[MutationScore], wildtype: str, offset: int) -> int | None:
    """When most rows are ``wildtype_mismatch``: the offset under which more wild-type residues
    match (:func:`~bioseq.tasks.variants.mutations.suggest_offset`), else None."""
    if sum(s.status == "wildtype_mismatch" for s in scores) <= len(scores) // 2:
        return None
    parsed = []
    for s in scores:
        try:
            parsed.append(mut.parse_mutant(s.mutant))
        except InputError:
            continue
    better = mut.suggest_offset(parsed, wildtype)
    return better if better is not None and better != offset else None


# -- make-snv-vcf ---------------------------------------------------------------------------


@dataclass
class SnvRun:
    """What :func:`make_snv_vcf_run` wrote and has to say."""

    snvs: list[mk.CodingSnv]
    written: list[Path]
    report: Report


def make_snv_vcf_run(
    genbank: str | os.PathLike,
    out: str | os.PathLike,
    cds_names: Sequence[str] = (),
    all_cds: bool = False,
    region: tuple[str, int, int] | None = None,
    limit: int | None = None,
) -> SnvRun:
    """Write every SNV of the chosen CDS of ``genbank`` as a VCF (``.gz``: bgzip + tabix):
    those named in ``cds_names``, every CDS (``all_cds``) or those wholly inside ``region``
    (contig, 0-based start, end); one of the three. ``limit``: the first so many CDS
    (:func:`bioseq.tasks.variants.snv.make_snv_vcf`)."""
    quiet_htslib()
    if sum((bool(cds_names), all_cds, region is not None)) != 1:
        raise InputError("choose CDS with --cds (repeatable), --region or --all-cds (one of them)")
    made = mk.make_snv_vcf(genbank, out, list(cds_names) or None, region, limit)
    report = Report()
    if made.partial_bases:
        report.warn(
            f"skipped {made.partial_bases:,} bases of partial codons (before codon_start or a "
            "trailing incomplete codon): they encode no amino acid"
        )
    synonymous = sum(s.synonymous for s in made.snvs)
    report.note(
        f"wrote {len(made.snvs):,} SNVs of {made.n_cds:,} CDS ({synonymous:,} synonymous) to {out}"
    )
    return SnvRun(made.snvs, [Path(out)], report)
