"""One entry point for the selective scan, picking a backend per call.

Backends: ``"cuda"`` (mamba-ssm's kernel, CUDA tensors), ``"cpu"`` (fused numba kernels, CPU
tensors) and ``"reference"`` (PyTorch loop, any device). With ``backend=None`` the choice is
``BIOSEQ_SCAN_BACKEND`` when set, else ``"cuda"`` for CUDA tensors when mamba-ssm imports,
``"cpu"`` for CPU tensors and ``"reference"`` for anything else. An explicit ``backend=`` beats
the environment variable. CUDA tensors that fall back to the reference (mamba-ssm missing, or
its extension failing to import after a torch upgrade) warn once, with the import error.

The Mamba mixer's short causal convolution is dispatched here too (:func:`resolve_conv_backend`):
causal-conv1d's fused kernels for CUDA tensors when ``causal_conv1d`` imports, else PyTorch's
``conv1d``. :func:`kernel_backends` names both choices for a run's description line.

Backends differ in one documented way: mamba-ssm's backward ignores the gradient of
``last_state`` (its docstring says so), while ``"cpu"`` and ``"reference"`` propagate it. Train
through ``out`` only; ``last_state`` is for continuing inference.

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
import warnings

import torch
from torch import Tensor, nn

from bioseq.errors import InputError
from bioseq.models.ops.causal_conv_cuda import causal_conv_import_error
from bioseq.models.ops.selective_scan_cpu import selective_scan_cpu
from bioseq.models.ops.selective_scan_cuda import (
    ScanBackendUnavailable,
    _import_mamba,
    cuda_available,
    selective_scan_cuda,
)
from bioseq.models.ops.selective_scan_ref import selective_scan_ref

__all__ = [
    "BACKENDS", "ENV_VAR", "available_backends", "device_type", "kernel_backends",
    "resolve_backend", "resolve_conv_backend", "selective_scan",
]  # fmt: skip

BACKENDS = ("reference", "cpu", "cuda")
ENV_VAR = "BIOSEQ_SCAN_BACKEND"
_warned: set[str] = set()  # fallbacks already warned about (once per process)


def device_type(t: Tensor) -> str:
    """The device type the dispatch sees for ``t`` (a seam: the kernel-contract tests make CPU
    or meta tensors look like CUDA ones to run the CUDA code paths without a GPU)."""
    return t.device.type


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def available_backends() -> list[str]:
    """Backends that can run here, in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if name != "cuda" or cuda_available()]


def resolve_backend(u: Tensor, backend: str | None = None) -> str:
    """The backend a call with input ``u`` would use (see the module docstring)."""
    return _resolve(device_type(u), backend)


def _resolve(kind: str, backend: str | None = None, warn: bool = True) -> str:
    choice = backend if backend is not None else os.environ.get(ENV_VAR) or None
    if choice is None:
        if kind == "cuda":
            if cuda_available():
                return "cuda"
            if warn:
                _warn_once(
                    "scan",
                    f"selective_scan: CUDA tensors, but mamba-ssm's kernel is unavailable "
                    f"({_import_mamba()[1]}); falling back to the PyTorch reference scan, "
                    "which is slow and holds (batch, dim, L, N) fp32 tensors per layer. "
                    "Install or rebuild it: pip install 'bioseq[cuda]'",
                )
        return "cpu" if kind == "cpu" else "reference"
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

    Backends differ on ``last_state``'s gradient: mamba-ssm's backward ignores it ("cuda"),
    "cpu" and "reference" propagate it. Put training losses on ``out`` only.
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


def resolve_conv_backend(x: Tensor) -> str:
    """``"cuda"`` (causal-conv1d's kernels) for CUDA tensors when ``causal_conv1d`` imports,
    else ``"torch"``; CUDA tensors without it warn once, with the import error."""
    if device_type(x) != "cuda":
        return "torch"
    why = causal_conv_import_error()
    if not why:
        return "cuda"
    _warn_once(
        "conv",
        f"causal_conv1d: CUDA tensors, but causal-conv1d is unavailable ({why}); using "
        "PyTorch's conv1d. Install it: pip install 'bioseq[cuda]'",
    )
    return "torch"


def kernel_backends(model: nn.Module, device: torch.device | str) -> str:
    """``", scan cuda, conv causal-conv1d"``-style text naming the kernels a model that uses
    the selective scan will run with on ``device`` (``""`` for models without it).

    >>> from bioseq.models.modules.mamba import Mamba
    >>> kernel_backends(Mamba(8, d_state=2), "cpu")
    ', scan cpu, conv torch'
    """
    if not any(getattr(m, "uses_selective_scan", False) for m in model.modules()):
        return ""
    kind = torch.device(device).type
    try:
        scan = _resolve(kind, warn=False)
    except (InputError, ScanBackendUnavailable):
        scan = "unavailable"
    if kind == "cuda" and scan == "reference" and not cuda_available():
        scan = f"reference (mamba-ssm: {_import_mamba()[1]})"
    conv = "torch"
    if kind == "cuda":
        why = causal_conv_import_error()
        conv = "causal-conv1d" if not why else f"torch (causal-conv1d: {why})"
    return f", scan {scan}, conv {conv}"
