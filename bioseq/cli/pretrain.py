"""``bioseq pretrain``: train a language model on FASTA, GenBank or protein alignment files, or
on plain text (``--text``, the linguistic control)."""

from __future__ import annotations

import math
import sys

import click
import yaml

from bioseq.cli.options import config_option, given
from bioseq.errors import InputError
from bioseq.train.config import TrainConfig

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


def _option(name: str, *decls: str, **overrides):
    return config_option(TrainConfig, name, *decls, **overrides)


@click.command()
@click.argument("inputs", nargs=-1, type=click.Path())
@_option("out", "-o", type=click.Path())
@click.option("--resume", type=click.Path(), help="Continue the run in this directory.")
@_option("overwrite")
@click.option("--config", "config_file", type=click.Path(), help="YAML file of settings.")
@_option("text")
@_option("alphabet")
@_option("model")
@_option("backbone")
@_option("objective")
@_option("mask_fraction")
@_option("size")
@_option("d_model")
@_option("n_layer")
@_option("model_config", multiple=True, metavar="KEY=VALUE", type=str, default=())
@_option("tokenizer")
@_option("merge_ratio")
@_option("context")
@_option("context_warmup")
@_option("batch_size")
@_option("grad_accum")
@_option("steps")
@_option("tokens", type=str, metavar="COUNT")
@_option("lr")
@_option("min_lr_ratio")
@_option("warmup_steps")
@_option("weight_decay")
@_option("grad_clip")
@_option("seed")
@_option("val_fraction")
@_option("val_contigs", type=str, default=None, metavar="NAMES")
@_option("rc_augment", negatable=True)
@_option("sequence_weights", metavar="THETA")
@_option("aligned", negatable=True)
@_option("precision")
@_option("direction")
@_option("device")
@_option("threads")
@_option("workers")
@_option("log_every")
@_option("eval_every")
@_option("eval_windows")
@_option("final_eval_windows")
@_option("save_every")
@_option("keep_checkpoints")
@_option("markov_order")
@_option("max_bad_steps")
@_option("stop_after")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def pretrain(
    inputs: tuple[str, ...], config_file: str | None, resume: str | None, quiet: bool, **flags
) -> None:
    """Pretrain a Hyena, Mamba, Transformer, StripedHyena, Caduceus (masked) or MergeLM
    (learned merging) language model on INPUTS: FASTA, GenBank or protein alignment (a2m/a3m)
    files or folders of them. With no INPUTS, trains on the bundled E. coli genome:
    `bioseq pretrain --out runs/demo` is a complete demo (1-2 minutes on 2 CPU cores).

    With --text, INPUTS are UTF-8 text files (plain or gzipped; folders: their *.txt and
    *.txt.gz files) and the model reads bytes: the linguistic control for a DNA model of the
    same size. With no INPUTS it trains on the bundled Alice's Adventures in Wonderland, World
    Factbook 1992 excerpt (numerals in running text) and table of circulating decimals (runs
    of digits as long as a linguistic ICL prompt's). Bits per base are then bits per byte,
    against an order-k byte Markov reference.

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
        bioseq pretrain --model merge --backbone hyena --merge-ratio 3 --out runs/m
        bioseq pretrain --model caduceus --out runs/mlm
        bioseq pretrain homologs.a2m --alphabet protein --model caduceus --sequence-weights 0.8
        bioseq pretrain homologs.a2m --model caduceus --aligned --sequence-weights 0.8
        bioseq pretrain --resume runs/g --steps 20000
    """
    from bioseq.train import TrainingDiverged, TrainingInterrupted
    from bioseq.train import pretrain as run_pretrain

    values = given(flags)
    if "tokens" in values:
        values["tokens"] = parse_count(values["tokens"])
    if "model_config" in values:
        values["model_config"] = parse_model_config(values["model_config"])
    if "val_contigs" in values:
        values["val_contigs"] = [c.strip() for c in values["val_contigs"].split(",") if c.strip()]
    config = TrainConfig.from_flags(values, inputs, config_file, resume)
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
