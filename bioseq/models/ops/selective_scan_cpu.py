"""Fused CPU selective scan (Mamba-1): numba kernels for forward and backward.

Same signature and semantics as :func:`~bioseq.models.ops.selective_scan_ref.selective_scan_ref`
(and mamba-ssm's ``selective_scan_fn``); differentiable through a ``torch.autograd.Function``.

Example::

    >>> import torch
    >>> from bioseq.models.ops.selective_scan_cpu import selective_scan_cpu
    >>> u = torch.randn(2, 8, 100, requires_grad=True)
    >>> delta, A = torch.rand(2, 8, 100), -torch.rand(8, 4)
    >>> B, C = torch.randn(2, 4, 100), torch.randn(2, 4, 100)
    >>> out = selective_scan_cpu(u, delta, A, B, C, D=torch.ones(8), delta_softplus=True)
    >>> out.sum().backward()
    >>> u.grad.shape
    torch.Size([2, 8, 100])

Design
------
* Every input is cast to contiguous fp32 and handed to numba as a zero-copy numpy view.
  B and C, whatever their layout, become one 4-D layout ``(Bb, G, Lb, N)``: ``Bb`` is 1 or batch,
  ``Lb`` is 1 (time-invariant) or L, ``G`` groups (``dim`` for a per-channel (dim, N) matrix);
  channel ``d`` reads group ``d // (dim // G)``. Absent D / delta_bias are zeros, absent z is a
  dummy plus a flag, so each kernel compiles exactly one signature (cached on disk).
* Forward: parallel over (batch, channel), sequential over time in chunks of ``CHUNK`` steps,
  the N-float state kept local. When a gradient is needed it also stores the state at the start
  of every chunk (``batch * dim * N * L / CHUNK`` floats), nothing else.
* Backward: per (batch, channel), chunks in reverse order: recompute the chunk's states from its
  checkpoint into a small local buffer, then run the adjoint recursion
  ``h_t = g_t C_t + exp(delta_{t+1} A) h_{t+1}`` backwards and accumulate all gradients. dB / dC
  are shared between channels (and between batch items when time-invariant); each parallel work
  item owns a private partial buffer, summed afterwards, so there are no races.
  Peak extra memory: O(batch * dim * L) for the gradients plus O(threads * |B|) partials.
* ``exp`` is a branch-free Cephes-style polynomial (< 1 ulp) so LLVM can vectorise the state
  update over N without ``fastmath``; summation orders are fixed and sequential.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic
from torch import Tensor

from bioseq.errors import InputError
from bioseq.models.ops.selective_scan_ref import check_scan_shapes

__all__ = ["CHUNK", "selective_scan_cpu"]

CHUNK = 64  # time steps between saved states; the backward recomputes one chunk at a time

_F32 = np.float32
_LOG2E = _F32(1.4426950408889634)
_LN2_HI = _F32(0.693359375)  # ln 2 split in two so that k * _LN2_HI is exact
_LN2_LO = _F32(-2.12194440e-4)
_EXP_MIN = _F32(-87.33654)  # below this exp underflows the normal fp32 range; we return 0
_EXP_MAX = _F32(88.72283)


@intrinsic
def _bits_to_f32(typingctx, i):  # noqa: ARG001  (numba intrinsic signature)
    """Reinterpret an int32's bits as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(inline="always", fastmath=False, cache=True)
def _exp(x):
    """float32 exp: range reduction x = k ln2 + r, minimax polynomial in r, scale by 2^k."""
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    k = np.floor(xc * _LOG2E + _F32(0.5))
    r = xc - k * _LN2_HI
    r = r - k * _LN2_LO
    p = _F32(1.9875691500e-4)
    p = p * r + _F32(1.3981999507e-3)
    p = p * r + _F32(8.3334519073e-3)
    p = p * r + _F32(4.1665795894e-2)
    p = p * r + _F32(1.6666665459e-1)
    p = p * r + _F32(5.0000001201e-1)
    p = p * r * r + r + _F32(1.0)
    scaled = p * _bits_to_f32((np.int32(k) + np.int32(127)) << np.int32(23))
    return scaled if x >= _EXP_MIN else _F32(0.0)


@njit(inline="always", fastmath=False, cache=True)
def _softplus(x):
    """torch.nn.functional.softplus with its default threshold 20."""
    return x if x > _F32(20.0) else _F32(np.log1p(np.exp(x)))


