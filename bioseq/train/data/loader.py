"""The training steps' batches, built ahead of the step by a ``torch.utils.data.DataLoader``.

Item ``s`` of :class:`StepBatches` is this process's micro-batches of optimizer step ``s``
(:meth:`~bioseq.train.data.base.TrainData.batch`, a pure function of the seed and ``s``), and
the loader reads steps ``start, start + 1, ...`` in order. So worker processes change nothing
but speed: any number of them gives the same batches in the same order, and a resumed run's
loader starts at the checkpoint's step. With ``workers > 0`` each worker builds (reads,
tokenizes, masks) whole steps and keeps ``prefetch`` of them ready while the model trains; on
CUDA they arrive in pinned memory, so the step copies them with ``non_blocking=True``.

>>> from bioseq.train.config import TrainConfig
>>> from bioseq.train.data import build_data
>>> config = TrainConfig(context=128, batch_size=4).resolved()
>>> loader = step_loader(build_data(config), config, start=3, stop=5)
>>> [[tuple(b.input_ids.shape) for b in micro] for micro in loader]
[[(4, 128)], [(4, 128)]]
"""

from __future__ import annotations

import multiprocessing
import os
import signal

import torch
from torch.utils.data import DataLoader, Dataset

from bioseq.train.config import TrainConfig
from bioseq.train.data.base import Batch, TrainData, context_at

__all__ = ["MAX_AUTO_WORKERS", "StepBatches", "auto_workers", "step_loader"]

MAX_AUTO_WORKERS = 4  # per GPU process: enough to keep a tiny model's batches ahead


class StepBatches(Dataset):
    """Step number -> this process's micro-batches of that step (staged context included)."""

    def __init__(
        self, data: TrainData, config: TrainConfig, rank: int = 0, world_size: int = 1
    ) -> None:
        self.data, self.config, self.rank, self.world_size = data, config, rank, world_size

    def __len__(self) -> int:
        return self.config.steps

    def __getitem__(self, step: int) -> list[Batch]:
        c = self.config
        context = context_at(step, c)
        return self.data.batch(
            step, context, c.batch_size, self.rank, self.world_size, c.grad_accum
        )


def auto_workers(device: torch.device) -> int:
    """Worker processes when ``workers`` is not set: none on CPU (a worker would take a core
    from the threads that train; ``benchmarks/bench_train.py --pipeline`` measures it), and
    on a GPU the cores this process may use less one, at most :data:`MAX_AUTO_WORKERS`.

    >>> auto_workers(torch.device("cpu"))
    0
    """
    if device.type != "cuda":
        return 0
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    per_process = (cores or 1) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    return max(1, min(MAX_AUTO_WORKERS, per_process - 1))


def step_loader(
    data: TrainData,
    config: TrainConfig,
    start: int,
    stop: int,
    rank: int = 0,
    world_size: int = 1,
    workers: int = 0,
    pin_memory: bool = False,
    prefetch: int = 2,
) -> DataLoader:
    """A loader of steps ``start .. stop - 1``: each item is a list of ``grad_accum``
    :class:`Batch` (built in the calling process when ``workers`` is 0)."""
    parallel = workers > 0
    return DataLoader(
        StepBatches(data, config, rank, world_size),
        batch_size=None,  # an item is already a step's batches
        sampler=range(start, stop),
        num_workers=workers,
        collate_fn=_as_built,
        pin_memory=pin_memory,
        prefetch_factor=prefetch if parallel else None,
        worker_init_fn=_ignore_ctrl_c if parallel else None,
        # forked workers share the opened inputs (reads use pread or memory maps) instead of
        # pickling them; fork is Linux's default, named for the platforms where it is not
        multiprocessing_context=_fork() if parallel else None,
    )


def _as_built(item: list[Batch]) -> list[Batch]:
    return item


def _ignore_ctrl_c(worker_id: int) -> None:
    """Ctrl-C reaches the whole process group: the training process finishes its step and
    saves, so its workers must not die first (they exit with it). SIGTERM keeps its default:
    it is how a worker that does not stop when asked is ended."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _fork():
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork") if "fork" in methods else None
