"""How each model family scores: the one table that ``score-vcf`` and ``score-mutations`` follow.

:func:`~bioseq.models.hub.scorer_kind` names a model's family; :data:`FAMILIES` says what
that family does:

======  ===============================================  ====================================
kind    score-vcf (:func:`dna_scorer`)                   score-mutations (``--strategy``)
======  ===============================================  ====================================
causal  LL(ALT window) - LL(REF window)                  ``causal`` (default), ``causal-both``
        (:class:`~bioseq.tasks.variants.dna.DnaVariantScorer`)
merge   masked marginal through ``masked_logits``        none: MergeLM scores DNA only
        (:class:`~bioseq.tasks.variants.masked.MaskedMarginalScorer`; indels unscored)
masked  masked (default) or wild-type marginal,          ``masked-marginal`` (default),
        indels by pseudo-log-likelihood                  ``wildtype-marginal``
        (:class:`~bioseq.tasks.variants.masked_dna.MaskedLMVariantScorer`)
======  ===============================================  ====================================

An option that a family does not take (``--masked-strategy`` or ``--pll-window`` for a causal
model, a causal strategy for a masked one) is a one-line :class:`~bioseq.errors.InputError`.

>>> from bioseq.models import MambaConfig, MambaLM
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=8, d_model=16))
>>> fam = family(model)
>>> fam.kind, fam.strategies, fam.marginals
('causal', ('causal', 'causal-both'), ())
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bioseq.errors import InputError
from bioseq.io.source import SequenceSource
from bioseq.models.hub import MASKED_MODELS, SITE_INDEPENDENT, LoadedModel, scorer_kind
from bioseq.tasks.variants.dna import DnaVariantScorer, Variant, VariantScore
from bioseq.tasks.variants.masked import MaskedMarginalScorer
from bioseq.tasks.variants.masked_dna import (
    MARGINALS,
    STATUSES,
    MaskedLMVariantScorer,
)
from bioseq.tasks.variants.masked_protein import MASKED_STRATEGIES, MaskedMutationScorer
from bioseq.tasks.variants.mutations import CausalMutationScorer, MutationModel

__all__ = [
    "FAMILIES", "STATUSES", "Family", "describe", "dna_scorer", "family", "mutation_scorer",
    "score_variants", "scorer_kind", "scoring_meta",
]  # fmt: skip


@dataclass(frozen=True)
class Family:
    """What one kind of model does: its DNA scorer, the ``--masked-strategy`` values score-vcf
    takes (first: default), and the ``--strategy`` values of score-mutations (first: default;
    none: it scores DNA only)."""

    kind: str
    dna: type[DnaVariantScorer]
    marginals: tuple[str, ...]
    strategies: tuple[str, ...]


FAMILIES = {
    "causal": Family("causal", DnaVariantScorer, (), ("causal", "causal-both")),
    "merge": Family("merge", MaskedMarginalScorer, ("masked",), ()),
    "masked": Family("masked", MaskedLMVariantScorer, MARGINALS, MASKED_STRATEGIES),
}


def family(model) -> Family:
    """The :class:`Family` of ``model`` (:func:`~bioseq.models.hub.scorer_kind`)."""
    return FAMILIES[scorer_kind(model)]


def describe(model) -> str:
    """The model named for a message: ``a MergeLM (...)``, ``an ESM masked LM (...)``..."""
    known = MASKED_MODELS.get(getattr(model.config, "model_type", None))
    return known or f"a {type(model).__name__} ({scorer_kind(model)})"


def dna_scorer(
    model,
    tokenizer,
    genome: SequenceSource,
    *,
    marginal: str | None = None,
    pll_window: int | None = None,
    strand: str | None = None,
    **options,
) -> DnaVariantScorer:
    """The DNA variant scorer of ``model``'s family. ``marginal`` (``masked`` or ``wildtype``)
    and ``pll_window`` are for masked LMs; ``strand=None`` is the family's default (``both``
    for masked LMs that are not RC-equivariant, else ``forward``); other ``options`` as
    :class:`~bioseq.tasks.variants.dna.DnaVariantScorer` (``window``, ``batch_size``...)."""
    fam = family(model)
    if marginal is not None and marginal not in fam.marginals:
        takes = f"takes {' or '.join(fam.marginals)}" if fam.marginals else "is for masked LMs"
        raise InputError(f"--masked-strategy {marginal}: {describe(model)} {takes}")
    if pll_window is not None and fam.kind != "masked":
        raise InputError(
            f"--pll-window is for masked LMs (Caduceus, ESM...), not {describe(model)}"
        )
    if fam.kind == "masked":
        extra = {"marginal": marginal or fam.marginals[0]}
        if pll_window is not None:
            extra["pll_window"] = pll_window
        return fam.dna(model, tokenizer, genome, strand=strand, **extra, **options)
    return fam.dna(model, tokenizer, genome, strand=strand or "forward", **options)


def score_variants(
    model,
    tokenizer,
    genome: SequenceSource,
    variants: Iterable[Variant],
    *,
    progress: bool = False,
    **options,
) -> list[VariantScore]:
    """Score variants with the scorer of ``model``'s family (one :class:`VariantScore` each,
    input order); options as :func:`dna_scorer`.

    >>> from bioseq.io.source import InMemoryGenome
    >>> from bioseq.models import MambaConfig, MambaLM
    >>> from bioseq.tokenizers import CharTokenizer
    >>> tok = CharTokenizer("dna")
    >>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=tok.vocab_size, d_model=32))
    >>> genome = InMemoryGenome({"chr1": "ACGTTGCAAGGCTTAACCGT" * 10})
    >>> variants = [Variant("chr1", 11, "G", "A"), Variant("chr1", 5, "A", "C")]
    >>> [s.status for s in score_variants(model, tok, genome, variants, window=64)]
    ['ok', 'ref_mismatch']
    """
    return dna_scorer(model, tokenizer, genome, **options).score(list(variants), progress)


def scoring_meta(scorer: DnaVariantScorer) -> dict[str, str]:
    """How ``scorer`` scores, as the ``##bioseq_*`` header lines of a scored VCF."""
    strand = "both" if len(scorer.orientations) == 2 else "forward"
    if isinstance(scorer, MaskedLMVariantScorer):
        pll = scorer.scorer.pll_window
        return {
            "strand": "forward_rc_equivariant" if scorer.rc_exact else strand,
            "score": f"{scorer.scorer.marginal}_marginal",
            "indels": f"pll_window_{pll}" if pll else "unscored",
        }
    if isinstance(scorer, MaskedMarginalScorer):
        return {"strand": strand, "score": "masked_marginal"}
    return {"strand": strand, "reduce": scorer.reduce}


