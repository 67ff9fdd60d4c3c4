"""Baselines of the two supervised benchmark tables (issue 16): what fine-tuning has to beat.

    python benchmarks/finetune_tables.py --out runs/tables
    OMP_NUM_THREADS=1 python benchmarks/finetune_baselines.py --tables runs/tables

Coding vs intergenic (``coding_{train,val,test}.tsv``; accuracy and MCC on the test tenth):

* ``kmer_logistic``: counts of every k-mer (k = 6: 4,096 features) of the window, scaled
  (``StandardScaler``), scikit-learn ``LogisticRegression``; C picked on the validation split.
* ``small_cnn``: one-hot DNA, three convolution blocks and global max + mean pooling, trained
  from scratch with Adam, reverse-complement augmentation (coding windows come from both
  strands), both strands averaged at evaluation, early-stopped on validation accuracy with
  the decision threshold chosen on validation too (see ``small_cnn``).

BLAT_ECOLX ``2500`` (``blat_2500.tsv``, 5 random folds; Spearman per held-out fold):

* ``onehot_ridge``: one-hot of the full mutated sequence, ``RidgeCV`` (alpha by efficient
  leave-one-out on the four training folds), predicting the held-out fold.
* ``site_independent``: the zero-shot site-independent model of the family alignment
  (``bioseq score-mutations --model site-independent``), no training; mutants at residues
  without a match column get no score and are left out of its Spearman (counted).

Needs scikit-learn (``pip install scikit-learn``).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from scipy import sparse
from scipy.stats import spearmanr
from torch import nn
from tqdm.auto import tqdm

DNA_INDEX = np.full(256, 4, dtype=np.int64)  # A C G T -> 0..3, anything else -> 4
for _i, _b in enumerate("ACGT"):
    DNA_INDEX[ord(_b)] = _i
AMINO = "ACDEFGHIKLMNPQRSTVWY*"
DATA = Path(os.environ.get("BIOSEQ_SHARED_DATA", "../shared/data"))
A2M = DATA / "proteins/BLAT_ECOLX_r24-286.a2m"


def read_table(path: str | Path) -> list[dict]:
    """A table written by ``finetune_tables.py`` (``label`` as float when it is numeric)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    for row in rows:
        with contextlib.suppress(ValueError):
            row["label"] = float(row["label"])
    return rows


def _field(row, name: str):
    return row[name] if isinstance(row, dict) else getattr(row, name)


def _binary(rows: Sequence, positive: str = "coding") -> np.ndarray:
    return np.array([_field(r, "label") == positive for r in rows], dtype=np.int64)


def _classification(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, matthews_corrcoef

    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "mcc": float(matthews_corrcoef(y, predicted)),
    }


# -- k-mer counts + logistic regression ----------------------------------------------------


def kmer_counts(sequences: Sequence[str], k: int = 6) -> sparse.csr_matrix:
    """``(n, 4**k)`` sparse counts of the k-mers of each sequence (k-mers with N skipped).

    >>> kmer_counts(["ACGTA"], k=2).toarray()[0].nonzero()[0].tolist()  # AC CG GT TA
    [1, 6, 11, 12]
    """
    rows, cols = [], []
    for i, seq in enumerate(sequences):
        codes = DNA_INDEX[np.frombuffer(seq.encode("ascii"), dtype=np.uint8)]
        if len(codes) < k:
            continue
        windows = np.lib.stride_tricks.sliding_window_view(codes, k)
        valid = (windows < 4).all(axis=1)
        index = windows[valid] @ (4 ** np.arange(k - 1, -1, -1))
        rows.append(np.full(len(index), i))
        cols.append(index)
    data_rows = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    data_cols = np.concatenate(cols) if cols else np.zeros(0, dtype=np.int64)
    values = np.ones(len(data_rows), dtype=np.float64)
    return sparse.csr_matrix((values, (data_rows, data_cols)), shape=(len(sequences), 4**k))


