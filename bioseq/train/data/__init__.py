"""Training and validation data for a run: genome windows or sequence records, batch by step.

The batch of optimizer step ``s`` is a pure function of ``(seed, s)``: it holds the global
samples ``s * batch_size ... (s + 1) * batch_size - 1``, and process ``rank`` of ``world_size``
takes a contiguous share of them, cut into ``grad_accum`` micro-batches. So a resumed run sees
exactly the data of an uninterrupted one, whatever the number of processes.

* DNA (FASTA, GenBank; one or many files) -> :class:`GenomeData`: random windows of
  ``context`` tokens from the train split (:class:`~bioseq.io.windows.GenomeWindows`), and
  tiled windows of the validation split (by default the last tenth of every contig).
* Protein (FASTA, a2m/a3m with gaps removed) -> :class:`RecordData`: one record per sequence
  (:class:`~bioseq.io.records.SequenceRecords`, cropped to ``context`` tokens), batches of similar
  length (:class:`~bioseq.io.records.LengthBucketSampler`), a seeded tenth of the records held out.
  With ``aligned`` (a2m/a3m, masked models) a record is its match columns instead, ``-`` a
  token of its own (:data:`ALIGNED_PROTEIN`), one position per column and no BOS/EOS, so every
  record is ``alignment_width`` tokens long; records of gaps only are skipped.
* Plain text (``text: true``) -> :class:`~bioseq.train.data.text.TextData`: random windows of
  ``context`` bytes, the last tenth of every file held out.

With ``objective: mlm`` every batch is masked (:mod:`bioseq.train.masking`): training row ``j``
of step ``s`` from the key ``(seed, 0, s, j)``, validation item ``i`` from ``(seed, 1, i)``.

Modules: :mod:`~bioseq.train.data.base` (:class:`Batch`, :class:`TrainData`, :func:`context_at`),
:mod:`~bioseq.train.data.genome`, :mod:`~bioseq.train.data.records`,
:mod:`~bioseq.train.data.text`, :mod:`~bioseq.train.data.build` (:func:`build_data`) and
:mod:`~bioseq.train.data.loader` (:func:`step_loader`: the steps' batches built ahead by
DataLoader workers, the same batches whatever their number). The
validation split of every kind is decided by :class:`bioseq.io.splits.ValidationSplit`.

>>> from bioseq.train.config import TrainConfig
>>> from bioseq.train.data import build_data
>>> data = build_data(TrainConfig(context=128).resolved())  # the bundled E. coli genome
>>> [batch] = data.batch(step=0, context=128, batch_size=4)
>>> batch.input_ids.shape, batch.n_tokens
(torch.Size([4, 128]), 508)
"""

from bioseq.train.data.base import (
    IGNORE,
    MIN_WARMUP_CONTEXT,
    Batch,
    TrainData,
    context_at,
    evenly_spaced,
    labelled_batch,
)
from bioseq.train.data.build import build_data, make_tokenizer
from bioseq.train.data.genome import GenomeData
from bioseq.train.data.loader import StepBatches, auto_workers, step_loader
from bioseq.train.data.records import ALIGNED_PROTEIN, ALIGNED_STATES, RecordData, aligned_tokenizer
from bioseq.train.data.text import TextData, build_text_data, read_text, text_tokenizer

__all__ = [
    "ALIGNED_PROTEIN", "ALIGNED_STATES", "IGNORE", "MIN_WARMUP_CONTEXT", "Batch", "GenomeData",
    "RecordData", "StepBatches", "TextData", "TrainData", "aligned_tokenizer", "auto_workers",
    "build_data", "build_text_data", "context_at", "evenly_spaced", "labelled_batch",
    "make_tokenizer", "read_text", "step_loader", "text_tokenizer",
]  # fmt: skip
