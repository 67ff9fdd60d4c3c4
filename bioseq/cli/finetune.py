"""``bioseq finetune`` and ``bioseq predict``: thin wrappers over :mod:`bioseq.tasks.adapt`
(the finetune options are built from :class:`~bioseq.tasks.adapt.config.FinetuneConfig`)."""

from __future__ import annotations

import json

import click

from bioseq.cli.options import config_option, given
from bioseq.tasks.adapt.config import FinetuneConfig


def _option(name: str, *decls: str, **overrides):
    return config_option(FinetuneConfig, name, *decls, **overrides)


@click.command(context_settings={"max_content_width": 100})
@_option("model")
@_option("train", type=click.Path(dir_okay=False))
@_option("val", type=click.Path(dir_okay=False))
@_option("test", type=click.Path(dir_okay=False))
@_option("task")
@_option("sequence_col")
@_option("label_col")
@_option("mode")
@_option("pooling")
@_option("epochs")
@_option("batch_size")
@_option("lr")
@_option("weight_decay")
@_option("warmup_fraction")
@_option("max_length")
@_option("eval_every")
@_option("lora_r")
@_option("lora_alpha")
@_option("lora_dropout")
@_option("seed")
@_option("device")
@click.option("--threads", type=int, default=0, help="CPU threads, 0 = torch's default.")
@_option("out", "-o", type=click.Path(file_okay=False))
@click.option(
    "--resume",
    type=click.Path(file_okay=False),
    help="Continue the run in this directory (--epochs may change).",
)
@click.option("--overwrite", is_flag=True, help="Replace the run in --out.")
@click.option("--no-progress", is_flag=True)
def finetune(**opts) -> None:
    """Fine-tune a model on labelled sequences: a classification or regression head over the
    pretrained backbone, trained in full, with LoRA adapters, or as a linear probe.

    \b
      bioseq finetune --model runs/demo --train train.tsv --val val.tsv --test test.tsv \\
          --task classification --mode lora --out runs/coding
      bioseq finetune --model runs/fam --train blat.csv --task regression --mode probe \\
          --sequence-col sequence --label-col 2500 --out runs/blat-probe
      bioseq finetune --resume runs/coding --epochs 6

    The run directory holds metrics.jsonl (train loss; validation accuracy/MCC/AUROC or
    Spearman/Pearson), metrics.png, best/ (the model with the best validation MCC or
    Spearman; AutoModelForSequenceClassification.from_pretrained loads it), checkpoints/,
    test_metrics.json and test_predictions.tsv. Ctrl-C saves a checkpoint; --resume continues.
    """
    from bioseq.tasks.adapt.finetune import finetune as run

    if opts["threads"]:
        import torch

        torch.set_num_threads(opts["threads"])
    settings = given(
        {
            k: v
            for k, v in opts.items()
            if k not in ("threads", "resume", "overwrite", "no_progress")
        }
    )
    if settings.get("device") == "auto":
        settings["device"] = None
    settings["progress"] = not opts["no_progress"]
    config = FinetuneConfig.from_flags(settings, resume=opts["resume"])
    click.echo(
        f"finetune {config.model} ({config.mode}, {config.task}) on {config.train} -> {config.out}",
        err=True,
    )
    scores = run(config, resume=bool(opts["resume"]), overwrite=opts["overwrite"])
    which = "test" if config.test else "validation"
    click.echo(f"{which}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


@click.command(context_settings={"max_content_width": 100})
@click.option(
    "--model",
    "model",
    required=True,
    help="A finetune run directory (its best/) or a fine-tuned model directory.",
)
@click.argument("table", type=click.Path(dir_okay=False))
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Predictions TSV (name, prediction, class probabilities).",
)
@click.option("--sequence-col", default="sequence", show_default=True)
@click.option(
    "--label-col",
    default="label",
    show_default=True,
    help="Scored against the predictions when the table has it.",
)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--device", default="auto", show_default=True)
def predict(model, table, out, sequence_col, label_col, batch_size, device) -> None:
    """Apply a fine-tuned model to a table of sequences.

    \b
      bioseq predict --model runs/coding coding_test.tsv --out pred.tsv
    """
    from bioseq.tasks.adapt.predict import predict as run

    scores = run(
        model,
        table,
        out,
        sequence_col,
        label_col,
        batch_size,
        device=None if device == "auto" else device,
    )
    click.echo(f"wrote {out}", err=True)
    if scores is not None:
        click.echo(json.dumps({k: round(v, 4) for k, v in scores.items()}))
