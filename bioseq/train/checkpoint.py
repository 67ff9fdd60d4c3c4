"""Checkpoints written atomically, resumed exactly.

A checkpoint ``RUN/checkpoints/step-N/`` is a complete model directory (``config.json``,
``model.safetensors``, tokenizer files) plus ``trainer_state.pt``: optimizer and scheduler state,
the RNG states (python, numpy, torch; on CUDA each process's own GPU state, see
:func:`run_rng_state`), the data position (the step; the batch of a step is
a pure function of the seed and the step) and the loop's running counters. It is written into a
temporary folder beside its final place and renamed, so a kill at any moment leaves the previous
checkpoints intact and never a half-written ``step-N``. Reading a run directory (its
checkpoints, the model inside it) is :mod:`bioseq.models.hub`'s.

>>> from bioseq.models.hub import latest_checkpoint
>>> latest_checkpoint("runs/demo")  # doctest: +SKIP
PosixPath('runs/demo/checkpoints/step-300')
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bioseq.errors import InputError
from bioseq.io.outputs import replace_dir, temporary_dir
from bioseq.models.hub import STATE_FILE, list_checkpoints, quiet_transformers
from bioseq.runtime import rng_state, set_rng_state
from bioseq.train.distributed import Dist


def save_model_dir(path: Path, model, tokenizer) -> None:
    """``save_pretrained`` of the model (safetensors) and its tokenizer into ``path``."""
    with quiet_transformers():
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)


@contextmanager
def _temporary_dir(parent: Path, prefix: str):
    """A new folder in ``parent``, removed again if the block fails (disk full, a signal)."""
    tmp = temporary_dir(parent, prefix)
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


def run_rng_state(dist: Dist) -> dict[str, Any]:
    """The RNG states a checkpoint of a run on ``dist`` keeps: this process's host states and,
    on CUDA only, every process's own GPU state in rank order (``cuda``: a list). On CUDA every
    process must call it (the states are gathered); a CPU run never touches ``torch.cuda``."""
    state = rng_state(dist.device)
    if "cuda" in state:
        state["cuda"] = dist.gather(state["cuda"])
    return state


def save_checkpoint(
    run_dir: Path,
    step: int,
    model,
    tokenizer,
    optimizer,
    scheduler,
    state: dict[str, Any],
    keep: int = 0,
    rng: dict[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/checkpoints/step-{step}`` atomically; keep the newest ``keep`` (0 = all).
    ``rng``: the RNG states to keep (:func:`run_rng_state`; default this process's)."""
    root = Path(run_dir) / "checkpoints"
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step-*"):  # left by a run killed while saving
        shutil.rmtree(stale, ignore_errors=True)
    final = root / f"step-{step}"
    with _temporary_dir(root, f".step-{step}-") as tmp:
        save_model_dir(tmp, model, tokenizer)
        payload = {
            "step": step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": rng_state() if rng is None else rng,
            **state,
        }
        torch.save(payload, tmp / STATE_FILE)
        replace_dir(tmp, final)
    if keep > 0:
        for old in list_checkpoints(run_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: Path, model, optimizer, scheduler, device: torch.device | None = None, rank: int = 0
) -> dict[str, Any]:
    """Restore model weights, optimizer, scheduler and RNG states; return the saved state.
    On a CUDA ``device``, process ``rank`` restores its own GPU's saved state.

    An unreadable, incomplete or non-finite checkpoint is an InputError (read before anything
    is restored, so a damaged file leaves the model as it was)."""
    path = Path(path)
    try:
        state = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
        weights = _read_weights(path, type(model))
        model.load_state_dict(weights)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"], device, rank)
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
    run_dir: Path, model, optimizer, scheduler, device: torch.device | None = None, rank: int = 0
) -> tuple[Path | None, dict[str, Any] | None, list[tuple[Path, str]]]:
    """Restore the newest intact checkpoint of ``run_dir``: ``(its path, its state, [(newer
    damaged checkpoint, why)])``; ``(None, None, damaged)`` when no checkpoint is intact."""
    skipped = []
    for path in reversed(list_checkpoints(run_dir)):
        try:
            state = load_checkpoint(path, model, optimizer, scheduler, device, rank)
            return path, state, skipped
        except InputError as err:
            skipped.append((path, str(err)))
    return None, None, skipped
