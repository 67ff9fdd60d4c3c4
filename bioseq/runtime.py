"""What every training loop shares, below ``train`` and ``tasks``: RNG states that checkpoints
save and restore, Ctrl-C / SIGTERM turned into a request to stop after the current step, and
the ``metrics.jsonl`` file a run writes.

Pretraining (:mod:`bioseq.train.loop`) and fine-tuning (:mod:`bioseq.tasks.adapt.finetune`)
both use them; neither imports the other.

>>> import random
>>> state = rng_state()
>>> first = random.random()
>>> set_rng_state(state)
>>> random.random() == first
True
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bioseq.errors import BioseqError

__all__ = ["StopSignal", "TrainingInterrupted", "read_metrics", "rng_state", "set_rng_state"]


def rng_state(device: torch.device | str | None = None) -> dict[str, Any]:
    """The RNG states as tensors and plain Python values, so ``weights_only=True`` loads them.

    ``cuda`` holds the generator state of ``device`` alone, and only when it is a CUDA device
    (``None``: the current CUDA device if this process has already initialised CUDA). CUDA is
    never initialised here: a CPU run leaves ``torch.cuda`` alone, and a process of a multi-GPU
    run touches only its own GPU (``get_rng_state_all`` would open a context on every one).
    """
    kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    numpy_state = {
        "kind": kind,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": pos,
        "has_gauss": has_gauss,
        "cached_gaussian": cached_gaussian,
    }
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    cuda = _cuda_device(device)
    if cuda is not None:
        state["cuda"] = torch.cuda.get_rng_state(cuda)
    return state


def set_rng_state(
    state: dict[str, Any], device: torch.device | str | None = None, rank: int = 0
) -> None:
    """Restore the states :func:`rng_state` returned; CUDA's only onto a CUDA ``device`` (as
    there). A list under ``cuda`` holds one state per process of a multi-GPU run: process
    ``rank`` takes its own (a rank the list does not reach keeps its state)."""
    random.setstate(state["python"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    saved, cuda = state.get("cuda"), _cuda_device(device)
    if saved is None or cuda is None:
        return
    if isinstance(saved, (list, tuple)):  # per rank (old checkpoints: per visible GPU)
        if rank >= len(saved):
            return
        saved = saved[rank]
    torch.cuda.set_rng_state(saved, cuda)


def _cuda_device(device: torch.device | str | None) -> torch.device | None:
    """The CUDA device whose RNG state is saved, or None (never initialises CUDA)."""
    if device is None:
        if not torch.cuda.is_initialized():
            return None
        return torch.device("cuda", torch.cuda.current_device())
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return device if device.index is not None else torch.device("cuda", torch.cuda.current_device())


def read_metrics(path: str | Path) -> list[dict]:
    """The JSON objects of a ``metrics.jsonl`` file, in order."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class TrainingInterrupted(BioseqError):
    """The run stopped on SIGINT or SIGTERM; ``exit_code`` is the shell's 128 + signal number
    (130 for Ctrl-C, 143 for SIGTERM)."""

    def __init__(self, message: str, signum: int, reported: bool = False) -> None:
        super().__init__(message)
        self.signum, self.exit_code = signum, 128 + signum
        self.reported = reported  # the message is already on stderr


class StopSignal:
    """Within ``with StopSignal() as stop``, SIGINT and SIGTERM set ``stop.requested`` (the
    signal's name) instead of killing the process; a second one aborts at once
    (:class:`TrainingInterrupted`)."""

    def __init__(self) -> None:
        self.requested: str | None = None
        self.signum = 0
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            raise TrainingInterrupted(f"aborted by a second {name}", signum)
        self.requested, self.signum = name, signum
        with contextlib.suppress(OSError, ValueError):  # a closed stderr must not crash the run
            print(
                f"\n{self.requested}: finishing this step and saving a checkpoint "
                "(send it again to abort at once)",
                file=sys.stderr,
                flush=True,
            )


@contextlib.contextmanager
def notice_if_slow(text: str, after: float = 2.0, enabled: bool = True) -> Iterator[None]:
    """Print ``text`` on stderr if the block is still running after ``after`` seconds (a step
    that is usually quick but can take minutes: the user then knows what it is waiting for).

    >>> with notice_if_slow("reading ...", after=60):
    ...     pass  # quick: nothing printed
    """
    timer = threading.Timer(after, lambda: print(text, file=sys.stderr, flush=True))
    timer.daemon = True
    if enabled:
        timer.start()
    try:
        yield
    finally:
        timer.cancel()
