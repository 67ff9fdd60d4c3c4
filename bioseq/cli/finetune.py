"""``bioseq finetune`` and ``bioseq predict``: thin wrappers over :mod:`bioseq.tasks.adapt`."""

from __future__ import annotations

import json

import click

from bioseq.errors import InputError


@click.command(context_settings={"max_content_width": 100})
@click.option("--model", "model", help="Run or model directory to start from (bioseq or a "
              "Hugging Face one such as ESM-2).")  # fmt: skip
@click.option("--train", "train", type=click.Path(dir_okay=False),
              help="Training table: CSV/TSV with a header, or FASTA with label=X in headers.")
@click.option("--val", type=click.Path(dir_okay=False),
              help="Validation table [default: a random tenth of --train].")
@click.option("--test", type=click.Path(dir_okay=False),
              help="Test table, scored once with the best model.")
@click.option("--task", type=click.Choice(["classification", "regression"]),
              default="classification", show_default=True)
@click.option("--sequence-col", default="sequence", show_default=True)
@click.option("--label-col", default="label", show_default=True)
@click.option("--mode", type=click.Choice(["full", "lora", "probe"]), default="full",
              show_default=True,
              help="full: train every weight; lora: peft LoRA adapters and the head; probe: a "
              "logistic/ridge head on frozen pooled features.")  # fmt: skip
@click.option("--pooling", type=click.Choice(["mean", "last", "first"]), default="mean",
              show_default=True, help="How a sequence's token features become one vector.")
@click.option("--epochs", type=float, default=3.0, show_default=True)
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--lr", type=float, help="Peak learning rate [default: 1e-4 full, 1e-3 lora].")
@click.option("--weight-decay", type=float, default=0.01, show_default=True)
@click.option("--max-length", type=int,
              help="Tokens per sequence (longer ones are cut) [default: the model's context].")
@click.option("--eval-every", type=int, help="Steps between evaluations [default: an epoch].")
@click.option("--lora-r", type=int, default=8, show_default=True)
@click.option("--lora-alpha", type=int, default=16, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True)
@click.option("--threads", type=int, default=0, help="CPU threads, 0 = torch's default.")
@click.option("-o", "--out", type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", type=click.Path(file_okay=False),
              help="Continue the run in this directory (--epochs may change).")
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
    from bioseq.tasks.adapt.finetune import FinetuneConfig, resume_config
    from bioseq.tasks.adapt.finetune import finetune as run

    if opts["threads"]:
        import torch

        torch.set_num_threads(opts["threads"])
    if opts["resume"]:
        changes = {"epochs": opts["epochs"]} if _given("epochs") else {}
        config = resume_config(opts["resume"], progress=not opts["no_progress"], **changes)
    else:
        missing = [f"--{k}" for k in ("model", "train", "out") if not opts[k]]
        if missing:
            raise InputError(f"missing {', '.join(missing)} (or --resume RUN)")
        fields = {k: v for k, v in opts.items()
                  if k not in ("threads", "resume", "overwrite", "no_progress")}  # fmt: skip
        fields["device"] = None if fields["device"] == "auto" else fields["device"]
        config = FinetuneConfig(**fields, progress=not opts["no_progress"])
    click.echo(f"finetune {config.model} ({config.mode}, {config.task}) on {config.train} "
               f"-> {config.out}", err=True)  # fmt: skip
    scores = run(config, resume=bool(opts["resume"]), overwrite=opts["overwrite"])
    which = "test" if config.test else "validation"
    click.echo(f"{which}: " + ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))


def _given(name: str) -> bool:
    ctx = click.get_current_context()
    return ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


@click.command(context_settings={"max_content_width": 100})
@click.option("--model", "model", required=True,
              help="A finetune run directory (its best/) or a fine-tuned model directory.")
@click.argument("table", type=click.Path(dir_okay=False))
@click.option("-o", "--out", required=True, type=click.Path(dir_okay=False),
              help="Predictions TSV (name, prediction, class probabilities).")
@click.option("--sequence-col", default="sequence", show_default=True)
@click.option("--label-col", default="label", show_default=True,
              help="Scored against the predictions when the table has it.")
@click.option("--batch-size", type=int, default=16, show_default=True)
@click.option("--device", default="auto", show_default=True)
def predict(model, table, out, sequence_col, label_col, batch_size, device) -> None:
    """Apply a fine-tuned model to a table of sequences.

    \b
      bioseq predict --model runs/coding coding_test.tsv --out pred.tsv
    """
    from bioseq.io.outputs import check_output
    from bioseq.tasks.adapt.predict import predict as run

    check_output(out)
    scores = run(model, table, out, sequence_col, label_col, batch_size,
                 device=None if device == "auto" else device)  # fmt: skip
    click.echo(f"wrote {out}", err=True)
    if scores is not None:
        click.echo(json.dumps({k: round(v, 4) for k, v in scores.items()}))
