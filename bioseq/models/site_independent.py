"""The site-independent baseline: per-column log-odds from a family alignment.

For each match column ``j`` of an a2m/a3m alignment (the first record is the wild type),
amino-acid frequencies ``f_j(a)`` are counted over the homologs, each sequence weighted by
``1 / (number of sequences at >= theta identity to it)`` (EVcouplings' clustering weights,
``theta = 0.8``; identity over all match columns, gaps included), gaps left out, and mixed
with a uniform pseudocount: ``f = (1 - lambda) f_counted + lambda / 20``. A substitution scores
``log f_j(mt) - log f_j(wt)``; a multi-mutant the sum. ``bioseq score-mutations --model
site-independent --alignment FAMILY.a2m`` loads it through :func:`bioseq.models.hub.load_model`.

>>> model = SiteIndependentModel.from_a2m("BLAT_ECOLX_r24-286.a2m")  # doctest: +SKIP
>>> model.n_effective  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from bioseq.errors import InputError
from bioseq.io.proteins import Alignment, read_alignment
from bioseq.io.weights import sequence_weights

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_GAP = len(AMINO_ACIDS)  # code of gaps and anything that is not one of the 20
_LOOKUP = np.full(256, _GAP, dtype=np.uint8)
for _i, _a in enumerate(AMINO_ACIDS):
    _LOOKUP[ord(_a)] = _i


class Substitution(Protocol):
    """What the model reads of a substitution
    (:class:`bioseq.tasks.variants.mutations.Substitution`)."""

    wt: str
    position: int
    mt: str


Mutant = Iterable[Substitution]


class SiteIndependentModel:
    """Per-column amino-acid log-frequencies of an alignment (see the module doc)."""

    def __init__(
        self, alignment: Alignment, theta: float | None = 0.8, pseudocount: float = 0.1
    ) -> None:
        if not 0 < pseudocount <= 1:
            raise InputError(f"pseudocount must be above 0 and at most 1, not {pseudocount}")
        self.alignment = alignment
        codes = _LOOKUP[alignment.match_matrix()]
        self.weights = np.ones(len(codes)) if theta is None else sequence_weights(codes, theta)
        self.n_effective = float(self.weights.sum())
        counts = np.zeros((codes.shape[1], _GAP + 1))
        for j in range(codes.shape[1]):
            counts[j] = np.bincount(codes[:, j], weights=self.weights, minlength=_GAP + 1)
        counts = counts[:, :_GAP]
        freqs = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
        self.log_freqs = np.log((1 - pseudocount) * freqs + pseudocount / _GAP)
        self.column_of = {int(w): j for j, w in enumerate(alignment.focus_columns) if w >= 0}

    @classmethod
    def from_a2m(cls, path, **options) -> SiteIndependentModel:
        """Read an a2m/a3m alignment and build the model (``theta``, ``pseudocount``)."""
        return cls(read_alignment(path), **options)

    def score_mutant(self, mutant: Mutant) -> tuple[float | None, str]:
        """``(sum of log-odds, "ok")``, or ``(None, reason)``: ``not_in_alignment`` where a
        residue number has no match column, ``wildtype_mismatch`` where the alignment's wild
        type has another residue, ``unsupported_residue`` for anything but the 20."""
        aln, total = self.alignment, 0.0
        for sub in mutant:
            column = self.column_of.get(sub.position - aln.offset)
            if column is None:
                return None, "not_in_alignment"
            if aln.wildtype[sub.position - aln.offset] != sub.wt:
                return None, "wildtype_mismatch"
            if sub.mt not in AMINO_ACIDS or sub.wt not in AMINO_ACIDS:
                return None, "unsupported_residue"
            row = self.log_freqs[column]
            total += row[AMINO_ACIDS.index(sub.mt)] - row[AMINO_ACIDS.index(sub.wt)]
        return float(total), "ok"

    def score_mutants(
        self, wildtype: str, offset: int, mutants: Sequence[Mutant], progress=None
    ) -> list[tuple[float | None, str]]:
        """Score mutants by residue number (the alignment header's numbering, e.g. 24-286)."""
        out = [self.score_mutant(m) for m in mutants]
        if progress is not None:
            progress(len(mutants))
        return out
