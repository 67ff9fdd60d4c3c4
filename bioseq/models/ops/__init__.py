"""Fused and reference kernels: the selective scan (Mamba-1) and friends.

>>> from bioseq.models.ops import selective_scan  # dispatches to cuda / cpu / reference

:func:`selective_scan_from_state` continues the scan from a saved state (inference only);
:mod:`~bioseq.models.ops.causal_conv` holds the Mamba mixer's causal convolution (causal-conv1d's
kernels on CUDA); :func:`kernel_backends` names the scan and conv kernels a model will use.

Backend functions live in their modules (``selective_scan_ref``, ``selective_scan_cpu``,
``selective_scan_cuda``) and are not re-exported here, so that those names keep meaning the
submodules.
"""

from bioseq.models.ops.dispatch import available_backends, kernel_backends, selective_scan
from bioseq.models.ops.scan_state import selective_scan_from_state
from bioseq.models.ops.selective_scan_cuda import ScanBackendUnavailable, cuda_available

__all__ = [
    "ScanBackendUnavailable", "available_backends", "cuda_available", "kernel_backends",
    "selective_scan",
    "selective_scan_from_state",
]  # fmt: skip