def kmer_logistic(
    train: Sequence,
    test: Sequence,
    k: int = 6,
    val: Sequence | None = None,
    cs: Sequence[float] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0),
) -> dict[str, float]:
    """k-mer counts, scaled, logistic regression; C with the best validation accuracy (or the
    best 5-fold cross-validated accuracy on ``train`` when ``val`` is None). Returns test
    ``accuracy``, ``mcc`` and the ``C`` chosen."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def features(rows):
        return kmer_counts([_field(r, "sequence") for r in rows], k)

    x_train, y_train = features(train), _binary(train)
    pipeline = make_pipeline(StandardScaler(with_mean=False), LogisticRegression(max_iter=5000))
    if val is None:
        search = GridSearchCV(pipeline, {"logisticregression__C": list(cs)}, cv=5)
        model = search.fit(x_train, y_train).best_estimator_
    else:
        x_val, y_val = features(val), _binary(val)
        scored = []
        for c in cs:
            fitted = copy.deepcopy(pipeline).set_params(logisticregression__C=c)
            fitted.fit(x_train, y_train)
            scored.append((fitted.score(x_val, y_val), -c, fitted))  # ties: the smaller C
        model = max(scored, key=lambda item: item[:2])[2]
    result = _classification(_binary(test), model.predict(features(test)))
    result["C"] = float(model.get_params()["logisticregression__C"])
    return result


# -- small CNN from scratch ------------------------------------------------------------------


def one_hot_dna(sequences: Sequence[str]) -> torch.Tensor:
    """``(n, 4, length)`` float one-hot (A C G T channels; other letters all zero)."""
    codes = np.stack(
        [DNA_INDEX[np.frombuffer(s.encode("ascii"), dtype=np.uint8)] for s in sequences]
    )
    eye = np.concatenate([np.eye(4, dtype=np.float32), np.zeros((1, 4), dtype=np.float32)])
    return torch.from_numpy(eye[codes]).transpose(1, 2).contiguous()


def reverse_complement(x: torch.Tensor) -> torch.Tensor:
    """One-hot reverse complement: flip the length and swap A<->T, C<->G (channels reversed)."""
    return x.flip(dims=(1, 2))


class SmallCNN(nn.Module):
    """Three conv blocks (conv, batch norm, ReLU; max-pool after the first two), global max
    and mean pooling, dropout, a linear layer to two logits."""

    def __init__(self, channels: int = 64, kernel: int = 9, dropout: float = 0.3) -> None:
        super().__init__()
        widths = [4, channels, channels, 2 * channels]
        layers: list[nn.Module] = []
        for i in range(3):
            layers += [
                nn.Conv1d(widths[i], widths[i + 1], kernel, padding=kernel // 2),
                nn.BatchNorm1d(widths[i + 1]),
                nn.ReLU(),
            ]
            if i < 2:
                layers.append(nn.MaxPool1d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * channels, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        return self.head(torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1))


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, batch: int = 512) -> np.ndarray:
    """P(coding), averaged over the window and its reverse complement."""
    model.eval()
    out = []
    for i in range(0, len(x), batch):
        chunk = x[i : i + batch]
        both = model(chunk).softmax(-1) + model(reverse_complement(chunk)).softmax(-1)
        out.append(both[:, 1].numpy() / 2)
    return np.concatenate(out)


def best_threshold(p: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(threshold, accuracy)``: the cut ``p >= threshold`` with the best accuracy on ``y``.

    >>> best_threshold(np.array([0.1, 0.2, 0.3, 0.9]), np.array([0, 0, 1, 1]))
    (0.3, 1.0)
    """
    order = np.argsort(p, kind="stable")
    ps, ys = p[order], y[order]
    # cut before sorted index i: negatives among the first i plus positives from i on
    correct = np.concatenate([[0], np.cumsum(ys == 0)]) + np.concatenate(
        [np.cumsum((ys == 1)[::-1])[::-1], [0]]
    )
    cuts = np.concatenate([[True], ps[1:] > ps[:-1], [True]])  # only between distinct values
    i = int(np.argmax(np.where(cuts, correct, -1)))
    threshold = float(ps[i]) if i < len(ps) else float("inf")
    return threshold, float(correct[i] / len(p))


