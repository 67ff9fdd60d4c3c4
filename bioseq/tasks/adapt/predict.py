"""Apply a fine-tuned classifier to a table: ``bioseq predict``.

>>> from bioseq.tasks.adapt.predict import predict
>>> predict("runs/coding", "coding_test.tsv", "pred.tsv")  # doctest: +SKIP
{'accuracy': 0.91, 'mcc': 0.82, 'auroc': 0.96}
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import torch

from bioseq.io.outputs import check_output, write_text_atomic
from bioseq.io.tables import Table, read_table
from bioseq.models.context import model_context
from bioseq.models.hub import load_classifier
from bioseq.tasks.adapt.framing import encode
from bioseq.tasks.adapt.labels import Labels, metrics


def labels_of(model) -> Labels:
    """The task and classes a fine-tuned model was trained for, from its config."""
    if model.config.problem_type == "regression" or model.config.num_labels == 1:
        return Labels("regression")
    id2label = model.config.id2label
    return Labels("classification", [str(id2label[i]) for i in range(len(id2label))])


@torch.no_grad()
def predict_outputs(
    model, tokenizer, sequences: list[str], task: str, batch_size: int, max_length: int
) -> np.ndarray:
    """Class probabilities (n, k), or predictions (n,) for regression, in eval mode."""
    was_training = model.training
    model.eval()
    outputs = []
    device = next(model.parameters()).device
    for start in range(0, len(sequences), batch_size):
        batch = encode(model, tokenizer, sequences[start : start + batch_size], max_length, device)
        logits = model(**batch).logits.float()
        outputs.append(logits[:, 0] if task == "regression" else logits.softmax(-1))
    model.train(was_training)
    return torch.cat(outputs).cpu().numpy()


def write_predictions(path: Path, table: Table, outputs: np.ndarray, labels: Labels) -> None:
    """TSV: name, (label,) prediction, and one probability column per class."""
    header = ["name"] + (["label"] if table.labels is not None else []) + ["prediction"]
    if labels.classes is not None:
        header += [f"p_{c}" for c in labels.classes]
    rows = []
    for i, name in enumerate(table.names):
        row = [name] + ([table.labels[i]] if table.labels is not None else [])
        if labels.classes is None:
            row.append(f"{float(outputs[i]):.6g}")
        else:
            row.append(labels.classes[int(np.argmax(outputs[i]))])
            row += [f"{p:.6g}" for p in outputs[i]]
        rows.append(row)
    lines = ["\t".join(header)] + ["\t".join(map(str, r)) for r in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def predict(
    model_path: str | Path,
    table_path: str | Path,
    out: str | Path,
    sequence_col: str = "sequence",
    label_col: str | None = "label",
    batch_size: int = 16,
    max_length: int | None = None,
    device=None,
) -> dict | None:
    """Write predictions for every row of the table to ``out``; when the table has labels,
    also ``out``'s ``.metrics.json`` and return the metrics. ``out`` is checked (a writable
    file path) before anything is read."""
    check_output(out)
    table = read_table(table_path, sequence_col, label_col, require_labels=False)
    loaded = load_classifier(model_path, device, finetuned=True)
    model, tokenizer = loaded.model.eval(), loaded.tokenizer
    labels = labels_of(model)
    outputs = predict_outputs(
        model,
        tokenizer,
        table.sequences,
        labels.task,
        batch_size,
        max_length or model_context(model, tokenizer) or 1024,  # 1,024 when unknown
    )
    out = Path(out)
    write_predictions(out, table, outputs, labels)
    if table.labels is None:
        return None
    scores = metrics(labels.task, labels.encode(table.labels, str(table.path)), outputs)
    write_text_atomic(
        out.with_suffix(".metrics.json"),
        json.dumps({"table": str(table.path), "n": len(table), **scores}, indent=2) + "\n",
    )
    return scores


def read_predictions(path: str | Path) -> list[dict]:
    """The rows of a predictions TSV as dicts."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))
