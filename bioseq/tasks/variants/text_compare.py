"""``bioseq compare-variants``: a DNA model's and a text model's variant AUROCs side by side.

Genomic form: a VCF scored by ``score-vcf`` from ``make-snv-vcf``'s SNVs (``BIOSEQ_EFFECT``
and ``BIOSEQ_LLR``): AUROC of synonymous (positive) against nonsynonymous SNVs. Linguistic
form: a ``score-text`` table: AUROC of ``word`` (positive) against ``nonword`` edits. Each
with a 95% bootstrap interval (classes resampled separately). Inputs are named ``NAME=PATH``
(rows of one name share a table row); the outputs are ``OUT`` (TSV, one line per input),
``OUT.md`` (a Markdown table, one row per name) and ``OUT.png`` (the AUROCs with intervals).

>>> compare_variants([("h", "dna.vcf.gz")], [("h", "text.tsv")], "cmp.tsv")  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_output
from bioseq.tasks.variants.metrics import bootstrap_auroc, save_png
from bioseq.tasks.variants.report import Report, check_outputs, quiet_htslib, written_together

FORMS = {"genomic": ("synonymous", "nonsynonymous"), "linguistic": ("word", "nonword")}
TSV_COLUMNS = (
    "name", "form", "positive", "negative", "n_positive", "n_negative", "auroc",
    "ci_low", "ci_high", "path",
)  # fmt: skip


def parse_named(spec: str) -> tuple[str, str]:
    """``NAME=PATH``, or a bare path named by its file name without suffixes.

    >>> parse_named("hyena=runs/s.vcf.gz"), parse_named("runs/s.vcf.gz")
    (('hyena', 'runs/s.vcf.gz'), ('s', 'runs/s.vcf.gz'))
    """
    name, sep, path = spec.partition("=")
    if sep and name and path:
        return name, path
    return Path(spec).name.split(".")[0], spec


def dna_classes(path: str | os.PathLike) -> tuple[list[float], list[float]]:
    """Scores of the synonymous and the nonsynonymous SNVs of a ``score-vcf`` VCF."""
    quiet_htslib()
    try:
        handle = pysam.VariantFile(str(path))
    except (OSError, ValueError) as err:
        raise InputError(f"{path}: not a readable VCF/BCF ({err})") from None
    with handle:
        info = handle.header.info
        if not {"BIOSEQ_EFFECT", "BIOSEQ_LLR"} <= set(info):
            raise InputError(
                f"{path}: expected a VCF scored by bioseq score-vcf (BIOSEQ_LLR) from "
                "make-snv-vcf's SNVs (BIOSEQ_EFFECT); score-vcf's .tsv output has no effects"
            )
        syn, nonsyn = [], []
        for record in handle:
            effect = record.info.get("BIOSEQ_EFFECT")
            for score in record.info.get("BIOSEQ_LLR", ()) or ():
                if score is not None and effect in FORMS["genomic"]:
                    (syn if effect == "synonymous" else nonsyn).append(float(score))
    return syn, nonsyn


def text_classes(path: str | os.PathLike) -> tuple[list[float], list[float]]:
    """Scores of the ``word`` and the ``nonword`` rows of a ``score-text`` table."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        if not {"label", "score"} <= set(reader.fieldnames or ()):
            raise InputError(f"{path}: expected a score-text table (label and score columns)")
        word, nonword = [], []
        for row in reader:
            if row["label"] in FORMS["linguistic"] and row["score"] not in ("", "NA"):
                (word if row["label"] == "word" else nonword).append(float(row["score"]))
    return word, nonword


@dataclass
class Compared:
    """What :func:`compare_variants` measured (``rows``: dicts of :data:`TSV_COLUMNS`)."""

    rows: list[dict]
    written: list[Path]
    report: Report


