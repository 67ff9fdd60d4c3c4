"""One entry point for the selective scan, picking a backend per call.

Backends: ``"cuda"`` (mamba-ssm's kernel, CUDA tensors), ``"cpu"`` (fused numba kernels, CPU
tensors) and ``"reference"`` (PyTorch loop, any device). With ``backend=None`` the choice is
``BIOSEQ_SCAN_BACKEND`` when set, else ``"cuda"`` for CUDA tensors when mamba-ssm imports,
``"cpu"`` for CPU tensors and ``"reference"`` for anything else. An explicit ``backend=`` beats
the environment variable.

Example::

    >>> import torch
    >>> from bioseq.models.ops import selective_scan, available_backends
    >>> "cpu" in available_backends()
    True
    >>> u, delta = torch.randn(1, 4, 16), torch.rand(1, 4, 16)
    >>> A, B, C = -torch.rand(4, 2), torch.randn(1, 2, 16), torch.randn(1, 2, 16)
    >>> selective_scan(u, delta, A, B, C, backend="reference").shape
    torch.Size([1, 4, 16])
"""

from __future__ import annotations

import os

from torch import Tensor

from bioseq.errors import InputError
from bioseq.models.ops.selective_scan_cpu import selective_scan_cpu
from bioseq.models.ops.selective_scan_cuda import (
    ScanBackendUnavailable,
    cuda_available,
    selective_scan_cuda,
)
from bioseq.models.ops.selective_scan_ref import selective_scan_ref

__all__ = ["BACKENDS", "ENV_VAR", "available_backends", "resolve_backend", "selective_scan"]

BACKENDS = ("reference", "cpu", "cuda")
ENV_VAR = "BIOSEQ_SCAN_BACKEND"


def available_backends() -> list[str]:
    """Backends that can run here, in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if name != "cuda" or cuda_available()]


def resolve_backend(u: Tensor, backend: str | None = None) -> str:
    """The backend a call with input ``u`` would use (see the module docstring)."""
    choice = backend if backend is not None else os.environ.get(ENV_VAR) or None
    if choice is None:
        if u.device.type == "cuda" and cuda_available():
            return "cuda"
        return "cpu" if u.device.type == "cpu" else "reference"
    choice = choice.strip().lower()
    if choice not in BACKENDS:
        source = "backend=" if backend is not None else f"${ENV_VAR}="
        raise InputError(
            f"selective_scan: unknown backend {source}{choice!r}; "
            f"choose one of {', '.join(BACKENDS)}"
        )
    if choice == "cuda" and not cuda_available():
        raise ScanBackendUnavailable(
            "selective_scan backend 'cuda' was requested but is unavailable: it needs a CUDA "
            "device and mamba-ssm (pip install 'bioseq[cuda]'); use 'cpu' or 'reference'"
        )
    return choice


def selective_scan(
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
    backend: str | None = None,
) -> Tensor | tuple[Tensor, Tensor]:
    """Mamba-1 selective scan with mamba-ssm's signature and semantics.

    Shapes: u, delta, z (batch, dim, L); A (dim, N); B, C (dim, N), (batch, N, L) or
    (batch, G, N, L); D, delta_bias (dim,). Returns ``out`` (u's shape and dtype), or
    ``(out, last_state)`` with ``last_state`` (batch, dim, N) fp32 when ``return_last_state``.
    """
    name = resolve_backend(u, backend)
    kwargs = dict(
        D=D,
        z=z,
        delta_bias=delta_bias,
        delta_softplus=delta_softplus,
        return_last_state=return_last_state,
    )
    if name == "cuda":
        return selective_scan_cuda(u, delta, A, B, C, **kwargs)
    if name == "reference":
        return selective_scan_ref(u, delta, A, B, C, **kwargs)
    if u.device.type != "cpu":  # cpu forced on device tensors: round-trip, autograd included
        device = u.device
        cpu = [None if t is None else t.cpu() for t in (D, z, delta_bias)]
        res = selective_scan_cpu(
            u.cpu(),
            delta.cpu(),
            A.cpu(),
            B.cpu(),
            C.cpu(),
            D=cpu[0],
            z=cpu[1],
            delta_bias=cpu[2],
            delta_softplus=delta_softplus,
            return_last_state=return_last_state,
        )
        return tuple(t.to(device) for t in res) if return_last_state else res.to(device)
    return selective_scan_cpu(u, delta, A, B, C, **kwargs)
