"""Reference selective scan (Mamba-1): a plain PyTorch loop over time.

This is the oracle every fused backend is tested against. It is differentiable by autograd,
runs on any device and is deliberately simple, not fast: it materialises ``exp(delta * A)`` and
``delta * B * u`` for every position, so memory grows as ``batch * dim * N * L``.

Example::

    >>> import torch
    >>> from bioseq.models.ops.selective_scan_ref import selective_scan_ref
    >>> u, delta = torch.randn(2, 8, 33), torch.rand(2, 8, 33)
    >>> A, B, C = -torch.rand(8, 4), torch.randn(2, 4, 33), torch.randn(2, 4, 33)
    >>> out, last = selective_scan_ref(u, delta, A, B, C, D=torch.ones(8), return_last_state=True)
    >>> out.shape, last.shape
    (torch.Size([2, 8, 33]), torch.Size([2, 8, 4]))

Semantics (computed in fp32 whatever the input dtype, cast back to ``u.dtype``)::

    delta = softplus(delta + delta_bias)            # bias / softplus optional
    x_t   = exp(delta_t * A) * x_{t-1} + delta_t * B_t * u_t,   x_0 = 0
    y_t   = sum_N C_t * x_t
    out   = (y + D * u) * silu(z)                   # D / z optional
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bioseq.errors import InputError

__all__ = ["check_scan_shapes", "selective_scan_ref"]


def check_scan_shapes(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor | None = None,
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
) -> tuple[int, int, int, int]:
    """Validate the scan arguments' shapes; return ``(batch, dim, L, N)``.

    Raises :class:`~bioseq.errors.InputError` naming the offending argument.
    """
    if u.dim() != 3:
        raise InputError(f"selective_scan: u must be (batch, dim, L), got shape {tuple(u.shape)}")
    batch, dim, length = u.shape
    if tuple(delta.shape) != (batch, dim, length):
        raise InputError(
            f"selective_scan: delta must have u's shape {tuple(u.shape)}, got {tuple(delta.shape)}"
        )
    if A.is_complex():
        raise InputError("selective_scan: complex A is not supported, pass a real (dim, N) A")
    if A.dim() != 2 or A.shape[0] != dim:
        raise InputError(f"selective_scan: A must be (dim={dim}, N), got {tuple(A.shape)}")
    n = A.shape[1]
    for name, m in (("B", B), ("C", C)):
        shape = tuple(m.shape)
        ok = (
            (m.dim() == 2 and shape == (dim, n))
            or (m.dim() == 3 and shape == (batch, n, length))
            or (
                m.dim() == 4
                and shape[0] == batch
                and shape[2:] == (n, length)
                and shape[1] > 0
                and dim % shape[1] == 0
            )
        )
        if not ok:
            raise InputError(
                f"selective_scan: {name} must be (dim, N)=({dim}, {n}), (batch, N, L)="
                f"({batch}, {n}, {length}) or (batch, G, N, L) with G dividing {dim}; "
                f"got {shape}"
            )
    for name, v in (("D", D), ("delta_bias", delta_bias)):
        if v is not None and tuple(v.shape) != (dim,):
            raise InputError(
                f"selective_scan: {name} must be (dim,)=({dim},), got {tuple(v.shape)}"
            )
    if z is not None and tuple(z.shape) != (batch, dim, length):
        raise InputError(
            f"selective_scan: z must have u's shape {tuple(u.shape)}, got {tuple(z.shape)}"
        )
    return batch, dim, length, n


def _per_channel(m: Tensor, dim: int) -> Tensor:
    """B or C as a tensor broadcastable to (batch, dim, N, L)."""
    if m.dim() == 2:  # (dim, N): time-invariant
        return m[None, :, :, None]
    if m.dim() == 3:  # (batch, N, L): shared by every channel
        return m[:, None]
    return m.repeat_interleave(dim // m.shape[1], dim=1)  # (batch, G, N, L) -> (batch, dim, N, L)


def selective_scan_ref(
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
    """Selective scan by a sequential loop over time (see the module docstring).

    Returns ``out`` (u's shape and dtype), or ``(out, last_state)`` with ``last_state`` the fp32
    state after the last position, shape (batch, dim, N).
    """
    check_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
    dtype_in = u.dtype
    u, delta, A = u.float(), delta.float(), A.float()
    if delta_bias is not None:
        delta = delta + delta_bias.float()[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    dim, length = u.shape[1], u.shape[2]
    Bc, Cc = _per_channel(B.float(), dim), _per_channel(C.float(), dim)

    decay = torch.exp(delta[..., None] * A[:, None, :])  # (batch, dim, L, N)
    drive = (delta * u)[..., None] * Bc.transpose(-1, -2)  # (batch, dim, L, N)
    # unbind (not decay[:, :, t]) so that autograd does not build a full-size gradient per step
    c_steps = (Cc[..., 0],) * length if C.dim() == 2 else Cc.unbind(-1)
    x = u.new_zeros(u.shape[0], dim, A.shape[1])
    ys = []
    for decay_t, drive_t, c_t in zip(decay.unbind(2), drive.unbind(2), c_steps, strict=True):
        x = decay_t * x + drive_t
        ys.append((x * c_t).sum(-1))
    out = torch.stack(ys, dim=-1) if ys else u.new_zeros(u.shape)
    if D is not None:
        out = out + D.float()[:, None] * u
    if z is not None:
        out = out * F.silu(z.float())
    out = out.to(dtype_in)
    return (out, x) if return_last_state else out
