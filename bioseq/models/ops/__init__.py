"""Fused and reference kernels: the selective scan (Mamba-1) and friends.

>>> from bioseq.models.ops import selective_scan  # dispatches to cuda / cpu / reference
"""

from bioseq.models.ops.dispatch import available_backends, selective_scan
from bioseq.models.ops.selective_scan_cpu import selective_scan_cpu
from bioseq.models.ops.selective_scan_cuda import ScanBackendUnavailable, cuda_available
from bioseq.models.ops.selective_scan_ref import selective_scan_ref

__all__ = [
    "ScanBackendUnavailable", "available_backends", "cuda_available", "selective_scan",
    "selective_scan_cpu", "selective_scan_ref",
]  # fmt: skip
