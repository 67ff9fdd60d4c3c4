"""``bioseq probe``: in-context learning probes on one or several models."""

from __future__ import annotations

import json
from pathlib import Path

import click

from bioseq.errors import InputError


def parse_shots(text: str) -> tuple[int, ...]:
    """``"1,2,4"`` -> ``(1, 2, 4)``: distinct, increasing, each from 1 to 255."""
    try:
        shots = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise InputError(f"--shots: expected comma-separated integers, got {text!r}") from None
    if not shots or shots[0] < 1 or shots[-1] > 255:
        raise InputError(f"--shots: each value must be from 1 to 255, got {text!r}")
    return tuple(shots)


def _unique_name(name: str, taken: set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}-{i}", i + 1
    taken.add(candidate)
    return candidate


@click.command()
@click.option("--model", "models", multiple=True, required=True, metavar="DIR",
              help="A bioseq model or run directory, or a local Hugging Face causal LM "
                   "directory. Repeat to compare models in one plot.")  # fmt: skip
@click.option("--suite", type=click.Choice(["bitstring", "recall", "all"]), default="bitstring",
              show_default=True, help="Which probes to run.")  # fmt: skip
@click.option("--form", type=click.Choice(["genomic", "linguistic", "both"]), default="both",
              show_default=True,
              help="Prompt form ('both' skips forms a tokenizer cannot encode).")  # fmt: skip
@click.option("--shots", default="1,2,4,8,16,32,64,128", show_default=True,
              help="Comma-separated numbers of demonstrations.")  # fmt: skip
@click.option("--trials", type=click.IntRange(min=1), default=8, show_default=True,
              help="Trials per function and shot count.")  # fmt: skip
@click.option("--deranged", is_flag=True,
              help="Also run the deranged-label control (demo outputs permuted).")  # fmt: skip
@click.option("--functions", default=None, metavar="IDS",
              help="Only these function ids, e.g. '1-22,39' (default: all 100).")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if present).")
@click.option("--trust-remote-code", is_flag=True,
              help="Run Python code that a Hugging Face model folder ships (auto_map). Off by "
                   "default: only for folders you trust.")  # fmt: skip
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads for torch (1 suits tiny models on a busy machine).")  # fmt: skip
@click.option("--bootstrap", type=click.IntRange(min=10), default=1000, show_default=True,
              help="Bootstrap replicates for standard errors.")  # fmt: skip
@click.option("--reference", is_flag=True, help="Draw the paper's Table 4 curves in icl.png.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Output directory (created if needed).")  # fmt: skip
def probe(
    models: tuple[str, ...], suite: str, form: str, shots: str, trials: int, deranged: bool,
    functions: str | None, seed: int, batch_size: int, device: str | None,
    trust_remote_code: bool, threads: int | None, bootstrap: int, reference: bool, out_dir: str,
) -> None:  # fmt: skip
    """In-context learning probes: the bitstring program-induction suite (100 functions, genomic
    and linguistic prompt forms) and recall probes (repeat copy, MQAR, label ICL).

    Writes results.csv (one row per trial), summary.json, icl.png and icl_bitload.png for the
    bitstring suite, recall.json and recall.png for the recall probes.

    \b
    Examples:
        bioseq probe --model runs/dna-small --out probes/dna-small
        bioseq probe --model runs/dna --model runs/text --form both --deranged --out probes/cmp
        bioseq probe --model qwen3-0.6b --form linguistic --shots 1,8,64 --trials 80 --out q
    """
    import torch

    from bioseq.io.outputs import check_output
    from bioseq.models.hub import resolve_device
    from bioseq.tasks.icl.adapters import load_adapter
    from bioseq.tasks.icl.suite import load_functions, select_functions

    if threads:
        torch.set_num_threads(threads)
    shot_counts = parse_shots(shots)
    chosen = select_functions(load_functions(), functions)
    target = resolve_device(device)
    out = Path(out_dir)
    check_output(out / "results.csv")  # the folder can be made and written (before any model)
    rows: list[dict] = []
    recall: dict[str, dict] = {}
    names: set[str] = set()
    for spec in models:
        adapter = load_adapter(spec, device=target, batch_size=batch_size,
                               trust_remote_code=trust_remote_code)  # fmt: skip
        adapter.name = _unique_name(adapter.name, names)
        if suite in ("bitstring", "all"):
            rows += _bitstring(adapter, chosen, shot_counts, trials, form, deranged, seed)
        if suite in ("recall", "all"):
            from bioseq.tasks.icl.recall import run_recall

            click.echo(f"{adapter.name}: recall probes", err=True)
            recall[adapter.name] = run_recall(adapter, seed=seed)
        del adapter
    if suite in ("bitstring", "all"):
        _write_bitstring(rows, out, bootstrap, seed, reference)
    if recall:
        from bioseq.tasks.icl.plots import plot_recall

        (out / "recall.json").write_text(json.dumps(recall, indent=1) + "\n", encoding="utf-8")
        plot_recall(recall, out / "recall.png")
        for name, res in recall.items():
            copy = res["repeat_copy"]
            click.echo(f"{name}\trepeat copy loss: first {copy['first_loss']:.3f}, "
                       f"second {copy['second_loss']:.3f} nats")  # fmt: skip
        click.echo(f"wrote {out / 'recall.json'}, {out / 'recall.png'}")


def _bitstring(adapter, functions, shots, trials, form, deranged, seed) -> list[dict]:
    from bioseq.tasks.icl.evaluate import run_bitstring
    from bioseq.tasks.icl.prompts import FORMS

    forms = list(FORMS) if form == "both" else [form]
    rows = []
    for name in forms:
        if form == "both" and not adapter.encodes(FORMS[name]):
            click.echo(f"{adapter.name}: skipping the {name} form (its tokenizer cannot encode "
                       f"{FORMS[name]!r})", err=True)  # fmt: skip
            continue
        for condition in ("clean", "deranged") if deranged else ("clean",):
            rows += run_bitstring(adapter, functions, shots, trials, name, seed, condition,
                                  progress=True)  # fmt: skip
    return rows


def _write_bitstring(rows: list[dict], out: Path, n_boot: int, seed: int, reference: bool):
    from bioseq.tasks.icl.evaluate import format_table, summarize, write_results, write_summary
    from bioseq.tasks.icl.plots import plot_bitload, plot_icl

    if not rows:
        raise InputError("no model could read any requested prompt form")
    summary = summarize(rows, n_boot=n_boot, seed=seed)
    write_results(rows, out / "results.csv")
    write_summary(summary, out / "summary.json")
    plot_icl(summary, out / "icl.png", reference=reference)
    plot_bitload(summary, out / "icl_bitload.png")
    click.echo(format_table(summary))
    click.echo(f"wrote {out / 'results.csv'}, summary.json, icl.png, icl_bitload.png")
