"""Masked-marginal DNA variant scores for masked models (``MergeLM``), as ESM-1v scores proteins.

For each SNV or MNV, the reference window around the variant (built, checked and shared exactly
as by :class:`~bioseq.tasks.variants.dna.DnaVariantScorer`) is read once with the variant's
changed bases hidden (:meth:`~bioseq.models.merge_lm.MergeLM.masked_logits`: the merges of the
unmasked window are kept and every token holding a changed base enters as [MASK], whole, as in
pretraining), and

    score = sum over the changed bases i of log p(ALT_i) - log p(REF_i)   (nats)

* ``strand="both"``: the average of that score and the same on the reverse-complement window
  (complemented bases at the mirrored positions);
* every check of :class:`DnaVariantScorer` applies (contig names, REF against the genome, N
  fraction, window bounds); indels get status ``indel_unsupported``: a masked model predicts
  the bases that are there, it has no likelihood for an insertion or a deletion;
* ``reduce`` is accepted and ignored: the score is already a sum over the changed bases;
* ALTs that change the same bases of one window share one pass; windows of equal length are
  batched (``batch_size``), so no padding enters and a score does not depend on its batch.

:func:`~bioseq.tasks.variants.scorers.dna_scorer` picks the scorer of a model's family (other
masked LMs: :mod:`~bioseq.tasks.variants.masked_dna`).

>>> import torch
>>> from bioseq.io.source import InMemoryGenome
>>> from bioseq.models import MergeConfig, MergeLM
>>> from bioseq.tasks.variants.dna import Variant
>>> from bioseq.tokenizers import CharTokenizer
>>> model = MergeLM(MergeConfig.from_preset("tiny", vocab_size=10, d_model=32)).eval()
>>> genome = InMemoryGenome({"chr1": "ACGTTGCAAGGCTTAACCGT" * 10})
>>> variants = [Variant("chr1", 11, "G", "A"), Variant("chr1", 11, "GC", "G"),
...             Variant("chr1", 5, "A", "C")]
>>> scores = MaskedMarginalScorer(model, CharTokenizer("dna"), genome, window=64).score(variants)
>>> [(s.status, s.score is not None) for s in scores]
[('ok', True), ('indel_unsupported', False), ('ref_mismatch', False)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.io.source import SequenceSource
from bioseq.models.context import position_limit
from bioseq.tasks.variants.dna import STATUSES as DNA_STATUSES
from bioseq.tasks.variants.dna import DnaVariantScorer, Variant, WindowTooLong, _Plan, short
from bioseq.tasks.variants.likelihood import encode

STATUSES = {
    **DNA_STATUSES,
    "indel_unsupported": "an indel: masked models (MergeLM) score substitutions only",
}


@dataclass(frozen=True)
class MaskedScore:
    """The masked-marginal score of one alternative window against its reference."""

    value: float
    changed: int  # bases where the alternative differs from the reference

    def llr(self, reduce: str = "sum") -> float:
        """The score; ``reduce`` is ignored (it is a sum over the changed bases)."""
        return self.value


@dataclass(frozen=True)
class _Pass:
    """One masked read of a reference window: its ids and the positions hidden."""

    ids: np.ndarray
    positions: tuple[int, ...]


class MaskedPairScorer:
    """Scores ``(reference, [alternatives])`` window groups of equal-length substitutions by
    masked marginals (see the module doc): the role ``PairScorer`` has for causal models."""

    def __init__(self, model, tokenizer, batch_size: int = 8) -> None:
        if batch_size < 1:
            raise InputError(f"batch size must be at least 1, not {batch_size}")
        self.model, self.tokenizer, self.batch_size = model.eval(), tokenizer, batch_size
        self.device = next(model.parameters()).device

    def encode(self, sequence: str) -> np.ndarray:
        ids = encode(self.tokenizer, sequence, add_bos=False)
        if len(ids) != len(sequence):
            raise InputError(
                f"masked-marginal scores need one token per base; the tokenizer "
                f"made {len(ids)} tokens of {len(sequence)} bases"
            )
        return ids

    def score(
        self,
        groups: Sequence[tuple[str, Sequence[str]]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[MaskedScore]]:
        """Per group, a :class:`MaskedScore` of each alternative (same length as the reference)."""
        passes: dict[tuple[int, tuple[int, ...]], _Pass] = {}
        wanted = []  # (group, alternative, pass key, alternative ids)
        for g, (ref, alts) in enumerate(groups):
            ref_ids = self.encode(ref)
            for a, alt in enumerate(alts):
                alt_ids = self.encode(alt)
                key = (g, tuple(np.flatnonzero(alt_ids != ref_ids).tolist()))
                passes.setdefault(key, _Pass(ref_ids, key[1]))
                wanted.append((g, a, key, alt_ids))
        logp = self._run([k for k, p in passes.items() if p.positions], passes, progress, wanted)
        out: list[list[MaskedScore]] = [[None] * len(alts) for _, alts in groups]
        for g, a, key, alt_ids in wanted:
            at = list(key[1])
            rows = logp.get(key)
            value = (
                0.0
                if not at
                else float((rows[at, alt_ids[at]] - rows[at, passes[key].ids[at]]).sum())
            )
            out[g][a] = MaskedScore(value, len(at))
        return out

    def _run(
        self,
        keys: list[tuple],
        passes: dict[tuple, _Pass],
        progress: Callable[[int], None] | None,
        wanted: list[tuple],
    ) -> dict[tuple, np.ndarray]:
        """Log-probabilities (L, vocab) of the passes ``keys``, batched by window length;
        ``progress`` hears how many alternatives each batch served."""
        served = {}
        for _, _, key, _ in wanted:
            served[key] = served.get(key, 0) + 1
        keys = sorted(keys, key=lambda k: len(passes[k].ids))
        logp: dict[tuple, np.ndarray] = {}
        start = 0
        while start < len(keys):
            length = len(passes[keys[start]].ids)
            batch = [
                k for k in keys[start : start + self.batch_size] if len(passes[k].ids) == length
            ]
            for key, rows in zip(batch, self._masked_logp([passes[k] for k in batch]), strict=True):
                logp[key] = rows
            if progress is not None:
                progress(sum(served[k] for k in batch))
            start += len(batch)
        return logp

    @torch.no_grad()
    def _masked_logp(self, batch: list[_Pass]) -> np.ndarray:
        ids = torch.from_numpy(np.stack([p.ids for p in batch])).to(self.device)
        hidden = torch.zeros(ids.shape, dtype=torch.bool, device=self.device)
        for row, p in enumerate(batch):
            hidden[row, list(p.positions)] = True
        logits = self.model.masked_logits(ids, hidden)
        return logits.float().log_softmax(-1).cpu().numpy()


class MaskedMarginalScorer(DnaVariantScorer):
    """Scores :class:`Variant` lists against a genome with a masked model (see module doc);
    options as :class:`DnaVariantScorer` (``reduce`` ignored, ``strategy`` unused)."""

    def __init__(self, model, tokenizer, genome: SequenceSource, **options) -> None:
        if not hasattr(model, "masked_logits"):
            raise InputError(
                f"{type(model).__name__} is not a masked model (no masked_logits); "
                "score it with DnaVariantScorer"
            )
        super().__init__(model, tokenizer, genome, **options)
        if self.multi_base:
            raise InputError("masked-marginal scores need a tokenizer of one token per base")
        _check_window(model.config, self.window)
        self.scorer = MaskedPairScorer(model, tokenizer, self.scorer.batch_size)

    def plan(self, variant: Variant) -> tuple[_Plan | None, str, str]:
        """As :meth:`DnaVariantScorer.plan`, with indels ``indel_unsupported``."""
        plan, status, detail = super().plan(variant)
        if plan is not None and plan.indel:
            return (
                None,
                "indel_unsupported",
                (
                    f"REF {short(variant.ref)} / ALT {short(variant.alt)}: masked models score "
                    "substitutions only"
                ),
            )
        return plan, status, detail


def _check_window(config, window: int) -> None:
    """InputError when a window makes more merged tokens than the latent backbone reads."""
    latent = getattr(config, "latent_config", None)
    limit = position_limit(latent(1)) if latent is not None else None
    ratio = float(getattr(config, "merge_ratio", 1.0))
    if limit is not None and math.ceil(window / ratio) > limit:
        raise WindowTooLong(
            f"a {window}-base window makes about {math.ceil(window / ratio)} merged tokens but "
            f"the model's backbone reads at most {limit}; use --window {int(limit * ratio)} or "
            "less",
            int(limit * ratio),
            limit,
        )
