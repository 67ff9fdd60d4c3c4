"""Prompts of the bitstring suite in genomic and linguistic form, answer parsing, baselines.

A prompt shows ``n`` demonstrations ``x f(x)`` (input and output back to back) separated by a
separator symbol, then the query ``x``; it ends right after the query. Per trial three distinct
symbols are drawn, one each for 0, 1 and the separator: from ``ACGT`` (genomic form) or from the
digits ``0-9`` (linguistic form). The ``n + 1`` inputs are distinct; ``meta_constant``'s constant
is drawn per prompt. Every random draw comes from a generator keyed by (seed, function id,
shots, trial, purpose), so a trial is the same whatever the batch or model, and the genomic and
linguistic forms of a trial share inputs, query and constant (only the symbols differ).

Completions are parsed as the paper's harness does (``rule="harness"``, the default): the
completion ends at the first special token (``[SEP]``, ``<|endoftext|>``...: the caller cuts
it, see :func:`cut_at_special`), is upper-cased, and every character outside the form's
alphabet (``ACGT`` or ``0-9``: spaces, newlines, punctuation, other letters) is dropped; of
what is left, at most 8 symbols are read, stopping at the first that is not one of the trial's
two bit symbols (the separator or the unused symbol), and mapped back to bits. ``rule="strict"``
(the rule before issue 19) reads the raw completion and stops at the first non-bit character,
so a leading space or a lower-case ``acgt`` scores 0.

The deranged-label control permutes the demonstrations' outputs across demonstrations.
``derangement="best-of-256"`` (the default, as the paper's harness) draws 256 random
derangements and keeps the one leaving the fewest demonstrations showing their own true output
(outputs repeat: ``majority`` has two, so a permutation of positions alone leaves many in
place); ``"index"`` takes the first derangement drawn (the rule before issue 19).
:attr:`Trial.in_place` counts the demonstrations that still show their true output.

The specification's worked example (4 bits, 0 -> A, 1 -> T, separator G, ``reverse_bits``):

>>> from bioseq.tasks.icl.prompts import Symbols, render_prompt
>>> symbols = Symbols(zero="A", one="T", sep="G")
>>> demos = ["0001", "0100", "1110", "0101"]
>>> render_prompt(demos, [d[::-1] for d in demos], "0011", symbols)
'AAATTAAAGATAAAATAGTTTAATTTGATATTATAGAATT'
>>> symbols.parse("TTAAG")  # the expected continuation, then anything
'1100'
>>> parse_completion(" ttaa.", symbols, "genomic", width=4)  # the harness rule
'1100'
>>> parse_completion(" ttaa.", symbols, "genomic", width=4, rule="strict")
''

A trial of the suite:

>>> from bioseq.tasks.icl.suite import load_functions
>>> trial = make_trial(load_functions()[2], shots=2, trial=0, form="linguistic", seed=0)
>>> len(trial.text), trial.score(trial.answer_text)
(42, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bioseq.errors import InputError
from bioseq.tasks.icl.primitives import N_BITS, Bits, bits_to_str, int_to_bits
from bioseq.tasks.icl.suite import Function

FORMS: dict[str, str] = {"genomic": "ACGT", "linguistic": "0123456789"}
"""The alphabet each prompt form draws its three symbols from."""

CONDITIONS = ("clean", "deranged")
PARSE_RULES = ("harness", "strict")
DERANGEMENTS = ("best-of-256", "index")
DERANGEMENT_TRIES = 256
_STREAM = {"inputs": 0, "symbols": 1, "derange": 2, "ties": 3}


@dataclass(frozen=True)
class Symbols:
    """The symbols coding 0, 1 and the separator in one trial."""

    zero: str
    one: str
    sep: str

    def __post_init__(self) -> None:
        if len({self.zero, self.one, self.sep}) != 3 or any(
            len(s) != 1 for s in (self.zero, self.one, self.sep)
        ):
            raise InputError(f"need three distinct one-character symbols, got {self}")

    def render(self, bits: Bits | str) -> str:
        """Bits (array or ``"0110"``) -> symbols."""
        text = bits if isinstance(bits, str) else bits_to_str(bits)
        return text.translate({ord("0"): self.zero, ord("1"): self.one})

    def parse(self, text: str, width: int = N_BITS) -> str:
        """The paper's rule: read at most ``width`` symbols, stop at the first that is not a bit
        symbol, map back to a bit string (which may come out shorter than ``width``)."""
        bits = []
        for char in text[:width]:
            if char == self.zero:
                bits.append("0")
            elif char == self.one:
                bits.append("1")
            else:
                break
        return "".join(bits)


def check_choice(value: str, choices: Sequence[str], what: str) -> str:
    """``value`` if it is one of ``choices``, else an InputError naming ``what``."""
    if value not in choices:
        raise InputError(f"unknown {what} {value!r} (expected one of {', '.join(choices)})")
    return value


def cut_at_special(text: str, special: Sequence[str]) -> str:
    """``text`` up to the first occurrence of any special-token string (generation is over
    there; what follows is padding or a new document).

    >>> cut_at_special("0110<|endoftext|>0000", ["<|endoftext|>", "<pad>"])
    '0110'
    """
    ends = [i for i in (text.find(tok) for tok in special if tok) if i >= 0]
    return text[: min(ends)] if ends else text


def parse_completion(
    text: str, symbols: Symbols, form: str, width: int = N_BITS, rule: str = "harness"
) -> str:
    """Bits read from a completion by ``rule`` (module doc): ``harness`` upper-cases, keeps
    only the form's alphabet, then reads like ``strict``; ``strict`` is
    :meth:`Symbols.parse` on the raw text."""
    check_choice(rule, PARSE_RULES, "parse rule")
    if rule == "harness":
        alphabet = set(FORMS[form])
        text = "".join(c for c in text.upper() if c in alphabet)
    return symbols.parse(text, width)


def draw_symbols(form: str, rng: np.random.Generator) -> Symbols:
    """Three distinct symbols from the form's alphabet: for 0, 1 and the separator."""
    if form not in FORMS:
        raise InputError(f"unknown prompt form {form!r} (expected one of {', '.join(FORMS)})")
    zero, one, sep = rng.choice(list(FORMS[form]), size=3, replace=False)
    return Symbols(str(zero), str(one), str(sep))


