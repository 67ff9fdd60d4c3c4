"""The one way bioseq loads a model: a run or model directory to a model and its tokenizer.

Every command that takes ``--model`` (score-vcf, score-mutations, probe, tokenizer report)
loads through :func:`load_model`. It

- maps a ``bioseq pretrain`` run directory to its model directory (``final/``, else the latest
  checkpoint; :func:`bioseq.train.checkpoint.resolve_model_dir`);
- runs no code that came with the folder: a config or tokenizer config with an ``auto_map``
  (custom Python classes) is refused in one line unless the caller asks for it
  (``trust_remote_code``; the CLI's ``--trust-remote-code``), and ``.bin`` weights are
  only ever read with ``torch.load(weights_only=True)``;
- checks the device (:func:`resolve_device`) before loading anything;
- turns every way a folder can fail to load (corrupt safetensors, refused pickle, unknown
  model type) into one :class:`~bioseq.errors.InputError` naming the folder.

Causal LMs load with ``AutoModelForCausalLM``; masked models with ``AutoModelForMaskedLM``, only
where the caller accepts them (``causal_only`` names why a caller cannot). A folder holds a
masked model when its ``model_type`` is one of
:data:`~bioseq.train.checkpoint.MASKED_MODELS` (``bioseq-merge``, ``bioseq-caduceus``, ``esm``
for ESM-2 and the Nucleotide Transformer, ``bert``, ``roberta``...) or its ``architectures``
name a ``*ForMaskedLM`` class, unless they name a causal class (``*ForCausalLM``,
``*LMHeadModel``). :attr:`LoadedModel.kind` names how the model scores (:func:`scorer_kind`:
``causal``, ``merge`` or ``masked``). The reading direction a model was trained in
(``forward``, ``reverse`` or ``both``) is read from its config.

>>> loaded = load_model("runs/blat-forward", device="cpu")  # doctest: +SKIP
>>> loaded.direction, type(loaded.model).__name__, loaded.kind  # doctest: +SKIP
('forward', 'MambaLM', 'causal')
"""

from __future__ import annotations

import contextlib
import json
import pickle
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from bioseq.errors import InputError
from bioseq.train.checkpoint import (
    CAUSAL_KINDS,
    MASKED_KINDS,
    MASKED_MODELS,
    load_error,
    model_type,
    resolve_model_dir,
)

__all__ = [
    "DIRECTIONS", "KINDS", "LoadedModel", "load_classifier", "load_model", "masked_description",
    "model_direction",
    "resolve_device", "scorer_kind",
]  # fmt: skip

KINDS = ("causal", "merge", "masked")  # how a model scores: see scorer_kind
_CAUSAL_CLASSES = ("ForCausalLM", "LMHeadModel")

DIRECTIONS = ("forward", "reverse", "both")
_DIRECTION_KEYS = ("direction", "train_direction", "bioseq_direction")
_DEVICE = re.compile(r"^(cpu|cuda|mps)(:\d+)?$")


@dataclass
class LoadedModel:
    """A causal or masked LM, its tokenizer, where it came from and the direction it reads."""

    model: torch.nn.Module
    tokenizer: object
    path: Path
    direction: str = "forward"

    @property
    def kind(self) -> str:
        """How the model scores: ``causal``, ``merge`` or ``masked`` (:func:`scorer_kind`)."""
        return scorer_kind(self.model)

    @property
    def masked(self) -> bool:
        """Whether the model is a masked one (MergeLM, Caduceus, ESM...), scored by marginals."""
        return self.kind != "causal"


def scorer_kind(model) -> str:
    """How ``model`` scores, the one decision every scoring command follows
    (:mod:`bioseq.tasks.variants.scorers`): ``merge`` (``MergeLM``: ``masked_logits``),
    ``masked`` (any other masked LM: ``CaduceusLM``, ``EsmForMaskedLM``...: a model_type of
    :data:`~bioseq.train.checkpoint.MASKED_MODELS` or a ``*ForMaskedLM`` class) or ``causal``.

    >>> from bioseq.models import MambaConfig, MambaLM
    >>> scorer_kind(MambaLM(MambaConfig.from_preset("tiny", vocab_size=8, d_model=16)))
    'causal'
    """
    if callable(getattr(model, "masked_logits", None)):
        return "merge"
    name = type(model).__name__
    if name.endswith(_CAUSAL_CLASSES):
        return "causal"
    masked_type = getattr(model.config, "model_type", None) in MASKED_MODELS
    return "masked" if masked_type or name.endswith("ForMaskedLM") else "causal"


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
            raise InputError(f"{option} {name}: CUDA is not available on this machine "
                             f"(use {option} cpu)")  # fmt: skip
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise InputError(f"{option} {name}: this machine has {torch.cuda.device_count()} "
                             f"CUDA device(s), numbered from 0")  # fmt: skip
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise InputError(f"{option} {name}: MPS is not available on this machine")
    return device


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


def _custom_code(model_dir: Path) -> list[str]:
    """The ``auto_map`` classes that ``config.json`` and ``tokenizer_config.json`` name."""
    found = []
    for name in ("config.json", "tokenizer_config.json"):
        path = model_dir / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as err:
            raise InputError(f"{path}: not readable JSON ({err})") from None
        if not isinstance(data, dict):
            raise InputError(f"{path}: expected a JSON object")
        auto_map = data.get("auto_map")
        if auto_map:
            values = auto_map.values() if isinstance(auto_map, dict) else [auto_map]
            found += [str(v) for v in values]
    return found


