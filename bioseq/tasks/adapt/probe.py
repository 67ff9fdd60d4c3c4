"""Linear probes: a logistic (classification) or ridge (regression) fit on a frozen backbone's
pooled features, written into the classifier's ``score`` layer so the probe is an ordinary
``AutoModelForSequenceClassification`` model.

The features are standardised with the training table's mean and deviation; the inverse
scaling is folded into the head's weights. The regularisation strength is the one of
:data:`C_GRID` (or :data:`ALPHA_GRID`) with the best validation metric, one ``metrics.jsonl``
row each.

>>> import numpy as np
>>> w, b = fold_scaling(np.array([[2.0]]), np.array([1.0]), mean=np.array([3.0]),
...                     scale=np.array([2.0]))
>>> float(w[0, 0]), float(b[0])  # 2 * (x - 3) / 2 + 1 == 1 * x - 2
(1.0, -2.0)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from tqdm import tqdm

from bioseq.errors import InputError
from bioseq.models.heads import pool
from bioseq.tasks.adapt.framing import encode
from bioseq.tasks.adapt.labels import SELECTION, metrics

C_GRID = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)
ALPHA_GRID = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4)


@torch.no_grad()
def pooled_features(
    model, tokenizer, sequences: list[str], batch_size: int, max_length: int
) -> np.ndarray:
    """The pooled backbone features (n, d) that the classifier's head reads."""
    if not hasattr(model, "_features"):
        raise InputError(
            f"{type(model).__name__}: --mode probe needs a bioseq model family "
            "(its head reads pooled features); use --mode lora or full"
        )
    model.eval()
    device = next(model.parameters()).device
    pooling = getattr(model.config, "classifier_pooling", None) or "mean"
    out = []
    for start in range(0, len(sequences), batch_size):
        batch = encode(model, tokenizer, sequences[start : start + batch_size], max_length, device)
        hidden, _ = model._features(batch["input_ids"], batch["attention_mask"], False)
        out.append(pool(hidden, batch["attention_mask"], pooling).float().cpu())
    return torch.cat(out).numpy().astype(np.float64)


def fold_scaling(
    coef: np.ndarray, intercept: np.ndarray, mean: np.ndarray, scale: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weights of ``coef @ ((x - mean) / scale) + intercept`` as ``w @ x + b``."""
    weight = coef / scale
    return weight, intercept - weight @ mean


def fit_probe(model, tokenizer, config, train, val, run_dir: Path, max_length: int) -> None:
    """Fit the probe on ``train``'s features, choose its strength on ``val`` (one row of
    ``run_dir/metrics.jsonl`` per strength) and write the best into ``model.score``."""
    tables = tqdm([train, val], desc="features", unit="table", disable=not config.progress)
    x_train, x_val = (
        pooled_features(model, tokenizer, split.table.sequences, config.batch_size, max_length)
        for split in tables
    )
    mean, scale = x_train.mean(0), x_train.std(0)
    scale[scale == 0] = 1.0
    z_train, z_val = (x_train - mean) / scale, (x_val - mean) / scale
    y_train = np.asarray(train.targets)
    key = SELECTION[config.task]
    best = None
    grid = ALPHA_GRID if config.task == "regression" else C_GRID
    with open(run_dir / "metrics.jsonl", "w", encoding="utf-8") as log:
        for step, strength in enumerate(grid, start=1):
            if config.task == "regression":
                fit = Ridge(alpha=strength).fit(z_train, y_train)
                outputs = fit.predict(z_val)
            else:
                fit = LogisticRegression(C=strength, max_iter=3000).fit(z_train, y_train)
                outputs = _all_classes(fit, z_val, model.config.num_labels)
            scores = metrics(config.task, val.targets, outputs)
            name = "alpha" if config.task == "regression" else "C"
            log.write(
                json.dumps(
                    {"step": step, name: strength, **{f"val_{k}": v for k, v in scores.items()}}
                )
                + "\n"
            )
            value = scores[key] if np.isfinite(scores[key]) else -np.inf
            if best is None or value > best[0]:
                best = (value, fit)
    _write_head(model, best[1], mean, scale, config.task)


def _all_classes(fit, features: np.ndarray, num_labels: int) -> np.ndarray:
    """Probabilities over every class (a class absent from training gets zero)."""
    out = np.zeros((len(features), num_labels))
    out[:, fit.classes_] = fit.predict_proba(features)
    return out


@torch.no_grad()
def _write_head(model, fit, mean: np.ndarray, scale: np.ndarray, task: str) -> None:
    coef = np.atleast_2d(fit.coef_)
    intercept = np.atleast_1d(fit.intercept_)
    weight, bias = fold_scaling(coef, intercept, mean, scale)
    if task != "regression":
        full_w = np.zeros((model.config.num_labels, weight.shape[1]))
        full_b = np.full(model.config.num_labels, -1e4)  # classes never seen in training
        if len(fit.classes_) == 2:  # sklearn's binary model: logit of classes_[1] vs [0]
            full_w[fit.classes_[0]], full_b[fit.classes_[0]] = 0.0, 0.0
            full_w[fit.classes_[1]], full_b[fit.classes_[1]] = weight[0], bias[0]
        else:
            full_w[fit.classes_], full_b[fit.classes_] = weight, bias
        weight, bias = full_w, full_b
    score = model.score
    score.weight.copy_(torch.as_tensor(weight, dtype=score.weight.dtype))
    score.bias.copy_(torch.as_tensor(bias, dtype=score.bias.dtype))