def compare_variants(
    dna: Sequence[tuple[str, str]],
    text: Sequence[tuple[str, str]],
    out: str | os.PathLike,
    n_boot: int = 1000,
    seed: int = 0,
) -> Compared:
    """Measure every input (``(name, path)`` pairs) and write the three outputs."""
    if not dna and not text:
        raise InputError("give at least one --dna or --text input")
    out = Path(out)
    stem = out.with_suffix("") if out.suffix.lower() in (".tsv", ".txt") else out
    md, png = Path(f"{stem}.md"), Path(f"{stem}.png")
    check_outputs(out, md, png)
    rows = []
    for form, inputs, read in (("genomic", dna, dna_classes), ("linguistic", text, text_classes)):
        positive, negative = FORMS[form]
        for name, path in inputs:
            pos, neg = read(path)
            value, low, high = bootstrap_auroc(pos, neg, n_boot, seed)
            rows.append(
                dict(
                    name=name,
                    form=form,
                    positive=positive,
                    negative=negative,
                    n_positive=len(pos),
                    n_negative=len(neg),
                    auroc=value,
                    ci_low=low,
                    ci_high=high,
                    path=str(path),
                )
            )
    report = Report()
    with written_together([md, png]) as (md_tmp, png_tmp):
        md_tmp.write_text(markdown(rows), encoding="utf-8")
        plot(rows, png_tmp)
        with atomic_output(out) as tmp:
            tmp.write_text(_tsv(rows), encoding="utf-8")
    for line in markdown(rows).splitlines():
        report.result(line)
    empty = [f"{r['name']} ({r['form']})" for r in rows if math.isnan(r["auroc"])]
    if empty:
        report.warn(f"no AUROC without both classes: {', '.join(empty)}")
    report.note(f"wrote {out}, {md} and {png}")
    return Compared(rows, [out, md, png], report)


def _fmt(value: float) -> str:
    return "NA" if math.isnan(value) else f"{value:.4f}"


def _tsv(rows: list[dict]) -> str:
    lines = ["\t".join(TSV_COLUMNS)]
    for r in rows:
        cells = [_fmt(r[c]) if isinstance(r[c], float) else str(r[c]) for c in TSV_COLUMNS]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def markdown(rows: list[dict]) -> str:
    """One row per name: each form's AUROC, 95% interval and class sizes."""
    names = list(dict.fromkeys(r["name"] for r in rows))
    lines = [
        "| model | genomic AUROC, synonymous vs nonsynonymous [95% CI] (n) "
        "| linguistic AUROC, word vs nonword [95% CI] (n) |",
        "|---|---|---|",
    ]
    for name in names:
        cells = []
        for form in FORMS:
            found = [r for r in rows if r["name"] == name and r["form"] == form]
            cells.append(
                "; ".join(
                    f"{_fmt(r['auroc'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}] "
                    f"({r['n_positive']:,} / {r['n_negative']:,})"
                    for r in found
                )
                or "-"
            )
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: str | os.PathLike) -> None:
    """The AUROCs with their intervals, genomic and linguistic side by side per name."""
    import matplotlib  # deferred: the Agg backend is chosen when drawing, not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg")

    names = list(dict.fromkeys(r["name"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(4, 1.2 * len(names) + 2), 4), dpi=120)
    for k, (form, color) in enumerate(zip(FORMS, ("tab:green", "tab:blue"), strict=True)):
        xs, ys, errs = [], [], [[], []]
        for i, name in enumerate(names):
            for r in rows:
                if r["name"] == name and r["form"] == form and not math.isnan(r["auroc"]):
                    xs.append(i + (k - 0.5) * 0.3)
                    ys.append(r["auroc"])
                    errs[0].append(r["auroc"] - r["ci_low"])
                    errs[1].append(r["ci_high"] - r["auroc"])
        if xs:
            ax.errorbar(xs, ys, yerr=errs, fmt="o", color=color, capsize=3, label=form)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(range(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylabel("AUROC (95% bootstrap CI)")
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.set_title("synonymous vs nonsynonymous (genomic),\nword vs nonword (linguistic)", fontsize=8)
    if ax.get_legend_handles_labels()[0]:  # no AUROC at all: an empty plot, no legend
        ax.legend(fontsize=8)
    save_png(fig, path)
