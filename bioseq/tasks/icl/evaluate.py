"""Run the bitstring suite on a model and summarise it: accuracy, errors, fit, baseline tests.

>>> from bioseq.tasks.icl.evaluate import run_bitstring, summarize
>>> from bioseq.tasks.icl.suite import load_functions, select_functions
>>> class Echo:  # a "model" that answers with the query itself
...     name, max_length = "echo", None
...     def encodes(self, alphabet): return True
...     def count_tokens(self, text): return len(text)
...     def complete(self, prompts, n_symbols=8): return [p[-8:] for p in prompts]
>>> rows = run_bitstring(Echo(), select_functions(load_functions(), "1,4"), shots=(1, 4), trials=2)
>>> len(rows), rows[0]["program"], rows[0]["correct"]
(8, 'identity', 1)
>>> summary = summarize(rows, n_boot=200)
>>> summary["runs"][0]["accuracy"]
[0.5, 0.5]

``run_bitstring`` returns one row per trial (the columns of ``results.csv``); ``summarize``
returns the content of ``summary.json``: per run (model, form, condition) and shot count the
mean accuracy and its cluster-bootstrap standard error (5,000 replicates by default, as the
paper), the mode and identity baselines on the same prompts, a paired z-test against the mode
baseline, the share of demonstrations showing their true output (``in_place_share``: 1 when
clean), per-function and per-BitLoad accuracy, and the log2-linear fit; with both conditions,
the clean-minus-deranged difference. Completions are parsed by the harness rule unless
``parse="strict"`` (:func:`~bioseq.tasks.icl.prompts.parse_completion`); the completion stops
at the first special token the adapter names (``special_tokens``).
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output
from bioseq.tasks.icl.adapters import Adapter
from bioseq.tasks.icl.primitives import N_BITS, bits_to_str
from bioseq.tasks.icl.prompts import (
    DERANGEMENTS,
    FORMS,
    PARSE_RULES,
    Trial,
    check_choice,
    cut_at_special,
    make_trial,
)
from bioseq.tasks.icl.stats import cluster_bootstrap, log2_fit, mean_accuracy, z_test
from bioseq.tasks.icl.suite import DEFAULT_SHOTS, Function, load_functions

CHANCE = 1 / 2**N_BITS
DEFAULT_BOOTSTRAP = 5000
COLUMNS = [
    "model", "form", "condition", "function_id", "program", "bitload", "shots", "trial", "seed",
    "zero", "one", "sep", "prompt_symbols", "target", "answer", "completion", "correct",
    "mode_correct", "identity_correct", "parse", "derangement", "in_place",
]  # fmt: skip


def iter_trials(
    functions: Sequence[Function],
    shots: int,
    trials: int,
    form: str,
    seed: int = 0,
    condition: str = "clean",
    derangement: str = "best-of-256",
) -> Iterator[Trial]:
    """Every trial of one shot count, function by function."""
    for function in functions:
        for t in range(trials):
            yield make_trial(function, shots, t, form, seed, condition, derangement=derangement)


def prompt_tokens(adapter: Adapter, form: str, shots: int, n_symbols: int = N_BITS) -> int:
    """Tokens of a ``shots``-shot prompt of ``form`` (every function's are as long) and its
    answer."""
    longest = next(iter_trials(load_functions()[:1], shots, 1, form))
    return adapter.count_tokens(longest.text) + n_symbols


def check_fits(adapter: Adapter, form: str, max_shots: int, n_symbols: int = N_BITS) -> None:
    """Raise :class:`InputError` if the model cannot read the form or the longest prompt."""
    if not adapter.encodes(FORMS[form]):
        raise InputError(
            f"{adapter.name}: its tokenizer cannot encode the {form} symbols {FORMS[form]!r}"
        )
    need = prompt_tokens(adapter, form, max_shots, n_symbols)
    if adapter.max_length is not None and need > adapter.max_length:
        raise InputError(
            f"{adapter.name}: a {max_shots}-shot prompt needs {need} tokens but the model takes "
            f"at most {adapter.max_length}; use fewer --shots"
        )


def fitting_shots(adapter: Adapter, form: str, shots: Sequence[int]) -> list[int]:
    """The shot counts whose prompts the model reads, with one line on stderr naming those
    left out (all of ``shots`` when none fits: :func:`check_fits` then says why)."""
    limit = adapter.max_length
    kept = [n for n in shots if limit is None or prompt_tokens(adapter, form, n) <= limit]
    if kept and len(kept) < len(shots):
        left = [n for n in shots if n not in kept]
        print(
            f"{adapter.name}: the model reads at most {limit} tokens: {form} prompts with "
            f"{', '.join(map(str, kept))} shots (not {', '.join(map(str, left))})",
            file=sys.stderr,
            flush=True,
        )
    return kept or list(shots)


def run_bitstring(
    adapter: Adapter,
    functions: Sequence[Function] | None = None,
    shots: Sequence[int] = DEFAULT_SHOTS,
    trials: int = 8,
    form: str = "genomic",
    seed: int = 0,
    condition: str = "clean",
    progress: bool = False,
    chunk: int = 64,
    parse: str = "harness",
    derangement: str = "best-of-256",
) -> list[dict]:
    """Query the model on every (function, shot count, trial); one result row per trial.

    The default shot counts are cut to those the model reads (:func:`fitting_shots`); shot
    counts given otherwise must all fit. ``parse`` (``harness`` or ``strict``) and
    ``derangement`` (``best-of-256`` or ``index``): see the module doc."""
    functions = list(functions) if functions is not None else load_functions()
    if trials < 1 or not shots:
        raise InputError("need at least one trial and one shot count")
    check_choice(parse, PARSE_RULES, "parse rule")
    check_choice(derangement, DERANGEMENTS, "derangement")
    special = tuple(getattr(adapter, "special_tokens", ()))
    if tuple(shots) == DEFAULT_SHOTS:
        shots = fitting_shots(adapter, form, shots)
    check_fits(adapter, form, max(shots))
    bar = None
    if progress:
        total = len(functions) * trials * len(shots)
        bar = tqdm(total=total, desc=f"{adapter.name} {form} {condition}", unit="prompt")
    rows = []
    for n in shots:
        batch = list(iter_trials(functions, n, trials, form, seed, condition, derangement))
        for start in range(0, len(batch), chunk):
            part = batch[start : start + chunk]
            completions = adapter.complete([t.text for t in part], N_BITS)
            rows += [
                _row(adapter.name, t, c, seed, parse, derangement, special)
                for t, c in zip(part, completions, strict=True)
            ]
            if bar is not None:
                bar.update(len(part))
    if bar is not None:
        bar.close()
    return rows


def _row(
    model: str,
    trial: Trial,
    completion: str,
    seed: int,
    parse: str = "harness",
    derangement: str = "best-of-256",
    special: Sequence[str] = (),
) -> dict:
    answer = trial.parse(cut_at_special(completion, special), parse)
    return {
        "model": model,
        "form": trial.form,
        "condition": trial.condition,
        "function_id": trial.function.id,
        "program": trial.function.name,
        "bitload": trial.function.bitload,
        "shots": trial.shots,
        "trial": trial.trial,
        "seed": seed,
        "zero": trial.symbols.zero,
        "one": trial.symbols.one,
        "sep": trial.symbols.sep,
        "prompt_symbols": len(trial.text),
        "target": bits_to_str(trial.target),
        "answer": answer,
        "completion": completion,
        "correct": int(answer == bits_to_str(trial.target)),
        "mode_correct": int(trial.mode_correct),
        "identity_correct": int(trial.identity_correct),
        "parse": parse,
        "derangement": derangement if trial.condition == "deranged" else "",
        "in_place": trial.in_place,
    }


# --------------------------------------------------------------------------- summary
def _matrix(rows: list[dict], column: str) -> tuple[np.ndarray, list[int]]:
    """(functions, trials) matrix of a 0/1 column (NaN where a trial is missing)."""
    by_function: dict[int, dict[int, float]] = defaultdict(dict)
    for row in rows:
        by_function[int(row["function_id"])][int(row["trial"])] = float(row[column])
    ids = sorted(by_function)
    width = max(len(v) for v in by_function.values())
    out = np.full((len(ids), width), np.nan)
    for i, fid in enumerate(ids):
        values = [by_function[fid][t] for t in sorted(by_function[fid])]
        out[i, : len(values)] = values
    return out, ids


def _keyed(rows: list[dict], column: str) -> dict[tuple[int, int], float]:
    return {(int(r["function_id"]), int(r["trial"])): float(r[column]) for r in rows}


def _bitload_means(ids: list[int], scores: np.ndarray, bitloads: dict[int, int]) -> dict:
    """Mean per-function accuracy of the functions sharing each BitLoad value."""
    groups: dict[int, list[float]] = defaultdict(list)
    for fid, value in zip(ids, np.nanmean(scores, axis=1), strict=True):
        groups[bitloads[fid]].append(float(value))
    return {load: float(np.mean(values)) for load, values in groups.items()}


def _summarize_run(rows: list[dict], n_boot: int, seed: int) -> dict:
    shots = sorted({int(r["shots"]) for r in rows})
    keys = (
        "accuracy",
        "se",
        "mode_baseline",
        "mode_se",
        "identity_baseline",
        "identity_se",
        "z_vs_mode",
        "p_vs_mode",
        "n_functions",
        "n_trials",
        "in_place_share",
    )
    out: dict = {"shots": shots, **{key: [] for key in keys}}
    bitloads = {int(r["function_id"]): int(r["bitload"]) for r in rows}
    per_function: dict[int, list[float]] = defaultdict(list)
    by_bitload: dict[int, list[float]] = defaultdict(list)
    mode_by_bitload: dict[int, list[float]] = defaultdict(list)
    for n in shots:
        at_n = [r for r in rows if int(r["shots"]) == n]
        (model, ids), (mode, _), (identity, _) = (
            _matrix(at_n, c) for c in ("correct", "mode_correct", "identity_correct")
        )
        boot = cluster_bootstrap(np.stack([model, mode, identity, model - mode]), n_boot, seed)
        se = boot.std(axis=0, ddof=1)
        acc, base = mean_accuracy(model), mean_accuracy(mode)
        z, p = z_test(acc - base, float(se[3]))
        values = (
            acc,
            se[0],
            base,
            se[1],
            mean_accuracy(identity),
            se[2],
            z,
            p,
            model.shape[0],
            int((~np.isnan(model)).sum()),
            _in_place_share(at_n, n),
        )
        for key, value in zip(keys, values, strict=True):
            out[key].append(value if isinstance(value, int) or value is None else float(value))
        for fid, value in zip(ids, np.nanmean(model, axis=1), strict=True):
            per_function[fid].append(float(value))
        for target, scores in ((by_bitload, model), (mode_by_bitload, mode)):
            for load, value in _bitload_means(ids, scores, bitloads).items():
                target[load].append(value)
    out["fit"] = log2_fit(shots, out["accuracy"]).to_dict() if len(shots) > 1 else None
    out["per_function"] = {str(k): v for k, v in sorted(per_function.items())}
    out["by_bitload"] = {str(k): v for k, v in sorted(by_bitload.items())}
    out["mode_by_bitload"] = {str(k): v for k, v in sorted(mode_by_bitload.items())}
    return out


def _in_place_share(rows: list[dict], shots: int) -> float | None:
    """Share of the demonstrations of ``rows`` showing their own true output (None for rows
    of a results.csv written before the column existed)."""
    values = [r.get("in_place") for r in rows]
    if any(v in (None, "") for v in values):
        return None
    return float(sum(int(v) for v in values) / (shots * len(rows)))


def _derangement_effect(clean: list[dict], deranged: list[dict], n_boot: int, seed: int) -> dict:
    """Clean minus deranged accuracy per shot count, paired by (function, trial)."""
    shots = sorted({int(r["shots"]) for r in clean} & {int(r["shots"]) for r in deranged})
    effect: dict = {"shots": shots, "difference": [], "se": [], "z": [], "p": []}
    for n in shots:
        a = _keyed([r for r in clean if int(r["shots"]) == n], "correct")
        b = _keyed([r for r in deranged if int(r["shots"]) == n], "correct")
        paired = [
            {"function_id": f, "trial": t, "d": a[f, t] - b[f, t]} for f, t in a if (f, t) in b
        ]
        diff, _ = _matrix(paired, "d")
        se = float(cluster_bootstrap(diff, n_boot, seed).std(ddof=1))
        z, p = z_test(mean_accuracy(diff), se)
        for key, value in (("difference", mean_accuracy(diff)), ("se", se), ("z", z), ("p", p)):
            effect[key].append(value)
    return effect


def summarize(rows: list[dict], n_boot: int = DEFAULT_BOOTSTRAP, seed: int = 0) -> dict:
    """The content of ``summary.json`` (see module doc)."""
    if not rows:
        raise InputError("no results to summarise")
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[row["model"], row["form"], row["condition"]].append(row)
    runs = []
    for (model, form, condition), group in groups.items():
        runs.append(
            {
                "model": model,
                "form": form,
                "condition": condition,
                "parse": group[0].get("parse") or None,
                "derangement": group[0].get("derangement") or None,
                **_summarize_run(group, n_boot, seed),
            }
        )
    effects = []
    for (model, form, condition), group in groups.items():
        if condition == "clean" and (model, form, "deranged") in groups:
            effect = _derangement_effect(group, groups[model, form, "deranged"], n_boot, seed)
            effects.append({"model": model, "form": form, **effect})
    return {"chance": CHANCE, "n_bootstrap": n_boot, "runs": runs, "clean_minus_deranged": effects}


# --------------------------------------------------------------------------- files
def write_results(rows: list[dict], path: str | os.PathLike) -> Path:
    """``results.csv``: one row per trial."""
    path = Path(path)
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def read_results(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``results.csv`` (values as strings; ``summarize`` accepts them)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_summary(summary: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return path


def format_table(summary: dict) -> str:
    """A plain-text table: accuracy (%) per shot count, slope and p-value, per run."""
    lines = []
    for run in summary["runs"]:
        cells = " ".join(
            f"{n}:{100 * a:5.1f}" for n, a in zip(run["shots"], run["accuracy"], strict=True)
        )
        fit = run.get("fit") or {}
        slope = f"slope {fit['slope']:+.4f}" if fit else ""
        p = f" p {fit['p_value']:.3g}" if fit and fit.get("p_value") is not None else ""
        lines.append(f"{run['model']}\t{run['form']}\t{run['condition']}\t{cells}\t{slope}{p}")
    base = summary["runs"][0]
    lines.append(
        "mode baseline\t"
        + " ".join(
            f"{n}:{100 * a:5.1f}" for n, a in zip(base["shots"], base["mode_baseline"], strict=True)
        )
    )
    return "\n".join(lines)
