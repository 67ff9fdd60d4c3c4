"""Issue 18, done-when 1: a `--text` model against an order-4 byte Markov model and an untrained
model of the same size, all scoring the same edits of the held-out last tenth of the book by the
same code (score-text), in one run. Prints a table (AUROC word vs nonword with its 95% bootstrap
interval, mean score per class) and writes every score table under --out.

    python benchmarks/text_variants.py --run runs/text --out runs/text_variants

--run is a finished `bioseq pretrain --text` run (trained on all but the last tenth of the book,
the default). The Markov model is fitted on the same training text (the book less its last
tenth); the untrained model is the run's config with fresh weights (seed 0).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the model types with the Auto classes)
from bioseq.models.hub import LoadedModel, load_model
from bioseq.tasks.variants.text_run import make_text_variants_run, markov_model, score_text_run


def untrained(run: Path, seed: int = 0) -> LoadedModel:
    trained = load_model(run, "cpu")
    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(trained.path)
    model = AutoModelForCausalLM.from_config(config).eval()
    return LoadedModel(model, trained.tokenizer, Path(f"untrained-{run.name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, type=Path, help="a bioseq pretrain --text run")
    parser.add_argument("--out", default=Path("runs/text_variants"), type=Path)
    parser.add_argument("--n", type=int, default=500, help="variants per class")
    parser.add_argument("--window", type=int, default=None)
    parser.add_argument("--order", type=int, default=4)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    variants = args.out / "variants.tsv"
    made = make_text_variants_run(out=variants, n=args.n)
    print("\n".join(made.report.notes()))
    models = {
        f"{args.run.name} (trained)": load_model(args.run, "cpu"),
        f"order-{args.order} byte Markov": markov_model(args.order),
        f"{args.run.name}, untrained": untrained(args.run),
    }
    rows = []
    for name, loaded in models.items():
        start = time.process_time()
        out = args.out / (name.split(" ")[0].replace(",", "") + f"-{len(rows)}.tsv")
        run = score_text_run(loaded, variants, out, window=args.window, progress=False)
        seconds = time.process_time() - start
        rows.append((name, run.metrics, seconds, run.window))
    print()
    print("| model | AUROC word vs nonword [95% CI] | mean word | mean nonword | mean space "
          "| mean punct | window | CPU s |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|")
    for name, m, seconds, window in rows:
        low, high = m["auroc_ci95"]
        means = " | ".join(f"{m[f'mean_{c}']:.3f}" for c in ("word", "nonword", "space", "punct"))
        print(
            f"| {name} | {m['auroc_word_vs_nonword']:.3f} [{low:.3f}, {high:.3f}] | {means} "
            f"| {window} | {seconds:.0f} |"
        )


if __name__ == "__main__":
    main()