def mutation_scorer(
    loaded: Sequence[LoadedModel],
    strategy: str | None = None,
    batch_size: int = 8,
    context_mask: float = 0.0,
    context_draws: int = 16,
    seed: int = 0,
) -> MutationModel:
    """The score-mutations scorer of the loaded model(s); ``strategy=None`` is the family's
    default. One-line InputError for a strategy the family does not take. The
    site-independent model scores as it is, alone. ``context_mask`` / ``context_draws`` /
    ``seed``: masked models' random context masks
    (:class:`~bioseq.tasks.variants.masked_protein.MaskedMutationScorer`)."""
    kinds = {x.kind for x in loaded}
    if context_mask and kinds != {"masked"}:
        raise InputError("--context-mask applies to masked models (ESM-2, Caduceus) only")
    if SITE_INDEPENDENT in kinds:
        if len(loaded) != 1:
            raise InputError(f"--model {SITE_INDEPENDENT} cannot be combined with other models")
        return loaded[0].model
    if len(kinds) != 1:
        raise InputError("--model: causal and masked models cannot be combined")
    (kind,) = kinds
    fam, first = FAMILIES[kind], loaded[0]
    if not fam.strategies:
        raise InputError(
            f"{first.path}: {describe(first.model)} scores DNA only (score-vcf); "
            "score-mutations needs a causal or masked protein LM"
        )
    strategy = strategy or fam.strategies[0]
    if strategy not in fam.strategies:
        raise InputError(
            f"--strategy {strategy} does not fit {first.path}, "
            f"{describe(first.model)}: use {' or '.join(fam.strategies)}"
        )
    if kind == "masked":
        if len(loaded) != 1:
            raise InputError(f"--strategy {strategy} takes one --model")
        return MaskedMutationScorer(
            first.model, first.tokenizer, strategy, batch_size, context_mask, context_draws, seed
        )
    return _causal(loaded, strategy, batch_size)


def _causal(loaded: Sequence[LoadedModel], strategy: str, batch_size: int) -> MutationModel:
    """One causal model (``causal``), or a left-to-right and a right-to-left one
    (``causal-both``: two runs, or one trained both ways)."""
    pairs = {id(x): (x.model, x.tokenizer) for x in loaded}
    if strategy == "causal":
        if len(loaded) != 1:
            raise InputError("--strategy causal takes one --model (causal-both takes two)")
        (one,) = loaded
        if one.direction == "reverse":
            return CausalMutationScorer(reverse=pairs[id(one)], batch_size=batch_size)
        return CausalMutationScorer(forward=pairs[id(one)], batch_size=batch_size)
    if len(loaded) == 1:
        (one,) = loaded
        if one.direction != "both":
            raise InputError(
                f"--strategy causal-both needs a right-to-left model too: pass --model twice "
                f"(forward and reverse runs) or one run trained both ways ({one.path} reads "
                f"{one.direction})"
            )
        return CausalMutationScorer(pairs[id(one)], pairs[id(one)], batch_size=batch_size)
    if len(loaded) != 2:
        raise InputError("--strategy causal-both takes one or two --model options")
    first, second = loaded
    if first.direction == "reverse" and second.direction != "reverse":
        first, second = second, first
    if first.direction == "reverse" or second.direction == "forward":
        raise InputError(
            f"causal-both: {first.path} reads {first.direction} and "
            f"{second.path} reads {second.direction}; need one of each"
        )
    return CausalMutationScorer(pairs[id(first)], pairs[id(second)], batch_size=batch_size)
