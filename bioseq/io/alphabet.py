"""DNA, RNA and protein alphabets: validation, normalisation and (reverse) complements.

Normalisation is a 256-entry byte lookup table applied with numpy, so it runs at memory speed
and never loops over characters in Python.

>>> from bioseq.io.alphabet import DNA, reverse_complement
>>> DNA.normalize("acgTNr")
'ACGTNN'
>>> DNA.normalize("acgT", return_mask=True)[1].tolist()
[True, True, True, False]
>>> reverse_complement("AACGTR")
'YACGTT'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bioseq.errors import InputError

AmbiguousPolicy = Literal["unknown", "error", "keep"]
InvalidPolicy = Literal["error", "unknown"]

IUPAC_NUCLEOTIDE_CODES = "RYSWKMBDHV"
_COMPLEMENT_PAIRS = {
    "A": "T", "C": "G", "G": "C", "T": "A", "U": "A", "N": "N",
    "R": "Y", "Y": "R", "S": "S", "W": "W", "K": "M", "M": "K",
    "B": "V", "V": "B", "D": "H", "H": "D", "-": "-", ".": ".",
}  # fmt: skip


class InvalidCharacterError(InputError):
    """A character outside the alphabet; ``index`` is its 0-based position in the input."""

    def __init__(self, char: str, index: int, alphabet: Alphabet) -> None:
        self.char = char
        self.index = index
        self.alphabet = alphabet
        super().__init__(
            f"invalid character {char!r} at position {index} "
            f"(expected {alphabet.name}: {alphabet.describe()})"
        )


@dataclass(frozen=True)
class Alphabet:
    """A sequence alphabet and the rules that map raw text onto it.

    ``letters`` are the canonical output symbols, ``unknown`` the wildcard (N or X),
    ``ambiguous`` the codes accepted on input and handled by the ``ambiguous`` policy
    (IUPAC codes for nucleotides, B/Z/J for proteins), and ``aliases`` fixed rewrites
    (U->T for DNA, selenocysteine U->C and pyrrolysine O->K for proteins).
    """

    name: str
    letters: str
    unknown: str
    ambiguous: str = ""
    aliases: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        extra = f" or ambiguity codes {self.ambiguous}" if self.ambiguous else ""
        return f"{self.letters}{extra}"

    def table(
        self, ambiguous: AmbiguousPolicy = "unknown", invalid: InvalidPolicy = "error"
    ) -> np.ndarray:
        """The byte lookup table: raw byte -> normalised byte, 0 where the byte is an error."""
        return _table(self, ambiguous, invalid)

    def normalize_array(
        self,
        codes: np.ndarray,
        ambiguous: AmbiguousPolicy = "unknown",
        invalid: InvalidPolicy = "error",
    ) -> np.ndarray:
        """Normalise an array of ASCII bytes (uint8); raise on the first invalid one."""
        out = self.table(ambiguous, invalid)[codes]
        bad = np.flatnonzero(out == 0)
        if bad.size:
            i = int(bad[0])
            raise InvalidCharacterError(chr(int(codes[i])), i, self)
        return out

    def normalize(
        self,
        seq: str | bytes,
        ambiguous: AmbiguousPolicy = "unknown",
        invalid: InvalidPolicy = "error",
        return_mask: bool = False,
    ) -> str | tuple[str, np.ndarray]:
        """Upper-case, apply aliases and policies; optionally return the soft-mask track.

        The mask is True where the input was lower case (soft-masked repeats in FASTA).
        """
        codes = as_codes(seq)
        out = self.normalize_array(codes, ambiguous, invalid).tobytes().decode("ascii")
        if return_mask:
            return out, soft_mask(codes)
        return out

    def is_nucleotide(self) -> bool:
        return self.unknown == "N"


DNA = Alphabet("DNA", "ACGTN", "N", IUPAC_NUCLEOTIDE_CODES, {"U": "T"})
RNA = Alphabet("RNA", "ACGUN", "N", IUPAC_NUCLEOTIDE_CODES, {"T": "U"})
PROTEIN = Alphabet("protein", "ACDEFGHIKLMNPQRSTVWYX*", "X", "BZJ", {"U": "C", "O": "K"})
ALPHABETS = {"dna": DNA, "rna": RNA, "protein": PROTEIN}


def get_alphabet(name: str | Alphabet) -> Alphabet:
    """Look an alphabet up by name (``dna``, ``rna``, ``protein``)."""
    if isinstance(name, Alphabet):
        return name
    try:
        return ALPHABETS[name.lower()]
    except KeyError:
        raise InputError(
            f"unknown alphabet {name!r} (expected one of {', '.join(ALPHABETS)})"
        ) from None


_TABLES: dict[tuple[str, str, str], np.ndarray] = {}


def _table(alphabet: Alphabet, ambiguous: str, invalid: str) -> np.ndarray:
    key = (alphabet.name, ambiguous, invalid)
    if key in _TABLES:
        return _TABLES[key]
    if ambiguous not in ("unknown", "error", "keep"):
        raise InputError(f"unknown ambiguity policy {ambiguous!r} (expected unknown, error, keep)")
    if invalid not in ("error", "unknown"):
        raise InputError(f"unknown invalid-character policy {invalid!r} (expected error, unknown)")
    unknown = ord(alphabet.unknown)
    table = np.full(256, unknown if invalid == "unknown" else 0, dtype=np.uint8)
    mapping = {c: c for c in alphabet.letters}
    mapping.update(alphabet.aliases)
    if ambiguous == "keep":
        mapping.update({c: c for c in alphabet.ambiguous})
    elif ambiguous == "unknown":
        mapping.update({c: alphabet.unknown for c in alphabet.ambiguous})
    else:  # "error": ambiguity codes are invalid characters, whatever the invalid policy
        for c in alphabet.ambiguous:
            table[ord(c)] = table[ord(c.lower())] = 0
    for src, dst in mapping.items():
        table[ord(src)] = table[ord(src.lower())] = ord(dst)
    table.flags.writeable = False
    _TABLES[key] = table
    return table


def as_codes(seq: str | bytes | np.ndarray) -> np.ndarray:
    """View a sequence as a uint8 array of ASCII codes (no copy for bytes and arrays)."""
    if isinstance(seq, np.ndarray):
        return seq.astype(np.uint8, copy=False)
    if isinstance(seq, str):
        seq = seq.encode("latin-1", errors="replace")
    return np.frombuffer(seq, dtype=np.uint8)


def soft_mask(codes: np.ndarray) -> np.ndarray:
    """True where an ASCII byte is a lower-case letter (a soft-masked base)."""
    return (codes >= ord("a")) & (codes <= ord("z"))


def _complement_table() -> np.ndarray:
    table = np.arange(256, dtype=np.uint8)
    for src, dst in _COMPLEMENT_PAIRS.items():
        table[ord(src)] = ord(dst)
        table[ord(src.lower())] = ord(dst.lower())
    table.flags.writeable = False
    return table


COMPLEMENT_TABLE = _complement_table()
_COMPLEMENT_STR = str.maketrans(
    {**_COMPLEMENT_PAIRS, **{k.lower(): v.lower() for k, v in _COMPLEMENT_PAIRS.items()}}
)


def complement(seq: str) -> str:
    """IUPAC-aware complement, preserving case (U complements to A)."""
    return seq.translate(_COMPLEMENT_STR)


def reverse_complement(seq: str) -> str:
    """IUPAC-aware reverse complement, preserving case."""
    return seq.translate(_COMPLEMENT_STR)[::-1]


def reverse_complement_array(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of a uint8 array of ASCII codes (a new array)."""
    return COMPLEMENT_TABLE[codes[::-1]]


def guess_alphabet(seq: str | bytes | np.ndarray, threshold: float = 0.9) -> Alphabet:
    """DNA when at least ``threshold`` of the letters are A/C/G/T/U/N, else protein.

    >>> guess_alphabet("ACGTNNACGT").name, guess_alphabet("MSIQHFRVAL").name
    ('DNA', 'protein')
    """
    codes = as_codes(seq)
    lower = codes | 0x20
    codes = codes[(lower >= ord("a")) & (lower <= ord("z"))]  # letters only
    if codes.size == 0:
        return DNA
    upper = codes & 0xDF
    nucleotide = np.isin(upper, np.frombuffer(b"ACGTUN", dtype=np.uint8)).mean()
    return DNA if nucleotide >= threshold else PROTEIN
