"""Protein substitutions scored by a masked LM (ESM-2 and the like), as ESM-1v scores them.

For a mutant (one or several substitutions of the wild type), in nats::

    score = sum over its substitutions of log p(mutant residue) - log p(wild-type residue)

read at each mutated position from

* ``strategy="masked-marginal"`` (default): the wild type with *all* the mutant's positions
  replaced by the mask token, in one pass; mutants mutating the same set of positions share it
  (every single mutant at one site: one pass);
* ``strategy="wildtype-marginal"``: one unmasked pass of the wild type, shared by every mutant.

``context_mask=f`` (masked-marginal only) also hides a random fraction ``f`` of the other
residues in each pass, and averages the log-probabilities over ``draws`` such passes: a model
pretrained with a high mask rate (``--mask-fraction 0.4``) then reads inputs like the ones it
learned from, instead of a wild type with one hole. The draws of a set of positions are seeded
by ``seed`` and the positions, so a mutant's score does not depend on the table's order.

The wild type is tokenised with the tokenizer's own special tokens (ESM: ``<cls>`` before,
``<eos>`` after), so residue ``i`` (0-based) is token ``start + i``
(:class:`~bioseq.tasks.variants.masked_lm.Tokens`); a tokenizer that does not give one token
per residue is refused in one line.

>>> import torch
>>> from transformers import EsmConfig, EsmForMaskedLM
>>> from bioseq.tasks.variants.mutations import parse_mutant
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("protein")
>>> model = EsmForMaskedLM(EsmConfig(
...     vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
...     intermediate_size=8, pad_token_id=tok.pad_token_id, mask_token_id=tok.mask_token_id,
...     position_embedding_type="rotary"))
>>> scorer = MaskedMutationScorer(model, tok)
>>> scores = scorer.score_mutants("MKVL", 1, [parse_mutant("K2A"), parse_mutant("K2A:L4W")])
>>> [status for _, status in scores]
['ok', 'ok']

A model trained on alignment columns (``bioseq pretrain X.a2m --aligned``: ``aligned`` and
``alignment_width`` in its config) is scored by :class:`AlignedMutationScorer`: it reads the
wild type's match columns (``Alignment.focus_sequence``), and a substitution at residue ``r``
is read at the match column ``j`` with ``offset + focus_columns[j] == r``; a residue in no match
column (a lower-case insertion of the wild type) gets the status ``not_in_alignment``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from bioseq.errors import InputError
from bioseq.tasks.variants.masked_lm import MaskedLMReader
from bioseq.tasks.variants.mutations import AMINO_ACIDS, Mutant, Substitution

MaskedStrategy = Literal["masked-marginal", "wildtype-marginal"]
MASKED_STRATEGIES = ("masked-marginal", "wildtype-marginal")


class MaskedMutationScorer:
    """Scores checked mutants of a wild type with a masked LM (see the module doc); a
    :class:`~bioseq.tasks.variants.mutations.MutationModel`."""

    def __init__(
        self,
        model,
        tokenizer,
        strategy: MaskedStrategy = "masked-marginal",
        batch_size: int = 8,
        context_mask: float = 0.0,
        draws: int = 16,
        seed: int = 0,
    ) -> None:
        if strategy not in MASKED_STRATEGIES:
            raise InputError(
                f"--strategy {strategy}: a masked model takes {' or '.join(MASKED_STRATEGIES)}"
            )
        if not 0.0 <= context_mask < 1.0:
            raise InputError(f"--context-mask {context_mask}: expected a fraction in [0, 1)")
        if context_mask and strategy != "masked-marginal":
            raise InputError("--context-mask applies to --strategy masked-marginal only")
        if draws < 1:
            raise InputError(f"--context-draws {draws}: expected at least 1")
        self.context_mask, self.seed = float(context_mask), int(seed)
        self.draws = int(draws) if context_mask else 1
        self.reader = MaskedLMReader(model, tokenizer, batch_size)
        self.strategy = strategy
        self.ids = {aa: self.reader.symbol_id(aa) for aa in AMINO_ACIDS + "*"}
        missing = [aa for aa in AMINO_ACIDS if self.ids[aa] is None]
        if missing:
            raise InputError(
                f"{type(tokenizer).__name__} has no token for the amino acids "
                f"{''.join(missing)}: not a protein model"
            )

    @property
    def residues(self) -> str:
        """Mutant residues it scores: the 20, and ``*`` where the vocabulary has a stop."""
        return AMINO_ACIDS + ("*" if self.ids["*"] is not None else "")

    def score_mutants(
        self,
        wildtype: str,
        offset: int,
        mutants: Sequence[Mutant],
        progress: Callable[[int], None] | None = None,
    ) -> list[tuple[float | None, str]]:
        """``(score, "ok")`` per mutant (substitutions already checked against ``wildtype``)."""
        tokens = self.reader.tokenize(wildtype)
        if len(tokens.lengths) != len(wildtype) or (tokens.lengths != 1).any():
            raise InputError(
                f"masked-marginal scores need one token per residue; the "
                f"tokenizer made {len(tokens.lengths)} tokens of {len(wildtype)} "
                "residues"
            )
        self.reader.check_length(tokens, f"the wild type ({len(wildtype):,} residues)")
        # per mutant: (position, mutant id, wild-type id) of each substitution
        sites = [
            [
                (
                    tokens.start + s.position - offset,
                    self.ids[s.mt],
                    int(tokens.ids[tokens.start + s.position - offset]),
                )
                for s in mutant
            ]
            for mutant in mutants
        ]
        keys = [
            tuple(sorted(p for p, _, _ in subs)) if self.strategy == "masked-marginal" else ()
            for subs in sites
        ]
        wanted: dict[tuple, set[tuple[int, int]]] = {}
        for key, subs in zip(keys, sites, strict=True):
            bucket = wanted.setdefault(key, set())
            for pos, mt, wt in subs:
                bucket.update(((pos, mt), (pos, wt)))
        order = [key for key in wanted if wanted[key]]  # the wild type itself needs no pass
        asked = [sorted(wanted[key]) for key in order]
        served = Counter(keys)
        if progress is not None and served.get(()) and () not in order:
            progress(served[()])
        # passes finish in order (all of one length); a key's mutants count at its last draw
        done = iter([(key, d == self.draws - 1) for key in order for d in range(self.draws)])

        def tick(n: int) -> None:
            count = 0
            for _ in range(n):
                key, last = next(done)
                count += served[key] if last else 0
            if progress is not None:
                progress(count)

        passes = [
            (self._masked(tokens, key, d), w)
            for key, w in zip(order, asked, strict=True)
            for d in range(self.draws)
        ]
        values = self.reader.read(passes, progress=tick)
        lookup = {}
        for k, (key, w) in enumerate(zip(order, asked, strict=True)):
            mean = np.mean(values[k * self.draws : (k + 1) * self.draws], axis=0)
            for (pos, tok), v in zip(w, mean, strict=True):
                lookup[(key, pos, tok)] = float(v)
        return [
            (sum(lookup[(key, pos, mt)] - lookup[(key, pos, wt)] for pos, mt, wt in subs), "ok")
            for key, subs in zip(keys, sites, strict=True)
        ]

    def _masked(self, tokens, key: tuple, draw: int) -> np.ndarray:
        """The wild type's tokens with ``key``'s positions masked and, with ``context_mask``,
        draw ``draw``'s random share of the other residues too."""
        if not self.context_mask:
            return tokens.masked(key)
        rng = np.random.default_rng([self.seed, draw, *key])
        residues = np.arange(tokens.start, tokens.start + len(tokens.lengths))
        hidden = residues[rng.random(len(residues)) < self.context_mask]
        return tokens.masked(sorted(set(key) | set(hidden.tolist())))


