"""Side-by-side table of a ``bioseq probe`` run over the default DNA model and the default text
control (``benchmarks/text_control.sh`` makes it): accuracy per shot count for every model, form
and condition, the mode baseline, and the share of well-formed completions.

Well-formed completions are counted three ways. ``8 symbols``: the completion's first 8
characters are all symbols of the form (``ACGT``; the digits ``0-9``): an answer of the right
shape, whatever its content. ``strict``: they are each the trial's 0 or 1 symbol (the paper's
rule, read from the raw completion here, not from the probe's code), so an answer that writes the
separator or an unused symbol is not. ``harness``: the probe's own ``answer`` column (which
drops characters outside the form's alphabet before reading) has 8 bits.

    python benchmarks/text_control.py runs/text-control/probe/results.csv

>>> rows = [{"model": "m", "form": "linguistic", "condition": "clean", "shots": "1",
...          "zero": "3", "one": "7", "sep": "0", "target": "00000000", "answer": "0000000",
...          "completion": "3333333,", "correct": "0", "mode_correct": "0"}]
>>> form_symbols(rows[0]), strict_well_formed(rows[0]), len(rows[0]["answer"]) == 8
(False, False, False)
>>> form_symbols({"form": "linguistic", "completion": "33303333"})  # 0 is the separator
True
"""

from __future__ import annotations

import argparse
import csv
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

N_BITS = 8
ALPHABETS = {"genomic": "ACGT", "linguistic": "0123456789"}


def form_symbols(row: dict) -> bool:
    """The completion's first 8 characters are all symbols of the prompt's form."""
    head = row["completion"][:N_BITS]
    return len(head) == N_BITS and all(c in ALPHABETS[row["form"]] for c in head)


def strict_well_formed(row: dict) -> bool:
    """The completion's first 8 characters are all the trial's 0 or 1 symbol."""
    head = row["completion"][:N_BITS]
    return len(head) == N_BITS and all(c in (row["zero"], row["one"]) for c in head)


def _pct(values: Iterable[bool]) -> str:
    values = list(values)
    return f"{100 * sum(values) / len(values):.1f}" if values else "-"


def tables(rows: list[dict]) -> str:
    """Markdown: accuracy (%) per shot count, then well-formed shares, per model/form/condition."""
    groups: dict[tuple[str, str, str], dict[int, list[dict]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for row in rows:
        groups[row["model"], row["form"], row["condition"]][int(row["shots"])].append(row)
    shots = sorted({int(r["shots"]) for r in rows})
    head = "| model | form | condition | " + " | ".join(f"{n} shots" for n in shots) + " |"
    rule = "|---|---|---|" + "---|" * len(shots)
    out = ["Accuracy (%, exact match of 8 bits; harness parse)", "", head, rule]
    for (model, form, condition), by_shots in groups.items():
        cells = [_pct(r["correct"] == "1" for r in by_shots.get(n, [])) for n in shots]
        out.append(f"| {model} | {form} | {condition} | " + " | ".join(cells) + " |")
    for form in sorted({key[1] for key in groups}):
        clean = [r for r in rows if r["form"] == form and r["condition"] == "clean"]
        model = clean[0]["model"] if clean else ""
        by_shots = defaultdict(list)
        for r in clean:
            if r["model"] == model:
                by_shots[int(r["shots"])].append(r)
        cells = [_pct(r["mode_correct"] == "1" for r in by_shots.get(n, [])) for n in shots]
        out.append(f"| mode baseline | {form} | clean | " + " | ".join(cells) + " |")
    out += [
        "",
        "Well-formed completions (%: 8 symbols of the form; 8 bit symbols, strict and harness)",
        "",
        "| model | form | condition | prompts | 8 symbols | strict | harness |",
        "|---|---|---|---|---|---|---|",
    ]
    for (model, form, condition), by_shots in groups.items():
        group = [r for rs in by_shots.values() for r in rs]
        shape = _pct(form_symbols(r) for r in group)
        strict = _pct(strict_well_formed(r) for r in group)
        harness = _pct(len(r["answer"]) == N_BITS for r in group)
        out.append(
            f"| {model} | {form} | {condition} | {len(group)} | {shape} | {strict} | {harness} |"
        )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results.csv of bioseq probe")
    args = parser.parse_args()
    with open(args.results, encoding="utf-8", newline="") as handle:
        print(tables(list(csv.DictReader(handle))))


if __name__ == "__main__":
    main()
