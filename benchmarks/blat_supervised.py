"""Supervised BLAT_ECOLX (`2500`, ProteinGym-style random 5 folds): ridge regression on a bioseq
family model's embeddings, beside one-hot ridge, in one run (issue 16).

Features of each mutant, from the bidirectional family model (``bioseq pretrain --model caduceus
--aligned``, see RESULTS.md issue 15) reading the mutant's match columns:
every layer's hidden state at the mutated column (``n_layer + 1`` x d) and, per layer, how far the
substitution moves the representation: the mean over the columns of ``|h(mutant) - h(wild type)|``
(``n_layer`` x d); optionally the zero-shot masked-marginal score of the same model
(``bioseq score-mutations --strategy masked-marginal``). Ridge (RidgeCV, alphas 1e-2..1e4) on
the one-hot encoding alone, on one-hot + embeddings, and on one-hot + embeddings + the
zero-shot score; each feature block standardised. Mutants of residues the alignment has no
column for (insertions) get zero embedding features and a zero score; one-hot covers them.

    python benchmarks/finetune_tables.py --out runs/tables --skip-coding
    OMP_NUM_THREADS=1 python benchmarks/blat_supervised.py --tables runs/tables \\
        --model runs/BLAT-caduceus

``--finetune-tables DIR`` writes each fold's train/test tables of match-column sequences for
``bioseq finetune --model runs/BLAT-caduceus --train DIR/fold0_train.tsv --test ...``.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

SHARED = Path(os.environ.get("BIOSEQ_SHARED_DATA", Path(__file__).parents[1] / "../shared/data"))
ALPHAS = tuple(np.logspace(-2, 4, 13))


def read_rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def focus_inputs(rows: list[dict], a2m: Path) -> tuple[list[str], np.ndarray]:
    """Each mutant's match-column sequence and its mutated column (-1: not in the alignment)."""
    from bioseq.io.proteins import read_alignment

    alignment = read_alignment(a2m)
    focus = alignment.focus_sequence
    column_of = {int(w): j for j, w in enumerate(alignment.focus_columns) if w >= 0}
    sequences, columns = [], []
    for row in rows:
        name = row["name"]
        column = column_of.get(int(name[1:-1]) - alignment.offset)
        letters = list(focus)
        if column is not None:
            if letters[column] != name[0]:
                raise SystemExit(f"{name}: the wild type has {letters[column]} at that column")
            letters[column] = name[-1]
        sequences.append("".join(letters))
        columns.append(-1 if column is None else column)
    return sequences, np.array(columns)


