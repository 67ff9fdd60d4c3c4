"""Figures: accuracy against shots (``icl.png``), by BitLoad (``icl_bitload.png``), recall.

All functions take the dictionaries written to ``summary.json`` / ``recall.json`` and a path.

>>> import tempfile, pathlib
>>> summary = {"chance": 1 / 256, "runs": [{
...     "model": "m", "form": "genomic", "condition": "clean", "shots": [1, 2, 4],
...     "accuracy": [0.1, 0.2, 0.3], "se": [0.01] * 3, "mode_baseline": [0.19] * 3,
...     "mode_se": [0.01] * 3, "identity_baseline": [0.04] * 3,
...     "by_bitload": {"0": [1.0, 1.0, 1.0], "8": [0.0, 0.1, 0.2]}}]}
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> plot_icl(summary, out / "icl.png", reference=True).name
'icl.png'
>>> plot_bitload(summary, out / "icl_bitload.png").name
'icl_bitload.png'
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from bioseq.tasks.icl.suite import load_reference  # noqa: E402

_LINESTYLE = {"clean": "-", "deranged": "--"}
_MARKER = {"genomic": "o", "linguistic": "s"}


def _label(run: dict) -> str:
    extra = "" if run["condition"] == "clean" else f", {run['condition']}"
    return f"{run['model']} ({run['form']}{extra})"


def plot_icl(summary: dict, path: str | os.PathLike, reference: bool | list[str] = False) -> Path:
    """Accuracy against shots on a log2 axis: one line per model, form and condition (error bars
    = 1 standard error), the mode baseline as a 95% band, the identity baseline and chance as
    thin lines, and optionally the paper's Table 4 curves (``True`` or a list of names) over
    the measured range of shots."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(dict.fromkeys(run["model"] for run in summary["runs"]))
    for run in summary["runs"]:
        ax.errorbar(
            run["shots"],
            run["accuracy"],
            yerr=run["se"],
            capsize=2,
            color=colors[models.index(run["model"]) % len(colors)],
            linestyle=_LINESTYLE.get(run["condition"], ":"),
            marker=_MARKER.get(run["form"], "^"),
            markersize=4,
            label=_label(run),
        )
    base = summary["runs"][0]
    low = [a - 1.96 * s for a, s in zip(base["mode_baseline"], base["mode_se"], strict=True)]
    high = [a + 1.96 * s for a, s in zip(base["mode_baseline"], base["mode_se"], strict=True)]
    ax.fill_between(base["shots"], low, high, color="0.6", alpha=0.3, label="mode baseline (95%)")
    ax.plot(
        base["shots"],
        base["identity_baseline"],
        color="0.4",
        lw=0.8,
        ls=":",
        label="answer = query",
    )
    ax.axhline(summary.get("chance", 1 / 256), color="0.7", lw=0.8, label="chance (1/256)")
    ticks = set(base["shots"])
    if reference:
        table = load_reference()
        names = list(table) if reference is True else list(reference)
        for name in names:
            curve = table[name]
            shots = [n for n in sorted(curve) if min(ticks) <= n <= max(ticks)]
            ax.plot(
                shots,
                [curve[n] for n in shots],
                lw=0.9,
                alpha=0.6,
                color="tab:green" if name.startswith("Evo2") else "tab:purple",
                ls=(0, (4, 2)),
                label=f"paper: {name}",
            )
            ticks.update(shots)
    _log2_axis(ax, sorted(ticks))
    ax.set_xlabel("shots (demonstrations)")
    ax.set_ylabel("exact-match accuracy")
    ax.set_ylim(bottom=0)
    ax.set_title("In-context learning of bitstring functions")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return _save(fig, path)


