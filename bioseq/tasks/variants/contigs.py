"""Match contig names between a VCF and a genome: ``chr1`` and ``1`` are the same contig.

>>> matcher = ContigMatcher(["chr1", "chr2", "chrX"])
>>> matcher.match("1"), matcher.match("chrX"), matcher.match("chr7")
(('chr1', None), ('chrX', None), (None, 'contig_missing'))
>>> ContigMatcher(["1", "chr1"]).match("1")  # exact names win
('1', None)
>>> ContigMatcher(["Chr1", "chr1"]).match("1")
(None, 'contig_ambiguous')
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def canonical(name: str) -> str:
    """Lower case without a leading ``chr``: the key under which names are compared."""
    lowered = name.lower()
    return lowered[3:] if lowered.startswith("chr") and len(lowered) > 3 else lowered


class ContigMatcher:
    """Find the genome contig for a VCF contig name: exact, else unique up to a ``chr`` prefix."""

    def __init__(self, genome_contigs: Iterable[str]) -> None:
        self.names = set(genome_contigs)
        self._by_key: dict[str, list[str]] = defaultdict(list)
        for name in sorted(self.names):
            self._by_key[canonical(name)].append(name)
        self._cache: dict[str, tuple[str | None, str | None]] = {}

    def match(self, name: str) -> tuple[str | None, str | None]:
        """``(genome name, None)``, or ``(None, reason)`` with ``contig_missing`` or
        ``contig_ambiguous``."""
        if name not in self._cache:
            if name in self.names:
                self._cache[name] = (name, None)
            else:
                found = self._by_key.get(canonical(name), [])
                if len(found) == 1:
                    self._cache[name] = (found[0], None)
                else:
                    self._cache[name] = (None, "contig_ambiguous" if found else "contig_missing")
        return self._cache[name]

    def candidates(self, name: str) -> list[str]:
        """Genome contigs that ``name`` could mean (for error messages)."""
        return list(self._by_key.get(canonical(name), []))