def small_cnn(
    train: Sequence,
    val: Sequence,
    test: Sequence,
    epochs: int = 30,
    patience: int = 8,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    seed: int = 0,
    channels: int = 64,
    dropout: float = 0.3,
    progress: bool = True,
) -> dict[str, float]:
    """Train :class:`SmallCNN` on ``train`` (Adam, random reverse complements, the learning
    rate halved after 2 epochs without a better validation accuracy) and keep the epoch with
    the best validation accuracy (stop after ``patience`` epochs without a better one).

    The decision threshold on P(coding) is chosen on the validation split, each epoch: the
    batch-norm network's probabilities drift from one epoch to the next (at 0.5 its validation
    accuracy swung between 0.65 and 0.94 while its ranking stayed at 0.93-0.94). Returns the
    test ``accuracy`` and ``mcc`` at that threshold, ``accuracy_at_half`` (at 0.5),
    ``threshold``, ``epochs`` run, ``best_epoch``, ``val_accuracy``, ``history`` (validation
    accuracy per epoch) and ``seconds``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x_train, y_train = one_hot_dna([_field(r, "sequence") for r in train]), _binary(train)
    x_val, y_val = one_hot_dna([_field(r, "sequence") for r in val]), _binary(val)
    model = SmallCNN(channels=channels, dropout=dropout)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "max", factor=0.5, patience=2)
    history: list[float] = []
    target = torch.from_numpy(y_train)
    best, best_state, best_epoch, started, epoch = -1.0, None, 0, time.perf_counter(), 0
    threshold = 0.5
    bar = tqdm(range(1, epochs + 1), unit="epoch", disable=not progress, desc="small CNN")
    for epoch in bar:
        model.train()
        order = torch.from_numpy(rng.permutation(len(x_train)))
        for i in range(0, len(order), batch_size):
            index = order[i : i + batch_size]
            x = x_train[index]
            flip = torch.from_numpy(rng.random(len(index)) < 0.5)
            x = torch.where(flip[:, None, None], reverse_complement(x), x)
            loss = nn.functional.cross_entropy(model(x), target[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        cut, accuracy = best_threshold(_predict(model, x_val), y_val)
        history.append(accuracy)
        plateau.step(accuracy)
        if accuracy > best:
            best, best_epoch, threshold = accuracy, epoch, cut
            best_state = copy.deepcopy(model.state_dict())
        bar.set_postfix(val_acc=f"{accuracy:.3f}", best=f"{best:.3f}")
        if epoch - best_epoch >= patience:
            break
    bar.close()
    model.load_state_dict(best_state)
    p_test = _predict(model, one_hot_dna([_field(r, "sequence") for r in test]))
    y_test = _binary(test)
    result = _classification(y_test, (p_test >= threshold).astype(np.int64))
    result.update(
        accuracy_at_half=float(((p_test >= 0.5) == y_test).mean()),
        threshold=threshold,
        epochs=epoch,
        best_epoch=best_epoch,
        val_accuracy=best,
        history=history,
        seconds=time.perf_counter() - started,
    )
    return result


# -- BLAT: one-hot ridge and the zero-shot site-independent score ---------------------------


def one_hot_protein(sequences: Sequence[str]) -> np.ndarray:
    """``(n, length * 21)`` one-hot of equally long protein sequences (20 amino acids, ``*``)."""
    lookup = np.full(256, -1, dtype=np.int64)
    for i, a in enumerate(AMINO):
        lookup[ord(a)] = i
    codes = np.stack([lookup[np.frombuffer(s.encode("ascii"), dtype=np.uint8)] for s in sequences])
    out = np.zeros((*codes.shape, len(AMINO)), dtype=np.float32)
    np.put_along_axis(out, np.maximum(codes, 0)[..., None], (codes >= 0)[..., None], axis=2)
    return out.reshape(len(sequences), -1)


def _per_fold(rows: Sequence, predictions: np.ndarray) -> dict:
    folds = np.array([int(_field(r, "fold")) for r in rows])
    labels = np.array([float(_field(r, "label")) for r in rows])
    per_fold, counts = [], []
    for fold in np.unique(folds):
        keep = (folds == fold) & np.isfinite(predictions)
        per_fold.append(float(spearmanr(predictions[keep], labels[keep]).statistic))
        counts.append(int(keep.sum()))
    return {"per_fold": per_fold, "mean": float(np.mean(per_fold)), "n": counts}


def onehot_ridge(folds: Sequence, alphas: Sequence[float] = tuple(np.logspace(-2, 4, 13))) -> dict:
    """For each fold: RidgeCV on the one-hot of the other folds' sequences, Spearman of its
    predictions on the fold. Returns ``per_fold``, ``mean`` and ``n`` (mutants per fold)."""
    from sklearn.linear_model import RidgeCV

    x = one_hot_protein([_field(r, "sequence") for r in folds])
    y = np.array([float(_field(r, "label")) for r in folds])
    fold = np.array([int(_field(r, "fold")) for r in folds])
    predictions = np.full(len(y), np.nan)
    for f in np.unique(fold):
        model = RidgeCV(alphas=list(alphas)).fit(x[fold != f], y[fold != f])
        predictions[fold == f] = model.predict(x[fold == f])
    return _per_fold(folds, predictions)


def site_independent(folds: Sequence, a2m: str | Path) -> dict:
    """The zero-shot site-independent score of each mutant (``name`` = ``H24C``), Spearman per
    fold over the mutants it scores; ``n`` counts them."""
    from bioseq.models.site_independent import SiteIndependentModel
    from bioseq.tasks.variants.mutations import parse_mutant

    model = SiteIndependentModel.from_a2m(a2m)
    scores = [model.score_mutant(parse_mutant(_field(r, "name")))[0] for r in folds]
    return _per_fold(folds, np.array([np.nan if s is None else s for s in scores]))


# -- CLI ----------------------------------------------------------------------------------

SPLITS = ("train", "val", "test")


def _rows(benchmark: str, baseline: str, result: dict) -> list[str]:
    return [
        f"| {benchmark} | {baseline} | test {metric} | {result[key]:.3f} |"
        for metric, key in (("accuracy", "accuracy"), ("MCC", "mcc"))
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tables", required=True, help="folder written by finetune_tables.py")
    p.add_argument("--a2m", default=str(A2M), help="family alignment for the zero-shot score")
    p.add_argument("--k", type=int, default=6)
    p.add_argument("--epochs", type=int, default=30, help="CNN epochs at most (default 30)")
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--skip-cnn", action="store_true")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    tables = Path(args.tables)
    lines = ["| benchmark | baseline | metric | value |", "|---|---|---|---|"]
    if (tables / "coding_train.tsv").exists():
        train, val, test = (read_table(tables / f"coding_{s}.tsv") for s in SPLITS)
        print(f"coding: train {len(train):,}, val {len(val):,}, test {len(test):,} windows")
        started = time.perf_counter()
        result = kmer_logistic(train, test, k=args.k, val=val)
        print(f"{args.k}-mer logistic: C={result['C']:g} ({time.perf_counter() - started:.0f} s)")
        lines += _rows("coding vs intergenic", f"{args.k}-mer counts + logistic regression", result)
        if not args.skip_cnn:
            result = small_cnn(
                train,
                val,
                test,
                epochs=args.epochs,
                patience=args.patience,
                seed=args.seed,
                progress=not args.quiet,
            )
            print(
                f"small CNN: best epoch {result['best_epoch']} of {result['epochs']}, val "
                f"accuracy {result['val_accuracy']:.3f} at P(coding) >= "
                f"{result['threshold']:.3f} (test accuracy at 0.5: "
                f"{result['accuracy_at_half']:.3f}), {result['seconds']:.0f} s"
            )
            lines += _rows("coding vs intergenic", "small CNN", result)
    for path in sorted(tables.glob("blat_*.tsv")):
        rows = read_table(path)
        print(f"{path.name}: {len(rows):,} mutants")
        results = {"one-hot + RidgeCV": onehot_ridge(rows)}
        if Path(args.a2m).exists():
            results["site-independent (zero-shot)"] = site_independent(rows, args.a2m)
        for name, result in results.items():
            per_fold = " / ".join(f"{v:.3f}" for v in result["per_fold"])
            lines.append(
                f"| {path.stem} | {name} | Spearman, mean (per fold) | "
                f"{result['mean']:.3f} ({per_fold}) |"
            )
            if name.startswith("site"):
                print(f"site-independent scores {sum(result['n']):,} of {len(rows):,} mutants")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
