"""Pretraining: ``bioseq pretrain`` and its Python API.

>>> from bioseq.train import TrainConfig, pretrain
>>> run = pretrain(TrainConfig(out="runs/demo"))  # doctest: +SKIP  (the E. coli demo)
>>> run = pretrain({"inputs": ["genome.fa"], "out": "runs/g", "steps": 1000})  # doctest: +SKIP

Modules: :mod:`~bioseq.train.config` (the run configuration and its YAML),
:mod:`~bioseq.train.data` (batches as a function of the step), :mod:`~bioseq.train.loop` (the
loop), :mod:`~bioseq.train.checkpoint` (atomic checkpoints; a run's model directory is
:func:`bioseq.models.hub.resolve_model_dir`),
:mod:`~bioseq.train.distributed` (torchrun / DDP), :mod:`~bioseq.train.markov` (the Markov
references), :mod:`~bioseq.train.masking` (BERT masking for ``objective: mlm``),
:mod:`~bioseq.train.plot` (``loss.png``).
"""

from bioseq.models.hub import latest_checkpoint, resolve_model_dir
from bioseq.runtime import TrainingInterrupted
from bioseq.train.config import TrainConfig, load_yaml, merge
from bioseq.train.loop import TIMING_FIELDS, TrainingDiverged, pretrain
from bioseq.train.markov import MarkovModel, TwoSidedMarkov, markov_bits_per_base

__all__ = [
    "TIMING_FIELDS", "MarkovModel", "TrainConfig", "TrainingDiverged", "TrainingInterrupted",
    "TwoSidedMarkov",
    "latest_checkpoint",
    "load_yaml", "markov_bits_per_base", "merge", "pretrain", "resolve_model_dir",
]  # fmt: skip
