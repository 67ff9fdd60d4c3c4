"""Whole runs of ``bioseq score-text``: read, score, write every output and say what happened
(a :class:`~bioseq.tasks.variants.report.Report`, as ``score-vcf`` does).
``make-text-variants`` runs in :mod:`~bioseq.tasks.variants.text_make`, ``compare-variants`` in
:mod:`~bioseq.tasks.variants.text_compare` (neither loads torch).

>>> from bioseq.tasks.variants.text_make import make_text_variants_run
>>> from bioseq.tasks.variants.text_run import score_text_run
>>> made = make_text_variants_run(out="alice_variants.tsv")  # doctest: +SKIP
>>> run = score_text_run("runs/text", "alice_variants.tsv", "alice_scores.tsv")  # doctest: +SKIP
>>> run.metrics["auroc_word_vs_nonword"]  # doctest: +SKIP
0.83
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bioseq.data import default_text
from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output
from bioseq.io.splits import ValidationSplit
from bioseq.models.hub import LoadedModel
from bioseq.tasks.variants import metrics as m
from bioseq.tasks.variants.dna import WindowTooLong, check_window
from bioseq.tasks.variants.report import Report, check_outputs, written_together
from bioseq.tasks.variants.run import _load
from bioseq.tasks.variants.text import (
    TextSource,
    read_text,
    read_variant_table,
)
from bioseq.tasks.variants.text_make import (  # noqa: F401  (importable from here as before)
    MadeText,
    make_text_variants_run,
)
from bioseq.tasks.variants.text_markov import MarkovLM, parse_markov
from bioseq.tasks.variants.text_score import (
    DEFAULT_WINDOW,
    check_reads_text,
    plot_classes,
    score_text,
    text_metrics,
)
from bioseq.tokenizers import ByteTokenizer

SCORE_COLUMNS = ("score", "status", "detail")


@dataclass
class TextRun:
    """What :func:`score_text_run` scored, measured, wrote and has to say."""

    scores: list
    metrics: dict
    written: list[Path]
    report: Report
    window: int = DEFAULT_WINDOW


def markov_model(
    order: int,
    train_text: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    holdout: float = 0.1,
    smoothing: str = "witten-bell",
) -> LoadedModel:
    """An order-``order`` byte Markov LM fitted on ``train_text`` (a file or several; default:
    the bundled book), each less its last ``holdout`` fraction of bytes (what ``pretrain --text
    --val-fraction`` holds out, so the two are fitted on the same text); ``smoothing`` is
    ``"witten-bell"`` (``markov:K``) or ``"add-one"`` (``markov:K:add-one``)."""
    if not 0 <= holdout < 1:
        raise InputError(f"--markov-holdout {holdout}: expected a fraction in [0, 1)")
    if train_text is None:
        paths = [default_text()]
    elif isinstance(train_text, (str, os.PathLike)):
        paths = [Path(train_text)]
    else:
        paths = [Path(p) for p in train_text]
    parts = []
    for path in paths:
        data = np.frombuffer(read_text(path).encode("utf-8"), dtype=np.uint8)
        parts.append(data[: ValidationSplit(holdout).tail_start(len(data))])
    tokenizer = ByteTokenizer()
    model = MarkovLM.fit(parts, order, tokenizer, smoothing)
    name = f"markov:{order}" + ("" if smoothing == "witten-bell" else f":{smoothing}")
    return LoadedModel(model, tokenizer, Path(name), kind="causal")


def load_text_model(
    model: str | os.PathLike | LoadedModel,
    train_text: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    holdout: float = 0.1,
    device: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = False,
) -> LoadedModel:
    """``model`` as given, ``markov:K`` fitted on ``train_text``, or a model directory."""
    if isinstance(model, LoadedModel):
        return model
    markov = parse_markov(str(model))
    if markov is not None:
        order, smoothing = markov
        return markov_model(order, train_text, holdout, smoothing)
    if train_text is not None:
        raise InputError("--train-text is for --model markov:K (a network has its training)")
    return _load(model, device, progress, trust_remote_code=trust_remote_code)


def score_text_run(
    model: str | os.PathLike | LoadedModel,
    variants: str | os.PathLike,
    out: str | os.PathLike,
    text: str | os.PathLike | None = None,
    window: int | None = None,
    reduce: str = "sum",
    batch_size: int = 8,
    window_step: int = 1,
    train_text: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    markov_holdout: float = 0.1,
    device: str | None = None,
    trust_remote_code: bool = False,
    progress: bool = True,
) -> TextRun:
    """Score every row of ``variants`` against ``text`` (default: the bundled book) with
    ``model`` and write ``out`` (the table with ``score status detail``), ``OUT.metrics.json``
    (:func:`~bioseq.tasks.variants.text_score.text_metrics`) and ``OUT.classes.png``.

    ``window=None`` reads :data:`DEFAULT_WINDOW` characters, or the most the model reads when
    that is fewer (a note says so). ``model`` may be ``markov:K``: an order-K byte Markov model
    fitted on ``train_text`` (one file or several) less the last ``markov_holdout`` of each."""
    asked = window is not None
    window = window if asked else DEFAULT_WINDOW
    check_window(window, window_step)
    metrics_path, _ = m.output_paths(out)
    plot_path = metrics_path.with_name(metrics_path.name.replace(".metrics.json", ".classes.png"))
    check_outputs(out, metrics_path, plot_path)
    text_path = Path(text) if text is not None else default_text()
    source = TextSource(read_text(text_path), text_path)
    header, rows = read_variant_table(variants)
    loaded = load_text_model(model, train_text, markov_holdout, device, trust_remote_code, progress)
    check_reads_text(loaded.tokenizer, source.text, str(loaded.path))
    if loaded.masked:
        raise InputError(f"{loaded.path}: score-text scores with a causal LM, not a masked one")
    report = Report()
    options = dict(reduce=reduce, batch_size=batch_size, window_step=window_step)
    try:
        scores = score_text(
            loaded.model, loaded.tokenizer, source, rows, progress, window=window, **options
        )
    except WindowTooLong as error:
        if asked:
            raise
        report.note(
            f"score-text: {loaded.path} reads at most {error.max_tokens:,} tokens: window "
            f"{error.fits:,} (not {window:,})"
        )
        window = error.fits
        scores = score_text(
            loaded.model, loaded.tokenizer, source, rows, progress, window=window, **options
        )
    labels = [row.label for row in rows]
    metrics = {"model": str(loaded.path), "window": window, "reduce": reduce}
    metrics.update(text_metrics(scores, labels))
    auroc = _three_places(metrics["auroc_word_vs_nonword"])
    where = loaded.path.parent if loaded.path.name == "final" else loaded.path  # a run's model
    title = f"{where.name}: AUROC word vs nonword {auroc} (window {window})"
    with written_together([metrics_path, plot_path]) as (metrics_tmp, plot_tmp):
        m.write_metrics(metrics_tmp, metrics)
        plot_classes(scores, labels, plot_tmp, title)
        _write_scores(header, rows, scores, out)
    _report(report, rows, scores, metrics, out, metrics_path)
    return TextRun(scores, metrics, [Path(out), metrics_path, plot_path], report, window)


def _three_places(value: float | None) -> str:
    """An AUROC as printed: three places (0.790, not 0.79), or "NA" without both classes."""
    return "NA" if value is None else f"{value:.3f}"


def _write_scores(header: list[str], rows, scores, out) -> None:
    """The input table (cells as read) with ``score status detail`` columns, input order."""
    keep = [c for c in header if c not in SCORE_COLUMNS]
    with atomic_output(out) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write("\t".join([*keep, *SCORE_COLUMNS]) + "\n")
        for row, s in zip(rows, scores, strict=True):
            score = "NA" if s.score is None else f"{s.score:.6g}"
            detail = " ".join(s.detail.split("\t"))
            handle.write(
                "\t".join([*(row.cells.get(c, "") for c in keep), score, s.status, detail])
            )
            handle.write("\n")


def _report(report: Report, rows, scores, metrics: dict, out, metrics_path) -> None:
    ok = sum(s.status == "ok" for s in scores)
    report.note(f"scored {ok:,} of {len(scores):,} variants; wrote {out}")
    problems = [
        (s.status, f"line {row.line} pos {row.cells.get('pos', '')}", s.detail)
        for row, s in zip(rows, scores, strict=True)
        if s.status != "ok"
    ]
    report.problems(problems, len(scores), "rows")
    means = ", ".join(
        f"{label} {metrics[f'mean_{label}']:.3f} (n {metrics[f'n_{label}']:,})"
        for label in ("word", "nonword", "space", "punct")
        if metrics.get(f"mean_{label}") is not None
    )
    ci = metrics["auroc_ci95"]
    interval = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""
    auroc = _three_places(metrics["auroc_word_vs_nonword"])
    report.result(f"AUROC word vs nonword {auroc}{interval}; mean score: {means}")
    report.note(f"wrote {metrics_path}")