@torch.no_grad()
def embeddings(
    model_path: str, sequences: list[str], columns: np.ndarray, wildtype: str, batch_size: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """(every layer's state at the mutated column, every layer's mean |mutant - wild type|)."""
    from bioseq.models.hub import load_model

    loaded = load_model(model_path, "cpu")
    model, tokenizer = loaded.model, loaded.tokenizer

    def encode(items: list[str]) -> torch.Tensor:
        return torch.tensor([tokenizer(s, add_special_tokens=False)["input_ids"] for s in items])

    ids = encode(sequences)
    reference = model(encode([wildtype]), output_hidden_states=True).hidden_states[1:]
    site, moved = [], []
    for start in range(0, len(ids), batch_size):
        out = model(ids[start : start + batch_size], output_hidden_states=True)
        at = torch.as_tensor(columns[start : start + batch_size]).clamp(min=0)
        rows = torch.arange(len(at))
        site.append(torch.cat([h[rows, at] for h in out.hidden_states], dim=-1))
        layers = zip(out.hidden_states[1:], reference, strict=True)
        moved.append(torch.cat([(h - w).abs().mean(1) for h, w in layers], dim=-1))
    inside = torch.as_tensor(columns >= 0)[:, None]
    return (torch.cat(site) * inside).numpy(), (torch.cat(moved) * inside).numpy()


def zero_shot(model_path: str, a2m: Path, dms: Path, score_col: str, names: list[str]):
    """The model's masked-marginal score of each mutant (0 where it scores none)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "zs.csv"
        subprocess.run(
            [
                "bioseq",
                "score-mutations",
                "--model",
                model_path,
                "--wildtype",
                str(a2m),
                "--mutations",
                str(dms),
                "--score-col",
                score_col,
                "--strategy",
                "masked-marginal",
                "--out",
                str(out),
                "--no-progress",
            ],
            check=True,
            capture_output=True,
        )
        with open(out, encoding="utf-8", newline="") as handle:
            scores = {r["mutant"]: r["score"] for r in csv.DictReader(handle)}
    return np.array([float(scores[n]) if scores.get(n) else 0.0 for n in names])[:, None]


def write_fold_tables(out: Path, rows: list[dict], sequences: list[str], fold: np.ndarray) -> None:
    """Per fold k, a train table (the other folds) and a test table of match-column sequences."""
    out.mkdir(parents=True, exist_ok=True)
    for k in np.unique(fold):
        for part, keep in (("train", fold != k), ("test", fold == k)):
            with open(out / f"fold{k}_{part}.tsv", "w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
                writer.writerow(["name", "sequence", "label"])
                for row, sequence, kept in zip(rows, sequences, keep, strict=True):
                    if kept:
                        writer.writerow([row["name"], sequence, row["label"]])


def standardised(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / (x.std(0) + 1e-6)


def per_fold_ridge(x: np.ndarray, y: np.ndarray, fold: np.ndarray) -> list[float]:
    from sklearn.linear_model import RidgeCV

    out = []
    for f in np.unique(fold):
        fit = RidgeCV(alphas=list(ALPHAS)).fit(x[fold != f], y[fold != f])
        out.append(float(spearmanr(y[fold == f], fit.predict(x[fold == f])).statistic))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tables", type=Path, default=Path("runs/tables"))
    parser.add_argument("--model", required=True, help="the BLAT family model (run directory)")
    parser.add_argument("--a2m", type=Path, default=SHARED / "proteins/BLAT_ECOLX_r24-286.a2m")
    parser.add_argument(
        "--dms", type=Path, default=SHARED / "proteins/BLAT_ECOLX_Ranganathan2015.csv"
    )
    parser.add_argument("--score-col", default="2500")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--finetune-tables",
        type=Path,
        metavar="DIR",
        help="only write DIR/fold{k}_train.tsv and fold{k}_test.tsv (the mutants' "
        "match-column sequences) for `bioseq finetune`, and stop",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(__file__).parent))
    from finetune_baselines import one_hot_protein

    rows = read_rows(args.tables / f"blat_{args.score_col}.tsv")
    y = np.array([float(r["label"]) for r in rows])
    fold = np.array([int(r["fold"]) for r in rows])
    onehot = one_hot_protein([r["sequence"] for r in rows])
    sequences, columns = focus_inputs(rows, args.a2m)
    if args.finetune_tables:
        write_fold_tables(args.finetune_tables, rows, sequences, fold)
        return 0
    from bioseq.io.proteins import read_alignment

    wildtype = read_alignment(args.a2m).focus_sequence
    site, moved = embeddings(args.model, sequences, columns, wildtype)
    score = zero_shot(args.model, args.a2m, args.dms, args.score_col, [r["name"] for r in rows])
    variants = {
        "one-hot + RidgeCV": onehot,
        "embeddings + RidgeCV": np.hstack([standardised(site), standardised(moved)]),
        "one-hot + embeddings + RidgeCV": np.hstack(
            [onehot, standardised(site), standardised(moved)]
        ),
        "one-hot + embeddings + zero-shot score + RidgeCV": np.hstack(
            [onehot, standardised(site), standardised(moved), standardised(score)]
        ),
    }
    print(
        f"BLAT `{args.score_col}`, {len(rows):,} mutants, model {args.model}, "
        f"{(columns >= 0).sum():,} at match columns"
    )
    print("| features | mean Spearman | per fold |")
    print("|---|---|---|")
    for name, x in variants.items():
        scores = per_fold_ridge(x.astype(np.float64), y, fold)
        print(f"| {name} | {np.mean(scores):.3f} | {' / '.join(f'{s:.3f}' for s in scores)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
