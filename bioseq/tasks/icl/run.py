"""The probe matrix of ``bioseq probe``: models x prompt forms x conditions, and its files.

:func:`run_probes` loads each model once, runs the bitstring suite in every prompt form it can
read (clean, and with ``deranged`` the deranged-label control) and/or the recall probes, and
writes one output folder:

* bitstring suite: ``results.csv`` (one row per trial), ``summary.json``, ``icl.png`` and
  ``icl_bitload.png``;
* recall probes: ``recall.json`` and ``recall.png``.

Two models with the same folder name are told apart as ``name``, ``name-2``, ...

>>> from bioseq.tasks.icl.run import run_probes
>>> result = run_probes(["runs/demo"], "probes/demo", functions="1-22")  # doctest: +SKIP
>>> print(result.report())  # doctest: +SKIP
demo	genomic	clean	1:  3.2 2:  4.0 ...
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output, check_output
from bioseq.models.hub import resolve_device
from bioseq.tasks.icl.adapters import Adapter, load_adapter
from bioseq.tasks.icl.evaluate import (
    DEFAULT_BOOTSTRAP,
    format_table,
    run_bitstring,
    summarize,
    write_results,
    write_summary,
)
from bioseq.tasks.icl.plots import plot_bitload, plot_icl, plot_recall
from bioseq.tasks.icl.prompts import DERANGEMENTS, FORMS, PARSE_RULES, check_choice
from bioseq.tasks.icl.recall import run_recall
from bioseq.tasks.icl.suite import DEFAULT_SHOTS, Function, load_functions, select_functions

SUITES = ("bitstring", "recall", "all")
FORM_CHOICES = (*FORMS, "both")
BITSTRING_FILES = ("results.csv", "summary.json", "icl.png", "icl_bitload.png")
RECALL_FILES = ("recall.json", "recall.png")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class ProbeResults:
    """What :func:`run_probes` measured and wrote."""

    out: Path
    rows: list[dict] = field(default_factory=list)  # bitstring trials (results.csv)
    summary: dict | None = None  # summary.json
    recall: dict[str, dict] = field(default_factory=dict)  # model name -> recall results
    written: list[Path] = field(default_factory=list)

    def report(self) -> str:
        """The lines ``bioseq probe`` prints: the accuracy table, the repeat-copy losses and
        the files written."""
        lines = []
        if self.summary is not None:
            lines.append(format_table(self.summary))
            lines.append(
                f"wrote {self.out / 'results.csv'}, summary.json, icl.png, icl_bitload.png"
            )
        for name, res in self.recall.items():
            copy = res["repeat_copy"]
            lines.append(
                f"{name}\trepeat copy loss: first {copy['first_loss']:.3f}, "
                f"second {copy['second_loss']:.3f} nats"
            )
        if self.recall:
            lines.append(f"wrote {self.out / 'recall.json'}, {self.out / 'recall.png'}")
        return "\n".join(lines)


def check_shots(shots: Sequence[int], name: str = "shots") -> tuple[int, ...]:
    """Distinct shot counts in increasing order, each from 1 to 255 (else an InputError
    naming ``name``).

    >>> check_shots([4, 1, 2, 4])
    (1, 2, 4)
    """
    counts = sorted({int(n) for n in shots})
    if not counts or counts[0] < 1 or counts[-1] > 255:
        raise InputError(f"{name}: each value must be from 1 to 255, got {list(shots)}")
    return tuple(counts)


def run_probes(
    models: Sequence[str | os.PathLike | Adapter],
    out: str | os.PathLike,
    suite: str = "bitstring",
    form: str = "both",
    shots: Sequence[int] = DEFAULT_SHOTS,
    trials: int = 8,
    deranged: bool = False,
    functions: str | Sequence[Function] | None = None,
    seed: int = 0,
    batch_size: int = 8,
    device: str | None = None,
    trust_remote_code: bool = False,
    threads: int | None = None,
    bootstrap: int = DEFAULT_BOOTSTRAP,
    reference: bool = False,
    progress: bool = True,
    log: Callable[[str], None] = _stderr,
    parse: str = "harness",
    derangement: str = "best-of-256",
) -> ProbeResults:
    """Run the probes of ``suite`` on every model and write the output folder ``out``.

    ``models``: model or run directories (a bioseq model or a local Hugging Face causal LM),
    or :class:`~bioseq.tasks.icl.adapters.Adapter` objects. ``form`` is ``genomic``,
    ``linguistic`` or ``both`` (which skips, with a line to ``log``, the forms a model's
    tokenizer cannot encode). ``functions``: ids such as ``"1-22,39"`` or a list of
    :class:`~bioseq.tasks.icl.suite.Function` (default: all 100). ``shots`` left at the
    default are cut to the prompts each model reads. ``threads`` sets torch's CPU threads.
    ``bootstrap``: replicates for the standard errors (5,000, as the paper); ``reference``
    draws the paper's Table 4 curves in ``icl.png``. ``parse`` (``harness``: case-insensitive,
    only the form's symbols kept; ``strict``) and ``derangement`` (``best-of-256``; ``index``)
    follow :mod:`bioseq.tasks.icl.prompts`.

    Raises :class:`~bioseq.errors.InputError` for a bad setting (before any model loads), a
    model that cannot be read, or when no model could read any requested form.
    """
    if suite not in SUITES:
        raise InputError(f"suite must be one of {', '.join(SUITES)}, not {suite!r}")
    if form not in FORM_CHOICES:
        raise InputError(f"form must be one of {', '.join(FORM_CHOICES)}, not {form!r}")
    shots = check_shots(shots)
    check_choice(parse, PARSE_RULES, "parse rule")
    check_choice(derangement, DERANGEMENTS, "derangement")
    if bootstrap < 10:
        raise InputError(f"bootstrap: need at least 10 replicates, got {bootstrap}")
    if isinstance(functions, str) or functions is None:
        functions = select_functions(load_functions(), functions)
    out = Path(out)
    check_output(out / "results.csv")  # the folder can be made and written (before any model)
    if threads:
        torch.set_num_threads(threads)
    bitstring, recall = suite in ("bitstring", "all"), suite in ("recall", "all")
    target = resolve_device(device)  # a bad device fails before the first model loads
    result = ProbeResults(out)
    names: set[str] = set()
    for spec in models:
        adapter = load_adapter(
            spec, device=target, batch_size=batch_size, trust_remote_code=trust_remote_code
        )
        adapter.name = _unique_name(adapter.name, names)
        if bitstring:
            result.rows += _bitstring(
                adapter,
                functions,
                shots,
                trials,
                form,
                deranged,
                seed,
                progress,
                log,
                parse,
                derangement,
            )
        if recall:
            log(f"{adapter.name}: recall probes")
            result.recall[adapter.name] = run_recall(adapter, seed=seed)
        del adapter  # free one model before loading the next
    if bitstring:
        _write_bitstring(result, bootstrap, seed, reference)
    if result.recall:
        _write_recall(result)
    return result


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}-{i}", i + 1
    taken.add(candidate)
    return candidate


def _bitstring(
    adapter, functions, shots, trials, form, deranged, seed, progress, log, parse, derangement
):
    forms = list(FORMS) if form == "both" else [form]
    rows = []
    for name in forms:
        if form == "both" and not adapter.encodes(FORMS[name]):
            log(
                f"{adapter.name}: skipping the {name} form (its tokenizer cannot encode "
                f"{FORMS[name]!r})"
            )
            continue
        for condition in ("clean", "deranged") if deranged else ("clean",):
            rows += run_bitstring(
                adapter,
                functions,
                shots,
                trials,
                name,
                seed,
                condition,
                progress=progress,
                parse=parse,
                derangement=derangement,
            )
    return rows


def _write_bitstring(result: ProbeResults, n_boot: int, seed: int, reference: bool) -> None:
    if not result.rows:
        raise InputError("no model could read any requested prompt form")
    out = result.out
    result.summary = summarize(result.rows, n_boot=n_boot, seed=seed)
    write_results(result.rows, out / "results.csv")
    write_summary(result.summary, out / "summary.json")
    plot_icl(result.summary, out / "icl.png", reference=reference)
    plot_bitload(result.summary, out / "icl_bitload.png")
    result.written += [out / name for name in BITSTRING_FILES]


def _write_recall(result: ProbeResults) -> None:
    out = result.out
    with atomic_output(out / "recall.json") as tmp:
        tmp.write_text(json.dumps(result.recall, indent=1) + "\n", encoding="utf-8")
    plot_recall(result.recall, out / "recall.png")
    result.written += [out / name for name in RECALL_FILES]