def masked_description(model_dir: Path) -> str | None:
    """How to name the masked model saved in ``model_dir`` to a user, or None for a causal one
    (see the module doc)."""
    config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    names = config.get("architectures") if isinstance(config, dict) else None
    names = [str(n) for n in names] if isinstance(names, list) else []
    if any(n.endswith(_CAUSAL_CLASSES) for n in names):
        return None
    described = MASKED_MODELS.get(model_type(model_dir))
    masked = [n for n in names if n.endswith("ForMaskedLM")]
    return described or (f"a masked LM ({masked[0]})" if masked else None)


def checked_model_dir(path: Path, trust_remote_code: bool = False) -> Path:
    """The model directory ``path`` names (a run's ``final/`` or latest checkpoint), with a
    ``config.json``, and naming no Python code of its own unless ``trust_remote_code``."""
    if not path.exists():
        raise InputError(f"{path}: no such model directory")
    model_dir = resolve_model_dir(path)
    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir}: no config.json (expected a model saved with "
                         "save_pretrained, or a bioseq pretrain run directory)")  # fmt: skip
    custom = _custom_code(model_dir)
    if custom and not trust_remote_code:
        raise InputError(f"{model_dir}: the folder names its own Python code ({custom[0]}); "
                         f"bioseq runs it only with --trust-remote-code")  # fmt: skip
    return model_dir


def load_model(
    path: str | Path, device: str | torch.device | None = None, causal_only: str | None = None,
    trust_remote_code: bool = False, dtype: torch.dtype | str | None = None,
) -> LoadedModel:  # fmt: skip
    """Load model and tokenizer in eval mode on ``device`` (default: CUDA when available).

    With ``causal_only`` (why, e.g. ``"cannot generate; probes need a causal LM"``) a masked
    model is an InputError saying so. ``dtype`` defaults to the saved one.
    """
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    import bioseq.models  # noqa: F401  (registers bioseq's models with transformers)
    import bioseq.tokenizers  # noqa: F401  (and its tokenizers)
    from bioseq.train.checkpoint import quiet_transformers

    target = resolve_device(device) if not isinstance(device, torch.device) else device
    path = Path(path)
    model_dir = checked_model_dir(path, trust_remote_code)
    masked = masked_description(model_dir)
    if causal_only is not None and masked is not None:
        raise InputError(f"{path}: {masked} {causal_only}")
    auto = AutoModelForMaskedLM if masked is not None else AutoModelForCausalLM
    expected = CAUSAL_KINDS + ("" if causal_only else f" or {MASKED_KINDS}")
    options = {"trust_remote_code": bool(trust_remote_code)}
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **options)
            model = auto.from_pretrained(
                str(model_dir), weights_only=True, **options,
                **({} if dtype is None else {"dtype": dtype}),
            )  # fmt: skip
    except MemoryError:
        raise
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "unsafe pickle"
        raise InputError(
            f"{model_dir}: refused to load pickled weights that hold more than "
            f"tensors ({first[:120]}); convert them to safetensors"
        ) from None
    except Exception as err:  # noqa: BLE001 - any failure of a foreign folder is one line
        raise load_error(model_dir, err, expected) from None
    model = model.to(target).eval()
    return LoadedModel(model, tokenizer, model_dir, model_direction(model.config))


def load_classifier(
    path: str | Path, device: str | torch.device | None = None, trust_remote_code: bool = False,
    **config_overrides,
) -> tuple[torch.nn.Module, object, Path]:  # fmt: skip
    """A sequence classifier and its tokenizer from a run or model directory: a fine-tuned
    one as saved, or a pretrained LM's backbone with a new head (``config_overrides`` such as
    ``num_labels``; see :mod:`bioseq.models.heads`). Same safety rules as :func:`load_model`.

    >>> model, tokenizer, _ = load_classifier("runs/demo", "cpu", num_labels=2)  # doctest: +SKIP
    """
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    import bioseq.models  # noqa: F401  (registers bioseq's models with transformers)
    import bioseq.tokenizers  # noqa: F401  (and its tokenizers)
    from bioseq.train.checkpoint import quiet_transformers

    target = resolve_device(device) if not isinstance(device, torch.device) else device
    model_dir = checked_model_dir(Path(path), trust_remote_code)
    options = {"trust_remote_code": bool(trust_remote_code)}
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), **options)
            config = AutoConfig.from_pretrained(str(model_dir), **options)
            for key, value in config_overrides.items():
                setattr(config, key, value)
            with _errors_only():  # a new head's "newly initialized" report is expected
                model = AutoModelForSequenceClassification.from_pretrained(
                    str(model_dir), config=config, weights_only=True, **options
                )
    except MemoryError:
        raise
    except pickle.UnpicklingError:
        raise InputError(f"{model_dir}: refused to load pickled weights that hold more than "
                         "tensors; convert them to safetensors") from None  # fmt: skip
    except Exception as err:  # noqa: BLE001 - any failure of a foreign folder is one line
        raise load_error(model_dir, err, "a model with a sequence-classification head") from None
    return model.to(target), tokenizer, model_dir


@contextlib.contextmanager
def _errors_only():
    """transformers' logging at error level inside the block."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
