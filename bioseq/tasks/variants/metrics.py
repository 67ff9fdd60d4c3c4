"""How well zero-shot scores track measurements: Spearman, AUROC, JSON and a scatter plot.

>>> round(spearman([1, 2, 3, 4], [10, 20, 40, 30]), 3)
0.8
>>> auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
0.75
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy.stats import rankdata, spearmanr

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output


def spearman(scores: Sequence[float], measured: Sequence[float]) -> float:
    """Spearman rank correlation (NaN when fewer than 3 pairs or a constant input)."""
    x, y = np.asarray(scores, dtype=float), np.asarray(measured, dtype=float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)


def auroc(scores: Sequence[float], labels: Sequence[int | bool]) -> float:
    """Area under the ROC curve of ``scores`` for ``labels`` (1 = positive), ties counted half:
    the Mann-Whitney U statistic over ``n_pos * n_neg``. NaN without both classes."""
    x, y = np.asarray(scores, dtype=float), np.asarray(labels).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(x)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def bootstrap_auroc(
    positives: Sequence[float], negatives: Sequence[float], n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC of ``positives`` above ``negatives`` (ties half) and a 95% percentile interval
    from ``n_boot`` resamples of each class; NaNs without both classes.

    >>> round(bootstrap_auroc([3, 4, 5], [1, 2, 3.5], n_boot=200)[0], 4)  # 8 of 9 pairs
    0.8889
    """
    pos, neg = np.asarray(positives, float), np.asarray(negatives, float)
    if not pos.size or not neg.size:
        return math.nan, math.nan, math.nan
    labels = np.r_[np.ones(pos.size), np.zeros(neg.size)]
    value = auroc(np.r_[pos, neg], labels)
    rng = np.random.default_rng(seed)
    draws = [
        auroc(np.r_[rng.choice(pos, pos.size), rng.choice(neg, neg.size)], labels)
        for _ in range(n_boot)
    ]
    low, high = np.percentile(draws, [2.5, 97.5]) if draws else (math.nan, math.nan)
    return value, float(low), float(high)


POSITIVE, NEGATIVE = ("1", "1.0", "true", "yes"), ("0", "0.0", "false", "no")
MISSING = ("", "na", "nan", "n/a", "none", "null")


def parse_label(value: str | float | None) -> int | None:
    """A binary label: 1 (``1``, ``true``, ``yes``), 0 (``0``, ``false``, ``no``) or None
    (empty, ``NA``, ``nan``); ValueError for anything else.

    >>> parse_label("True"), parse_label("0"), parse_label("NA")
    (1, 0, None)
    """
    text = str(value).strip().lower() if value is not None else ""
    if text in POSITIVE:
        return 1
    if text in NEGATIVE:
        return 0
    if text in MISSING:
        return None
    raise ValueError(f"{value!r} is not a binary label (0/1, true/false, yes/no or empty)")


def _labels(values: Sequence[str | float | None]) -> list[int | None]:
    return [parse_label(value) for value in values]


def mutation_metrics(
    scores, binary_col: str | None = None, threshold: float | None = None
) -> dict[str, float | int | None]:
    """``spearman``, ``n_scored`` (rows with a score and a measurement), ``n_skipped`` (rows
    not scored), ``n_unmeasured`` (scored rows without a measurement), ``n_non_numeric`` (rows
    whose measurement is there but not a number), and ``auroc`` against ``binary_col`` or
    ``measured >= threshold`` when given. ``scores`` are :class:`~.mutations.MutationScore`
    rows (a row with status ``duplicate`` carries no score, so counts once)."""
    scored = [s for s in scores if s.score is not None]
    pairs = [(s.score, s.measured) for s in scored if s.measured is not None]
    result: dict[str, float | int | None] = {
        "spearman": spearman([p[0] for p in pairs], [p[1] for p in pairs]) if pairs else None,
        "n_scored": len(pairs),
        "n_skipped": len(scores) - len(scored),
        "n_unmeasured": len(scored) - len(pairs),
        "n_non_numeric": sum(bool(getattr(s, "measured_error", "")) for s in scores),
    }
    if binary_col is not None:
        labels = _labels([s.row.get(binary_col) for s in scored])
        kept = [(s.score, y) for s, y in zip(scored, labels, strict=True) if y is not None]
        result["auroc"] = auroc([k[0] for k in kept], [k[1] for k in kept]) if kept else None
    elif threshold is not None:
        result["auroc"] = auroc([p[0] for p in pairs], [p[1] >= threshold for p in pairs])
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}


def write_metrics(path: str | Path, metrics: dict) -> None:
    """``metrics`` as indented JSON; ``path`` is replaced only once the file is complete."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def scatter_plot(
    scores: Sequence[float],
    measured: Sequence[float],
    path: str | Path,
    title: str = "",
    xlabel: str = "measured",
    ylabel: str = "zero-shot score",
) -> None:
    """A PNG scatter of model scores against measurements (``path`` replaced once complete)."""
    import matplotlib  # deferred: choose the Agg backend when drawing, not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg")

    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=120)
    ax.scatter(measured, scores, s=6, alpha=0.5, linewidths=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    save_png(fig, path)


def save_png(fig, path: str | Path) -> None:
    """Write ``fig`` to ``path`` as a PNG (replaced once complete) and close it."""
    import matplotlib.pyplot as plt  # deferred: loaded by the caller that drew ``fig`` already

    fig.tight_layout()
    try:
        with atomic_output(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def output_paths(out: str | Path) -> tuple[Path, Path]:
    """``OUT.metrics.json`` and ``OUT.scatter.png`` beside ``OUT.csv`` (its suffixes dropped).

    >>> [p.name for p in output_paths("runs/scored.vcf.gz")]
    ['scored.metrics.json', 'scored.scatter.png']
    """
    out = Path(out)
    stem = out.name
    for suffix in (".gz", ".bgz", ".csv", ".tsv", ".txt", ".vcf", ".bcf"):
        stem = stem.removesuffix(suffix) if stem.lower().endswith(suffix) else stem
    return out.with_name(f"{stem}.metrics.json"), out.with_name(f"{stem}.scatter.png")


def snv_summary(
    scores: Sequence[float], codon_positions: Sequence[int], synonymous: Sequence[bool]
) -> dict[str, float | int | None]:
    """Mean score per codon position and AUROC of synonymous vs nonsynonymous SNVs.

    A DNA model that has learnt the genetic code penalises codon positions 1 and 2 more than 3,
    and scores synonymous changes higher (AUROC > 0.5, synonymous as the positive class).
    """
    x = np.asarray(scores, dtype=float)
    pos = np.asarray(codon_positions)
    syn = np.asarray(synonymous, dtype=bool)
    if not (len(x) == len(pos) == len(syn)):
        raise InputError("scores, codon positions and synonymous flags differ in length")
    result: dict[str, float | int | None] = {"n_scored": int(len(x))}
    for p in (1, 2, 3):
        chosen = x[pos == p]
        result[f"mean_codon_pos{p}"] = float(chosen.mean()) if chosen.size else None
        result[f"n_codon_pos{p}"] = int(chosen.size)
    value = auroc(x, syn)
    result["auroc_synonymous"] = None if math.isnan(value) else value
    return result
