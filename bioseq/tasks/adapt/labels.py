"""Labels of a supervised table as model targets, and the metrics fine-tuning reports.

Classification: the classes are the training table's distinct labels, sorted (numbers by value);
a label of another table that training never saw is an error. Metrics: accuracy, Matthews
correlation (MCC) and AUROC (binary: the second class's probability; more classes: one vs rest,
macro). Regression: Spearman, Pearson and mean squared error.

>>> labels = Labels.from_table_labels(["coding", "intergenic", "coding"], "classification")
>>> labels.classes, labels.encode(["intergenic"], "t.csv")
(['coding', 'intergenic'], [1])
>>> round(classification_metrics([0, 1, 1], [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])["accuracy"], 3)
0.667
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, matthews_corrcoef, roc_auc_score

from bioseq.errors import InputError

TASKS = ("classification", "regression")
SELECTION = {"classification": "mcc", "regression": "spearman"}  # the metric picking the best


def _sort_key(label: str) -> tuple:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


@dataclass
class Labels:
    """How a table's label strings become targets: ``classes`` for classification, None for
    regression."""

    task: str
    classes: list[str] | None = None

    @classmethod
    def from_table_labels(cls, labels: list[str], task: str) -> Labels:
        if task not in TASKS:
            raise InputError(f"--task {task!r}: expected one of {', '.join(TASKS)}")
        if task == "regression":
            return cls(task)
        classes = sorted(set(labels), key=_sort_key)
        if len(classes) < 2:
            raise InputError(
                f"classification needs at least two labels; the training table has "
                f"{len(classes)} ({', '.join(classes)})"
            )
        return cls(task, classes)

    @property
    def num_labels(self) -> int:
        return 1 if self.classes is None else len(self.classes)

    def encode(self, labels: list[str], source: str) -> list:
        """Targets: class indices, or floats for regression (row numbers in errors count the
        header as row 1)."""
        if self.classes is None:
            out = []
            for row, label in enumerate(labels, start=2):
                try:
                    value = float(label)
                except ValueError:
                    value = math.nan
                if not math.isfinite(value):
                    raise InputError(
                        f"{source}: row {row}: label {label!r} is not a finite number "
                        "(regression needs numeric labels)"
                    )
                out.append(value)
            return out
        index = {label: i for i, label in enumerate(self.classes)}
        for row, label in enumerate(labels, start=2):
            if label not in index:
                raise InputError(
                    f"{source}: row {row}: label {label!r} does not occur in the "
                    f"training table (labels: {', '.join(self.classes)})"
                )
        return [index[label] for label in labels]


def classification_metrics(targets, probabilities) -> dict[str, float]:
    """Accuracy, MCC and AUROC of class ``probabilities`` (n, k) against ``targets`` (n)."""
    targets = np.asarray(targets)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    predicted = probabilities.argmax(1)
    out = {
        "accuracy": float(accuracy_score(targets, predicted)),
        "mcc": float(matthews_corrcoef(targets, predicted)),
    }
    present = np.unique(targets)
    if len(present) < 2:
        out["auroc"] = math.nan
    elif probabilities.shape[1] == 2:
        out["auroc"] = float(roc_auc_score(targets, probabilities[:, 1]))
    else:
        out["auroc"] = float(
            roc_auc_score(
                targets,
                probabilities,
                multi_class="ovr",
                labels=list(range(probabilities.shape[1])),
            )
        )
    return out


def regression_metrics(targets, predictions) -> dict[str, float]:
    """Spearman and Pearson correlations and the mean squared error."""
    targets = np.asarray(targets, dtype=np.float64)
    predictions = np.asarray(predictions, dtype=np.float64)
    constant = np.ptp(predictions) == 0 or np.ptp(targets) == 0
    return {
        "spearman": math.nan if constant else float(spearmanr(targets, predictions).statistic),
        "pearson": math.nan if constant else float(pearsonr(targets, predictions).statistic),
        "mse": float(np.mean((targets - predictions) ** 2)),
    }


def metrics(task: str, targets, outputs) -> dict[str, float]:
    """The task's metrics of model ``outputs`` (probabilities, or predictions for regression)."""
    if task == "regression":
        return regression_metrics(targets, np.asarray(outputs).reshape(-1))
    return classification_metrics(targets, outputs)