@njit(parallel=True, fastmath=False, cache=True)
def _scan_fwd(u, delta, A, B, C, D, z, bias, softplus, has_z, out, last_state, ckpt, save_ckpt):
    batch, dim, L = u.shape
    N = A.shape[1]
    per_gb, per_gc = dim // B.shape[1], dim // C.shape[1]
    sb, sc = min(B.shape[0] - 1, 1), min(C.shape[0] - 1, 1)  # batch stride: 0 when shared
    tb, tc = min(B.shape[2] - 1, 1), min(C.shape[2] - 1, 1)  # time stride: 0 when invariant
    for i in prange(batch * dim):
        b = i // dim
        d = i - b * dim
        Bv, Cv, a = B[b * sb, d // per_gb], C[b * sc, d // per_gc], A[d]
        x = np.zeros(N, _F32)
        xs = np.empty((CHUNK, N), _F32)
        y = np.empty(CHUNK, _F32)
        for t0 in range(0, L, CHUNK):
            kn = min(CHUNK, L - t0)
            if save_ckpt:
                ckpt[b, d, t0 // CHUNK, :] = x
            for k in range(kn):
                t = t0 + k
                dt = delta[b, d, t] + bias[d]
                if softplus:
                    dt = _softplus(dt)
                dtu = dt * u[b, d, t]
                brow = Bv[t * tb]
                for n in range(N):
                    x[n] = _exp(dt * a[n]) * x[n] + dtu * brow[n]
                    xs[k, n] = x[n]
            y[:kn] = 0
            for k in range(kn):
                crow = Cv[(t0 + k) * tc]
                for n in range(N):
                    y[k] += crow[n] * xs[k, n]
            for k in range(kn):
                t = t0 + k
                o = y[k] + D[d] * u[b, d, t]
                if has_z:
                    zt = z[b, d, t]
                    o = o * zt / (_F32(1.0) + _exp(-zt))
                out[b, d, t] = o
        last_state[b, d, :] = x


@njit(parallel=True, fastmath=False, cache=True)
def _scan_bwd(
    u,
    delta,
    A,
    B,
    C,
    D,
    z,
    bias,
    softplus,
    has_z,
    ckpt,
    dout,
    dlast,
    has_dlast,
    n_parts,
    b_inner,
    du,
    ddelta,
    dz,
    dA_part,
    dB_part,
    dC_part,
    dD_part,
    dbias_part,
):
    batch, dim, L = u.shape
    N = A.shape[1]
    per_gb, per_gc = dim // B.shape[1], dim // C.shape[1]
    sb, sc = min(B.shape[0] - 1, 1), min(C.shape[0] - 1, 1)
    tb, tc = min(B.shape[2] - 1, 1), min(C.shape[2] - 1, 1)
    n_chunks = (L + CHUNK - 1) // CHUNK
    n_items = n_parts if b_inner else batch * n_parts
    # Work item = (channel range p, batch range). It writes dB/dC only into its own partial
    # buffer dB_part[p]; when B or C is shared across the batch, one item takes every batch row.
    for i in prange(n_items):
        p = i % n_parts
        b_lo = 0 if b_inner else i // n_parts
        b_hi = batch if b_inner else b_lo + 1
        xs = np.empty((CHUNK + 1, N), _F32)  # xs[k] = state before step k of the chunk
        decay = np.empty((CHUNK, N), _F32)
        hs = np.empty((CHUNK, N), _F32)  # adjoint dL/dx_t
        dts = np.empty(CHUNK, _F32)
        dsp = np.empty(CHUNK, _F32)  # d dt / d raw delta
        gs = np.empty(CHUNK, _F32)  # dL/dy_t
        carry = np.empty(N, _F32)
        dA_acc = np.empty(N, np.float64)
        for b in range(b_lo, b_hi):
            for d in range(p * dim // n_parts, (p + 1) * dim // n_parts):
                Bv, Cv, a = B[b * sb, d // per_gb], C[b * sc, d // per_gc], A[d]
                dBv, dCv = dB_part[p, b * sb, d // per_gb], dC_part[p, b * sc, d // per_gc]
                if has_dlast:
                    carry[:] = dlast[b, d]
                else:
                    carry[:] = 0
                dA_acc[:] = 0
                dD_acc = 0.0
                dbias_acc = 0.0
                for c in range(n_chunks - 1, -1, -1):
                    t0 = c * CHUNK
                    kn = min(CHUNK, L - t0)
                    # 1. recompute the chunk's states from its checkpoint
                    xs[0] = ckpt[b, d, c]
                    for k in range(kn):
                        t = t0 + k
                        raw = delta[b, d, t] + bias[d]
                        dt = raw
                        dsp[k] = 1
                        if softplus and raw <= _F32(20.0):
                            dt = _F32(np.log1p(np.exp(raw)))
                            dsp[k] = _F32(1.0) / (_F32(1.0) + _exp(-raw))
                        dts[k] = dt
                        dtu = dt * u[b, d, t]
                        brow = Bv[t * tb]
                        for n in range(N):
                            e = _exp(dt * a[n])
                            decay[k, n] = e
                            xs[k + 1, n] = e * xs[k, n] + dtu * brow[n]
                    # 2. gradient reaching y_t (through D*u and the z gate)
                    for k in range(kn):
                        t = t0 + k
                        g = dout[b, d, t]
                        if has_z:
                            crow = Cv[t * tc]
                            y = _F32(0.0)
                            for n in range(N):
                                y += crow[n] * xs[k + 1, n]
                            zt = z[b, d, t]
                            s = _F32(1.0) / (_F32(1.0) + _exp(-zt))
                            pre = y + D[d] * u[b, d, t]
                            dz[b, d, t] = g * pre * s * (_F32(1.0) + zt * (_F32(1.0) - s))
                            g = g * zt * s
                        gs[k] = g
                        dD_acc += g * u[b, d, t]
                    # 3. adjoint recursion backwards in time
                    for k in range(kn - 1, -1, -1):
                        crow = Cv[(t0 + k) * tc]
                        for n in range(N):
                            h = carry[n] + gs[k] * crow[n]
                            hs[k, n] = h
                            carry[n] = decay[k, n] * h
                    # 4. local gradients of step t
                    for k in range(kn):
                        t = t0 + k
                        dt, ut, g = dts[k], u[b, d, t], gs[k]
                        brow, dbrow = Bv[t * tb], dBv[t * tb]
                        dcrow = dCv[t * tc]
                        hb = _F32(0.0)  # sum_n h B
                        ha = _F32(0.0)  # sum_n h x_{t-1} exp(dt a) a  (d/d dt through decay)
                        for n in range(N):
                            h = hs[k, n]
                            dcrow[n] += g * xs[k + 1, n]
                            dbrow[n] += h * dt * ut
                            hb += h * brow[n]
                            w = h * xs[k, n] * decay[k, n]
                            ha += w * a[n]
                            dA_acc[n] += w * dt
                        du[b, d, t] = g * D[d] + hb * dt
                        draw = (hb * ut + ha) * dsp[k]
                        ddelta[b, d, t] = draw
                        dbias_acc += draw
                dA_part[b, d] = dA_acc
                dD_part[b, d] = dD_acc
                dbias_part[b, d] = dbias_acc


def _f32(t: Tensor) -> Tensor:
    """Detached fp32 contiguous tensor (the same memory when it already is one)."""
    return t.detach().to(torch.float32).contiguous()


def _bc_layout(m: Tensor) -> Tensor:
    """B or C as (Bb, G, Lb, N) fp32 contiguous."""
    m = m.detach().to(torch.float32)
    if m.dim() == 2:  # (dim, N)
        return m[None, :, None, :].contiguous()
    if m.dim() == 3:  # (batch, N, L)
        m = m[:, None]
    return m.transpose(-1, -2).contiguous()  # (batch, G, N, L) -> (batch, G, L, N)


def _bc_grad(part: np.ndarray, ndim: int, dtype: torch.dtype) -> Tensor:
    """Sum the per-item partials (P, Bb, G, Lb, N) and restore the caller's B/C layout."""
    g = torch.from_numpy(part.sum(axis=0))
    if ndim == 2:  # (1, dim, 1, N) -> (dim, N)
        g = g[0, :, 0, :]
    else:
        g = g.transpose(-1, -2)  # (batch, G, N, L)
        if ndim == 3:
            g = g[:, 0]
    return g.to(dtype)


def _n_parts(batch: int, dim: int, b_inner: bool) -> int:
    """Channel ranges per batch row: enough work items to keep every numba thread busy."""
    rows = 1 if b_inner else batch
    return max(1, min(dim, -(-numba.get_num_threads() // rows)))


class _SelectiveScanFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state):
        batch, dim, length, n = check_scan_shapes(u, delta, A, B, C, D, z, delta_bias)
        zeros = torch.zeros(dim)
        u32, delta32, A32 = _f32(u), _f32(delta), _f32(A)
        B32, C32 = _bc_layout(B), _bc_layout(C)
        D32 = zeros if D is None else _f32(D)
        bias32 = zeros if delta_bias is None else _f32(delta_bias)
        z32 = torch.zeros(1, 1, 1) if z is None else _f32(z)
        save = any(ctx.needs_input_grad[:8])
        ckpt = torch.empty((batch, dim, -(-length // CHUNK), n) if save else (1, 1, 1, n))
        out = torch.empty(batch, dim, length)
        last = torch.empty(batch, dim, n)
        _scan_fwd(
            u32.numpy(),
            delta32.numpy(),
            A32.numpy(),
            B32.numpy(),
            C32.numpy(),
            D32.numpy(),
            z32.numpy(),
            bias32.numpy(),
            bool(delta_softplus),
            z is not None,
            out.numpy(),
            last.numpy(),
            ckpt.numpy(),
            save,
        )
        if save:
            ctx.save_for_backward(u32, delta32, A32, B32, C32, D32, z32, bias32, ckpt)
            ctx.softplus, ctx.has_z = bool(delta_softplus), z is not None
            ctx.meta = [
                None if t is None else (t.dtype, t.dim())
                for t in (u, delta, A, B, C, D, z, delta_bias)
            ]
        ctx.set_materialize_grads(False)
        return out.to(u.dtype), last

    @staticmethod
    def backward(ctx, dout, dlast):
        u, delta, A, B, C, D, z, bias, ckpt = ctx.saved_tensors
        batch, dim, length = u.shape
        n = A.shape[1]
        if dout is None:
            dout = torch.zeros(batch, dim, length)
        b_inner = B.shape[0] == 1 or C.shape[0] == 1
        parts = _n_parts(batch, dim, b_inner)
        du, ddelta = torch.empty(batch, dim, length), torch.empty(batch, dim, length)
        dz = torch.empty(batch, dim, length) if ctx.has_z else torch.empty(1, 1, 1)
        dA_part = np.empty((batch, dim, n), np.float64)
        dD_part = np.empty((batch, dim), np.float64)
        dbias_part = np.empty((batch, dim), np.float64)
        dB_part = np.zeros((parts, *B.shape), np.float32)
        dC_part = np.zeros((parts, *C.shape), np.float32)
        _scan_bwd(
            u.numpy(),
            delta.numpy(),
            A.numpy(),
            B.numpy(),
            C.numpy(),
            D.numpy(),
            z.numpy(),
            bias.numpy(),
            ctx.softplus,
            ctx.has_z,
            ckpt.numpy(),
            _f32(dout).numpy(),
            _f32(dlast if dlast is not None else torch.zeros(1, 1, n)).numpy(),
            dlast is not None,
            parts,
            b_inner,
            du.numpy(),
            ddelta.numpy(),
            dz.numpy(),
            dA_part,
            dB_part,
            dC_part,
            dD_part,
            dbias_part,
        )
        meta = ctx.meta
        grads = [
            du,
            ddelta,
            torch.from_numpy(dA_part.sum(axis=0)),
            _bc_grad(dB_part, meta[3][1], meta[3][0]),
            _bc_grad(dC_part, meta[4][1], meta[4][0]),
            None if meta[5] is None else torch.from_numpy(dD_part.sum(axis=0)),
            dz if ctx.has_z else None,
            None if meta[7] is None else torch.from_numpy(dbias_part.sum(axis=0)),
        ]
        grads = [
            None if g is None or not need else g.to(m[0])
            for g, need, m in zip(grads, ctx.needs_input_grad[:8], meta, strict=True)
        ]
        return (*grads, None, None)


def selective_scan_cpu(
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
    """Selective scan on CPU tensors with the fused numba kernels (see the module docstring).

    Returns ``out`` (u's shape and dtype), or ``(out, last_state)`` with ``last_state`` the fp32
    state after the last position, shape (batch, dim, N); gradients flow through both.
    """
    for name, t in (
        ("u", u),
        ("delta", delta),
        ("A", A),
        ("B", B),
        ("C", C),
        ("D", D),
        ("z", z),
        ("delta_bias", delta_bias),
    ):
        if t is not None and t.device.type != "cpu":
            raise InputError(f"selective_scan_cpu: {name} is on {t.device}, expected a CPU tensor")
    out, last = _SelectiveScanFn.apply(
        u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state
    )
    return (out, last) if return_last_state else out
