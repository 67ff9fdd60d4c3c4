"""The resolved configuration of a training run, and its YAML form.

A :class:`TrainConfig` holds every setting of ``bioseq pretrain``; the YAML keys of
``--config run.yaml`` are its field names (``batch_size`` or ``batch-size``). Values are
layered: the defaults, then the file, then the flags given on the command line. An unknown key
or a value of the wrong type is an :class:`~bioseq.errors.InputError` naming the file and line.
The run directory keeps the resolved configuration as ``config.yaml``.

>>> from bioseq.train.config import TrainConfig, merge
>>> config = merge(TrainConfig(), {"steps": 50, "batch-size": 8}, source="flags")
>>> config.steps, config.batch_size, config.model
(50, 8, 'hyena')
>>> merge(config, {"stepz": 1}, source="run.yaml")
Traceback (most recent call last):
...
bioseq.errors.InputError: run.yaml: unknown key 'stepz' (did you mean 'steps'?)
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bioseq.errors import InputError, located
from bioseq.settings import setting

CHOICES = {
    "alphabet": ("auto", "dna", "protein"),
    "model": ("hyena", "mamba", "transformer", "striped-hyena", "caduceus", "merge"),
    "size": ("tiny", "small", "base"),
    "precision": ("auto", "fp32", "bf16"),
    "direction": ("forward", "reverse"),
    "device": ("auto", "cpu", "cuda"),
}
# how to start this run, not part of its recipe (left out of config.yaml)
RUNTIME_KEYS = ("resume", "overwrite", "stop_after")
OBJECTIVES = ("causal", "mlm", "merge")  # merge: a MergeLM's own loss (--model merge)
MASKED_MODELS = ("caduceus",)  # models trained with objective mlm (bidirectional)
BACKBONES = ("hyena", "mamba", "transformer")  # what --model merge runs over its merged tokens
DEFAULT_STEPS = 200
DEFAULT_VAL_FRACTION = 0.1


@dataclass
class TrainConfig:
    """Every setting of a pretraining run (the defaults are the E. coli demo's). Each field
    carries its description (:func:`bioseq.settings.setting`): ``bioseq pretrain --help`` is
    built from them."""

    # data
    inputs: list[str] = setting(
        [],
        "FASTA, GenBank, a2m/a3m or text files or folders of "
        "them; none: the bundled E. coli genome (or text)",
    )
    text: bool = setting(
        False, "INPUTS are UTF-8 text, one byte a token (no INPUTS: the bundled text)"
    )
    alphabet: str = setting(
        "auto", "The inputs' alphabet (auto: detected)", choices=CHOICES["alphabet"]
    )
    tokenizer: str = setting(
        "char",
        "char, kmer, kmer:K, byte or a tokenizer directory "
        "(merge: the old spelling of --model merge)",
    )
    merge_ratio: float | None = setting(
        None, "--model merge: target bases per learned token", default_text="2"
    )
    context: int = setting(256, "Tokens per training sequence")
    context_warmup: int = setting(0, "Steps of context warm-up, doubling from 64 tokens (0 = off)")
    val_fraction: float | None = setting(
        None,
        "Hold out the last fraction of every contig (or that fraction of the records)",
        default_text="0.1; 0 with --val-contigs",
    )
    val_contigs: list[str] = setting([], "Comma-separated contigs (or record names) to hold out")
    rc_augment: bool = setting(
        False,
        "Reverse-complement half the training windows; not "
        "needed for caduceus with RCPS, which is equivariant by "
        "construction",
    )
    sequence_weights: float | None = setting(
        None,
        "Alignments: sample homologs by 1/(neighbours at >= THETA identity), e.g. 0.8 "
        "(EVcouplings' theta)",
        default_text="uniform",
    )
    aligned: bool = setting(
        False,
        "Train on the alignment's match columns, gaps as a token: "
        "one position per column; for a2m/a3m homologs and masked models "
        "(--model caduceus)",
    )
    direction: str = setting(
        "forward", "reverse: a right-to-left model", choices=CHOICES["direction"]
    )
    # model
    model: str = setting(
        "hyena",
        "striped-hyena: Evo 2's StripedHyena 2; caduceus: a "
        "bidirectional BiMamba masked LM, on DNA reverse-complement equivariant "
        "(RCPS; rcps=false in --model-config turns it off); merge: a MergeLM "
        "that learns to merge bases into tokens (MergeDNA) and runs --backbone "
        "over them",
        choices=CHOICES["model"],
    )
    backbone: str | None = setting(
        None,
        "--model merge: the model over the merged tokens",
        default_text="hyena",
        choices=BACKBONES,
    )
    size: str = setting("tiny", "Size preset", choices=CHOICES["size"])
    d_model: int | None = setting(None, "Override the size preset's width")
    n_layer: int | None = setting(None, "Override the size preset's depth")
    model_config: dict[str, Any] = setting(
        {}, "Any other model config field, e.g. d_state=32 (repeatable)"
    )
    objective: str | None = setting(
        None,
        "causal: next token; mlm: BERT-style masked tokens, against a two-sided Markov "
        "reference; merge: --model merge's MergeDNA loss",
        default_text="mlm for caduceus, merge for merge, else causal",
        choices=OBJECTIVES,
    )
    mask_fraction: float = setting(
        0.15,
        "--objective mlm: fraction of each sequence's letters "
        "to predict (80% [MASK], 10% a random letter, 10% "
        "unchanged)",
    )
    # optimisation
    batch_size: int = setting(16, "Sequences per optimizer step, over all processes")
    grad_accum: int = setting(1, "Micro-batches per step and process")
    steps: int | None = setting(
        None, "Optimizer steps", default_text=f"{DEFAULT_STEPS}, unless --tokens"
    )
    tokens: int | None = setting(
        None,
        "Train on about this many tokens instead of --steps (e.g. 50M), rounded up to whole steps",
    )
    lr: float = setting(3e-3, "Peak learning rate")
    min_lr_ratio: float = setting(0.1, "Final / peak learning rate (cosine decay)")
    warmup_steps: int | None = setting(
        None, "Linear warm-up steps", default_text="10% of the steps, at most 1,000"
    )
    weight_decay: float = setting(0.1, "AdamW weight decay")
    betas: list[float] = setting([0.9, 0.95], "AdamW betas")
    grad_clip: float = setting(1.0, "Gradient norm clip, 0 = off")
    precision: str = setting(
        "auto", "auto: bf16 autocast on CUDA, fp32 on CPU", choices=CHOICES["precision"]
    )
    device: str = setting(
        "auto", "Where to train (auto: CUDA when present)", choices=CHOICES["device"]
    )
    threads: int = setting(0, "CPU threads per process, 0 = the idle cores")
    workers: int | None = setting(
        None,
        "Processes building batches ahead of the step, 0 = in the training process",
        default_text="0 on CPU, up to 4 per GPU",
    )
    seed: int = setting(0, "Random seed of the weights, batches and masks")
    max_bad_steps: int = setting(
        5, "Stop after this many NaN/inf steps in a row (checked at each log line)"
    )
    # bookkeeping
    out: str | None = setting(None, "Run directory to create")
    log_every: int = setting(10, "Steps between lines of metrics.jsonl")
    eval_every: int = setting(50, "Steps between validation evaluations")
    eval_windows: int = setting(64, "Validation windows per evaluation")
    final_eval_windows: int = setting(1024, "Validation windows at the end, 0 = all")
    save_every: int = setting(100, "Checkpoint interval in steps")
    keep_checkpoints: int = setting(3, "Newest checkpoints kept, 0 = all")
    markov_order: int = setting(4, "Order of the Markov reference")
    resume: bool = setting(False, "Continue the run in out from its latest checkpoint")
    overwrite: bool = setting(False, "Replace a finished or stopped run in --out")
    stop_after: int | None = setting(
        None, "Stop with a checkpoint after this step, as Ctrl-C would"
    )

    @classmethod
    def from_flags(
        cls,
        flags: Mapping[str, Any],
        inputs: Sequence[str] = (),
        config_file: str | Path | None = None,
        resume: str | Path | None = None,
    ) -> TrainConfig:
        """The configuration that ``bioseq pretrain`` runs: the defaults, then the YAML
        ``config_file`` (with ``resume``, the run's own ``config.yaml`` instead), then
        ``flags`` (the settings given on the command line) and ``inputs``.

        ``steps`` and ``tokens`` are two ways to say how long: the one given as a flag
        replaces the other from the file. ``resume`` continues the run in that directory: it
        takes no ``inputs`` or ``config_file``, and ``out``, when given, must be the same
        directory (what a resumed run may change is checked by
        :func:`bioseq.train.rundir.check_run_dir`).

        >>> TrainConfig.from_flags({"tokens": 4096, "batch_size": 4}).resolved().steps
        4
        """
        values = dict(flags)
        if inputs:
            values["inputs"] = list(inputs)
        if resume is not None:
            if config_file or inputs:
                raise InputError(
                    "--resume takes its inputs and settings from the run's config.yaml"
                )
            if values.get("out") not in (None, str(resume)):
                raise InputError("--resume DIR continues in DIR; leave out --out")
            saved = Path(resume) / "config.yaml"
            if not saved.is_file():
                raise InputError(f"{resume}: not a run directory (no config.yaml) to resume")
            base = load_yaml(saved)
            values.update(out=str(resume), resume=True)
        else:
            base = load_yaml(config_file) if config_file else cls()
        if "tokens" in values and base.steps is not None:
            base = merge(base, {"steps": None})  # --tokens replaces the file's steps
        if "steps" in values and base.tokens is not None:
            base = merge(base, {"tokens": None})  # and --steps the file's tokens
        return merge(base, values, source="command line")

    def __post_init__(self) -> None:
        # tokenizer merge is the old spelling of model merge: the model named with it is the
        # backbone (see merge(), which says so once per source)
        if self.tokenizer == "merge":
            if self.model != "merge":
                self.model, self.backbone = "merge", self.backbone or self.model
            self.tokenizer = "char"
        # merge runs recorded objective causal before merge was an objective of its own
        if self.model == "merge" and self.objective == "causal":
            self.objective = "merge"

    def to_dict(self, runtime: bool = False) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        return data if runtime else {k: v for k, v in data.items() if k not in RUNTIME_KEYS}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def resolved(self) -> TrainConfig:
        """A validated copy with the defaults that depend on other keys filled in:
        ``steps`` (from ``tokens``), ``val_fraction``, ``warmup_steps``, ``objective`` and a
        merge model's ``backbone``."""
        self.validate()
        steps = self.steps
        if self.tokens is not None:
            steps = -(-self.tokens // (self.batch_size * self.context))
        steps = DEFAULT_STEPS if steps is None else steps
        if steps > MAX_STEPS:
            raise InputError(
                f"tokens {self.tokens:,} are {steps:,} steps of batch_size {self.batch_size} x "
                f"context {self.context}; at most {MAX_STEPS:,} steps"
            )
        if self.warmup_steps is not None and self.warmup_steps > steps:
            raise InputError(f"warmup_steps {self.warmup_steps} is more than the {steps} steps")
        val_fraction = self.val_fraction
        if val_fraction is None:
            val_fraction = 0.0 if self.val_contigs else DEFAULT_VAL_FRACTION
        warmup = self.warmup_steps
        if warmup is None:
            warmup = min(1000, steps // 10)
        return dataclasses.replace(
            self,
            steps=steps,
            tokens=None,
            val_fraction=val_fraction,
            warmup_steps=warmup,
            objective=self.objective or default_objective(self.model),
            backbone=self.backbone or ("hyena" if self.model == "merge" else None),
        )

    def with_absolute_paths(self) -> TrainConfig:
        """Inputs and a tokenizer directory as absolute paths (for ``config.yaml``, so
        ``--resume`` works from any directory)."""
        inputs = [str(Path(p).absolute()) for p in self.inputs]
        tokenizer = self.tokenizer
        if Path(tokenizer).is_dir():
            tokenizer = str(Path(tokenizer).absolute())
        return dataclasses.replace(self, inputs=inputs, tokenizer=tokenizer)

    def validate(self) -> TrainConfig:
        """Check every value's range and the values that make no sense together; returns
        ``self``."""
        for key, allowed in CHOICES.items():
            value = getattr(self, key)
            if value not in allowed:
                raise InputError(f"{key} must be one of {', '.join(allowed)}, not {value!r}")
        for key in RANGES:
            problem = range_problem(key, getattr(self, key))
            if problem:
                raise InputError(problem)
        if self.objective is not None and self.objective not in OBJECTIVES:
            raise InputError(
                f"objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}"
            )
        if self.model == "merge" and self.objective not in (None, "merge"):
            raise InputError(
                f"model merge trains with its own objective (merge), not {self.objective}"
            )
        if self.objective == "mlm" and self.model not in MASKED_MODELS:
            raise InputError(
                f"objective mlm needs a masked model: --model caduceus "
                f"({self.model} is causal only)"
            )
        if self.objective == "merge" and self.model != "merge":
            raise InputError(
                f"objective merge is a MergeLM's own loss: --model merge, not {self.model}"
            )
        if self.objective == "causal" and self.model in MASKED_MODELS:
            raise InputError(
                f"{self.model} is a bidirectional masked model: it trains with "
                "objective mlm, not causal"
            )
        if self.aligned:
            self._check_aligned()
        if self.steps is not None and self.tokens is not None:
            raise InputError("give steps or tokens, not both")
        if self.resume and self.overwrite:
            raise InputError("give resume or overwrite, not both")
        if self.val_contigs and self.val_fraction:
            raise InputError("give val_contigs or val_fraction, not both")
        if self.text:
            for key, given in (
                ("alphabet", self.alphabet != "auto"),
                ("rc_augment", self.rc_augment),
                ("val_contigs", bool(self.val_contigs)),
            ):
                if given:
                    raise InputError(f"{key} does not apply to text (--text); leave it out")
            if not 0 <= self.markov_order <= 6:
                raise InputError(f"markov_order must be in 0..6 for text, not {self.markov_order}")
        if self.model == "merge":
            self._check_merge()
        elif self.merge_ratio is not None or self.backbone is not None:
            key = "merge_ratio" if self.merge_ratio is not None else "backbone"
            raise InputError(f"{key} applies only to model merge (--model merge)")
        if self.batch_size % self.grad_accum:
            raise InputError(
                f"batch_size {self.batch_size} is not divisible by grad_accum {self.grad_accum}"
            )
        return self

    def _check_merge(self) -> None:
        """InputError for what model merge (a MergeLM over single bases) cannot go with."""
        if self.backbone is not None and self.backbone not in BACKBONES:
            raise InputError(
                f"model merge takes a {', '.join(BACKBONES[:-1])} or "
                f"{BACKBONES[-1]} backbone, not {self.backbone}"
            )
        if self.text:
            raise InputError("model merge needs DNA input, not text (--text)")
        if self.tokenizer != "char":
            raise InputError(
                f"model merge learns its tokens from single bases: leave out "
                f"--tokenizer {self.tokenizer}"
            )

    def _check_aligned(self) -> None:
        """InputError for what ``aligned`` (training on alignment columns) cannot go with."""
        objective = self.objective or default_objective(self.model)
        if objective != "mlm":
            raise InputError(
                f"aligned (--aligned) trains a masked model on alignment "
                f"columns: --model caduceus, not objective {objective} "
                f"({self.model})"
            )
        if self.text or self.alphabet == "dna":
            what = "text (--text)" if self.text else "DNA (--alphabet dna)"
            raise InputError(f"aligned (--aligned) reads protein alignments (a2m/a3m), not {what}")


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take: ``low..high``, either end open."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        if not math.isfinite(value):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def describe(self, integer: bool) -> str:
        if integer:
            return f"an integer in {self.low:,}..{self.high:,}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"a finite number in {left}{self.low:g}, {self.high:g}{right}"


MAX_STEPS = 10**9  # optimizer steps (and tokens / (batch_size x context))
MAX_INT = 2**31 - 1
RANGES = {
    "merge_ratio": Range(1, 16),
    "context": Range(1, MAX_INT),
    "context_warmup": Range(0, MAX_STEPS),
    "mask_fraction": Range(0, 1, low_open=True, high_open=True),
    "val_fraction": Range(0, 1, high_open=True),
    "sequence_weights": Range(0, 1, low_open=True),
    "d_model": Range(1, 65536),
    "n_layer": Range(1, 1024),
    "batch_size": Range(1, MAX_INT),
    "grad_accum": Range(1, MAX_INT),
    "steps": Range(1, MAX_STEPS),
    "tokens": Range(1, 10**15),
    "lr": Range(0, 10, low_open=True),
    "min_lr_ratio": Range(0, 1),
    "warmup_steps": Range(0, MAX_STEPS),
    "weight_decay": Range(0, 10),
    "betas": Range(0, 1, high_open=True),  # each of the two
    "grad_clip": Range(0, 1e6),  # 0 = no clipping
    "threads": Range(0, 4096),  # 0 = auto
    "workers": Range(0, 256),
    "seed": Range(0, 2**32 - 1),
    "max_bad_steps": Range(1, MAX_INT),
    "log_every": Range(1, MAX_INT),
    "eval_every": Range(1, MAX_INT),
    "eval_windows": Range(1, MAX_INT),
    "final_eval_windows": Range(0, MAX_INT),  # 0 = every window
    "save_every": Range(1, MAX_INT),
    "keep_checkpoints": Range(0, MAX_INT),  # 0 = keep all
    "markov_order": Range(0, 12),  # DNA: 4^13 counts; lower for proteins, 0..6 for text
    "stop_after": Range(1, MAX_STEPS),
}


def default_objective(model: str) -> str:
    """``mlm`` for the masked models (caduceus), ``merge`` for a MergeLM, ``causal`` for the
    others.

    >>> default_objective("caduceus"), default_objective("merge"), default_objective("mamba")
    ('mlm', 'merge', 'causal')
    """
    if model == "merge":
        return "merge"
    return "mlm" if model in MASKED_MODELS else "causal"


def check_masked_run(config: TrainConfig, alphabet: str) -> None:
    """InputError for what a resolved ``objective: mlm`` run cannot do with ``alphabet``'s data
    (checked once the inputs are read, so a YAML file alone never fails on it; ``rcps`` on
    proteins is refused by :func:`bioseq.train.model.caduceus_settings`)."""
    if config.objective != "mlm":
        return
    if config.text:
        raise InputError("objective mlm (--model caduceus) trains on DNA or protein, not text")
    if config.tokenizer != "char":
        raise InputError(
            f"objective mlm reads one token a letter: --tokenizer char, not {config.tokenizer!r}"
        )
    if config.direction != "forward":
        raise InputError(
            "direction reverse is for causal models; a masked model reads both "
            "ways (leave out --direction)"
        )


def range_problem(key: str, value: Any, name: str | None = None) -> str | None:
    """What is wrong with ``value`` for the numeric setting ``key`` (None when it is in range).

    >>> range_problem("lr", float("inf"))
    'lr must be a finite number in (0, 10], not inf'
    >>> range_problem("betas", [0.9, 1.5])
    'betas must each be a finite number in [0, 1), not 1.5'
    """
    bounds, name = RANGES.get(key), name or key
    if bounds is None or value is None:
        return None
    integer = _HINTS[key] in (int, int | None)
    if key == "betas":
        if len(value) != 2:
            return f"{name} must be two numbers, not {value}"
        bad = [v for v in value if not bounds.contains(v)]
        return f"{name} must each be {bounds.describe(False)}, not {bad[0]!r}" if bad else None
    if not bounds.contains(value):
        return f"{name} must be {bounds.describe(integer)}, not {value!r}"
    return None


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}
_HINTS = typing.get_type_hints(TrainConfig)


def _check_type(key: str, value: Any, where: str) -> Any:
    """``value`` converted to the field's type, or an InputError naming ``where``."""
    hint = _HINTS[key]
    args = typing.get_args(hint)
    optional = isinstance(hint, types.UnionType) and type(None) in args
    base = next((a for a in args if a is not type(None)), hint) if optional else hint
    origin = typing.get_origin(base) or base
    if value is None and optional:
        return None
    ok = {
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, (int, float)) and not isinstance(value, bool),
        str: isinstance(value, (str, Path)),
        bool: isinstance(value, bool),
        list: isinstance(value, (list, tuple)),
        dict: isinstance(value, Mapping),
    }[origin]
    if not ok:
        names = {
            int: "an integer",
            float: "a number",
            str: "a string",
            bool: "true or false",
            list: "a list",
            dict: "a mapping",
        }
        raise InputError(located(where, None, f"{key} must be {names[origin]}, not {value!r}"))
    if origin is float:
        return _as_float(key, value, where)
    if origin is str:
        return str(value)
    if origin is list:
        (item,) = typing.get_args(base)
        if item is float:
            return [_as_float(f"{key} item", v, where) for v in value]
        for v in value:  # names: strings (a number is taken as written, e.g. a contig "1")
            if isinstance(v, bool) or not isinstance(v, (str, int, float, Path)):
                raise InputError(located(where, None, f"{key} items must be strings, not {v!r}"))
        return [str(v) for v in value]
    if origin is dict:
        return dict(value)
    return value


def _old_merge_spelling(backbone: str | None, source: str) -> None:
    """One line on stderr: ``tokenizer: merge`` now means ``model: merge`` (with the model it
    named as the backbone)."""
    if source == "command line":
        old, new = "--tokenizer merge", f"--model merge --backbone {backbone}"
    else:
        old, new = f"{source}: tokenizer: merge", f"model: merge, backbone: {backbone}"
    line = f"bioseq: warning: {old} is deprecated; it means {new}"
    if line not in _SAID:
        if source != "command line":  # a resumed run reads its config.yaml more than once
            _SAID.add(line)
        print(line, file=sys.stderr, flush=True)


_SAID: set[str] = set()


def _as_float(key: str, value: Any, where: str) -> float:
    """``value`` as a float: a number (not true/false) that a float can hold."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(located(where, None, f"{key} must be a number, not {value!r}"))
    try:
        return float(value)
    except OverflowError:
        raise InputError(located(where, None, f"{key} is too large for a number")) from None


def merge(
    config: TrainConfig, values: Mapping[str, Any], source: str = "config", lines=None
) -> TrainConfig:
    """A copy of ``config`` with ``values`` applied (keys may use ``-`` or ``_``).

    ``lines`` maps keys to line numbers for messages naming ``source:line``.
    """
    updates = {}
    for raw_key, value in values.items():
        key = str(raw_key).replace("-", "_")
        where = source if not lines or raw_key not in lines else f"{source}:{lines[raw_key]}"
        if key not in FIELDS:
            close = difflib.get_close_matches(key, FIELDS, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(FIELDS)}"
            raise InputError(f"{where}: unknown key {raw_key!r} ({hint})")
        updates[key] = _check_type(key, value, where)
        flag = source == "command line"
        problem = range_problem(key, updates[key], f"--{key.replace('_', '-')}" if flag else key)
        if problem:
            raise InputError(problem if flag else f"{where}: {problem}")
    merged = dataclasses.replace(config, **updates)
    if updates.get("tokenizer") == "merge":
        _old_merge_spelling(merged.backbone, source)
    return merged


def load_yaml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (default: the defaults) with the keys of the YAML file ``path`` applied."""
    path = Path(path)
    if not path.is_file():
        what = "is a directory, expected a YAML file" if path.is_dir() else "no such file"
        raise InputError(f"{path}: {what} (configuration)")
    text = _read_text(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        if isinstance(err, yaml.reader.ReaderError):
            line = text.count("\n", 0, err.position) + 1
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise InputError(located(path, line, f"invalid YAML: {problem}")) from None
    except RecursionError:
        raise InputError(f"{path}: invalid YAML: nested too deeply") from None
    except (ValueError, TypeError, AttributeError, OverflowError) as err:  # a bad tagged value
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{path}: invalid YAML value ({first})") from None
    duplicate = _duplicate_key(node)
    if duplicate is not None:
        key, line = duplicate
        raise InputError(located(path, line, f"duplicate key {key!r} (given twice)"))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise InputError(f"{path}: expected a mapping of keys to values, found a {kind}")
    keys = [k for k, _ in node.value if isinstance(k, yaml.ScalarNode)] if node else []
    lines = {k.value: k.start_mark.line + 1 for k in keys}
    return merge(base or TrainConfig(), data, source=str(path), lines=lines)


def _read_text(path: Path) -> str:
    """The UTF-8 text of a configuration file, or a one-line InputError (binary, unreadable)."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror or err})") from None
    if b"\0" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\0")) + 1
        raise InputError(f"{path}:{line}: a NUL byte: a binary file, expected YAML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        message = f"not UTF-8 text (byte {err.start}), expected YAML"
        raise InputError(located(path, line, message)) from None


def _duplicate_key(node: yaml.Node | None) -> tuple[str, int] | None:
    """The first key given twice in one mapping anywhere in ``node``, and its line."""
    stack = [node] if node is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        return key.value, key.start_mark.line + 1
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None
