"""DNA variant scores from any masked LM (Caduceus, Nucleotide Transformer, DNA ESM/BERT models).

Windows are built, checked and shared exactly as by
:class:`~bioseq.tasks.variants.dna.DnaVariantScorer` (contigs, REF against the genome, N fraction,
window bounds; one reference window per site, shared by its ALTs), then read by a masked LM
(:class:`~bioseq.tasks.variants.masked_lm.MaskedLMReader`). Scores are in nats:

* **Substitutions** (SNVs, MNVs), ``marginal="masked"`` (default; the Caduceus paper, ESM-1v):
  the reference window with every token holding a changed base replaced by the mask token,
  ``score = sum over those tokens of log p(ALT token) - log p(REF token)``. One pass per distinct
  (window, set of masked tokens): all ALTs of a site share it.
* ``marginal="wildtype"``: one unmasked pass per reference window, the same difference read at
  each changed token (ESM-1v's fast variant).
* Tokens of several bases (Nucleotide Transformer 6-mers): the whole ALT token is scored against
  the whole REF token when REF and ALT windows split into tokens at the same places; when they
  do not (an N, or a k-mer vocabulary missing the new word), the status is
  ``tokenization_differs``.
* **Indels** (either marginal): the pseudo-log-likelihood (PLL: each token masked in turn, log p
  of the token that is there) of the ALT window minus that of the REF window, over a sub-window
  only: the changed bases and ``pll_window // 2`` bases on each side, in each window. The
  changed bases are those between the longest prefix and the longest suffix that REF and ALT
  windows share; in a repeat, where these overlap, every placement of the indel counts (a
  deletion of ``TT`` from ``xTTTy``: all three T), so the sub-window, and the score, are the same
  on either strand. Positions further away are left out of
  both sums (their context changes too, but less; this bounds the cost at about
  ``pll_window + changed bases`` passes per window and ALT, the REF's shared by all ALTs of the
  window). Indels changing more than ``pll_window`` bases get ``indel_too_long``;
  ``pll_window=0`` leaves indels unscored (``indel_unsupported``).
* ``strand="both"`` (the default, unless the model is reverse-complement equivariant): the
  average of the score on the window and on its reverse complement. A model with
  ``config.rcps`` reading bare windows (Caduceus "ps") gives exactly the same score on both
  strands, so it is scored once, on the forward strand, whatever ``strand`` says
  (``scorer.note`` says so).
* ``reduce`` is accepted and ignored (the score is already a sum).

>>> import torch
>>> from transformers import EsmConfig, EsmForMaskedLM
>>> from bioseq.io.source import InMemoryGenome
>>> from bioseq.tasks.variants.dna import Variant
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = EsmForMaskedLM(EsmConfig(
...     vocab_size=len(tok), hidden_size=8, num_hidden_layers=1, num_attention_heads=1,
...     intermediate_size=8, pad_token_id=tok.pad_token_id, mask_token_id=tok.mask_token_id,
...     position_embedding_type="rotary"))
>>> genome = InMemoryGenome({"chr1": "ACGTTGCAAGGCTTAACCGT" * 10})
>>> variants = [Variant("chr1", 11, "G", "A"), Variant("chr1", 11, "GC", "G"),
...             Variant("chr1", 5, "A", "C")]
>>> scorer = MaskedLMVariantScorer(model, tok, genome, window=64, pll_window=8)
>>> [(s.status, s.score is not None) for s in scorer.score(variants)]
[('ok', True), ('ok', True), ('ref_mismatch', False)]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bioseq.errors import InputError
from bioseq.io.source import SequenceSource
from bioseq.tasks.variants.dna import (
    DnaVariantScorer,
    Variant,
    VariantScore,
    WindowTooLong,
    _Plan,
    short,
)
from bioseq.tasks.variants.masked import STATUSES as MERGE_STATUSES
from bioseq.tasks.variants.masked_lm import MaskedLMReader, Tokens, rc_equivariant

Marginal = Literal["masked", "wildtype"]
MARGINALS = ("masked", "wildtype")
PLL_WINDOW = 32  # default --pll-window: bases around an indel whose PLL is summed

STATUSES = {
    **MERGE_STATUSES,
    "indel_unsupported": "an indel, with a model scored by masked marginals only (MergeLM, or "
    "--pll-window 0)",
    "indel_too_long": "an indel changing more bases than --pll-window (its pseudo-log-"
    "likelihood needs a masked pass per base)",
    "tokenization_differs": "REF and ALT windows split into multi-base tokens (k-mers) at "
    "different places: their tokens cannot be compared one to one",
}
_GROUPS = 16  # windows whose passes are collected and run together (progress granularity)


@dataclass(frozen=True)
class MaskedLMScore:
    """The score of one alternative window (NaN when its tokens do not line up with the REF's)
    and how many masked or read token positions entered it."""

    value: float
    tokens: int

    def llr(self, reduce: str = "sum") -> float:
        """The score; ``reduce`` is ignored (it is a sum)."""
        return self.value


# a term of a score: (pass key, token position, token id, +1 for ALT or -1 for REF)
_Term = tuple[tuple, int, int, int]


class MaskedLMPairScorer:
    """Scores ``(reference, [alternatives])`` window groups with a masked LM (see module doc):
    the role ``PairScorer`` has for causal models."""

    def __init__(
        self, reader: MaskedLMReader, marginal: Marginal = "masked", pll_window: int = PLL_WINDOW
    ) -> None:
        if marginal not in MARGINALS:
            raise InputError(f"masked strategy must be 'masked' or 'wildtype', not {marginal!r}")
        if pll_window < 0:
            raise InputError(f"--pll-window {pll_window}: expected 0 or more bases")
        self.reader, self.marginal, self.pll_window = reader, marginal, pll_window
        self.batch_size = reader.batch_size

    def score(
        self,
        groups: Sequence[tuple[str, Sequence[str]]],
        progress: Callable[[int], None] | None = None,
    ) -> list[list[MaskedLMScore]]:
        """Per group, a :class:`MaskedLMScore` of each alternative."""
        out: list[list[MaskedLMScore]] = []
        for start in range(0, len(groups), _GROUPS):
            part = groups[start : start + _GROUPS]
            out.extend(self._score_part(part))
            if progress is not None:
                progress(sum(len(alts) for _, alts in part))
        return out

    def _score_part(self, groups: Sequence[tuple[str, Sequence[str]]]):
        ids: dict[tuple, np.ndarray] = {}  # pass key -> the ids it reads
        terms: list[list[list[_Term] | None]] = []
        for g, (ref, alts) in enumerate(groups):
            ref_t = self.reader.tokenize(ref)
            row = []
            for a, alt in enumerate(alts):
                alt_t = self.reader.tokenize(alt)
                if len(alt) == len(ref):
                    row.append(self._substitution(ids, g, ref_t, alt_t))
                else:
                    row.append(self._pll(ids, g, a, ref, alt, ref_t, alt_t))
            terms.append(row)
        wanted: dict[tuple, set[tuple[int, int]]] = {key: set() for key in ids}
        for row in terms:
            for alt_terms in row:
                for key, pos, token, _ in alt_terms or ():
                    wanted[key].add((pos, token))
        keys = [key for key in ids if wanted[key]]
        asked = [sorted(wanted[key]) for key in keys]
        values = self.reader.read([(ids[k], w) for k, w in zip(keys, asked, strict=True)])
        lookup = {
            (k, pos, token): float(v)
            for k, w, vs in zip(keys, asked, values, strict=True)
            for (pos, token), v in zip(w, vs, strict=True)
        }
        return [[_total(alt_terms, lookup) for alt_terms in row] for row in terms]

    # -- terms ----------------------------------------------------------------------------------
    @staticmethod
    def _pass(ids: dict, key: tuple, tokens: Tokens, hidden: tuple[int, ...]) -> tuple:
        """Register the pass ``key``: ``tokens`` with the positions ``hidden`` masked."""
        if key not in ids:
            ids[key] = tokens.masked(hidden)
        return key

    def _substitution(self, ids: dict, g: int, ref_t: Tokens, alt_t: Tokens) -> list[_Term] | None:
        """Masked or wild-type marginal terms; None when the tokens do not line up."""
        if not np.array_equal(ref_t.lengths, alt_t.lengths) or ref_t.start != alt_t.start:
            return None
        changed = tuple((np.flatnonzero(ref_t.content != alt_t.content) + ref_t.start).tolist())
        hidden = changed if self.marginal == "masked" else ()
        key = self._pass(ids, (g, "ref", hidden), ref_t, hidden)
        return [
            term
            for pos in changed
            for term in ((key, pos, int(alt_t.ids[pos]), 1), (key, pos, int(ref_t.ids[pos]), -1))
        ]

    def _pll(
        self, ids: dict, g: int, a: int, ref: str, alt: str, ref_t: Tokens, alt_t: Tokens
    ) -> list[_Term]:
        """Pseudo-log-likelihood terms over the sub-window around the indel (module doc)."""
        shorter = min(len(ref), len(alt))
        prefix, suffix = _common_prefix(ref, alt), _common_prefix(ref[::-1], alt[::-1])
        first, last = min(prefix, shorter - suffix), max(prefix, shorter - suffix)
        flank = self.pll_window // 2
        terms = []
        for label, seq, tokens, sign in (("ref", ref, ref_t, -1), (("alt", a), alt, alt_t, 1)):
            end = last + len(seq) - shorter  # every placement of the indel in a repeat
            lo, hi = max(first - flank, 0), min(end + flank, len(seq))
            spans = tokens.spans
            for j in np.flatnonzero((spans[:, 0] < hi) & (spans[:, 1] > lo)).tolist():
                pos = tokens.start + j
                key = self._pass(ids, (g, label, (pos,)), tokens, (pos,))
                terms.append((key, pos, int(tokens.ids[pos]), sign))
        return terms


class MaskedLMVariantScorer(DnaVariantScorer):
    """Scores :class:`Variant` lists against a genome with a masked LM (see the module doc);
    options as :class:`DnaVariantScorer` (``reduce`` ignored) plus ``marginal`` and
    ``pll_window``; ``strand=None`` picks ``both`` (one strand for an RC-equivariant model)."""

    def __init__(
        self,
        model,
        tokenizer,
        genome: SequenceSource,
        marginal: Marginal = "masked",
        pll_window: int = PLL_WINDOW,
        strand: str | None = None,
        **options,
    ) -> None:
        reader = MaskedLMReader(model, tokenizer, options.get("batch_size", 8))
        protein = [aa for aa in "EFILPQ" if reader.symbol_id(aa) is not None]
        if protein:
            raise InputError(
                f"the tokenizer has amino-acid tokens ({', '.join(protein)}): a "
                "protein model; score-vcf needs a DNA model"
            )
        self.rc_exact = rc_equivariant(model, reader)
        super().__init__(model, tokenizer, genome, strand=strand or "both", **options)
        self.note = ""
        if self.rc_exact:
            self.orientations = ("+",)
            self.note = (
                "the model is reverse-complement equivariant (config.rcps): the forward "
                "strand gives both strands' score exactly, so it is scored once"
            )
        self.reader, self.max_tokens = reader, reader.max_tokens
        self.specials = len(reader.tokenize("A").ids) - len(reader.tokenize("A").content)
        self.multi_base = _multi_symbol(tokenizer)
        if (
            self.max_tokens is not None
            and not self.multi_base
            and self.window + self.specials > self.max_tokens
        ):
            fits = self.max_tokens - self.specials
            raise WindowTooLong(
                f"a {self.window}-base window makes {self.window + self.specials} "
                f"tokens but the model reads at most {self.max_tokens}; use "
                f"--window {fits} or less",
                fits,
                self.max_tokens,
            )
        self.scorer = MaskedLMPairScorer(reader, marginal, pll_window)

    def plan(self, variant: Variant) -> tuple[_Plan | None, str, str]:
        """As :meth:`DnaVariantScorer.plan`; indels beyond ``pll_window`` are not scored."""
        plan, status, detail = super().plan(variant)
        if plan is None or not plan.indel:
            return plan, status, detail
        alleles = f"REF {short(variant.ref)} / ALT {short(variant.alt)}"
        size = max(plan.ref_len, len(plan.alt))
        if self.scorer.pll_window == 0:
            return None, "indel_unsupported", f"{alleles}: --pll-window 0 scores substitutions only"
        if size > self.scorer.pll_window:
            return (
                None,
                "indel_too_long",
                f"{alleles}: {size:,} bases change; --pll-window "
                f"{self.scorer.pll_window} bounds the masked passes (raise it)",
            )
        return plan, status, detail

    def score(self, variants: Sequence[Variant], progress: bool = False) -> list[VariantScore]:
        """As :meth:`DnaVariantScorer.score`; ``tokenization_differs`` where k-mers move."""
        results = super().score(variants, progress)
        for result in results:
            if result.status == "ok" and result.score is not None and np.isnan(result.score):
                result.status, result.score = "tokenization_differs", None
                result.forward = result.reverse = None
                result.detail = (
                    f"REF {short(result.ref)} / ALT {short(result.alt)} move the "
                    "boundaries of the model's multi-base tokens"
                )
        return results

    def _too_long(self, contig: str, start: int, end: int, pos0: int, ref: str, alt: str) -> bool:
        """Whether the REF or ALT window makes more tokens than the model reads."""
        longest = end - start + max(len(alt) - len(ref), 0) + self.specials
        if longest <= self.max_tokens:  # tokens never hold fewer than one base
            return False
        if not self.multi_base:
            return True
        window = self.genome.fetch(contig, start, end)
        alt_window = window[: pos0 - start] + alt + window[pos0 - start + len(ref) :]
        return max(len(self.reader.tokenize(w).ids) for w in (window, alt_window)) > self.max_tokens


def _total(terms: list[_Term] | None, lookup: dict) -> MaskedLMScore:
    """The score of one alternative from its terms (NaN when its tokens did not line up)."""
    if terms is None:
        return MaskedLMScore(float("nan"), 0)
    value = sum(sign * lookup[(key, pos, token)] for key, pos, token, sign in terms)
    return MaskedLMScore(float(value), len({(key, pos) for key, pos, _, _ in terms}))


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _multi_symbol(tokenizer) -> bool:
    """Whether some non-special token holds several symbols (k-mers, BPE)."""
    lengths = getattr(tokenizer, "token_lengths", None)
    if lengths is not None:
        return int(np.max(lengths, initial=0)) > 1
    special = set(getattr(tokenizer, "all_special_tokens", ()))
    return any(
        len(t) > 1 and t not in special and not t.startswith("<") for t in tokenizer.get_vocab()
    )