def render_prompt(
    inputs: Sequence[Bits | str], outputs: Sequence[Bits | str], query: Bits | str, symbols: Symbols
) -> str:
    """``x1 f(x1) SEP x2 f(x2) SEP ... xn f(xn) SEP xq``, no trailing separator."""
    demos = [symbols.render(x) + symbols.render(y) for x, y in zip(inputs, outputs, strict=True)]
    return symbols.sep.join([*demos, symbols.render(query)])


def trial_rng(seed: int, function_id: int, shots: int, trial: int, purpose: str, *extra: int):
    """The random generator of one purpose (inputs, symbols, derange, ties) of one trial."""
    return np.random.default_rng([seed, function_id, shots, trial, _STREAM[purpose], *extra])


def derange_indices(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (the identity when ``n < 2``)."""
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


def best_derangement(
    outputs: Bits, rng: np.random.Generator, tries: int = DERANGEMENT_TRIES
) -> np.ndarray:
    """Of ``tries`` random derangements of the rows of ``outputs``, the first that leaves the
    fewest rows showing an equal output (``outputs[perm[i]] == outputs[i]``).

    >>> outputs = np.array([[0], [0], [1], [1]], dtype=np.uint8)  # two distinct outputs
    >>> perm = best_derangement(outputs, np.random.default_rng(0))
    >>> int((outputs[perm] == outputs).all(1).sum())
    0
    """
    n = len(outputs)
    if n < 2:
        return np.arange(n)
    codes = np.unique(outputs, axis=0, return_inverse=True)[1].reshape(n)
    found: list[np.ndarray] = []
    while sum(len(f) for f in found) < tries:  # about 1/e of permutations are derangements
        perms = rng.random((3 * tries, n)).argsort(axis=1)
        found.append(perms[(perms != np.arange(n)).all(axis=1)])
    perms = np.concatenate(found)[:tries]
    in_place = (codes[perms] == codes).sum(axis=1)
    return perms[int(np.argmin(in_place))]


def mode_answer(outputs: Bits, rng: np.random.Generator) -> Bits:
    """The most frequent demonstration output; ties broken at random."""
    values, counts = np.unique(outputs, axis=0, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    return values[rng.choice(best)]


@dataclass(frozen=True)
class Trial:
    """One prompt and everything needed to score it and its baselines."""

    function: Function
    shots: int
    trial: int
    form: str
    condition: str
    symbols: Symbols
    inputs: Bits = field(repr=False)  # (shots, width): demonstration inputs
    outputs: Bits = field(repr=False)  # (shots, width): outputs shown (permuted when deranged)
    query: Bits = field(repr=False)
    target: Bits = field(repr=False)  # the true f(query), in both conditions
    mode: Bits = field(repr=False)  # the mode baseline's answer
    text: str = field(repr=False)
    in_place: int = 0  # demonstrations showing their own true output (all of them when clean)

    @property
    def answer_text(self) -> str:
        """The correct continuation in symbols."""
        return self.symbols.render(self.target)

    def parse(self, completion: str, rule: str = "harness") -> str:
        """Bits read from ``completion`` (:func:`parse_completion`)."""
        return parse_completion(completion, self.symbols, self.form, self.target.shape[-1], rule)

    def score(self, completion: str, rule: str = "harness") -> bool:
        """Exact match of all bits after parsing the completion."""
        return self.parse(completion, rule) == bits_to_str(self.target)

    @property
    def mode_correct(self) -> bool:
        return bool((self.mode == self.target).all())

    @property
    def identity_correct(self) -> bool:
        return bool((self.query == self.target).all())


def make_trial(
    function: Function,
    shots: int,
    trial: int,
    form: str = "genomic",
    seed: int = 0,
    condition: str = "clean",
    width: int = N_BITS,
    derangement: str = "best-of-256",
) -> Trial:
    """Draw one trial: distinct inputs, the constant, the symbols, and (deranged) the permutation
    (``derangement``: ``best-of-256`` or ``index``, see the module doc).

    With one shot there is nothing to permute, so the deranged prompt equals the clean one.

    >>> from bioseq.tasks.icl.suite import load_functions
    >>> t = make_trial(load_functions()[0], 4, 0, "genomic", seed=1, condition="deranged")
    >>> t.text.count(t.symbols.sep), len(t.text), t.condition
    (4, 76, 'deranged')
    """
    if form not in FORMS:
        raise InputError(f"unknown prompt form {form!r} (expected one of {', '.join(FORMS)})")
    if condition not in CONDITIONS:
        raise InputError(f"unknown condition {condition!r} (expected one of {CONDITIONS})")
    check_choice(derangement, DERANGEMENTS, "derangement")
    if not 1 <= shots < 2**width:
        raise InputError(f"shots must be between 1 and {2**width - 1}, got {shots}")
    key = (seed, function.id, shots, trial)
    rng = trial_rng(*key, "inputs")
    values = rng.choice(2**width, size=shots + 1, replace=False)
    constant = rng.integers(0, 2, size=width, dtype=np.uint8)
    xs = int_to_bits(values, width)
    ys = function.program(xs, constant)
    inputs, outputs, query, target = xs[:-1], ys[:-1], xs[-1], ys[-1]
    symbols = draw_symbols(form, trial_rng(*key, "symbols", list(FORMS).index(form)))
    if condition == "deranged":
        rng = trial_rng(*key, "derange")
        if derangement == "index":
            perm = derange_indices(shots, rng)
        else:
            perm = best_derangement(outputs, rng)
        shown = outputs[perm]
    else:
        shown = outputs
    in_place = int((shown == outputs).all(axis=1).sum())
    outputs = shown
    mode = mode_answer(outputs, trial_rng(*key, "ties"))
    return Trial(
        function,
        shots,
        trial,
        form,
        condition,
        symbols,
        inputs,
        outputs,
        query,
        target,
        mode,
        _render_fast(inputs, outputs, query, symbols),
        in_place,
    )


def _render_fast(inputs: Bits, outputs: Bits, query: Bits, symbols: Symbols) -> str:
    """:func:`render_prompt` on arrays, vectorised (a 128-shot prompt is ~2,200 symbols)."""
    table = np.frombuffer((symbols.zero + symbols.one).encode(), dtype=np.uint8)
    demos = table[np.concatenate([inputs, outputs], axis=1)]
    sep = np.full((len(demos), 1), ord(symbols.sep), dtype=np.uint8)
    body = np.concatenate([demos, sep], axis=1).tobytes()
    return (body + table[query].tobytes()).decode()
