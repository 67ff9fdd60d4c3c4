"""Text variants for ``bioseq make-text-variants``: single-character edits labelled by what
they do to the word they fall in, the linguistic twin of ``make-snv-vcf``.

A *word* is a maximal run of letters (``str.isalpha``: any script; an apostrophe between
letters belongs to it, so "Alice's" is one word, not "Alice" and "s"); the vocabulary is the
text's own words seen at least ``MIN_COUNT`` times, case-folded (so a chapter's Roman numeral
or a word of a one-off French line does not count). Every edit of a letter is labelled
``word`` when the edited word is in the vocabulary (the analogue of a synonymous change:
"cat" -> "hat") and ``nonword`` otherwise ("cat" -> "cxt"); an edit of a whitespace character
is ``space``, of any other character (punctuation, digits, symbols) ``punct``.

Candidates are enumerated, class by class, at every position of the region: a letter is
replaced by each other letter of the text of the same case (upper, lower, or caseless), a
space by each non-space character of the text, a punctuation mark by each other non-letter,
non-space character of the text. With ``indels``, also deletions of a letter (of words of two
letters or more), insertions of a lower-case letter into a word (not before a capital) and
deletions of a space or a punctuation mark. Only about 2% of letter substitutions make a word,
so each class is sampled separately: ``n`` candidates per class (all of them when fewer).

:func:`make_text_variants_run` is the whole ``make-text-variants`` command: read the text, write the
table, report the counts (no model, no torch).

>>> text = "the cat sat on the mat, the hat. a cat, a hat, a mat."
>>> rows = make_text_variants(text, n=3, seed=0, region="all")
>>> sorted({r["label"] for r in rows})
['nonword', 'punct', 'space', 'word']
>>> all(text[r["pos"]] == r["ref"] for r in rows)
True
>>> [r for r in rows if r["label"] == "word"][0]["result"] in vocabulary(text, MIN_COUNT)
True
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from bioseq.data import default_text
from bioseq.errors import InputError
from bioseq.tasks.variants.report import Report, check_outputs
from bioseq.tasks.variants.text import held_out_start, read_text, write_variant_table

Region = Literal["last-tenth", "all"]
LABELS = ("word", "nonword", "space", "punct")
MIN_COUNT = 2  # times a word is seen to be in the vocabulary
CONTEXT = 20  # characters of context shown on each side in the table
# letters (any script), with inner apostrophes: "Alice's" and "don't" are one word each
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*")


def vocabulary(text: str, min_count: int = 1) -> set[str]:
    """The text's words (maximal runs of letters), case-folded, seen ``min_count`` times.

    >>> sorted(vocabulary("The cat, the CAT's hat 'tis"))
    ['cat', "cat's", 'hat', 'the', 'tis']
    >>> sorted(vocabulary("The cat, the CAT's hat 'tis", min_count=2))
    ['the']
    """
    counts = Counter(w.casefold() for w in _WORD.findall(text))
    return {w for w, n in counts.items() if n >= min_count}


def char_class(ch: str) -> str:
    """``letter``, ``space`` or ``punct`` (anything else: punctuation, digits, symbols)."""
    return "letter" if ch.isalpha() else "space" if ch.isspace() else "punct"


def _case(ch: str) -> str:
    return "upper" if ch.isupper() else "lower" if ch.islower() else "none"


class _Candidates:
    """Every edit of the region, generated class by class as ``(label, pos, ref, alt, kind,
    word, result)`` with VCF-style indels (``pos`` is REF's first character)."""

    def __init__(self, text: str, start: int, indels: bool) -> None:
        self.text, self.start, self.indels = text, start, indels
        self.vocab = vocabulary(text, MIN_COUNT)
        chars = sorted(set(text))
        self.letters: dict[str, list[str]] = {}
        for ch in chars:
            if ch.isalpha():
                self.letters.setdefault(_case(ch), []).append(ch)
        self.nonspace = [ch for ch in chars if not ch.isspace()]
        self.puncts = [ch for ch in chars if char_class(ch) == "punct"]
        self.words = [(m.start(), m.end()) for m in _WORD.finditer(text) if m.end() > start]

    def label(self, word: str) -> str:
        return "word" if word.casefold() in self.vocab else "nonword"

    def letter_edits(self) -> Iterator[tuple]:
        text = self.text
        for s, e in self.words:
            word = text[s:e]
            for p in range(max(s, self.start), e):
                i, ref = p - s, text[p]
                if not ref.isalpha():  # an inner apostrophe: a punct edit
                    continue
                for alt in self.letters.get(_case(ref), ()):
                    if alt != ref:
                        new = word[:i] + alt + word[i + 1 :]
                        yield self.label(new), p, ref, alt, "substitution", word, new
                if self.indels and p > 0 and len(word) > 1:  # delete text[p]
                    new = word[:i] + word[i + 1 :]
                    yield (
                        self.label(new),
                        p - 1,
                        text[p - 1 : p + 1],
                        text[p - 1],
                        "deletion",
                        word,
                        new,
                    )
            if not self.indels:
                continue
            for q in range(max(s, self.start, 1), e + 1):  # insert before text[q]
                i = q - s
                if i == 0 and word[0].isupper():
                    continue
                for alt in self.letters.get("lower", ()):
                    new = word[:i] + alt + word[i:]
                    anchor = text[q - 1]
                    yield self.label(new), q - 1, anchor, anchor + alt, "insertion", word, new

    def all(self) -> Iterator[tuple]:
        yield from self.letter_edits()
        yield from self.separator_edits("space")
        yield from self.separator_edits("punct")

    def separator_edits(self, label: str) -> Iterator[tuple]:
        text, pool = self.text, self.nonspace if label == "space" else self.puncts
        for p in range(self.start, len(text)):
            ref = text[p]
            if char_class(ref) != label:
                continue
            for alt in pool:
                if alt != ref:
                    yield label, p, ref, alt, "substitution", "", ""
            if self.indels and p > 0:
                yield label, p - 1, text[p - 1 : p + 1], text[p - 1], "deletion", "", ""


def make_text_variants(
    text: str,
    n: int = 500,
    seed: int = 0,
    region: Region = "last-tenth",
    indels: bool = False,
) -> list[dict]:
    """Up to ``n`` edits per class (:data:`LABELS`) of ``text``, sampled without replacement
    from every candidate of the class (see the module doc), sorted by position. ``region``:
    edits in the last tenth of the text (the part ``bioseq pretrain --text`` holds out) or
    anywhere. Each row: ``id pos ref alt kind label word result context``."""
    if n < 1:
        raise InputError(f"--n {n}: expected at least 1 variant per class")
    if region not in ("last-tenth", "all"):
        raise InputError(f"--region {region!r}: expected last-tenth or all")
    start = held_out_start(text) if region == "last-tenth" else 0
    candidates = _Candidates(text, start, indels)
    # two passes over the (deterministic) candidates: count each class, then keep the drawn
    # ones; a whole book has millions of letter substitutions, too many to hold at once
    counts = dict.fromkeys(LABELS, 0)
    for edit in candidates.all():
        counts[edit[0]] += 1
    rng = np.random.default_rng(seed)
    wanted = {
        label: set(rng.choice(counts[label], size=min(n, counts[label]), replace=False).tolist())
        for label in LABELS
    }
    seen = dict.fromkeys(LABELS, 0)
    chosen = []
    for edit in candidates.all():
        if seen[edit[0]] in wanted[edit[0]]:
            chosen.append(edit)
        seen[edit[0]] += 1
    chosen.sort(key=lambda e: (e[1], e[2], e[3]))
    rows = []
    for number, (label, pos, ref, alt, kind, word, result) in enumerate(chosen, start=1):
        left = text[max(pos - CONTEXT, 0) : pos]
        right = text[pos + len(ref) : pos + len(ref) + CONTEXT]
        rows.append(
            dict(
                id=f"t{number}",
                pos=pos,
                ref=ref,
                alt=alt,
                kind=kind,
                label=label,
                word=word,
                result=result,
                context=f"{left}[{ref}>{alt}]{right}",
            )
        )
    return rows


def class_counts(rows: list[dict]) -> dict[str, int]:
    """Rows per label, in :data:`LABELS` order."""
    return {label: sum(r["label"] == label for r in rows) for label in LABELS}


@dataclass
class MadeText:
    """What :func:`make_text_variants_run` wrote and has to say."""

    rows: list[dict]
    written: list[Path]
    report: Report


def make_text_variants_run(
    text: str | os.PathLike | None = None,
    out: str | os.PathLike = "text_variants.tsv",
    n: int = 500,
    seed: int = 0,
    region: str = "last-tenth",
    indels: bool = False,
) -> MadeText:
    """Write up to ``n`` variants per class of ``text`` (default: the bundled book) to
    ``out`` (:func:`~bioseq.tasks.variants.text_make.make_text_variants`)."""
    check_outputs(out)
    path = Path(text) if text is not None else default_text()
    content = read_text(path)
    rows = make_text_variants(content, n, seed, region, indels)  # type: ignore[arg-type]
    if not rows:
        last_tenth = region == "last-tenth"
        raise InputError(
            f"{path}: nothing to edit in {'its last tenth' if last_tenth else 'it'} (no letter, "
            "space or punctuation mark that another of its class can replace)"
            + ("; --region all edits the whole text" if last_tenth else "")
        )
    write_variant_table(rows, out)
    report = Report()
    counts = class_counts(rows)
    listed = ", ".join(f"{k} {v:,}" for k, v in counts.items())
    report.note(f"wrote {len(rows):,} variants of {path.name} ({region}: {listed}) to {out}")
    short = [k for k, v in counts.items() if v < n]
    if short:
        report.warn(f"fewer than {n:,} candidates for {', '.join(short)}: all of them taken")
    return MadeText(rows, [Path(out)], report)
