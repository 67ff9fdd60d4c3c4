"""Pretraining: ``bioseq pretrain`` and its Python API.

>>> from bioseq.train import TrainConfig, pretrain
>>> run = pretrain(TrainConfig(out="runs/demo"))  # the E. coli demo  # doctest: +SKIP
>>> run = pretrain({"inputs": ["genome.fa"], "out": "runs/g", "steps": 1000})  # doctest: +SKIP

Modules: :mod:`~bioseq.train.config` (the run configuration and its YAML),
:mod:`~bioseq.train.data` (batches as a function of the step), :mod:`~bioseq.train.loop` (the
loop), :mod:`~bioseq.train.checkpoint` (atomic checkpoints; a run's model directory is
:func:`bioseq.models.hub.resolve_model_dir`),
:mod:`~bioseq.train.distributed` (torchrun / DDP), :mod:`~bioseq.train.masking` (BERT
masking for ``objective: mlm``), :mod:`~bioseq.train.plot` (``loss.png``). The Markov references
every run reports live in :mod:`~bioseq.models.markov` (re-exported here).

Every name is imported on first use, so ``import bioseq.train.config`` (what ``bioseq pretrain
--help`` reads) loads no torch.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> the module of this package that defines it
_EXPORTS = {
    "TrainConfig": "config", "load_yaml": "config", "merge": "config",
    "TIMING_FIELDS": "loop", "TrainingDiverged": "loop", "pretrain": "loop",
}  # fmt: skip
# and the names re-exported from lower layers
_REEXPORTS = {
    "latest_checkpoint": "bioseq.models.hub", "resolve_model_dir": "bioseq.models.hub",
    "TrainingInterrupted": "bioseq.runtime",
    "MarkovModel": "bioseq.models.markov", "TwoSidedMarkov": "bioseq.models.markov",
    "markov_bits_per_base": "bioseq.models.markov",
}  # fmt: skip

__all__ = sorted(_EXPORTS | _REEXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = f"bioseq.train.{_EXPORTS[name]}"
    elif name in _REEXPORTS:
        module = _REEXPORTS[name]
    else:
        raise AttributeError(f"module 'bioseq.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_REEXPORTS))
