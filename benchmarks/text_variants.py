"""Issue 18, done-when 1: a `--text` model against an order-4 byte Markov model (add-one smoothed,
the plain Markov chain, and Witten-Bell smoothed, the stronger reference `pretrain --text`
reports) and an untrained model of the same size, all scoring the same edits of the held-out
last tenth of the book by the same code (score-text), in one run. Prints a table (AUROC word vs
nonword with its 95% bootstrap interval, mean score per class) and writes every score table
under --out.

    python benchmarks/text_variants.py --run runs/text --out runs/text_variants
    python benchmarks/text_variants.py --run runs/text --positions    # + where the AUROC comes from

--run is a finished `bioseq pretrain --text` run (its last tenth of every file held out). The
Markov model is fitted on the run's own training text (the files in its config.yaml, or the
default text corpus), each less its last tenth; the untrained model is the run's config with
fresh weights (seed 0).

--positions adds a second table: the AUROC of the log-likelihood ratio summed over only the
first k characters from the edit on (k = 1: the edited character alone), from the windows
score-text reads (the variant in the middle of 128 characters). A causal model's ratio is zero
before the edit; an order-4 Markov model's is zero from the fifth character after it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from sklearn.metrics import roc_auc_score
from transformers import AutoConfig, AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the model types with the Auto classes)
from bioseq.data import default_text, default_text_corpus
from bioseq.models.hub import LoadedModel, load_model
from bioseq.tasks.variants.metrics import auroc
from bioseq.tasks.variants.text import read_text, read_variant_table
from bioseq.tasks.variants.text_compare import text_classes
from bioseq.tasks.variants.text_make import make_text_variants_run
from bioseq.tasks.variants.text_run import markov_model, score_text_run

PREFIXES = (1, 2, 3, 5, 9, 17, 33, 64)


def untrained(run: Path, seed: int = 0) -> LoadedModel:
    trained = load_model(run, "cpu")
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(trained.path)
    model = AutoModelForCausalLM.from_config(config).eval()
    return LoadedModel(model, trained.tokenizer, Path(f"untrained-{run.name}"))


def training_text(run: Path) -> list[Path]:
    """The files a `pretrain --text` run trained on: its inputs, or the default corpus."""
    config = yaml.safe_load((run / "config.yaml").read_text())
    return [Path(p) for p in config["inputs"]] or default_text_corpus()


def position_aurocs(loaded: LoadedModel, variants: Path, half: int = 64) -> list[float]:
    """AUROC word vs nonword of the ratio summed over the first k characters from the edit."""
    text = read_text(default_text())
    _, rows = read_variant_table(variants)
    rows = [r for r in rows if r.label in ("word", "nonword")]
    tok = loaded.tokenizer
    diffs = np.zeros((len(rows), max(PREFIXES)))
    for i, row in enumerate(rows):
        start = row.pos - half
        ref = text[start : row.pos + half]
        alt = text[start : row.pos] + row.alt + text[row.pos + len(row.ref) : row.pos + half]
        ids = torch.tensor(np.stack([tok.encode_array(ref), tok.encode_array(alt)]))
        with torch.no_grad():
            logp = loaded.model(ids.long()).logits.float().log_softmax(-1)
        ll = logp[:, :-1].gather(-1, ids[:, 1:, None].long())[..., 0]
        d = (ll[1] - ll[0]).numpy()[len(tok.encode_array(text[start : row.pos])) - 1 :]
        diffs[i, : min(len(d), diffs.shape[1])] = d[: diffs.shape[1]]
    y = np.array([r.label == "word" for r in rows])
    return [roc_auc_score(y, diffs[:, :k].sum(1)) for k in PREFIXES]


def paired_difference(
    a: Path, b: Path, n_boot: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC of score table ``a`` minus that of ``b`` (the same edits, scored in the same order),
    with a 95% interval from resampling the edits of each class (the same draws for both)."""
    (word_a, non_a), (word_b, non_b) = text_classes(a), text_classes(b)
    assert (len(word_a), len(non_a)) == (len(word_b), len(non_b)), "not the same edits scored"
    first, second = np.r_[word_a, non_a], np.r_[word_b, non_b]
    labels = np.r_[np.ones(len(word_a)), np.zeros(len(non_a))]

    def diff(rows: np.ndarray) -> float:
        return auroc(first[rows], labels[rows]) - auroc(second[rows], labels[rows])

    rng = np.random.default_rng(seed)
    words, nonwords = np.arange(len(word_a)), len(word_a) + np.arange(len(non_a))
    draws = [
        diff(np.r_[rng.choice(words, words.size), rng.choice(nonwords, nonwords.size)])
        for _ in range(n_boot)
    ]
    low, high = np.percentile(draws, [2.5, 97.5])
    return diff(np.arange(labels.size)), float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a bioseq pretrain --text run")
    parser.add_argument("--out", default=Path("runs/text_variants"), type=Path)
    parser.add_argument("--n", type=int, default=500, help="variants per class")
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--order", type=int, default=4)
    parser.add_argument("--positions", action="store_true", help="the per-position table too")
    parser.add_argument(
        "--train-text", nargs="+", type=Path, help="the run's training files (default: its config)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    variants = args.out / "variants.tsv"
    variants.unlink(missing_ok=True)
    made = make_text_variants_run(out=variants, n=args.n)
    print("\n".join(made.report.notes()))
    texts = args.train_text or training_text(args.run)
    print(f"Markov fitted on: {', '.join(p.name for p in texts)} (each less its last tenth)")
    models = {
        f"{args.run.name} (trained)": load_model(args.run, "cpu"),
        f"order-{args.order} byte Markov, add-one": markov_model(
            args.order, texts, smoothing="add-one"
        ),
        f"order-{args.order} byte Markov, Witten-Bell": markov_model(args.order, texts),
        f"{args.run.name}, untrained": untrained(args.run),
    }
    rows = []
    for name, loaded in models.items():
        start = time.process_time()
        out = args.out / (name.split(" ")[0].replace(",", "") + f"-{len(rows)}.tsv")
        for old in args.out.glob(out.stem + "*"):
            old.unlink()
        run = score_text_run(loaded, variants, out, window=args.window, progress=False)
        seconds = time.process_time() - start
        rows.append((name, run.metrics, seconds, run.window, out))
    print()
    print("| model | AUROC word vs nonword [95% CI] | trained minus this [95% CI, paired] "
          "| mean word | mean nonword | mean space | mean punct | window | CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name, m, seconds, window, out in rows:
        low, high = m["auroc_ci95"]
        means = " | ".join(f"{m[f'mean_{c}']:.3f}" for c in ("word", "nonword", "space", "punct"))
        gap = (
            ""
            if out == rows[0][4]
            else "{:+.3f} [{:+.3f}, {:+.3f}]".format(*paired_difference(rows[0][4], out))
        )
        print(
            f"| {name} | {m['auroc_word_vs_nonword']:.3f} [{low:.3f}, {high:.3f}] | {gap} "
            f"| {means} | {window} | {seconds:.0f} |"
        )
    if args.positions:
        print(
            "\nAUROC word vs nonword of the ratio summed over the first k characters from the edit"
        )
        print()
        print("| model | " + " | ".join(f"k={k}" for k in PREFIXES) + " |")
        print("|---|" + "---|" * len(PREFIXES))
        for name, loaded in models.items():
            aurocs = position_aurocs(loaded, variants)
            print(f"| {name} | " + " | ".join(f"{a:.3f}" for a in aurocs) + " |")


if __name__ == "__main__":
    main()
