"""Prompts of the bitstring suite in genomic and linguistic form, answer parsing, baselines.

A prompt shows ``n`` demonstrations ``x f(x)`` (input and output back to back) separated by a
separator symbol, then the query ``x``; it ends right after the query. Per trial three distinct
symbols are drawn, one each for 0, 1 and the separator: from ``ACGT`` (genomic form) or from the
digits ``0-9`` (linguistic form). The ``n + 1`` inputs are distinct; ``meta_constant``'s constant
is drawn per prompt. Every random draw comes from a generator keyed by (seed, function id,
shots, trial, purpose), so a trial is the same whatever the batch or model, and the genomic and
linguistic forms of a trial share inputs, query and constant (only the symbols differ).

The specification's worked example (4 bits, 0 -> A, 1 -> T, separator G, ``reverse_bits``):

>>> from bioseq.tasks.icl.prompts import Symbols, render_prompt
>>> symbols = Symbols(zero="A", one="T", sep="G")
>>> demos = ["0001", "0100", "1110", "0101"]
>>> render_prompt(demos, [d[::-1] for d in demos], "0011", symbols)
'AAATTAAAGATAAAATAGTTTAATTTGATATTATAGAATT'
>>> symbols.parse("TTAAG")  # the expected continuation, then anything
'1100'

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


def derangement(n: int, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``range(n)`` with no fixed point (the identity when ``n < 2``)."""
    if n < 2:
        return np.arange(n)
    while True:
        perm = rng.permutation(n)
        if not (perm == np.arange(n)).any():
            return perm


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

    @property
    def answer_text(self) -> str:
        """The correct continuation in symbols."""
        return self.symbols.render(self.target)

    def parse(self, completion: str) -> str:
        return self.symbols.parse(completion, self.target.shape[-1])

    def score(self, completion: str) -> bool:
        """Exact match of all bits after parsing the completion."""
        return self.parse(completion) == bits_to_str(self.target)

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
) -> Trial:
    """Draw one trial: distinct inputs, the constant, the symbols, and (deranged) the permutation.

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
        outputs = outputs[derangement(shots, trial_rng(*key, "derange"))]
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
    )


def _render_fast(inputs: Bits, outputs: Bits, query: Bits, symbols: Symbols) -> str:
    """:func:`render_prompt` on arrays, vectorised (a 128-shot prompt is ~2,200 symbols)."""
    table = np.frombuffer((symbols.zero + symbols.one).encode(), dtype=np.uint8)
    demos = table[np.concatenate([inputs, outputs], axis=1)]
    sep = np.full((len(demos), 1), ord(symbols.sep), dtype=np.uint8)
    body = np.concatenate([demos, sep], axis=1).tobytes()
    return (body + table[query].tobytes()).decode()
