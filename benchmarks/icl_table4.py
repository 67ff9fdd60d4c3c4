"""Reproduce Table 4 of "Genomic Next-Token Predictors are In-Context Learners" (issue 19).

Runs the bitstring suite (``bioseq probe``'s :func:`~bioseq.tasks.icl.run_probes`) with the
paper's settings on local model folders (Qwen3 in the linguistic form, converted Evo 2 in the
genomic form) and prints each model's exact-match accuracy beside the paper's row::

    python benchmarks/icl_table4.py --qwen models/Qwen3-0.6B models/Qwen3-1.7B \\
        --evo2 models/evo2-1b --out probes/table4 --device cuda

Settings (the paper's, as ``bioseq probe`` defaults): all 100 functions, shots 1, 2, ..., 128,
8 trials per function and shot count, greedy decoding of 8 symbols, the harness's parsing
(case-insensitive, only the form's symbols kept), 5,000 cluster-bootstrap replicates, seed 0.
``--trials 80`` follows the paper's advice of about 10x more. A Qwen3 folder is a local Hugging
Face download (``huggingface-cli download Qwen/Qwen3-0.6B --local-dir models/Qwen3-0.6B``); an
Evo 2 folder is ``bioseq convert evo2_1b_base/ models/evo2-1b``'s output. A folder's name picks
the paper's row (``Qwen3-0.6B``, ``evo2-1b`` ~ ``Evo2-1B``); ``DIR=NAME`` names it otherwise.

Each model writes ``OUT/<name>/`` (results.csv, summary.json, icl.png...) and is skipped when
its summary.json is already there, so an interrupted run continues; ``OUT/table4.md`` holds the
printed table. The table: per model our accuracy (%) at each shot count with its slope per
doubling of shots (least squares on log2 shots, as the paper), the paper's row and slope, and
our mode baseline on the same prompts.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

DEFAULT_SHOTS = (1, 2, 4, 8, 16, 32, 64, 128)  # the paper's (bioseq.tasks.icl.DEFAULT_SHOTS)
FORM_OF = {"qwen": "linguistic", "evo2": "genomic"}


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9.]", "", name.lower())


def paper_row(name: str, reference: dict[str, dict[int, float]]) -> str | None:
    """The paper's model whose name matches ``name`` ignoring case and punctuation.

    >>> from bioseq.tasks.icl import load_reference
    >>> paper_row("evo2-1b", load_reference()), paper_row("my-model", load_reference())
    ('Evo2-1B', None)
    """
    return next((model for model in reference if _key(model) == _key(name)), None)


def parse_model(spec: str) -> tuple[Path, str]:
    """``DIR`` or ``DIR=NAME`` -> (folder, name)."""
    path, _, name = spec.partition("=")
    folder = Path(path)
    return folder, name or folder.resolve().name


def _cells(shots, values) -> list[str]:
    by_shot = dict(zip(shots, values, strict=True))
    return [f"{100 * by_shot[n]:.1f}" if n in by_shot else "" for n in DEFAULT_SHOTS]


def _slope(shots, values) -> str:
    from bioseq.tasks.icl.stats import log2_fit

    return f"{log2_fit(shots, values).slope:+.4f}" if len(shots) > 2 else ""


def assemble_table(summaries: dict[str, dict], reference: dict | None = None) -> str:
    """A Markdown table: per model (``name -> summary.json``) our accuracy at each shot count
    and slope, the paper's row when there is one, and our mode baseline."""
    from bioseq.tasks.icl.suite import load_reference

    reference = load_reference() if reference is None else reference
    head = "| model | form | source | " + " | ".join(map(str, DEFAULT_SHOTS)) + " | slope |"
    lines = [head, "|" + "---|" * 3 + "--:|" * (len(DEFAULT_SHOTS) + 1)]
    for name, summary in summaries.items():
        for run in summary["runs"]:
            if run["condition"] != "clean":
                continue
            shots, acc = run["shots"], run["accuracy"]
            form = run["form"]
            lines.append(
                f"| {name} | {form} | bioseq | {' | '.join(_cells(shots, acc))} | "
                f"{_slope(shots, acc)} |"
            )
            row = paper_row(name, reference)
            if row is not None:
                paper = [reference[row][n] for n in DEFAULT_SHOTS]
                lines.append(
                    f"| {row} | | paper | {' | '.join(_cells(DEFAULT_SHOTS, paper))} | "
                    f"{_slope(DEFAULT_SHOTS, paper)} |"
                )
            lines.append(
                f"| {name} | {form} | mode baseline | "
                f"{' | '.join(_cells(shots, run['mode_baseline']))} | |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--qwen", nargs="*", default=[], metavar="DIR[=NAME]", help="linguistic form")
    p.add_argument("--evo2", nargs="*", default=[], metavar="DIR[=NAME]", help="genomic form")
    p.add_argument("--out", type=Path, default=Path("probes/table4"))
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--device", default=None, help="cuda, cpu... (default: cuda if available)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--bootstrap", type=int, default=5000)
    p.add_argument("--deranged", action="store_true", help="also the deranged-label control")
    p.add_argument("--functions", default=None, help="function ids (default: all 100)")
    p.add_argument("--shots", default=",".join(map(str, DEFAULT_SHOTS)))
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    models = [(*parse_model(s), FORM_OF[k]) for k in ("qwen", "evo2") for s in getattr(args, k)]
    if not models:
        p.error("give at least one model folder: --qwen DIR and/or --evo2 DIR")
    for folder, _, form in models:
        if not folder.is_dir():
            kind = "a local Qwen3 folder" if form == "linguistic" else "a converted Evo 2 folder"
            sys.exit(f"icl_table4: {folder}: no such directory (expected {kind}; see --help)")

    from bioseq.errors import InputError
    from bioseq.tasks.icl.run import run_probes

    shots = tuple(int(n) for n in args.shots.split(","))
    summaries = {}
    for folder, name, form in models:
        out = args.out / name
        if not (out / "summary.json").is_file():
            print(f"icl_table4: {name} ({form} form) -> {out}", file=sys.stderr, flush=True)
            try:
                run_probes(
                    [folder],
                    out,
                    form=form,
                    shots=shots,
                    trials=args.trials,
                    deranged=args.deranged,
                    functions=args.functions,
                    batch_size=args.batch_size,
                    device=args.device,
                    bootstrap=args.bootstrap,
                    reference=True,
                    progress=not args.quiet,
                )
            except InputError as exc:
                sys.exit(f"icl_table4: {name}: {exc}")
        summaries[name] = json.loads((out / "summary.json").read_text())
    table = assemble_table(summaries)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "table4.md").write_text(table + "\n")
    print(table)
    return table


if __name__ == "__main__":
    main()
