"""The 30 bitstring primitives, their two-step compositions, and BitLoad.

Bit strings are numpy ``uint8`` arrays of 0/1 whose last axis holds the bits, position 0 being
the leftmost; every primitive works on any batch shape and any even width (8 in the suite, 4 in
the specification's worked example). Two primitives need more than the current string:
``xor_with_s0`` reads the original input of the program, and ``meta_constant`` the constant
drawn once per prompt. A :class:`Program` applies its steps left to right (``"a > b"``: a, then b).

>>> import numpy as np
>>> from bioseq.tasks.icl.primitives import Program, bits_to_str, str_to_bits, bitload
>>> program = Program.parse("shift_left_zero > keep_odd_positions")
>>> bits_to_str(program(str_to_bits("10110111")))
'01000100'
>>> bitload(program)
3
>>> bits_to_str(Program.parse("meta_constant")(str_to_bits("1111"), constant=str_to_bits("1010")))
'1010'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bioseq.errors import InputError

N_BITS = 8

Bits = np.ndarray  # uint8, last axis = bit positions


# --------------------------------------------------------------------------- conversions
def int_to_bits(values: int | np.ndarray, width: int = N_BITS) -> Bits:
    """Integers -> bit arrays, most significant bit first (``5`` -> ``00000101``)."""
    values = np.asarray(values, dtype=np.int64)
    shifts = np.arange(width - 1, -1, -1)
    return ((values[..., None] >> shifts) & 1).astype(np.uint8)


def str_to_bits(text: str) -> Bits:
    """``"0110"`` -> ``array([0, 1, 1, 0], dtype=uint8)``."""
    if not text or set(text) - {"0", "1"}:
        raise InputError(f"not a bit string: {text!r}")
    return np.frombuffer(text.encode(), dtype=np.uint8) - ord("0")


def bits_to_str(bits: Bits) -> str:
    """One bit array -> ``"0110..."``."""
    return (np.asarray(bits, dtype=np.uint8) + ord("0")).tobytes().decode()


# --------------------------------------------------------------------------- primitives
def _half(x: Bits) -> int:
    return x.shape[-1] // 2


def _fill(x: Bits, condition: np.ndarray) -> Bits:
    """All ones where ``condition`` (shape = batch shape) holds, else all zeros."""
    return np.broadcast_to(condition[..., None], x.shape).astype(np.uint8)


def _zero_except(x: Bits, keep: np.ndarray) -> Bits:
    return x * keep.astype(np.uint8)


def _positions(x: Bits) -> np.ndarray:
    return np.arange(x.shape[-1])


UNARY: dict[str, Callable[[Bits], Bits]] = {
    # bitwise
    "flip_bits": lambda x: 1 - x,
    "invert_prefix": lambda x: np.where(_positions(x) < _half(x), 1 - x, x).astype(np.uint8),
    "invert_suffix": lambda x: np.where(_positions(x) >= _half(x), 1 - x, x).astype(np.uint8),
    # structural
    "identity": lambda x: x.copy(),
    "reverse_bits": lambda x: x[..., ::-1].copy(),
    "rotl1": lambda x: np.roll(x, -1, axis=-1),
    "rotr1": lambda x: np.roll(x, 1, axis=-1),
    "double_rotl": lambda x: np.roll(x, -2, axis=-1),
    "double_rotr": lambda x: np.roll(x, 2, axis=-1),
    "shift_left_zero": lambda x: np.concatenate([x[..., 1:], np.zeros_like(x[..., :1])], -1),
    "shift_right_zero": lambda x: np.concatenate([np.zeros_like(x[..., :1]), x[..., :-1]], -1),
    "swap_halves": lambda x: np.roll(x, _half(x), axis=-1),
    "swap_pairs": lambda x: x.reshape(*x.shape[:-1], -1, 2)[..., ::-1].reshape(x.shape).copy(),
    "mirror_half": lambda x: np.concatenate(
        [x[..., : _half(x)], x[..., : _half(x)][..., ::-1]], -1
    ),
    # positional masking
    "left_half": lambda x: _zero_except(x, _positions(x) < _half(x)),
    "right_half": lambda x: _zero_except(x, _positions(x) >= _half(x)),
    "keep_even_positions": lambda x: _zero_except(x, _positions(x) % 2 == 0),
    "keep_odd_positions": lambda x: _zero_except(x, _positions(x) % 2 == 1),
    "edge_mask": lambda x: _zero_except(x, np.isin(_positions(x), [0, x.shape[-1] - 1])),
    "center_mask": lambda x: _zero_except(x, ~np.isin(_positions(x), [0, x.shape[-1] - 1])),
    "spread_first_bit": lambda x: _fill(x, x[..., 0] == 1),
    "spread_last_bit": lambda x: _fill(x, x[..., -1] == 1),
    # pattern detection
    "alternating_start_one": lambda x: x ^ (_positions(x) % 2 == 0).astype(np.uint8),
    "alternating_start_zero": lambda x: x ^ (_positions(x) % 2 == 1).astype(np.uint8),
    "ones_if_palindrome": lambda x: _fill(x, (x == x[..., ::-1]).all(-1)),
    # aggregation
    "majority": lambda x: _fill(x, 2 * x.sum(-1, dtype=np.int64) >= x.shape[-1]),
    "minority": lambda x: _fill(x, 2 * x.sum(-1, dtype=np.int64) < x.shape[-1]),
    "parity_fill": lambda x: _fill(x, x.sum(-1, dtype=np.int64) % 2 == 1),
}
"""The 28 primitives that read only the current string."""

CONTEXTUAL = ("xor_with_s0", "meta_constant")
"""The 2 primitives that read the program's input (``s0``) or the per-prompt constant."""

