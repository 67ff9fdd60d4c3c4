"""Supervised fine-tuning of any model on a labelled sequence table: ``full``, ``lora`` or
``probe``.

* ``full``: every weight trains (AdamW, linear warm-up then cosine decay);
* ``lora``: ``peft`` LoRA adapters on the family's linear layers
  (:data:`bioseq.models.heads.LORA_TARGETS`; a foreign model: ``peft``'s own defaults) and the
  new head train, the backbone stays frozen;
* ``probe``: a logistic (or ridge) regression on the frozen backbone's pooled features, its
  regularisation chosen on the validation table; the fitted weights become the model's head.

The model is ``AutoModelForSequenceClassification`` over the pretrained backbone (see
:mod:`bioseq.models.heads`). Without ``val`` a random tenth of ``train`` is the validation set.
A run directory, as ``bioseq pretrain``'s: ``config.yaml``, ``metrics.jsonl`` (train loss and the
validation metrics per evaluation), ``checkpoints/step-N/`` (the trained weights, optimizer,
scheduler, RNG and position: ``resume`` continues exactly), ``best/`` (the model with the best
validation MCC, or Spearman for regression, a Hugging Face directory that
``AutoModelForSequenceClassification.from_pretrained`` loads; LoRA runs also keep
``best/adapter/``, the ``peft`` adapter), ``test_metrics.json``, ``test_predictions.tsv`` and
``metrics.png``.

>>> from bioseq.tasks.adapt.finetune import FinetuneConfig, finetune
>>> finetune(FinetuneConfig(model="runs/demo", train="coding_train.tsv", val="coding_val.tsv",
...                         test="coding_test.tsv", task="classification", mode="lora",
...                         out="runs/coding"))  # doctest: +SKIP
{'accuracy': 0.91, 'mcc': 0.82, 'auroc': 0.96}
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from bioseq import runtime
from bioseq.errors import InputError
from bioseq.io.outputs import replace_dir, write_text_atomic
from bioseq.io.tables import Table, read_table
from bioseq.models.context import model_context
from bioseq.models.heads import LORA_TARGETS
from bioseq.models.hub import load_classifier, quiet_transformers
from bioseq.tasks.adapt.config import DEFAULT_LR, FinetuneConfig
from bioseq.tasks.adapt.framing import encode
from bioseq.tasks.adapt.labels import SELECTION, Labels, metrics
from bioseq.tasks.adapt.plots import plot_finetune
from bioseq.tasks.adapt.predict import predict_outputs, write_predictions
from bioseq.tasks.adapt.probe import fit_probe

STATE_FILE = "trainer_state.pt"
WEIGHTS_FILE = "trainable.safetensors"


@dataclass
class Split:
    """One table's sequences and targets."""

    table: Table
    targets: list


def read_splits(config: FinetuneConfig) -> tuple[Labels, Split, Split, Split | None]:
    """Train, validation (a random tenth of train without ``val``) and test tables, with the
    classes taken from train."""

    def read(path: str) -> Table:
        return read_table(path, config.sequence_col, config.label_col)

    train = read(config.train)
    labels = Labels.from_table_labels(train.labels, config.task)
    val = read(config.val) if config.val else None
    if val is None:
        if len(train) < 10:
            raise InputError(f"{config.train}: {len(train)} rows; give --val or at least 10 rows")
        train, val = _hold_out(train, config.seed)
    test = read(config.test) if config.test else None
    splits = [
        Split(t, labels.encode(t.labels, str(t.path))) if t is not None else None
        for t in (train, val, test)
    ]
    return labels, splits[0], splits[1], splits[2]


