"""The settings of a fine-tuning run (:class:`FinetuneConfig`), light to import: no torch.

Each field carries its description (:func:`bioseq.settings.setting`), from which ``bioseq
finetune``'s options are built; the run directory keeps the settings as ``config.yaml``, which
:func:`resume_config` reads back.

>>> config = FinetuneConfig(model="runs/demo", train="train.tsv", out="runs/coding")
>>> config.mode, config.epochs, config.check().lr is None
('full', 3.0, True)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bioseq.errors import InputError
from bioseq.settings import setting

MODES = ("full", "lora", "probe")
TASKS = ("classification", "regression")
POOLINGS = ("mean", "last", "first")
DEFAULT_LR = {"full": 1e-4, "lora": 1e-3}
# what a resumed run may change (the rest is the run's own config.yaml)
RESUME_CHANGES = ("epochs", "device", "progress")


@dataclass
class FinetuneConfig:
    """Settings of one fine-tuning run (the CLI's options; ``config.yaml`` of the run)."""

    model: str = setting(
        dataclasses.MISSING,
        "Run or model directory to start from (bioseq or a Hugging Face one such as ESM-2)",
    )
    train: str = setting(
        dataclasses.MISSING,
        "Training table: CSV/TSV with a header, or FASTA with label=X in headers",
    )
    out: str = setting(dataclasses.MISSING, "Run directory")
    task: str = setting("classification", "What the labels are", choices=TASKS)
    mode: str = setting(
        "full",
        "full: train every weight; lora: peft LoRA adapters and the head; probe: a "
        "logistic/ridge head on frozen pooled features",
        choices=MODES,
    )
    val: str | None = setting(None, "Validation table", default_text="a random tenth of --train")
    test: str | None = setting(None, "Test table, scored once with the best model")
    sequence_col: str = setting("sequence", "Column of the sequences")
    label_col: str = setting("label", "Column of the labels")
    pooling: str = setting(
        "mean", "How a sequence's token features become one vector", choices=POOLINGS
    )
    epochs: float = setting(3.0, "Passes over the training table (may be fractional)")
    batch_size: int = setting(16, "Sequences per optimizer step")
    lr: float | None = setting(
        None, "Peak learning rate", default_text="1e-4 full, 1e-3 lora (DEFAULT_LR)"
    )
    weight_decay: float = setting(0.01, "AdamW weight decay")
    warmup_fraction: float = setting(0.1, "Fraction of the steps of linear warm-up")
    max_length: int | None = setting(
        None,
        "Tokens per sequence (longer ones are cut)",
        default_text="the model's context",
    )
    eval_every: int | None = setting(
        None, "Steps between evaluations", default_text="once per epoch"
    )
    lora_r: int = setting(8, "LoRA rank")
    lora_alpha: int = setting(16, "LoRA scaling (alpha)")
    lora_dropout: float = setting(0.05, "LoRA dropout")
    seed: int = setting(0, "Random seed of the head, the batches and the validation split")
    device: str | None = setting(None, "cpu, cuda, cuda:1 ...", default_text="auto")
    progress: bool = setting(True, "Show a progress bar")

    @classmethod
    def from_flags(
        cls, flags: Mapping[str, Any], resume: str | Path | None = None
    ) -> FinetuneConfig:
        """The configuration ``bioseq finetune`` runs: ``flags`` (the settings given on the
        command line) over the defaults, or with ``resume`` the run's own ``config.yaml``,
        of which only :data:`RESUME_CHANGES` (``epochs``, ``device``, ``progress``) may
        change."""
        if resume is not None:
            fixed = sorted(set(flags) - set(RESUME_CHANGES))
            if fixed:
                given = ", ".join(f"--{k.replace('_', '-')}" for k in fixed)
                raise InputError(
                    f"--resume continues {resume} as it was set up: only --epochs "
                    f"and --device may change (not {given})"
                )
            return resume_config(resume, **flags)
        missing = [f"--{k}" for k in ("model", "train", "out") if not flags.get(k)]
        if missing:
            raise InputError(f"missing {', '.join(missing)} (or --resume RUN)")
        return cls(**flags)

    def check(self) -> FinetuneConfig:
        """``self``, or an InputError naming the first setting out of range."""
        if self.mode not in MODES:
            raise InputError(f"--mode {self.mode!r}: expected one of {', '.join(MODES)}")
        for name in ("epochs", "batch_size", "lora_r"):
            if getattr(self, name) <= 0:
                raise InputError(f"--{name.replace('_', '-')} must be positive")
        if self.lr is not None and self.lr <= 0:
            raise InputError("--lr must be positive")
        return self


def resume_config(run_dir: str | Path, **changes) -> FinetuneConfig:
    """The config a run was started with (``config.yaml``), with ``changes`` (e.g. epochs)."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise InputError(f"{run_dir}: not a finetune run to resume (no config.yaml)")
    saved = yaml.safe_load(path.read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(FinetuneConfig)}
    return FinetuneConfig(**{k: v for k, v in saved.items() if k in fields} | changes)
