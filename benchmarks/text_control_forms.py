"""How text models answer linguistic prompts, quickly: for each model, per shot count, the share of
greedy completions whose first 8 characters are digits (an answer of the right shape), the share
that parse as 8 bits (the trial's own 0/1 symbols, the probe's harness rule) and the accuracy,
on the first --functions functions x --trials trials (clean). A cheap check of a training corpus
before a full `bioseq probe` run (benchmarks/text_control.sh).

    python benchmarks/text_control_forms.py runs/text-control/text runs/other-text-run
"""

from __future__ import annotations

import argparse

import torch

from bioseq.tasks.icl import CausalLMAdapter, load_functions
from bioseq.tasks.icl.evaluate import iter_trials
from bioseq.tasks.icl.prompts import parse_completion


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="--text runs or model directories")
    parser.add_argument("--functions", type=int, default=50, help="the first N functions")
    parser.add_argument("--trials", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("| model | shots | 8 digits (%) | 8 bits (%) | accuracy (%) |\n|---|---|---|---|---|")
    for path in args.models:
        adapter = CausalLMAdapter.from_path(path)
        for shots in (1, 2, 4, 8):
            functions = load_functions()[: args.functions]
            trials = list(iter_trials(functions, shots, args.trials, "linguistic"))
            completions = adapter.complete([t.text for t in trials])
            pairs = list(zip(trials, completions, strict=True))
            digits = sum(len(c) >= 8 and c[:8].isdigit() for _, c in pairs)
            bits = sum(len(parse_completion(c, t.symbols, "linguistic")) == 8 for t, c in pairs)
            correct = sum(t.score(c) for t, c in pairs)
            n = len(pairs) / 100
            print(f"| {path} | {shots} | {digits / n:.0f} | {bits / n:.0f} | {correct / n:.0f} |")


if __name__ == "__main__":
    main()
