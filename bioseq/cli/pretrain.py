"""``bioseq pretrain``: train a language model on FASTA, GenBank or protein alignment files, or
on plain text (``--text``, the linguistic control)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import click
import yaml

from bioseq.errors import InputError

_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9, "b": 10**9}


def parse_count(text: str) -> int:
    """``"2.5M"`` -> 2500000; plain integers and ``1e6`` work too."""
    raw = text.strip().lower().replace(",", "").replace("_", "")
    scale = _SUFFIXES.get(raw[-1:], 1)
    try:
        value = float(raw[:-1] if scale > 1 else raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 1 <= value * scale <= 1e15:
        raise InputError(
            f"--tokens: expected a count from 1 to 1e15 such as 5000000 or 5M, not {text!r}"
        )
    return int(value * scale)


def parse_model_config(items: tuple[str, ...]) -> dict:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--model-config: expected KEY=VALUE, not {item!r}")
        out[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return out


def _choice(*values: str) -> click.Choice:
    return click.Choice(values)


@click.command(context_settings={"show_default": True})
@click.argument("inputs", nargs=-1, type=click.Path())
@click.option("--out", "-o", type=click.Path(), help="Run directory to create.")
@click.option("--resume", type=click.Path(), help="Continue the run in this directory.")
@click.option("--overwrite", is_flag=True, default=None, help="Replace the run in --out.")
@click.option("--config", "config_file", type=click.Path(), help="YAML file of settings.")
@click.option("--text", is_flag=True, default=None,
              help="INPUTS are UTF-8 text, one byte a token [none: bundled text]")  # fmt: skip
@click.option("--alphabet", type=_choice("auto", "dna", "protein"), help="[default: auto]")
@click.option("--model",
              type=_choice("hyena", "mamba", "transformer", "striped-hyena", "caduceus"),
              help="striped-hyena: Evo 2's StripedHyena 2; caduceus: a bidirectional BiMamba "
                   "masked LM, on DNA reverse-complement equivariant (RCPS; rcps=false in "
                   "--model-config turns it off) [default: hyena]")  # fmt: skip
@click.option("--objective", type=_choice("causal", "mlm"),
              help="causal: next token; mlm: BERT-style masked tokens, against a two-sided "
                   "Markov reference [default: mlm for caduceus, else causal]")  # fmt: skip
@click.option("--mask-fraction", type=float,
              help="--objective mlm: fraction of each sequence's letters to predict (80% "
                   "[MASK], 10% a random letter, 10% unchanged) [default: 0.15]")  # fmt: skip
@click.option("--size", type=_choice("tiny", "small", "base"), help="[default: tiny]")
@click.option("--d-model", type=int, help="Override the size preset's width.")
@click.option("--n-layer", type=int, help="Override the size preset's depth.")
@click.option("--model-config", multiple=True, metavar="KEY=VALUE",
              help="Any other model config field, e.g. d_state=32 (repeatable).")  # fmt: skip
@click.option("--tokenizer",
              help="char, kmer, kmer:K, byte, a tokenizer directory, or merge: learned merging "
                   "(a MergeLM over single bases whose latent backbone is --model) "
                   "[default: char]")  # fmt: skip
@click.option("--merge-ratio", type=float,
              help="--tokenizer merge: target bases per learned token [default: 2]")  # fmt: skip
@click.option("--context", type=int, help="Tokens per training sequence [default: 256]")
@click.option("--context-warmup", type=int,
              help="Steps of context warm-up, doubling from 64 tokens [default: 0]")  # fmt: skip
@click.option("--batch-size", type=int,
              help="Sequences per optimizer step, over all processes [default: 16]")  # fmt: skip
@click.option("--grad-accum", type=int, help="Micro-batches per step and process [default: 1]")
@click.option("--steps", type=int, help="Optimizer steps [default: 200]")
@click.option("--tokens", help="Train on about this many tokens instead of --steps (e.g. 50M).")
@click.option("--lr", type=float, help="Peak learning rate [default: 3e-3]")
@click.option("--min-lr-ratio", type=float, help="Final / peak learning rate [default: 0.1]")
@click.option("--warmup-steps", type=int, help="Linear warm-up [default: 10% of the steps]")
@click.option("--weight-decay", type=float, help="AdamW weight decay [default: 0.1]")
@click.option("--grad-clip", type=float, help="Gradient norm clip, 0 = off [default: 1.0]")
@click.option("--seed", type=int, help="[default: 0]")
@click.option("--val-fraction", type=float,
              help="Hold out the last fraction of every contig [default: 0.1]")  # fmt: skip
@click.option("--val-contigs", help="Comma-separated contigs (or record names) to hold out.")
@click.option("--rc-augment/--no-rc-augment", default=None,
              help="Reverse-complement half the training windows; not needed for caduceus "
                   "with RCPS, which is equivariant by construction [default: off]")  # fmt: skip
@click.option("--sequence-weights", type=float, metavar="THETA",
              help="Alignments: sample homologs by 1/(neighbours at >= THETA identity), "
                   "e.g. 0.8 [default: uniform]")  # fmt: skip
@click.option("--aligned/--no-aligned", default=None,
              help="Train on the alignment's match columns, gaps as a token: one position per "
                   "column; for a2m/a3m homologs and masked models (--model caduceus) "
                   "[default: off]")  # fmt: skip
@click.option("--precision", type=_choice("auto", "fp32", "bf16"),
              help="auto: bf16 autocast on CUDA, fp32 on CPU [default: auto]")  # fmt: skip
@click.option("--direction", type=_choice("forward", "reverse"),
              help="reverse: a right-to-left model [default: forward]")  # fmt: skip
@click.option("--device", type=_choice("auto", "cpu", "cuda"), help="[default: auto]")
@click.option("--threads", type=int,
              help="CPU threads per process, 0 = the idle cores [default: 0]")  # fmt: skip
@click.option("--log-every", type=int, help="[default: 10]")
@click.option("--eval-every", type=int, help="[default: 50]")
@click.option("--eval-windows", type=int, help="Validation windows per evaluation [default: 64]")
@click.option("--final-eval-windows", type=int,
              help="Validation windows at the end, 0 = all [default: 1024]")  # fmt: skip
@click.option("--save-every", type=int, help="Checkpoint interval in steps [default: 100]")
@click.option("--keep-checkpoints", type=int, help="Newest checkpoints kept, 0 = all [default: 3]")
@click.option("--markov-order", type=int, help="Order of the Markov reference [default: 4]")
@click.option("--max-bad-steps", type=int,
              help="Stop after this many NaN/inf steps in a row [default: 5]")  # fmt: skip
@click.option("--stop-after", type=int, help="Stop with a checkpoint after this step.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def pretrain(inputs: tuple[str, ...], config_file: str | None, resume: str | None,
             quiet: bool, **flags) -> None:  # fmt: skip
    """Pretrain a Hyena, Mamba, Transformer, StripedHyena or Caduceus (masked) language model
    on INPUTS: FASTA, GenBank or protein alignment (a2m/a3m) files or folders of them. With
    no INPUTS, trains on the bundled E. coli genome: `bioseq pretrain --out runs/demo` is a
    complete demo (1-2 minutes on 2 CPU cores).

    With --text, INPUTS are UTF-8 text files (plain or gzipped; folders: their *.txt and
    *.txt.gz files) and the model reads bytes: the linguistic control for a DNA model of the
    same size. With no INPUTS it trains on the bundled Alice's Adventures in Wonderland. Bits
    per base are then bits per byte, against an order-k byte Markov reference.

    --model caduceus trains a bidirectional masked LM (--objective mlm): 15% of the letters
    are targets, and validation reports masked-token bits per base (val_masked_bits) beside a
    two-sided order-k Markov reference on the same positions (markov_masked_bits). On DNA it is
    reverse-complement equivariant (RCPS), so --rc-augment is not needed; on proteins (e.g.
    `homologs.a2m --alphabet protein --sequence-weights 0.8`) RCPS is off. With --aligned it
    reads each homolog's match columns, '-' a token of its own (one position per column, as
    EVmutation's 21 states), and records aligned and alignment_width in the model's config;
    score-mutations then takes the wild type as that alignment (--wildtype X.a2m).

    Writes OUT/final/ (the model, loadable with AutoModelForCausalLM.from_pretrained after
    `import bioseq.models`, or AutoModelForMaskedLM for an mlm run), OUT/checkpoints/step-N/,
    OUT/metrics.jsonl, OUT/loss.png and
    OUT/config.yaml. Ctrl-C or SIGTERM stops after the current step with a checkpoint and
    exits 130 or 143 (--stop-after N, a deliberate stop, exits 0); --resume OUT continues
    exactly: the model and data settings stay those of the run, the schedule, optimizer and
    bookkeeping flags may change (e.g. --steps). One run at a time holds a run directory.
    Exit codes: 0 done, 1 the loss or weights became NaN/inf, 2 bad input or a write error.
    Under `torchrun --nproc_per_node=N -m bioseq pretrain ...` the processes train one model
    with DistributedDataParallel.

    \b
    Examples:
        bioseq pretrain --out runs/demo
        bioseq pretrain genome.fa.gz --model mamba --size small --context 4096 --out runs/g
        bioseq pretrain proteins.a2m --direction reverse --out runs/p --config run.yaml
        bioseq pretrain --text --model mamba --size small --out runs/text
        bioseq pretrain --tokenizer merge --merge-ratio 3 --model hyena --out runs/m
        bioseq pretrain --model caduceus --out runs/mlm
        bioseq pretrain homologs.a2m --alphabet protein --model caduceus --sequence-weights 0.8
        bioseq pretrain homologs.a2m --model caduceus --aligned --sequence-weights 0.8
        bioseq pretrain --resume runs/g --steps 20000
    """
    from bioseq.train import TrainConfig, TrainingDiverged, TrainingInterrupted, load_yaml, merge
    from bioseq.train import pretrain as run_pretrain

    values = {k: v for k, v in flags.items() if v is not None and v != ()}
    if "tokens" in values:
        values["tokens"] = parse_count(values["tokens"])
    if "model_config" in values:
        values["model_config"] = parse_model_config(values["model_config"])
    if "val_contigs" in values:
        values["val_contigs"] = [c.strip() for c in values["val_contigs"].split(",") if c.strip()]
    if inputs:
        values["inputs"] = list(inputs)
    if resume is not None:
        if config_file or inputs:
            raise InputError("--resume takes its inputs and settings from the run's config.yaml")
        if values.get("out") not in (None, resume):
            raise InputError("--resume DIR continues in DIR; leave out --out")
        saved = Path(resume) / "config.yaml"
        if not saved.is_file():
            raise InputError(f"{resume}: not a run directory (no config.yaml) to resume")
        base = load_yaml(saved)
        values.update(out=resume, resume=True)
    else:
        base = load_yaml(config_file) if config_file else TrainConfig()
    if base.tokens is None and "tokens" in values and base.steps is not None:
        base = merge(base, {"steps": None})  # --tokens replaces the file's steps
    if "steps" in values and base.tokens is not None:
        base = merge(base, {"tokens": None})
    config = merge(base, values, source="command line")
    try:
        run_pretrain(config, quiet=quiet)
    except TrainingDiverged as err:
        click.echo(f"bioseq: error: {err}", err=True)
        sys.exit(1)
    except TrainingInterrupted as err:  # the checkpoint is saved; exit as the signal would
        if not err.reported:
            click.echo(f"bioseq: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:  # Ctrl-C outside the loop (loading data, writing final/)
        click.echo("bioseq: interrupted", err=True)
        sys.exit(130)
