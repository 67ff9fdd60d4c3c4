"""The selective scan continued from a saved state, in parallel over time (inference only).

``MambaLM.forward_from_state`` runs many tokens after a saved recurrent state at once (variant
scoring continues one reference's prefix state over thousands of suffix tokens), so the scan
must start from a state ``h0`` instead of zero:

* on the CPU, a numba kernel runs the recurrence from ``h0`` (the same float32 ``exp`` as
  :mod:`~bioseq.models.ops.selective_scan_cpu`, so the results match its scan);
* elsewhere, :func:`~bioseq.models.ops.selective_scan` runs from zero (any backend, mamba-ssm's
  CUDA kernel included) and the initial state's share is added in closed form, the recurrence
  being linear in the state: ``y_t += C_t . (exp(A * sum_{s<=t} delta_s) * h0)``. u, delta, B
  and C go to the scan in fp32 whatever the model's dtype: the kernel wants one dtype for them
  (a bf16 model's u, B, C beside the fp32 delta used to fail there).

>>> import torch
>>> b, d, L, N = 1, 4, 10, 2
>>> u, delta = torch.randn(b, d, L), torch.rand(b, d, L)
>>> A, B, C = -torch.rand(d, N), torch.randn(b, N, L), torch.randn(b, N, L)
>>> y, last = selective_scan_from_state(u, delta, A, B, C, torch.ones(d), torch.zeros(b, d, N))
>>> from bioseq.models.ops import selective_scan
>>> torch.allclose(y, selective_scan(u, delta, A, B, C, torch.ones(d)), atol=1e-5)
True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange
from torch import Tensor

from bioseq.models.ops import dispatch
from bioseq.models.ops.dispatch import selective_scan
from bioseq.models.ops.selective_scan_cpu import _exp as _exp32

__all__ = ["selective_scan_from_state"]

_TIME_CHUNK = 256  # time steps per block off the CPU (bounds the (b, d, T, N) decay tensor)
_CHUNK = 64  # time steps per block in the CPU kernel


@torch.no_grad()
def selective_scan_from_state(
    u: Tensor,
    delta: Tensor,
    A: Tensor,
    B: Tensor,
    C: Tensor,
    D: Tensor,
    h0: Tensor,
    z: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(y, last_state)`` of the scan ``h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t``,
    ``y_t = C_t . h_t + D u_t`` (times ``silu(z_t)`` when ``z`` is given) from ``h_{-1} = h0``.

    Shapes as :func:`~bioseq.models.ops.selective_scan`: u, delta, z (batch, dim, L) with
    ``delta`` already positive (bias and softplus applied); A (dim, N); B, C (batch, N, L); D
    (dim,); h0 (batch, dim, N). ``y`` and ``last_state`` are float32.
    """
    A, delta = A.float(), delta.float()
    if dispatch.device_type(u) == "cpu":
        y, last = _scan_cpu(u, delta, A, B.transpose(1, 2), C.transpose(1, 2), D, h0)
    else:
        y, last = _scan_with_state_term(u, delta, A, B, C, D, h0)
    if z is not None:
        y = y * F.silu(z.float())
    return y, last


def _f32(t: Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


def _scan_cpu(u, delta, A, B, C, D, h0) -> tuple[Tensor, Tensor]:
    """The numba kernel below; B and C (batch, L, N)."""
    batch, dim, L = u.shape
    y = np.empty((batch, dim, L), dtype=np.float32)
    last = np.empty((batch, dim, A.shape[1]), dtype=np.float32)
    _scan_kernel(_f32(u), _f32(delta), _f32(A), _f32(B), _f32(C), _f32(D), _f32(h0), y, last)
    return torch.from_numpy(y), torch.from_numpy(last)


@njit(parallel=True, cache=True)
def _scan_kernel(u, delta, A, B, C, D, h0, y, last) -> None:
    """u, delta (b, d, L); A (d, N); B, C (b, L, N); D (d,); h0, last (b, d, N)."""
    batch, dim, L = u.shape
    N = A.shape[1]
    for i in prange(batch * dim):
        b = i // dim
        d = i - b * dim
        a = A[d]
        h = np.zeros((_CHUNK + 1, N), np.float32)  # h[k + 1]: the state after step t0 + k
        h[0] = h0[b, d]
        for t0 in range(0, L, _CHUNK):
            kn = min(_CHUNK, L - t0)
            for k in range(kn):  # the recurrence, vectorised over N
                dt = delta[b, d, t0 + k]
                dtu = dt * u[b, d, t0 + k]
                row = B[b, t0 + k]
                for n in range(N):
                    h[k + 1, n] = _exp32(dt * a[n]) * h[k, n] + dtu * row[n]
            for k in range(kn):
                row = C[b, t0 + k]
                acc = np.float32(0.0)
                for n in range(N):
                    acc += row[n] * h[k + 1, n]
                y[b, d, t0 + k] = acc + D[d] * u[b, d, t0 + k]
            h[0] = h[kn]
        last[b, d] = h[0]


def _scan_with_state_term(u, delta, A, B, C, D, h0) -> tuple[Tensor, Tensor]:
    """The scan from zero (any backend) plus the initial state's share, in chunked torch."""
    u, B, C = u.float(), B.float(), C.float()  # one dtype for the kernel, delta's fp32
    y, last = selective_scan(u, delta, A, B, C, D.float(), return_last_state=True)
    log_decay = delta.cumsum(-1)  # (b, d, L): sum of delta up to t
    h0, C = h0.float(), C.float().transpose(1, 2)  # C: (b, L, N)
    y = y.float()
    for t0 in range(0, u.shape[-1], _TIME_CHUNK):
        decay = torch.exp(log_decay[..., t0 : t0 + _TIME_CHUNK, None] * A[:, None])  # b d T N
        c = C[:, t0 : t0 + _TIME_CHUNK]
        y[..., t0 : t0 + _TIME_CHUNK] += torch.einsum("bdtn,bdn,btn->bdt", decay, h0, c)
    return y, last + torch.exp(log_decay[..., -1, None] * A) * h0
