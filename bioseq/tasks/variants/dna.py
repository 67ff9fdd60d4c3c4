"""Zero-shot DNA variant scores: a window of reference around each variant, scored by a causal LM.

Score = log-likelihood of the alternative window minus that of the reference window (Evo 2):

* SNVs and MNVs (``len(REF) == len(ALT)``): a window of ``window`` bases centred on the
  variant (``pos-1-W/2 .. pos-1+W/2``, clipped at the contig ends); the per-token ``mean``
  (default) or ``sum`` of log-likelihoods, per ``reduce``.
* Indels: the same flanks on both sides of REF and of ALT (``(W - len(REF)) // 2`` bases each,
  clipped at the contig ends), compared by **total** log-likelihood, whatever ``reduce`` says.
* ``strand="both"``: the average of the forward-strand score and the reverse-complement score.
* Windows are read as the model was trained: bare bases, no BOS token (as ``bioseq pretrain``
  feeds genome windows), reversed for a right-to-left model (``config.direction``).
* ``window_step=S`` snaps substitution windows to an ``S``-base grid, so variants less than
  ``S`` bases apart share one reference window (scored once); the default ``1`` centres every
  window exactly on its variant.

Nothing is dropped silently: every allele gets a :class:`VariantScore` with ``status`` ``ok``
or the reason it was not scored (see :data:`STATUSES`).

>>> import torch
>>> from bioseq.io.source import InMemoryGenome
>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=tok.vocab_size, d_model=32))
>>> genome = InMemoryGenome({"chr1": "ACGTTGCAAGGCTTAACCGT" * 10})
>>> variants = [Variant("1", 11, "G", "A"), Variant("chr1", 12, "C", "T"),
...             Variant("chr1", 5, "A", "C")]
>>> scores = DnaVariantScorer(model, tok, genome, window=64).score(variants)
>>> [(s.status, s.score is not None) for s in scores]
[('ok', True), ('ok', True), ('ref_mismatch', False)]
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from tqdm.auto import tqdm

from bioseq.errors import InputError
from bioseq.io.alphabet import reverse_complement
from bioseq.io.source import SequenceSource
from bioseq.models.context import position_limit
from bioseq.models.hub import model_direction
from bioseq.tasks.variants.contigs import ContigMatcher
from bioseq.tasks.variants.likelihood import PairScorer, Reduce, Strategy

Strand = Literal["forward", "both"]

MIN_FLANK = 4  # bases of context a window keeps on each side of REF, at the least


def min_window(ref_len: int = 1) -> int:
    """The shortest ``window`` that holds a REF of ``ref_len`` bases and ``MIN_FLANK`` bases on
    each side (9 for an SNV): shorter windows score (almost) nothing but the variant itself.

    >>> min_window(), min_window(20)
    (9, 28)
    """
    return ref_len + 2 * MIN_FLANK


def short(allele: str, keep: int = 20) -> str:
    """An allele for messages: long ones cut to ``keep`` bases and their length.

    >>> short("ACGT"), short("A" * 30)
    ('ACGT', 'AAAAAAAAAAAAAAAAAAAA...(30 bp)')
    """
    return allele if len(allele) <= keep else f"{allele[:keep]}...({len(allele):,} bp)"


class WindowTooLong(InputError):
    """A window that makes more tokens than the model reads: ``fits`` is the longest window
    (bases) that does, ``max_tokens`` what the model reads (:func:`score_vcf_run
    <bioseq.tasks.variants.run.score_vcf_run>` takes ``fits`` when no window was asked for)."""

    def __init__(self, message: str, fits: int, max_tokens: int) -> None:
        super().__init__(message)
        self.fits, self.max_tokens = fits, max_tokens


def check_window(window: int, window_step: int = 1) -> None:
    """InputError unless ``window`` holds an SNV with context and ``window_step`` fits it."""
    if window < min_window():
        raise InputError(
            f"--window {window}: too short; a window holds the variant and at "
            f"least {MIN_FLANK} bases on each side, so at least {min_window()} "
            "bases"
        )
    if not 1 <= window_step <= max(window // 2, 1):
        raise InputError(
            f"--window-step {window_step}: expected 1 to window/2 ({max(window // 2, 1)})"
        )


STATUSES = {
    "ok": "scored",
    "contig_missing": "the contig is not in the genome (chr1 and 1 are matched)",
    "contig_ambiguous": "the contig name matches several genome contigs",
    "past_contig_end": "REF extends past the end of the contig, or POS < 1",
    "ref_mismatch": "REF differs from the genome",
    "symbolic_allele": "symbolic or breakend ALT (<DEL>, *, N[chr1:5[ ...) is not scored",
    "invalid_allele": "ALT or REF holds characters other than A, C, G, T, N",
    "no_alt": "the record has no ALT allele",
    "window_mostly_N": "more than half of the reference window is N",
    "window_too_long": "the window is longer than the model accepts",
    "window_too_short": f"--window leaves fewer than {MIN_FLANK} bases on a side of REF",
    "malformed_line": "the VCF line could not be parsed",
}
_BASES = re.compile(r"^[ACGTN]+$")
_BLOCK_PAIRS = 4096  # reference/alternative pairs held in memory at once


@dataclass(frozen=True)
class Variant:
    """One allele: contig, 1-based position, REF and one ALT (as in a VCF)."""

    chrom: str
    pos: int
    ref: str
    alt: str


@dataclass
class VariantScore:
    """The score of one allele (``None`` unless ``status == "ok"``), per strand when both."""

    chrom: str
    pos: int
    ref: str
    alt: str
    score: float | None = None
    status: str = "ok"
    detail: str = ""
    forward: float | None = None
    reverse: float | None = None


@dataclass(frozen=True)
class _Plan:
    """Where an allele's windows lie: reference window ``[start, end)`` of ``contig``."""

    contig: str
    start: int
    end: int
    offset: int  # variant start within the window
    ref_len: int
    alt: str
    indel: bool


