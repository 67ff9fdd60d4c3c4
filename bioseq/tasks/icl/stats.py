"""Statistics of the probes: cluster bootstrap, the log2-linear fit, the z-test on a difference.

Accuracy is the mean over functions of per-function accuracy; its uncertainty comes from a
two-stage cluster bootstrap (resample functions with replacement, then trials within each drawn
function). Scores are given as a (functions, trials) matrix of 0/1; NaN marks a missing trial,
so functions may have different numbers of trials.

>>> import numpy as np
>>> scores = np.array([[1, 1, 0, 1], [0, 0, 0, 1], [1, 1, 1, 1]], dtype=float)
>>> round(mean_accuracy(scores), 4)
0.6667
>>> fit = log2_fit([1, 2, 4, 8], [0.10, 0.13, 0.16, 0.19])
>>> round(fit.slope, 3), round(fit.intercept, 3), fit.p_value < 0.001
(0.03, 0.1, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

from bioseq.errors import InputError


def mean_accuracy(scores: np.ndarray) -> float:
    """Mean over functions (rows) of the mean over their trials (non-NaN columns)."""
    return float(np.nanmean(np.nanmean(np.asarray(scores, dtype=float), axis=1)))


def cluster_bootstrap(scores: np.ndarray, n_boot: int = 1000, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap replicates of :func:`mean_accuracy` (functions, then trials).

    Pass several score matrices stacked on a leading axis (``(k, functions, trials)``) to
    resample them with the same draws, e.g. a model and its baseline on the same prompts;
    the result then has shape ``(n_boot, k)``.
    """
    scores = np.asarray(scores, dtype=float)
    stacked = scores.ndim == 3
    if not stacked:
        scores = scores[None]
    if scores.ndim != 3 or 0 in scores.shape[1:]:
        raise InputError(
            f"scores must be a non-empty (functions, trials) matrix, got {scores.shape}"
        )
    _, n_func, _ = scores.shape
    valid = ~np.isnan(scores[0])
    counts = valid.sum(axis=1)
    if (counts == 0).any():
        raise InputError("every function needs at least one trial")
    # each function's trials packed to the left, so trial j < counts[f] is real
    order = np.argsort(~valid, axis=1, kind="stable")
    packed = np.take_along_axis(scores, order[None], axis=2)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, scores.shape[0]))
    chunk = max(1, 2_000_000 // (n_func * scores.shape[2]))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        funcs = rng.integers(0, n_func, size=(b, n_func))
        n_trials = counts[funcs][..., None]  # (b, F, 1)
        trials = (rng.random((b, n_func, scores.shape[2])) * n_trials).astype(np.int64)
        keep = np.arange(scores.shape[2]) < n_trials
        drawn = packed[:, funcs[..., None], trials]  # (k, b, F, T)
        per_function = np.where(keep, drawn, 0.0).sum(-1) / n_trials[..., 0]
        out[start : start + b] = per_function.mean(-1).T
    return out if stacked else out[:, 0]


def cluster_bootstrap_se(scores: np.ndarray, n_boot: int = 1000, seed: int = 0) -> float:
    """Standard error of :func:`mean_accuracy` by cluster bootstrap."""
    return float(cluster_bootstrap(scores, n_boot, seed).std(ddof=1))


@dataclass(frozen=True)
class Fit:
    """``accuracy = intercept + slope * log2(shots)``; ``p_value`` tests slope > 0."""

    slope: float
    intercept: float
    p_value: float | None
    slope_se: float | None
    r_squared: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def log2_fit(shots: Sequence[int], accuracy: Sequence[float]) -> Fit:
    """Least-squares fit of accuracy on log2(shots), one-sided t-test of a positive slope.

    With two shot counts the line is exact and there is no test (``p_value`` None).
    """
    x = np.log2(np.asarray(shots, dtype=float))
    y = np.asarray(accuracy, dtype=float)
    if x.size != y.size or x.size < 2 or np.unique(x).size < 2:
        raise InputError("the log2 fit needs accuracies at two or more distinct shot counts")
    if x.size == 2:
        slope = float((y[1] - y[0]) / (x[1] - x[0]))
        return Fit(slope, float(y[0] - slope * x[0]), None, None, None)
    result = stats.linregress(x, y, alternative="greater")
    p_value = None if math.isnan(result.pvalue) else float(result.pvalue)
    return Fit(
        float(result.slope),
        float(result.intercept),
        p_value,
        float(result.stderr),
        float(result.rvalue**2),
    )


def z_test(difference: float, se: float) -> tuple[float, float]:
    """One-sided z-test that a difference is positive: ``(z, p)``."""
    if se <= 0:
        z = math.inf if difference > 0 else (-math.inf if difference < 0 else 0.0)
    else:
        z = difference / se
    return float(z), float(stats.norm.sf(z))
