"""Checkpoints written atomically, resumed exactly; finding the model inside a run directory.

A checkpoint ``RUN/checkpoints/step-N/`` is a complete model directory (``config.json``,
``model.safetensors``, tokenizer files) plus ``trainer_state.pt``: optimizer and scheduler state,
the RNG states (python, numpy, torch, CUDA), the data position (the step; the batch of a step is
a pure function of the seed and the step) and the loop's running counters. It is written into a
temporary folder beside its final place and renamed, so a kill at any moment leaves the previous
checkpoints intact and never a half-written ``step-N``.

>>> from bioseq.train.checkpoint import resolve_model_dir
>>> resolve_model_dir("runs/demo")  # doctest: +SKIP
PosixPath('runs/demo/final')
"""

from __future__ import annotations

import json
import random
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.io.outputs import replace_dir

STATE_FILE = "trainer_state.pt"
STEP_DIR = re.compile(r"^step-(\d+)$")


@contextmanager
def quiet_transformers():
    """Silence transformers' per-file progress bars while saving and loading."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()


def rng_state() -> dict[str, Any]:
    """The RNG states as tensors and plain Python values, so ``weights_only=True`` loads them."""
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos,
                   "has_gauss": has_gauss, "cached_gaussian": cached_gaussian}  # fmt: skip
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_model_dir(path: Path, model, tokenizer) -> None:
    """``save_pretrained`` of the model (safetensors) and its tokenizer into ``path``."""
    with quiet_transformers():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)


@contextmanager
def _temporary_dir(parent: Path, prefix: str):
    """A new folder in ``parent``, removed again if the block fails (disk full, a signal)."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def save_model_atomic(path: Path, model, tokenizer) -> Path:
    """Write a model directory at ``path`` through a temporary folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_dir(path.parent, f".{path.name}-") as tmp:
        save_model_dir(tmp, model, tokenizer)
        replace_dir(tmp, path)
    return path


def weights_finite(model: torch.nn.Module) -> bool:
    """Whether every floating-point parameter and buffer of ``model`` is finite."""
    return all(
        bool(torch.isfinite(t).all()) for t in model.state_dict().values() if t.is_floating_point()
    )


def save_checkpoint(
    run_dir: Path, step: int, model, tokenizer, optimizer, scheduler, state: dict[str, Any],
    keep: int = 0,
) -> Path:  # fmt: skip
    """Write ``run_dir/checkpoints/step-{step}`` atomically; keep the newest ``keep`` (0 = all)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step-{step}"
    with _temporary_dir(root, f".step-{step}-") as tmp:
        save_model_dir(tmp, model, tokenizer)
        payload = {"step": step, "optimizer": optimizer.state_dict(),
                   "scheduler": scheduler.state_dict(), "rng": rng_state(), **state}  # fmt: skip
        torch.save(payload, tmp / STATE_FILE)
        replace_dir(tmp, final)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
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
    found = list_checkpoints(run_dir)
    return found[-1] if found else None


def load_checkpoint(path: Path, model, optimizer, scheduler) -> dict[str, Any]:
    """Restore model weights, optimizer, scheduler and RNG states; return the saved state.

    An unreadable, incomplete or non-finite checkpoint is an InputError (read before anything
    is restored, so a damaged file leaves the model as it was)."""
    path = Path(path)
    try:
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        weights = _read_weights(path, type(model))
        model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"])
    except Exception as err:  # a damaged file fails in many ways: name the first line
        text = str(err).strip().splitlines()
        why = f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
        raise InputError(f"{path}: unreadable checkpoint ({why})") from None
    return state


def _read_weights(path: Path, model_class) -> dict[str, torch.Tensor]:
    with quiet_transformers():
        saved, info = model_class.from_pretrained(path, output_loading_info=True)
    problems = [k for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info[k]]
    if problems or info["error_msgs"]:
        raise ValueError(f"model.safetensors does not match its config ({', '.join(problems)})")
    if not weights_finite(saved):
        raise ValueError("model.safetensors holds NaN or infinite weights")
    return saved.state_dict()


def load_latest_checkpoint(
    run_dir: Path, model, optimizer, scheduler
) -> tuple[Path | None, dict[str, Any] | None, list[tuple[Path, str]]]:
    """Restore the newest intact checkpoint of ``run_dir``: ``(its path, its state, [(newer
    damaged checkpoint, why)])``; ``(None, None, damaged)`` when no checkpoint is intact."""
    skipped = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            return path, load_checkpoint(path, model, optimizer, scheduler), skipped
        except InputError as err:
            skipped.append((path, str(err)))
    return None, None, skipped


def resolve_model_dir(path: str | Path) -> Path:
    """The model directory meant by ``path``: a model directory itself, else a run directory's
    ``final/``, else its latest checkpoint.

    Every command that takes ``--model`` accepts either, e.g.
    ``AutoModelForCausalLM.from_pretrained(resolve_model_dir("runs/demo"))``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such model or run directory")
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


# masked (not causal) model types and how to name them to a user
MASKED_MODELS = {
    "bioseq-merge": "a MergeLM (masked, learned-merge model)",
    "bioseq-caduceus": "a Caduceus model (masked, bidirectional Mamba)",
    "caduceus": "a Caduceus model (masked, bidirectional Mamba)",
    "esm": "an ESM masked LM (EsmForMaskedLM: ESM-2, Nucleotide Transformer)",
    "bert": "a BERT masked LM",
    "roberta": "a RoBERTa masked LM",
}
CAUSAL_KINDS = "a causal LM (bioseq-hyena, bioseq-mamba, bioseq-transformer or Hugging Face)"
MASKED_KINDS = "a masked LM (bioseq-merge, bioseq-caduceus, esm, bert, roberta)"


def model_type(model_dir: Path) -> str:
    """The ``model_type`` of the config in ``model_dir`` ("" when it names none)."""
    try:
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"{model_dir}/config.json: not readable JSON ({err})") from None
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""


def require_causal(path: str | Path, model_dir: Path, why: str) -> None:
    """InputError ``"PATH: a MergeLM (...) WHY"`` when ``model_dir`` holds a masked model."""
    kind = MASKED_MODELS.get(model_type(model_dir))
    if kind is not None:
        raise InputError(f"{path}: {kind} {why}")


def load_error(model_dir: Path, err: Exception, expected: str) -> InputError:
    """A one-line error for a model that did not load: transformers' "Unrecognized
    configuration class" (which lists every class it knows) becomes the model_type and
    ``expected``; other errors keep their first line."""
    text = str(err).strip()
    if "Unrecognized configuration class" in text:
        found = model_type(model_dir) or "none"
        return InputError(f"{model_dir}: model_type {found!r} is not {expected}")
    first = text.splitlines()[0] if text else type(err).__name__
    return InputError(f"{model_dir}: cannot load the model or tokenizer ({first})")
