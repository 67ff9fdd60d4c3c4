"""The one way bioseq loads a model: a name or a folder to a model, its tokenizer and its kind.

Every command that takes ``--model`` (score-vcf, score-mutations, probe, embed, generate,
finetune, predict, tokenizer report) and every Python entry point behind them loads here:

- :func:`load_model` returns a language model as a :class:`LoadedModel`. It takes
  a ``bioseq pretrain`` run directory (its ``final/``, else its latest checkpoint:
  :func:`resolve_model_dir`); a model directory: bioseq's, one ``bioseq convert`` wrote, or a
  foreign Hugging Face one (any causal LM; ``EsmForMaskedLM`` such as ESM-2 or the Nucleotide
  Transformer); or the name ``site-independent`` with an ``alignment``, the per-column family
  baseline (:class:`~bioseq.models.site_independent.SiteIndependentModel`).
- :func:`load_classifier` returns a sequence classifier: a fine-tuning run's ``best/`` or a
  pretrained model's backbone under a new head (:mod:`bioseq.models.heads`).

Both run no code that came with the folder: a config or tokenizer config with an ``auto_map``
(custom Python classes) is refused in one line unless the caller asks for it
(``trust_remote_code``; the CLI's ``--trust-remote-code``), and ``.bin`` weights are only ever
read with ``torch.load(weights_only=True)``. They check the device (:func:`resolve_device`)
before loading anything, and turn every way a folder can fail to load (corrupt safetensors, a
refused pickle, an unknown model type) into one :class:`~bioseq.errors.InputError` naming it.

Causal LMs load with ``AutoModelForCausalLM``, masked ones with ``AutoModelForMaskedLM``, the
latter only where the caller accepts them (``causal_only`` says why it cannot). A folder holds a
masked model when its ``model_type`` is one of :data:`MASKED_MODELS` or its ``architectures``
name a ``*ForMaskedLM`` class, unless they name a causal class (``*ForCausalLM``,
``*LMHeadModel``). :attr:`LoadedModel.kind` says how the model scores (:func:`scorer_kind`):
``causal``, ``merge``, ``masked``, ``site-independent`` (or ``classifier``). The direction a
causal model reads (``forward``, ``reverse`` or ``both``) comes from its config.

>>> loaded = load_model("runs/blat-forward", device="cpu")  # doctest: +SKIP
>>> loaded.direction, type(loaded.model).__name__, loaded.kind  # doctest: +SKIP
('forward', 'MambaLM', 'causal')
>>> load_model("site-independent", alignment="family.a2m").kind  # doctest: +SKIP
'site-independent'
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
)
from transformers.utils import logging as hf_logging

import bioseq.tokenizers  # noqa: F401  (registers bioseq's tokenizers with AutoTokenizer)
from bioseq.errors import InputError
from bioseq.models.site_independent import SiteIndependentModel

__all__ = [
    "DIRECTIONS", "KINDS", "MASKED_MODELS", "SITE_INDEPENDENT", "LoadedModel",
    "latest_checkpoint", "list_checkpoints", "load_classifier", "load_model",
    "masked_description", "model_direction", "model_type", "quiet_transformers",
    "resolve_device", "resolve_model_dir", "scorer_kind",
]  # fmt: skip

KINDS = ("causal", "merge", "masked", "site-independent", "classifier")
SITE_INDEPENDENT = "site-independent"
DIRECTIONS = ("forward", "reverse", "both")

# masked (not causal) model types and how to name them to a user
MASKED_MODELS = {
    "bioseq-merge": "a MergeLM (masked, learned-merge model)",
    "bioseq-caduceus": "a Caduceus model (masked, bidirectional Mamba)",
    "caduceus": "a Caduceus model (masked, bidirectional Mamba)",
    "esm": "an ESM masked LM (EsmForMaskedLM: ESM-2, Nucleotide Transformer)",
    "bert": "a BERT masked LM",
    "roberta": "a RoBERTa masked LM",
}
_CAUSAL_KINDS = "a causal LM (bioseq-hyena, bioseq-mamba, bioseq-transformer or Hugging Face)"
_MASKED_KINDS = "a masked LM (bioseq-merge, bioseq-caduceus, esm, bert, roberta)"
_CAUSAL_CLASSES = ("ForCausalLM", "LMHeadModel")
_DIRECTION_KEYS = ("direction", "train_direction", "bioseq_direction")
_DEVICE = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")

# a run directory, as bioseq.train writes it: RUN/final/ and RUN/checkpoints/step-N/
STATE_FILE = "trainer_state.pt"  # what makes a checkpoint complete
STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class LoadedModel:
    """A model, its tokenizer (None for the site-independent model), where it came from, the
    direction it reads and how it scores (``kind``: :func:`scorer_kind` when not given)."""

    model: Any
    tokenizer: Any
    path: Path
    direction: str = "forward"
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            self.kind = scorer_kind(self.model)

    @property
    def masked(self) -> bool:
        """Whether the model is a masked LM (MergeLM, Caduceus, ESM...), scored by marginals."""
        return self.kind in ("merge", "masked")


# -- loading ---------------------------------------------------------------------------------
def load_model(
    spec: str | Path,
    device: str | torch.device | None = None,
    *,
    causal_only: str | None = None,
    trust_remote_code: bool = False,
    dtype: torch.dtype | str | None = None,
    alignment: str | Path | None = None,
    theta: float | None = 0.8,
    pseudocount: float = 0.1,
) -> LoadedModel:
    """The model ``spec`` names (see the module doc), in eval mode on ``device`` (default: CUDA
    when available), in its saved dtype unless ``dtype`` is given.

    With ``causal_only`` (why, e.g. ``"cannot generate; probes need a causal LM"``) a masked
    model is an InputError saying so. ``alignment``, ``theta`` and ``pseudocount`` build the
    ``site-independent`` model.
    """
    if str(spec) == SITE_INDEPENDENT:
        return _site_independent(alignment, theta, pseudocount, causal_only)
    target = device if isinstance(device, torch.device) else resolve_device(device)
    path = Path(spec)
    model_dir = _checked_model_dir(path, trust_remote_code)
    masked = masked_description(model_dir)
    if causal_only is not None and masked is not None:
        raise InputError(f"{path}: {masked} {causal_only}")
    auto = AutoModelForMaskedLM if masked is not None else AutoModelForCausalLM
    expected = _CAUSAL_KINDS + ("" if causal_only else f" or {_MASKED_KINDS}")
    options = {"trust_remote_code": bool(trust_remote_code)}
    with _one_line_errors(model_dir, expected), quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **options)
        model = auto.from_pretrained(
            str(model_dir),
            weights_only=True,
            **options,
            **({} if dtype is None else {"dtype": dtype}),
        )
    model = model.to(target).eval()
    return LoadedModel(model, tokenizer, model_dir, model_direction(model.config))


def load_classifier(
    spec: str | Path,
    device: str | torch.device | None = None,
    *,
    trust_remote_code: bool = False,
    finetuned: bool = False,
    **config_overrides: Any,
) -> LoadedModel:
    """A sequence classifier and its tokenizer (``kind`` ``classifier``; training mode, as
    ``from_pretrained`` leaves it): a fine-tuned one as saved (``finetuned``: a fine-tuning
    run's ``best/``, or a model directory), or a pretrained LM's backbone under a new head
    (``config_overrides`` such as ``num_labels``). Same safety rules as :func:`load_model`.

    >>> clf = load_classifier("runs/demo", "cpu", num_labels=2)  # doctest: +SKIP
    >>> clf = load_classifier("runs/coding", finetuned=True)  # doctest: +SKIP
    """
    target = device if isinstance(device, torch.device) else resolve_device(device)
    model_dir = _checked_model_dir(Path(spec), trust_remote_code, finetuned)
    options = {"trust_remote_code": bool(trust_remote_code)}
    expected = "a model with a sequence-classification head"
    with _one_line_errors(model_dir, expected), quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **options)
        config = AutoConfig.from_pretrained(str(model_dir), **options)
        for key, value in config_overrides.items():
            setattr(config, key, value)
        with _errors_only():  # a new head's "newly initialized" report is expected
            model = AutoModelForSequenceClassification.from_pretrained(
                str(model_dir), config=config, weights_only=True, **options
            )
    model = model.to(target)
    return LoadedModel(model, tokenizer, model_dir, model_direction(model.config), "classifier")


def _site_independent(
    alignment: str | Path | None, theta: float | None, pseudocount: float, causal_only: str | None
) -> LoadedModel:
    if causal_only is not None:
        raise InputError(f"{SITE_INDEPENDENT}: the site-independent family model {causal_only}")
    if alignment is None:
        raise InputError(f"--model {SITE_INDEPENDENT} needs --alignment FILE.a2m")
    model = SiteIndependentModel.from_a2m(alignment, theta=theta, pseudocount=pseudocount)
    return LoadedModel(model, None, Path(alignment), kind=SITE_INDEPENDENT)


@contextlib.contextmanager
def _one_line_errors(model_dir: Path, expected: str) -> Iterator[None]:
    """Any failure to load the folder as one InputError naming it (memory errors excepted)."""
    try:
        yield
    except MemoryError:
        raise
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe pickle"
        raise InputError(
            f"{model_dir}: refused to load pickled weights that hold more than "
            f"tensors ({first[:120]}); convert them to safetensors"
        ) from None
    except Exception as err:  # noqa: BLE001 - any failure of a foreign folder is one line
        text = str(err).strip()
        if "Unrecognized configuration class" in text:  # it lists every class it knows
            found = model_type(model_dir) or "none"
            raise InputError(f"{model_dir}: model_type {found!r} is not {expected}") from None
        first = text.splitlines()[0] if text else type(err).__name__
        raise InputError(f"{model_dir}: cannot load the model or tokenizer ({first})") from None


# -- folders ---------------------------------------------------------------------------------
def resolve_model_dir(path: str | Path, finetuned: bool = False) -> Path:
    """The model directory meant by ``path``: a model directory itself, else a run directory's
    ``final/``, else its latest checkpoint (with ``finetuned``: a fine-tuning run's ``best/``,
    else a model directory).

    >>> resolve_model_dir("runs/demo")  # doctest: +SKIP
    PosixPath('runs/demo/final')
    """
    path = Path(path)
    if finetuned:
        if (path / "best" / "config.json").is_file():
            return path / "best"
        if (path / "config.json").is_file():
            return path
        raise InputError(f"{path}: neither a finetune run (no best/) nor a model directory")
    if not path.exists():
        raise InputError(f"{path}: no such model directory or run directory")
    if (path / "config.json").is_file():
        return path
    if (path / "final" / "config.json").is_file():
        return path / "final"
    latest = latest_checkpoint(path)
    if latest is not None:
        return latest
    raise InputError(
        f"{path}: not a model directory (no config.json) nor a run directory "
        "(no final/ or checkpoints/step-N/)"
    )


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run (``checkpoints/step-N/`` holding ``trainer_state.pt``),
    oldest first."""
    root = Path(run_dir) / "checkpoints"
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        match = STEP_DIR.match(path.name)
        if match and (path / STATE_FILE).is_file():
            found.append((int(match[1]), path))
    return [path for _, path in sorted(found)]


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run, or None."""
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def _checked_model_dir(path: Path, trust_remote_code: bool, finetuned: bool = False) -> Path:
    """The model directory ``path`` names, with a ``config.json``, and naming no Python code
    of its own unless ``trust_remote_code``."""
    model_dir = resolve_model_dir(path, finetuned)
    if not (model_dir / "config.json").is_file():
        raise InputError(
            f"{model_dir}: no config.json (expected a model saved with "
            "save_pretrained, or a bioseq pretrain run directory)"
        )
    custom = _custom_code(model_dir)
    if custom and not trust_remote_code:
        raise InputError(
            f"{model_dir}: the folder names its own Python code ({custom[0]}); "
            f"bioseq runs it only with --trust-remote-code"
        )
    return model_dir


def _custom_code(model_dir: Path) -> list[str]:
    """The ``auto_map`` classes that ``config.json`` and ``tokenizer_config.json`` name."""
    found = []
    for name in ("config.json", "tokenizer_config.json"):
        path = model_dir / name
        if not path.is_file():
            continue
        data = _read_json(path)
        auto_map = data.get("auto_map")
        if auto_map:
            values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
            found += [str(v) for v in values]
    return found


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise InputError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object")
    return data


def model_type(model_dir: str | Path) -> str:
    """The ``model_type`` of the config in ``model_dir`` ("" when it names none)."""
    return str(_read_json(Path(model_dir) / "config.json").get("model_type", ""))


# -- what a model is -------------------------------------------------------------------------
def masked_description(model_dir: str | Path) -> str | None:
    """How to name the masked model saved in ``model_dir`` to a user, or None for a causal one
    (see the module doc)."""
    config = _read_json(Path(model_dir) / "config.json")
    names = config.get("architectures")
    names = [str(n) for n in names] if isinstance(names, list) else []
    if any(n.endswith(_CAUSAL_CLASSES) for n in names):
        return None
    described = MASKED_MODELS.get(str(config.get("model_type", "")))
    masked = [n for n in names if n.endswith("ForMaskedLM")]
    return described or (f"a masked LM ({masked[0]})" if masked else None)


def scorer_kind(model) -> str:
    """How ``model`` scores, the one decision every scoring command follows
    (:mod:`bioseq.tasks.variants.scorers`): ``site-independent``, ``merge`` (``MergeLM``:
    ``masked_logits``), ``masked`` (any other masked LM: ``CaduceusLM``, ``EsmForMaskedLM``...:
    a model_type of :data:`MASKED_MODELS` or a ``*ForMaskedLM`` class) or ``causal``.

    >>> from bioseq.models import MambaConfig, MambaLM
    >>> scorer_kind(MambaLM(MambaConfig.from_preset("tiny", vocab_size=8, d_model=16)))
    'causal'
    """
    if isinstance(model, SiteIndependentModel):
        return SITE_INDEPENDENT
    if callable(getattr(model, "masked_logits", None)):
        return "merge"
    name = type(model).__name__
    if name.endswith(_CAUSAL_CLASSES):
        return "causal"
    masked_type = getattr(model.config, "model_type", None) in MASKED_MODELS
    return "masked" if masked_type or name.endswith("ForMaskedLM") else "causal"


def model_direction(config) -> str:
    """``forward`` unless the config records ``reverse`` or ``both``."""
    for key in _DIRECTION_KEYS:
        value = getattr(config, key, None)
        if value is not None:
            value = str(value).lower()
            if value not in DIRECTIONS:
                raise InputError(f"model config {key}={value!r} is not one of {DIRECTIONS}")
            return value
    return "forward"


# -- where and how quietly -------------------------------------------------------------------
def resolve_device(name: str | None = None, option: str = "--device") -> torch.device:
    """``name`` as a torch device that exists here (default: CUDA when available, else CPU).

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    text = str(name).strip().lower()
    if not _DEVICE.match(text):
        raise InputError(f"{option} {name!r}: unknown device (expected cpu, cuda, cuda:N or mps)")
    device = torch.device(text)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(
                f"{option} {name}: CUDA is not available on this machine (use {option} cpu)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(
                f"{option} {name}: this machine has {torch.cuda.device_count()} "
                f"CUDA device(s), numbered from 0"
            )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{option} {name}: MPS is not available on this machine")
    return device


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' per-file progress bars while saving and loading."""
    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


@contextlib.contextmanager
def _errors_only() -> Iterator[None]:
    """transformers' logging at error level inside the block."""
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