PRIMITIVES: tuple[str, ...] = (*UNARY, *CONTEXTUAL)


def apply_primitive(name: str, x: Bits, s0: Bits, constant: Bits | None = None) -> Bits:
    """Apply one primitive to the current string ``x``; ``s0`` is the program's input."""
    if name in UNARY:
        return UNARY[name](x)
    if name == "xor_with_s0":
        return x ^ s0
    if name == "meta_constant":
        if constant is None:
            raise InputError("meta_constant needs the constant drawn for the prompt")
        return np.broadcast_to(np.asarray(constant, dtype=np.uint8), x.shape).copy()
    raise InputError(f"unknown primitive {name!r} (expected one of {', '.join(PRIMITIVES)})")


# --------------------------------------------------------------------------- programs
@dataclass(frozen=True)
class Program:
    """A chain of primitives applied left to right; ``str(program)`` is its ``a > b`` form.

    >>> Program.parse("flip_bits > xor_with_s0")(str_to_bits("10110010")).tolist()
    [1, 1, 1, 1, 1, 1, 1, 1]
    """

    steps: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.steps:
            raise InputError("a program needs at least one primitive")
        for step in self.steps:
            if step not in PRIMITIVES:
                raise InputError(f"unknown primitive {step!r} in program {self}")

    @classmethod
    def parse(cls, text: str) -> Program:
        return cls(tuple(step.strip() for step in text.split(">")))

    def __str__(self) -> str:
        return " > ".join(self.steps)

    @property
    def uses_constant(self) -> bool:
        return "meta_constant" in self.steps

    def __call__(self, x: Bits, constant: Bits | None = None) -> Bits:
        s0 = np.asarray(x, dtype=np.uint8)
        out = s0
        for step in self.steps:
            out = apply_primitive(step, out, s0, constant)
        return out


def all_inputs(width: int = N_BITS) -> Bits:
    """Every bit string of the given width, shape (2**width, width), in numeric order."""
    return int_to_bits(np.arange(2**width), width)


def bitload(program: Program | str, width: int = N_BITS) -> int:
    """Number of input positions whose flip can change the output (over all inputs).

    The per-prompt constant of ``meta_constant`` is held fixed: it does not depend on the input.

    >>> bitload("spread_last_bit > center_mask"), bitload("center_mask"), bitload("xor_with_s0")
    (1, 6, 0)
    """
    if isinstance(program, str):
        program = Program.parse(program)
    x = all_inputs(width)
    constant = np.zeros(width, dtype=np.uint8)
    y = program(x, constant)
    count = 0
    for position in range(width):
        flipped = x.copy()
        flipped[:, position] ^= 1
        count += bool((program(flipped, constant) != y).any())
    return count
