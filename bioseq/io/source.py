"""The interface every genome reader offers, and an in-memory implementation of it.

A *sequence source* has named contigs with lengths and answers ``fetch(contig, start, end,
strand)`` with normalised sequence, 0-based and half-open like Python slices. ``Genome``
(indexed FASTA), GenBank records and in-memory sequences all implement it, so datasets and
tasks never care where the bases come from.

>>> from bioseq.io.source import InMemoryGenome
>>> g = InMemoryGenome({"chr1": "ACGTacgtNN"})
>>> g.contigs
{'chr1': 10}
>>> g.fetch("chr1", 2, 6), g.fetch("chr1", 2, 6, strand="-")
('GTAC', 'GTAC')
>>> g.fetch_mask("chr1", 2, 6).tolist()
[False, False, True, True]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import (
    DNA,
    Alphabet,
    AmbiguousPolicy,
    InvalidCharacterError,
    InvalidPolicy,
    as_codes,
    reverse_complement_array,
    soft_mask,
)


@runtime_checkable
class SequenceSource(Protocol):
    """Named contigs that can be fetched by 0-based half-open coordinates."""

    path: Path | None
    alphabet: Alphabet

    @property
    def contigs(self) -> dict[str, int]: ...

    def fetch_codes(
        self, contig: str, start: int = 0, end: int | None = None, strand: str = "+"
    ) -> np.ndarray: ...

    def fetch(
        self, contig: str, start: int = 0, end: int | None = None, strand: str = "+"
    ) -> str: ...


def check_region(
    source_name: object, contigs: Mapping[str, int], contig: str, start: int, end: int | None
) -> tuple[int, int]:
    """Validate a 0-based half-open region and return ``(start, end)`` with ``end`` filled in."""
    if contig not in contigs:
        known = ", ".join(list(contigs)[:5]) + (", ..." if len(contigs) > 5 else "")
        raise InputError(f"{source_name}: no contig named {contig!r} (contigs: {known})")
    length = contigs[contig]
    end = length if end is None else end
    if not 0 <= start <= end <= length:
        raise InputError(
            f"{source_name}: region {contig}:{start}-{end} is outside the contig "
            f"(length {length}; coordinates are 0-based, half-open)"
        )
    return start, end


def orient(codes: np.ndarray, strand: str) -> np.ndarray:
    """Return ``codes`` for strand ``+`` or their reverse complement for ``-``."""
    if strand == "+":
        return codes
    if strand == "-":
        return reverse_complement_array(codes)
    raise InputError(f"strand must be '+' or '-', not {strand!r}")


class InMemoryGenome:
    """A sequence source held in memory: GenBank records, gzip streams, test fixtures.

    Sequences are normalised on construction with the alphabet's policies; the soft-mask
    track (lower-case input) is kept.
    """

    def __init__(
        self,
        records: Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]],
        path: str | Path | None = None,
        alphabet: Alphabet = DNA,
        ambiguous: AmbiguousPolicy = "unknown",
        invalid: InvalidPolicy = "error",
    ) -> None:
        self.path = Path(path) if path is not None else None
        self.alphabet = alphabet
        self._codes: dict[str, np.ndarray] = {}
        self._masks: dict[str, np.ndarray] = {}
        items = records.items() if isinstance(records, Mapping) else records
        for name, seq in items:
            if name in self._codes:
                raise InputError(f"{self._name}: duplicate contig name {name!r}")
            raw = as_codes(seq)
            try:
                self._codes[name] = alphabet.normalize_array(raw, ambiguous, invalid)
            except InvalidCharacterError as err:
                raise InputError(
                    f"{self._name}: contig {name!r}, position {err.index + 1}: invalid "
                    f"character {err.char!r} (expected {alphabet.name}: {alphabet.describe()})"
                ) from None
            self._masks[name] = soft_mask(raw)

    @property
    def _name(self) -> str:
        return str(self.path) if self.path is not None else "<memory>"

    @property
    def contigs(self) -> dict[str, int]:
        return {name: len(codes) for name, codes in self._codes.items()}

    def fetch_codes(
        self, contig: str, start: int = 0, end: int | None = None, strand: str = "+"
    ) -> np.ndarray:
        start, end = check_region(self._name, self.contigs, contig, start, end)
        return orient(self._codes[contig][start:end], strand)

    def fetch(self, contig: str, start: int = 0, end: int | None = None, strand: str = "+") -> str:
        return self.fetch_codes(contig, start, end, strand).tobytes().decode("ascii")

    def fetch_mask(self, contig: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """True where the input base was lower case (soft-masked)."""
        start, end = check_region(self._name, self.contigs, contig, start, end)
        return self._masks[contig][start:end]

    def __len__(self) -> int:
        return len(self._codes)

    def __repr__(self) -> str:
        return f"InMemoryGenome({self._name!r}, {len(self)} contigs)"