def _hold_out(table: Table, seed: int) -> tuple[Table, Table]:
    order = np.random.default_rng(seed).permutation(len(table))
    n_val = max(1, len(table) // 10)
    parts = []
    for rows in (np.sort(order[n_val:]), np.sort(order[:n_val])):
        parts.append(
            Table(
                table.path,
                [table.names[i] for i in rows],
                [table.sequences[i] for i in rows],
                [table.labels[i] for i in rows],
            )
        )
    return parts[0], parts[1]


# -- the model -------------------------------------------------------------------------------
def build_model(config: FinetuneConfig, labels: Labels):
    """The classifier over the pretrained backbone, and its tokenizer; LoRA-wrapped for
    ``lora``, the backbone frozen for ``probe``."""
    overrides = {
        "num_labels": labels.num_labels,
        "classifier_pooling": config.pooling,
        "problem_type": ("regression" if labels.classes is None else "single_label_classification"),
    }
    if labels.classes is not None:
        overrides["id2label"] = dict(enumerate(labels.classes))
        overrides["label2id"] = {c: i for i, c in enumerate(labels.classes)}
    loaded = load_classifier(config.model, config.device, **overrides)
    model, tokenizer = loaded.model, loaded.tokenizer
    if config.mode == "lora":
        model = _with_lora(model, config)
    elif config.mode == "probe":
        model.requires_grad_(False)
    return model, tokenizer


def _with_lora(model, config: FinetuneConfig):
    from peft import LoraConfig, get_peft_model  # deferred: only --mode lora needs peft

    targets = LORA_TARGETS.get(model.config.model_type)
    lora = LoraConfig(
        task_type="SEQ_CLS",
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
    )
    try:
        return get_peft_model(model, lora)
    except ValueError as err:  # peft knows no default target modules for this model type
        raise InputError(
            f"{config.model}: LoRA cannot find layers to adapt ({str(err).splitlines()[0][:120]})"
        ) from None


def plain_model(model):
    """The model as a plain ``...ForSequenceClassification`` (a LoRA model merged, on a copy)."""
    if hasattr(model, "merge_and_unload"):
        return copy.deepcopy(model).merge_and_unload()
    return model


def save_best(run_dir: Path, model, tokenizer) -> None:
    """Write ``best/`` atomically: the plain model and tokenizer (and a LoRA run's adapter)."""
    tmp = run_dir / ".best-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_transformers():
        plain_model(model).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if hasattr(model, "peft_config"):
            model.save_pretrained(tmp / "adapter")
    replace_dir(tmp, run_dir / "best")


# -- checkpoints -----------------------------------------------------------------------------
def _trainable_state(model) -> dict[str, torch.Tensor]:
    return {
        n: p.detach().contiguous().cpu() for n, p in model.named_parameters() if p.requires_grad
    }


def _device(model) -> torch.device:
    """Where the model runs: whose CUDA generator a checkpoint keeps (not the current GPU's)."""
    return next(model.parameters()).device


def save_checkpoint(run_dir: Path, step: int, model, optimizer, scheduler, state: dict) -> None:
    """``checkpoints/step-N/``: the trained weights (safetensors) and the trainer's state."""
    root = run_dir / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".step-{step}-tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file(_trainable_state(model), tmp / WEIGHTS_FILE)
    torch.save(
        {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": runtime.rng_state(_device(model)),
            **state,
        },
        tmp / STATE_FILE,
    )
    replace_dir(tmp, root / f"step-{step}")
    for old in sorted(root.glob("step-*"), key=lambda p: int(p.name[5:]))[:-1]:
        shutil.rmtree(old, ignore_errors=True)  # the newest is all resume needs


def load_checkpoint(run_dir: Path, model, optimizer, scheduler) -> dict | None:
    """Restore the newest checkpoint of ``run_dir``; its state, or None when there is none."""
    found = sorted((run_dir / "checkpoints").glob("step-*"), key=lambda p: int(p.name[5:]))
    if not found:
        return None
    path = found[-1]
    try:
        weights = load_file(path / WEIGHTS_FILE)
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        missing = set(_trainable_state(model)) - set(weights)
        if missing:
            raise ValueError(f"{len(missing)} trained tensors missing, e.g. {min(missing)}")
        model.load_state_dict(weights, strict=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        runtime.set_rng_state(state["rng"], _device(model))
    except Exception as err:  # noqa: BLE001 - a damaged checkpoint fails in many ways
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{path}: unreadable checkpoint ({first[:160]})") from None
    return state


# -- the run ---------------------------------------------------------------------------------
def _prepare_run_dir(config: FinetuneConfig, resume: bool, overwrite: bool) -> Path:
    run_dir = Path(config.out)
    if resume:
        if not (run_dir / "config.yaml").is_file():
            raise InputError(f"{run_dir}: not a finetune run to resume (no config.yaml)")
        return run_dir
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise InputError(
                f"{run_dir}: exists and is not empty (use --overwrite to replace "
                "it or --resume to continue it)"
            )
        if not (run_dir / "config.yaml").is_file():
            raise InputError(f"{run_dir}: holds other files, not a finetune run; not replaced")
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(dataclasses.asdict(config)))
    return run_dir


def finetune(config: FinetuneConfig, resume: bool = False, overwrite: bool = False) -> dict:
    """Train, keep the best model by the validation metric, evaluate it on the test table.
    Returns the test metrics (the validation ones when there is no test table)."""
    config.check()
    labels, train, val, test = read_splits(config)
    run_dir = _prepare_run_dir(config, resume, overwrite)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    model, tokenizer = build_model(config, labels)
    max_length = config.max_length or model_context(model, tokenizer) or 1024  # when unknown
    if config.mode == "probe":
        fit_probe(model, tokenizer, config, train, val, run_dir, max_length)
        save_best(run_dir, model, tokenizer)
        _plot(run_dir, config.task)
    else:
        _train(model, tokenizer, config, train, val, run_dir, max_length, resume)
    return _evaluate_best(run_dir, config, labels, test or val, max_length)


def _schedule(optimizer, total: int, warmup: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def _train(
    model, tokenizer, config, train: Split, val: Split, run_dir: Path, max_length: int, resume: bool
) -> None:
    device = next(model.parameters()).device
    per_epoch = math.ceil(len(train.table) / config.batch_size)
    total = max(1, round(config.epochs * per_epoch))
    eval_every = config.eval_every or per_epoch
    params = [p for p in model.parameters() if p.requires_grad]
    lr = config.lr or DEFAULT_LR[config.mode]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=config.weight_decay)
    scheduler = _schedule(optimizer, total, max(1, round(config.warmup_fraction * total)))
    key = SELECTION[config.task]
    state = {"best": -math.inf, "best_step": 0}
    step = 0
    metrics_path = run_dir / "metrics.jsonl"
    if resume:
        saved = load_checkpoint(run_dir, model, optimizer, scheduler)
        if saved is not None:
            step = int(saved["step"])
            state = {"best": float(saved["best"]), "best_step": int(saved["best_step"])}
        rows = runtime.read_metrics(metrics_path) if metrics_path.is_file() else []
        _write_metrics(metrics_path, [r for r in rows if r.get("step", 0) <= step])
    bar = _progress(config, total, step)
    model.train()
    losses: list[torch.Tensor] = []
    with runtime.StopSignal() as stop:
        while step < total:
            epoch, offset = divmod(step, per_epoch)
            order = np.random.default_rng((config.seed, epoch)).permutation(len(train.table))
            rows = order[offset * config.batch_size : (offset + 1) * config.batch_size]
            sequences = [train.table.sequences[i] for i in rows]
            batch = encode(model, tokenizer, sequences, max_length, device)
            targets = torch.tensor([train.targets[i] for i in rows], device=device)
            loss = model(**batch, labels=targets).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.detach())
            bar.update(1)
            if step % eval_every == 0 or step == total or stop.requested:
                scores = metrics(
                    config.task,
                    val.targets,
                    predict_outputs(
                        model,
                        tokenizer,
                        val.table.sequences,
                        config.task,
                        config.batch_size,
                        max_length,
                    ),
                )
                row = {
                    "step": step,
                    "epoch": round(step / per_epoch, 3),
                    "train_loss": float(torch.stack(losses).mean()) if losses else None,
                    "lr": scheduler.get_last_lr()[0],
                    **{f"val_{k}": v for k, v in scores.items()},
                }
                losses = []
                _append_metrics(metrics_path, row)
                bar.set_postfix({f"val_{key}": f"{scores[key]:.3f}"})
                value = scores[key] if math.isfinite(scores[key]) else -math.inf
                if value > state["best"] or not (run_dir / "best").is_dir():
                    state = {"best": value, "best_step": step}
                    save_best(run_dir, model, tokenizer)
                save_checkpoint(run_dir, step, model, optimizer, scheduler, state)
                _plot(run_dir, config.task)
                if stop.requested:
                    bar.close()
                    raise runtime.TrainingInterrupted(
                        f"stopped by {stop.requested} at step {step}; resume with "
                        f"bioseq finetune --resume {run_dir}",
                        stop.signum,
                    )
    bar.close()