def window_bounds(
    pos0: int, ref_len: int, indel: bool, contig_len: int, window: int, step: int = 1
) -> tuple[int, int]:
    """``[start, end)`` of the reference window for a variant at 0-based ``pos0``.

    >>> window_bounds(10_000, 1, False, 50_000, 8192)  # Evo 2: pos-1-4096 .. pos-1+4096
    (5904, 14096)
    >>> window_bounds(100, 3, True, 50_000, 20)  # indel: equal flanks of (20 - 3) // 2
    (92, 111)
    >>> window_bounds(10, 1, False, 50_000, 64, step=32)  # snapped to a 32-base grid
    (0, 48)
    """
    if indel:
        flank = max((window - ref_len) // 2, 0)
        start, end = pos0 - flank, pos0 + ref_len + flank
    else:
        anchor = pos0 if step <= 1 else pos0 // step * step + step // 2
        start = anchor - window // 2
        end = start + window
        start, end = min(start, pos0), max(end, pos0 + ref_len)
    return max(start, 0), min(end, contig_len)


def _orient(seq: str, orientation: str, reverse: bool = False) -> str:
    """The window as the model reads it: ``-`` reverse-complements, ``reverse`` (a model
    trained right to left, ``config.direction == "reverse"``) reverses."""
    seq = seq if orientation == "+" else reverse_complement(seq)
    return seq[::-1] if reverse else seq


class DnaVariantScorer:
    """Scores :class:`Variant` lists against a genome with a causal model (see module doc)."""

    def __init__(
        self,
        model,
        tokenizer,
        genome: SequenceSource,
        window: int = 8192,
        strand: Strand = "forward",
        reduce: Reduce = "mean",
        batch_size: int = 8,
        window_step: int = 1,
        strategy: Strategy = "auto",
        max_n_fraction: float = 0.5,
    ) -> None:
        check_window(window, window_step)
        if strand not in ("forward", "both"):
            raise InputError(f"strand must be 'forward' or 'both', not {strand!r}")
        if reduce not in ("mean", "sum"):
            raise InputError(f"reduce must be 'mean' or 'sum', not {reduce!r}")
        self.genome, self.window, self.window_step = genome, window, window_step
        self.strand, self.reduce, self.max_n_fraction = strand, reduce, max_n_fraction
        # no BOS: `bioseq pretrain` trains DNA models on bare windows (the first base of a
        # window is then unscored, in the reference and the alternative alike)
        self.scorer = PairScorer(model, tokenizer, batch_size, strategy, add_bos=False)
        self.reverse = model_direction(model.config) == "reverse"
        self.max_tokens = position_limit(model.config)
        # k-mer and BPE tokens hold several bases: windows are then checked once tokenised
        self.multi_base = self.scorer.lengths is not None
        per_token = float(getattr(tokenizer, "bases_per_token", 1)) if self.multi_base else 1.0
        if self.max_tokens is not None and window / per_token > self.max_tokens:
            fits = int(self.max_tokens * per_token)
            raise WindowTooLong(
                f"a {window}-base window needs about {window / per_token:.0f} tokens but the "
                f"model reads at most {self.max_tokens}; use --window {fits} or less (an "
                "insertion needs room for its extra bases too: its status names a window)",
                fits,
                self.max_tokens,
            )
        self.contigs = genome.contigs
        self.matcher = ContigMatcher(self.contigs)
        self.orientations = ("+",) if strand == "forward" else ("+", "-")
        self._n_cache: dict[tuple[str, int, int], float] = {}

    # -- checks -------------------------------------------------------------------------
    def alleles(self, variant: Variant) -> tuple[str, str, str, str]:
        """REF and ALT as scored and ``(status, detail)``: ``("ok", "")`` or why they cannot
        be. DNA: upper case, A/C/G/T/N only, no symbolic ALT. A scorer over another source
        (text: :class:`~bioseq.tasks.variants.text_score.TextVariantScorer`) overrides it."""
        ref, alt = (variant.ref or "").upper(), (variant.alt or "").upper()
        if alt in ("", "."):
            return ref, alt, "no_alt", "no ALT allele"
        if alt.startswith("<") or alt == "*" or "[" in alt or "]" in alt:
            return ref, alt, "symbolic_allele", f"symbolic ALT {short(variant.alt, 40)}"
        if not _BASES.match(alt) or not _BASES.match(ref):
            detail = f"REF {short(variant.ref)} / ALT {short(variant.alt)} not A/C/G/T/N"
            return ref, alt, "invalid_allele", detail
        return ref, alt, "ok", ""

    def plan(self, variant: Variant) -> tuple[_Plan | None, str, str]:
        """Where to score ``variant``, or ``(None, status, detail)`` saying why not."""
        ref, alt, status, detail = self.alleles(variant)
        if status != "ok":
            return None, status, detail
        contig, problem = self.matcher.match(variant.chrom)
        if contig is None:
            known = self.matcher.candidates(variant.chrom) or list(self.contigs)[:3]
            return None, problem, f"contig {variant.chrom!r} (genome has {', '.join(known)})"
        length, pos0 = self.contigs[contig], variant.pos - 1
        if pos0 < 0 or pos0 + len(ref) > length:
            return (
                None,
                "past_contig_end",
                f"{contig} has {length} bases, REF ends at {pos0 + len(ref)}",
            )
        genome_ref = self.genome.fetch(contig, pos0, pos0 + len(ref))
        if genome_ref != ref:
            return None, "ref_mismatch", f"REF {short(ref)} but the genome has {short(genome_ref)}"
        if self.window < min_window(len(ref)):
            return (
                None,
                "window_too_short",
                f"REF of {len(ref):,} bp needs --window {min_window(len(ref)):,} or more",
            )
        indel = len(ref) != len(alt)
        start, end = window_bounds(pos0, len(ref), indel, length, self.window, self.window_step)
        if self.max_tokens is not None and self._too_long(contig, start, end, pos0, ref, alt):
            return None, "window_too_long", self._too_long_detail(contig, pos0, ref, alt, indel)
        n_fraction = self._n_fraction(contig, start, end) if self.max_n_fraction < 1 else 0.0
        if n_fraction > self.max_n_fraction:
            return None, "window_mostly_N", f"{n_fraction:.0%} of {contig}:{start + 1}-{end} is N"
        return _Plan(contig, start, end, pos0 - start, len(ref), alt, indel), "ok", ""

    # -- scoring ------------------------------------------------------------------------
    def score(self, variants: Sequence[Variant], progress: bool = False) -> list[VariantScore]:
        """A :class:`VariantScore` for every variant, in input order."""
        results = [VariantScore(v.chrom, v.pos, v.ref, v.alt) for v in variants]
        jobs = []  # (variant index, orientation, plan)
        for i, variant in enumerate(variants):
            plan, status, detail = self.plan(variant)
            if plan is None:
                results[i].status, results[i].detail = status, detail
            else:
                jobs.extend((i, o, plan) for o in self.orientations)
        jobs.sort(key=lambda j: (j[2].contig, j[2].start, j[2].end, j[1]))
        per_strand: dict[tuple[int, str], float] = {}
        n_ok = len({i for i, _, _ in jobs})
        bar = tqdm(total=n_ok, unit="variant", disable=not progress, smoothing=0.1)
        try:
            for block in _blocks(jobs):
                groups, keys = self._groups(block)
                done = self.scorer.score(groups, progress=_Ticker(bar, len(self.orientations)))
                for group_keys, group_scores in zip(keys, done, strict=True):
                    for (plan, orientation, members), pair in zip(
                        group_keys, group_scores, strict=True
                    ):
                        llr = pair.llr("sum" if plan.indel else self.reduce)
                        per_strand.update({(i, orientation): llr for i in members})
            bar.update(max(n_ok - bar.n, 0))  # duplicate alleles were scored once
        finally:
            bar.close()
        for i, result in enumerate(results):
            if result.status == "ok":
                result.forward = per_strand[(i, "+")]
                result.reverse = per_strand.get((i, "-"))
                scores = [s for s in (result.forward, result.reverse) if s is not None]
                result.score = float(np.mean(scores))
        return results

    def _groups(self, block: list[tuple[int, str, _Plan]]):
        """``(reference, [alternatives])`` per unique window and who each alternative serves."""
        windows: dict[tuple, tuple[str, dict[str, tuple[_Plan, str, list[int]]]]] = {}
        for i, orientation, plan in block:
            key = (plan.contig, plan.start, plan.end, orientation)
            if key not in windows:
                ref = self.genome.fetch(plan.contig, plan.start, plan.end)
                windows[key] = (ref, {})
            ref, alts = windows[key]
            alt = ref[: plan.offset] + plan.alt + ref[plan.offset + plan.ref_len :]
            alts.setdefault(alt, (plan, orientation, []))[2].append(i)
        groups, keys = [], []
        for (_, _, _, orientation), (ref, alts) in windows.items():
            seqs = [_orient(s, orientation, self.reverse) for s in (ref, *alts)]
            groups.append((seqs[0], seqs[1:]))
            keys.append(list(alts.values()))
        return groups, keys

    def _too_long(self, contig: str, start: int, end: int, pos0: int, ref: str, alt: str) -> bool:
        """Whether the reference or alternative window has more tokens than the model reads."""
        if not self.multi_base:
            return end - start - len(ref) + len(alt) > self.max_tokens
        window = self.genome.fetch(contig, start, end)
        alt_window = window[: pos0 - start] + alt + window[pos0 - start + len(ref) :]
        longest = max(len(self.scorer.encode(w)) for w in (window, alt_window))
        return longest > self.max_tokens

    def _too_long_detail(self, contig: str, pos0: int, ref: str, alt: str, indel: bool) -> str:
        """Why a window is too long, and the largest ``--window`` that scores the variant."""
        fits = self._largest_window(contig, pos0, ref, alt, indel)
        where = (
            f"the REF and ALT windows at --window {self.window:,} exceed the model's "
            f"{self.max_tokens:,} tokens"
        )
        if fits is None:
            return f"{where}, even at --window {min_window(len(ref))} (ALT of {len(alt):,} bp)"
        return f"{where}; --window {fits:,} scores it"

    def _largest_window(self, contig: str, pos0: int, ref: str, alt: str, indel: bool):
        """The largest window below ``self.window`` whose REF and ALT windows fit the model
        (binary search, token counts being non-decreasing in the window), or None."""
        length = self.contigs[contig]

        def fits(window: int) -> bool:
            start, end = window_bounds(pos0, len(ref), indel, length, window, self.window_step)
            return not self._too_long(contig, start, end, pos0, ref, alt)

        low, high = max(min_window(len(ref)), 2 * self.window_step), self.window - 1
        if low > high or not fits(low):
            return None
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def _n_fraction(self, contig: str, start: int, end: int) -> float:
        key = (contig, start, end)
        if key not in self._n_cache:
            if len(self._n_cache) > 100_000:
                self._n_cache.clear()
            codes = self.genome.fetch_codes(contig, start, end)
            self._n_cache[key] = float(np.count_nonzero(codes == ord("N"))) / max(len(codes), 1)
        return self._n_cache[key]


class _Ticker:
    """Advance a progress bar by whole variants when each takes ``per`` window pairs."""

    def __init__(self, bar: tqdm, per: int) -> None:
        self.bar, self.per, self.pairs = bar, per, 0

    def __call__(self, n: int) -> None:
        before = self.pairs // self.per
        self.pairs += n
        self.bar.update(self.pairs // self.per - before)


def _blocks(jobs: list) -> Iterator[list]:
    """Consecutive jobs in blocks of about ``_BLOCK_PAIRS``, never splitting a window."""
    block: list = []
    for job in jobs:
        key = (job[2].contig, job[2].start, job[2].end, job[1])
        if len(block) >= _BLOCK_PAIRS and key != (
            block[-1][2].contig,
            block[-1][2].start,
            block[-1][2].end,
            block[-1][1],
        ):
            yield block
            block = []
        block.append(job)
    if block:
        yield block
