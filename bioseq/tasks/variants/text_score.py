"""Zero-shot scores of text variants (``bioseq score-text``) by the DNA scorer's own core.

:class:`TextVariantScorer` is :class:`~bioseq.tasks.variants.dna.DnaVariantScorer` over a
:class:`~bioseq.tasks.variants.text.TextSource`: the same windows (``window`` characters
centred on the edit, clipped at the ends of the text; indels compared by total
log-likelihood), batching, shared-prefix and recurrent-state reuse (``PairScorer``) and
``reduce``; only what an allele may hold differs (any characters; no strand). The score of a
row is log-likelihood(ALT window) - log-likelihood(REF window), in nats. ``reduce="sum"`` is
the default here: a text model's tokens may hold several characters (a Hugging Face BPE), and
the sum compares the same characters whatever their tokens.

Metrics: AUROC of ``word`` (positive) against ``nonword`` rows (the analogue of synonymous
against nonsynonymous), with a bootstrap interval, and the mean score and count per class.

>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import ByteTokenizer
>>> from bioseq.tasks.variants.text import TextSource, TextVariant
>>> tok = ByteTokenizer()
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=len(tok), d_model=16))
>>> source = TextSource("the cat sat on the mat; the hat sat on the cat.")
>>> rows = [TextVariant(2, 4, "c", "h"), TextVariant(3, 4, "x", "h"), TextVariant(4, 99, "a", "b")]
>>> [(s.status, s.score is not None) for s in score_text(model, tok, source, rows, window=16)]
[('ok', True), ('ref_mismatch', False), ('outside_text', False)]
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.tasks.variants.dna import DnaVariantScorer, Variant, VariantScore, short
from bioseq.tasks.variants.metrics import bootstrap_auroc, save_png
from bioseq.tasks.variants.text import CONTIG, TextSource, TextVariant
from bioseq.tasks.variants.text_make import LABELS

DEFAULT_WINDOW = 128  # characters per window, when the model reads that many
STATUSES = {
    "ok": "scored",
    "outside_text": "the REF characters lie (partly) outside the text",
    "ref_mismatch": "REF differs from the text at pos",
    "malformed_row": "the row could not be read (pos not a whole number)",
    "invalid_allele": "REF or ALT empty, or the two equal",
    "window_too_long": "the window has more tokens than the model reads",
    "window_too_short": "--window leaves fewer than 4 characters on a side of REF",
}


def check_reads_text(tokenizer, text: str, name: str = "the model") -> None:
    """InputError unless ``tokenizer`` reads ``text`` back as it is (a DNA or protein
    tokenizer maps letters it does not know to N or X, Evo 2's upper-cases)."""
    sample = text[:200]
    if hasattr(tokenizer, "encode_array"):
        try:
            ids = tokenizer.encode_array(sample)
        except InputError:
            ids = None
    else:
        ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
    back = None if ids is None else tokenizer.decode(list(np.asarray(ids).tolist()))
    if back != sample:
        alphabet = getattr(tokenizer, "alphabet", None)
        reads = f"reads {alphabet}" if alphabet else "does not read it back as it is"
        shown = "nothing" if back is None else repr(short(back, 30))
        raise InputError(
            f"{name}: its tokenizer {reads}, not this text ({short(sample, 30)!r} comes back "
            f"as {shown}); score-text needs a text model (bioseq pretrain --text, a byte-level "
            "model or a Hugging Face causal LM)"
        )


class TextVariantScorer(DnaVariantScorer):
    """The DNA scorer's core over a text (see the module doc)."""

    def __init__(
        self,
        model,
        tokenizer,
        text: TextSource,
        window: int = DEFAULT_WINDOW,
        reduce: str = "sum",
        batch_size: int = 8,
        window_step: int = 1,
        strategy: str = "auto",
    ) -> None:
        super().__init__(
            model,
            tokenizer,
            text,
            window=window,
            strand="forward",
            reduce=reduce,
            batch_size=batch_size,
            window_step=window_step,
            strategy=strategy,
            max_n_fraction=1.0,  # an N in a text is a letter
        )
        # a character may take several tokens (UTF-8 bytes, BPE): count the tokens of each
        # window against the model's limit rather than its characters
        self.multi_base = True

    def alleles(self, variant: Variant) -> tuple[str, str, str, str]:
        ref, alt = variant.ref or "", variant.alt or ""
        if not ref or not alt:
            return (
                ref,
                alt,
                "invalid_allele",
                "REF and ALT need a character each (indels: VCF-style)",
            )
        if ref == alt:
            return ref, alt, "invalid_allele", f"REF and ALT are both {short(ref)!r}"
        return ref, alt, "ok", ""


def score_text(
    model,
    tokenizer,
    source: TextSource,
    rows: Sequence[TextVariant],
    progress: bool = False,
    **options,
) -> list[VariantScore]:
    """One :class:`VariantScore` per row, in order (``pos`` 0-based as in the table); rows
    outside the text or whose REF differs from it get that status, the others are scored
    (``options``: :class:`TextVariantScorer`'s)."""
    scorer = TextVariantScorer(model, tokenizer, source, **options)
    text = source.text
    results, todo = [], []
    for row in rows:
        result = VariantScore(CONTIG, row.pos, row.ref, row.alt)
        end = row.pos + len(row.ref)
        if row.error:
            result.status, result.detail = "malformed_row", row.error
        elif row.pos < 0 or end > len(text):
            result.status = "outside_text"
            result.detail = f"pos {row.pos:,} + {len(row.ref)} outside 0..{len(text):,}"
        elif text[row.pos : end] != row.ref:
            result.status = "ref_mismatch"
            result.detail = (
                f"REF {short(row.ref)!r} but the text has {short(text[row.pos : end])!r}"
            )
        else:
            todo.append((len(results), Variant(CONTIG, row.pos + 1, row.ref, row.alt)))
        results.append(result)
    scored = scorer.score([v for _, v in todo], progress) if todo else []
    for (i, _), score in zip(todo, scored, strict=True):
        score.pos -= 1  # back to 0-based
        results[i] = score
    return results


def text_metrics(
    scores: Sequence[VariantScore], labels: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict:
    """``auroc_word_vs_nonword`` (word positive) with ``auroc_ci95``, ``mean_<class>`` and
    ``n_<class>`` for every label, and ``n_<status>`` for rows not scored."""
    by_label: dict[str, list[float]] = {}
    for s, label in zip(scores, labels, strict=True):
        if s.score is not None:
            by_label.setdefault(label or "unlabelled", []).append(s.score)
    value, low, high = bootstrap_auroc(
        by_label.get("word", []), by_label.get("nonword", []), n_boot, seed
    )
    out: dict = {
        "auroc_word_vs_nonword": None if math.isnan(value) else round(value, 4),
        "auroc_ci95": None if math.isnan(low) else [round(low, 4), round(high, 4)],
    }
    for label in [*LABELS, *sorted(set(by_label) - set(LABELS))]:
        values = by_label.get(label, [])
        out[f"n_{label}"] = len(values)
        out[f"mean_{label}"] = float(np.mean(values)) if values else None
    statuses: dict[str, int] = {}
    for s in scores:
        statuses[s.status] = statuses.get(s.status, 0) + 1
    out.update({f"n_{status}": n for status, n in sorted(statuses.items())})
    return out


def plot_classes(
    scores: Sequence[VariantScore], labels: Sequence[str], path: str | Path, title: str = ""
) -> None:
    """A PNG of the score distribution of each class (histograms, one panel)."""
    import matplotlib  # deferred: the Agg backend is chosen when drawing, not on import

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # after use("Agg")

    values: dict[str, list[float]] = {}
    for s, label in zip(scores, labels, strict=True):
        if s.score is not None:
            values.setdefault(label or "unlabelled", []).append(s.score)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    everything = np.concatenate([np.asarray(v) for v in values.values()]) if values else [0.0]
    bins = np.histogram_bin_edges(everything, bins=50)
    for label in [x for x in [*LABELS, "unlabelled"] if x in values]:
        ax.hist(values[label], bins=bins, histtype="step", density=True, label=label)
    ax.set_xlabel("score: log-likelihood ALT - REF window (nats)")
    ax.set_ylabel("density")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    save_png(fig, path)
