"""Keep large CPU allocations in the heap: long-sequence passes stop paying for page faults.

glibc's ``malloc`` serves every block above its mmap threshold (at most 32 MiB by default) with a
fresh ``mmap`` and unmaps it on ``free``. At long L every activation is such a block, so each
forward pass page-faults and zero-fills all of its memory again: for a tiny Hyena at 65,536
tokens on one core that was 45% of the forward time, and it made the time per token jump beyond
16k (see ``benchmarks/RESULTS.md``). Raising the mmap, trim and top-pad thresholds keeps freed
blocks in the heap for the next pass. The cost: the process does not hand memory back to the
system before it exits, and fragmentation can raise the peak (a 1M-token Hyena pass: 13.8 GiB
instead of 10.1, and 69 s instead of 85), so the CLI applies it (set
``BIOSEQ_MALLOC_TUNING=0`` to opt out) and a library user calls it explicitly.

>>> from bioseq.models.ops.allocator import tune_cpu_allocator
>>> tune_cpu_allocator()  # doctest: +SKIP
True
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3  # from glibc's <malloc.h>
SETTINGS = ((M_MMAP_THRESHOLD, 1 << 30), (M_TRIM_THRESHOLD, 2**31 - 1), (M_TOP_PAD, 1 << 28))


def tune_cpu_allocator() -> bool:
    """Raise glibc's malloc thresholds (see module doc); False where that is not possible
    (not Linux, not glibc) or ``BIOSEQ_MALLOC_TUNING=0``."""
    if os.environ.get("BIOSEQ_MALLOC_TUNING", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return all(mallopt(option, value) == 1 for option, value in SETTINGS)