def _progress(config: FinetuneConfig, total: int, done: int):
    return tqdm(
        total=total,
        initial=done,
        desc="finetune",
        unit="step",
        disable=not config.progress,
        dynamic_ncols=True,
    )


def _append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")


def _write_metrics(path: Path, rows: list[dict]) -> None:
    write_text_atomic(path, "".join(json.dumps(r) + "\n" for r in rows))


def _plot(run_dir: Path, task: str) -> None:
    plot_finetune(run_dir / "metrics.jsonl", run_dir / "metrics.png", SELECTION[task])


def _evaluate_best(
    run_dir: Path, config: FinetuneConfig, labels: Labels, split: Split, max_length: int
) -> dict:
    best = load_classifier(run_dir, config.device, finetuned=True)
    model, tokenizer = best.model.eval(), best.tokenizer
    outputs = predict_outputs(
        model, tokenizer, split.table.sequences, config.task, config.batch_size, max_length
    )
    scores = metrics(config.task, split.targets, outputs)
    which = "test" if config.test else "val"
    write_text_atomic(
        run_dir / f"{which}_metrics.json",
        json.dumps({"table": str(split.table.path), "n": len(split.table), **scores}, indent=2)
        + "\n",
    )
    write_predictions(run_dir / f"{which}_predictions.tsv", split.table, outputs, labels)
    return scores
