"""Statistics of the probes: cluster bootstrap, the log2-linear fit, the z-test on a difference.

Accuracy is the mean over functions of per-function accuracy; its uncertainty comes from a
two-stage cluster bootstrap (resample functions with replacement, then trials within each drawn
function). Scores are given as a (functions, trials) matrix of 0/1; NaN marks a missing trial,
so functions may have different numbers of trials. The probes draw 5,000 replicates, as the
paper does; resampling a function's trials is drawn as multinomial counts of its distinct
scores, so a replicate costs the same at 8 or 800 trials (0.7 s for 5,000 replicates of four
stacked 100 x 8 matrices, 1.9 s at 100 x 80, one core).

The fit of accuracy on shots, the paper's and ours side by side:

* the paper (Breslow et al., 2025): ordinary least squares of the mean accuracy at each shot
  count on log2(shots), ``accuracy = a0 + a1 * log2(n)`` over n = 1, 2, ..., 128 (8 points),
  and a one-sided test that a1 > 0; a1 is the gain per doubling of shots, from about 0.011
  (Qwen3-0.6B) to 0.038 (Evo2-40B);
* ours, :func:`log2_fit`: the same line through the same 8 means (``scipy.stats.linregress``
  on log2(shots)), with the one-sided t-test of the slope on n - 2 degrees of freedom (the
  specification we work from names no test, so p-values may differ from the paper's). Fitted
  to the paper's Table 4 rows it returns the paper's slopes (Qwen3-0.6B 0.0114, Evo2-40B
  0.0377; ``tests/test_icl.py`` checks both). The test treats the 8 means as independent
  points and ignores their bootstrap standard errors, as the paper's fit does; the per-shot
  z-tests against the mode baseline (:func:`z_test` with the paired bootstrap SE) are where
  the trial-level uncertainty enters.

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


def cluster_bootstrap(scores: np.ndarray, n_boot: int = 5000, seed: int = 0) -> np.ndarray:
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
    k, n_func, _ = scores.shape
    valid = ~np.isnan(scores[0])
    counts = valid.sum(axis=1)
    if (counts == 0).any():
        raise InputError("every function needs at least one trial")
    values, probs = _categories(scores, valid)  # (k, F, C), (F, C)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, k))
    chunk = max(1, 4_000_000 // (n_func * values.shape[2] * k))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        funcs = rng.integers(0, n_func, size=(b, n_func))
        # resampling a function's trials with replacement = multinomial counts of its
        # distinct score tuples: the cost no longer grows with the number of trials
        drawn = rng.multinomial(counts[funcs], probs[funcs])  # (b, F, C)
        per_function = (values[:, funcs] * drawn).sum(-1) / counts[funcs]  # (k, b, F)
        out[start : start + b] = per_function.mean(-1).T
    return out if stacked else out[:, 0]


def _categories(scores: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per function, its distinct (k-tuple) trial scores and their frequencies, padded to the
    largest count with zero-probability columns."""
    k, n_func, _ = scores.shape
    tuples, freqs = [], []
    for f in range(n_func):
        cols, n = np.unique(scores[:, f, valid[f]], axis=1, return_counts=True)
        tuples.append(cols)
        freqs.append(n / n.sum())
    width = max(t.shape[1] for t in tuples)
    values, probs = np.zeros((k, n_func, width)), np.zeros((n_func, width))
    for f, (cols, p) in enumerate(zip(tuples, freqs, strict=True)):
        values[:, f, : cols.shape[1]] = cols
        probs[f, : p.size] = p
    return values, probs


def cluster_bootstrap_se(scores: np.ndarray, n_boot: int = 5000, seed: int = 0) -> float:
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
