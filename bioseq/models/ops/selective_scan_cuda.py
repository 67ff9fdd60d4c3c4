"""CUDA selective scan: a thin, lazily imported wrapper over mamba-ssm's fused kernel.

mamba-ssm is an optional dependency (``pip install bioseq[cuda]``); importing this module never
imports it. The import happens on the first call, so CPU-only installs are unaffected.

Example::

    >>> from bioseq.models.ops.selective_scan_cuda import cuda_available, selective_scan_cuda
    >>> if cuda_available():  # doctest: +SKIP
    ...     out = selective_scan_cuda(u, delta, A, B, C, D=D, delta_softplus=True)
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["ScanBackendUnavailable", "cuda_available", "selective_scan_cuda"]


class ScanBackendUnavailable(RuntimeError):
    """A scan backend was requested that cannot run on this machine."""


@functools.lru_cache(maxsize=1)
def _import_mamba() -> tuple[Callable | None, str]:
    """``(selective_scan_fn, "")`` or ``(None, why it failed)``; attempted once per process."""
    try:
        # deferred: mamba-ssm is optional (the cuda extra) and needs a built CUDA extension
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as exc:  # ImportError, or a missing / mismatched compiled extension
        return None, f"{type(exc).__name__}: {exc}"
    return selective_scan_fn, ""


def cuda_available() -> bool:
    """True when mamba-ssm's kernel imports and torch sees a CUDA device."""
    return torch.cuda.is_available() and _import_mamba()[0] is not None


def selective_scan_cuda(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    """Selective scan on CUDA tensors via ``mamba_ssm``'s ``selective_scan_fn``."""
    fn, why = _import_mamba()
    if fn is None or not torch.cuda.is_available():
        reason = why if fn is None else "torch.cuda.is_available() is False"
        raise ScanBackendUnavailable(
            f"selective_scan backend 'cuda' is unavailable ({reason}); install mamba-ssm on a "
            "CUDA machine (pip install 'bioseq[cuda]') or use backend='cpu' / 'reference'"
        )
    return fn(
        u,
        delta,
        A,
        B,
        C,
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=delta_softplus,
        return_last_state=return_last_state,
    )