def plot_bitload(summary: dict, path: str | os.PathLike) -> Path:
    """Accuracy by BitLoad, averaged over shot counts (left) and at the most shots (right), with
    the mode baseline of the first run as a grey dashed line."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    models = list(dict.fromkeys(run["model"] for run in summary["runs"]))
    picks = (lambda v: sum(v) / len(v), lambda v: v[-1])
    base = summary["runs"][0].get("mode_by_bitload")
    for ax, pick in zip(axes, picks, strict=True):
        for run in summary["runs"]:
            loads = sorted(int(k) for k in run["by_bitload"])
            ax.plot(
                loads,
                [pick(run["by_bitload"][str(k)]) for k in loads],
                color=colors[models.index(run["model"]) % len(colors)],
                marker=_MARKER.get(run["form"], "^"),
                ms=4,
                ls=_LINESTYLE.get(run["condition"], ":"),
                label=_label(run),
            )
        if base:
            loads = sorted(int(k) for k in base)
            ax.plot(
                loads,
                [pick(base[str(k)]) for k in loads],
                color="0.5",
                ls="--",
                lw=0.9,
                label="mode baseline",
            )
        ax.set_xlabel("BitLoad (input bits the output depends on)")
        ax.set_xticks(range(9))
    last = summary["runs"][0]["shots"][-1]
    axes[0].set_title("mean over shot counts")
    axes[1].set_title(f"{last} shots")
    axes[0].set_ylabel("exact-match accuracy")
    axes[0].set_ylim(0, 1.02)
    axes[1].legend(fontsize=7)
    return _save(fig, path)


def plot_recall(results: dict, path: str | os.PathLike) -> Path:
    """Three panels: repeat-copy loss per position, MQAR accuracy, label ICL accuracy.

    ``results`` maps model names to :func:`bioseq.tasks.icl.recall.run_recall` outputs.
    """
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, res) in enumerate(results.items()):
        color = colors[i % len(colors)]
        copy = res["repeat_copy"]
        positions = range(len(copy["first_per_position"]))
        axes[0].plot(
            positions,
            _smooth(copy["first_per_position"]),
            color=color,
            lw=1.0,
            ls=":",
            label=f"{name}: first copy",
        )
        axes[0].plot(
            positions,
            _smooth(copy["second_per_position"]),
            color=color,
            lw=1.2,
            label=f"{name}: second copy",
        )
        for twice, style in ((False, "-"), (True, "--")):
            curve = [c for c in res["mqar"]["curves"] if c["read_twice"] == twice]
            if curve:
                axes[1].plot(
                    curve[0]["pairs"],
                    curve[0]["accuracy"],
                    color=color,
                    ls=style,
                    marker="o",
                    ms=3,
                    label=f"{name}{', block read twice' if twice else ''}",
                )
        label = res["label_icl"]
        axes[2].plot(
            label["shots_per_class"], label["accuracy"], color=color, marker="o", ms=3, label=name
        )
    axes[0].set(
        title="repeat copy (running mean of 8)", xlabel="position in copy", ylabel="loss (nats)"
    )
    axes[1].set(
        title="multi-query associative recall",
        xlabel="key-value pairs",
        ylabel="exact-match accuracy",
        ylim=(-0.02, 1.02),
    )
    axes[2].set(
        title="label ICL (two classes)",
        xlabel="shots per class",
        ylabel="accuracy",
        ylim=(-0.02, 1.02),
    )
    axes[2].axhline(0.5, color="0.6", lw=0.8)
    if results:
        first = next(iter(results.values()))
        _log2_axis(axes[1], first["mqar"]["curves"][0]["pairs"])
        _log2_axis(axes[2], first["label_icl"]["shots_per_class"])
    for ax in axes:
        ax.legend(fontsize=6)
    return _save(fig, path)


def _smooth(values: list[float | None], window: int = 8) -> list[float]:
    """Running mean over the last ``window`` positions (None = missing)."""
    out, recent = [], []
    for value in values:
        if value is not None:
            recent = [*recent[-(window - 1) :], value]
        out.append(sum(recent) / len(recent) if recent else float("nan"))
    return out


def _log2_axis(ax, ticks: list[int]) -> None:
    ax.set_xscale("log", base=2)
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.minorticks_off()


def _save(fig, path: str | os.PathLike) -> Path:
    path = Path(path)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return path