class AlignedMutationScorer:
    """Scores mutants of an alignment's wild type with a model trained on its match columns
    (``--aligned``; see the module doc): a :class:`MaskedMutationScorer` of the focus sequence,
    residue numbers mapped through ``alignment.focus_columns``.

    ``width`` is the model's ``alignment_width``; a focus sequence of another length is refused.
    """

    def __init__(self, scorer: MaskedMutationScorer, alignment, width: int, source: str) -> None:
        focus = alignment.focus_sequence
        if len(focus) != width:
            raise InputError(
                f"{source}: {len(focus)} match columns, but the model was "
                f"trained on an alignment of {width} (--aligned); give that "
                "alignment"
            )
        self.scorer, self.focus = scorer, focus
        self.column_of = {int(w): j for j, w in enumerate(alignment.focus_columns) if w >= 0}

    @property
    def residues(self) -> str:
        return self.scorer.residues

    def score_mutants(
        self,
        wildtype: str,
        offset: int,
        mutants: Sequence[Mutant],
        progress: Callable[[int], None] | None = None,
    ) -> list[tuple[float | None, str]]:
        """``(score, "ok")``, or ``(None, "not_in_alignment")`` for a mutant changing a residue
        of ``wildtype`` (numbered from ``offset``) that no match column holds."""
        out: list[tuple[float | None, str]] = [(None, "not_in_alignment")] * len(mutants)
        todo: list[tuple[int, Mutant]] = []
        for i, mutant in enumerate(mutants):
            columns = [self.column_of.get(s.position - offset) for s in mutant]
            if None not in columns:  # as the focus sequence numbers them: column j is j + 1
                todo.append(
                    (
                        i,
                        tuple(
                            Substitution(s.wt, j + 1, s.mt)
                            for s, j in zip(mutant, columns, strict=True)
                        ),
                    )
                )
        if progress is not None and len(todo) < len(mutants):
            progress(len(mutants) - len(todo))
        scores = self.scorer.score_mutants(self.focus, 1, [m for _, m in todo], progress)
        for (i, _), score in zip(todo, scores, strict=True):
            out[i] = score
        return out
