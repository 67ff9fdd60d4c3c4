"""Sequence weights of a family alignment: down-weight near-duplicate homologs.

Each row gets ``1 / (number of rows at >= theta identity to it, itself included)``, identity
being the fraction of identical match columns (gaps included): EVcouplings' clustering weights,
``theta = 0.8``. Their sum is the family's effective number of sequences. The site-independent
baseline counts residues with these weights, and ``bioseq pretrain --sequence-weights`` samples
homologs in proportion to them.

>>> import numpy as np
>>> codes = np.array([[0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]], dtype=np.uint8)
>>> sequence_weights(codes, theta=0.8).tolist()
[0.5, 0.5, 1.0]
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCK = 32  # columns compared between two early-exit checks


@njit(parallel=True, cache=True)
def _neighbour_counts(codes: np.ndarray, max_mismatches: int) -> np.ndarray:
    """For every row, the number of rows (itself included) with at most ``max_mismatches``.

    Columns are compared in blocks of ``_BLOCK`` (a vectorisable loop), and a pair is dropped as
    soon as its mismatches pass the limit, which for most homolog pairs is within a few blocks.
    """
    n, width = codes.shape
    counts = np.ones(n, dtype=np.int64)
    for i in prange(n):
        row = codes[i]
        found = 0
        for j in range(n):
            if j == i:
                continue
            other = codes[j]
            mismatches = 0
            for k0 in range(0, width, _BLOCK):
                block = 0
                for k in range(k0, min(k0 + _BLOCK, width)):
                    block += row[k] != other[k]
                mismatches += block
                if mismatches > max_mismatches:
                    break
            if mismatches <= max_mismatches:
                found += 1
        counts[i] += found
    return counts


def sequence_weights(codes: np.ndarray, theta: float = 0.8) -> np.ndarray:
    """``1 / neighbours`` at ``>= theta`` identity for a ``(rows, columns)`` uint8 code matrix."""
    width = codes.shape[1]
    max_mismatches = int(np.floor((1.0 - theta) * width + 1e-9))
    return 1.0 / _neighbour_counts(np.ascontiguousarray(codes), max_mismatches)
