"""Load a scoring model from a pretraining run or a model directory.

``--model`` may name a ``bioseq pretrain`` run directory (mapped to its model directory by
``bioseq.train.checkpoint.resolve_model_dir``) or any directory holding a model and tokenizer
saved with ``save_pretrained``. The reading direction a model was trained in (``forward``,
``reverse`` or ``both``) is read from its config. Causal LMs load with ``AutoModelForCausalLM``;
masked models (``MergeLM``, model_type ``bioseq-merge``) with ``AutoModelForMaskedLM``, and only
where the caller accepts them (DNA variants, scored by masked marginals; ``causal_only``
names why a caller cannot).

>>> loaded = load_model("runs/blat-forward")  # doctest: +SKIP
>>> loaded.direction, type(loaded.model).__name__  # doctest: +SKIP
('forward', 'MambaLM')
>>> load_model("runs/merge").masked  # doctest: +SKIP
True
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bioseq.errors import InputError
from bioseq.train.checkpoint import (  # noqa: F401  (re-exported)
    CAUSAL_KINDS,
    MASKED_MODELS,
    load_error,
    model_type,
    require_causal,
    resolve_model_dir,
)

DIRECTIONS = ("forward", "reverse", "both")
_DIRECTION_KEYS = ("direction", "train_direction", "bioseq_direction")


@dataclass
class LoadedModel:
    """A causal or masked LM, its tokenizer, where it came from and the direction it reads."""

    model: torch.nn.Module
    tokenizer: object
    path: Path
    direction: str = "forward"

    @property
    def masked(self) -> bool:
        """Whether the model is a masked one (``MergeLM``), scored by masked marginals."""
        return getattr(self.model.config, "model_type", None) in MASKED_MODELS


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


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    path: str | Path, device: str | None = None, causal_only: str | None = None
) -> LoadedModel:
    """Load model and tokenizer (``AutoModelForCausalLM``, or ``AutoModelForMaskedLM`` for a
    masked model, and ``AutoTokenizer``, after ``import bioseq``), in eval mode on ``device``
    (default: CUDA when available). With ``causal_only`` (why, e.g. ``"scores DNA only;
    score-mutations needs a causal LM"``) a masked model is an InputError saying so."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    import bioseq  # noqa: F401  (registers bioseq's models and tokenizers with transformers)

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such model directory")
    model_dir = resolve_model_dir(path)
    if not (model_dir / "config.json").is_file():
        raise InputError(f"{model_dir}: no config.json (expected a model saved with "
                         "save_pretrained, or a bioseq pretrain run directory)")  # fmt: skip
    if causal_only is not None:
        require_causal(path, model_dir, causal_only)
    is_masked = model_type(model_dir) in MASKED_MODELS
    auto = AutoModelForMaskedLM if is_masked else AutoModelForCausalLM
    expected = CAUSAL_KINDS + ("" if causal_only else " or a bioseq-merge masked model")
    try:
        model = auto.from_pretrained(str(model_dir))
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    except (OSError, ValueError, KeyError) as err:
        raise load_error(model_dir, err, expected) from None
    model = model.to(device or default_device()).eval()
    return LoadedModel(model, tokenizer, model_dir, model_direction(model.config))
