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
* Forward: parallel (prange) over (batch, channel), sequential over time in chunks of ``CHUNK``
  steps, the state kept in a small local buffer. When a gradient is needed it also stores the
  state at the start of every chunk (``batch * dim * N * L / CHUNK`` floats), nothing else.
* Backward: per (batch, channel), chunks in reverse order: recompute the chunk's states from its
  checkpoint into a local buffer, then run the adjoint recursion
  ``h_t = g_t C_t + exp(delta_{t+1} A) h_{t+1}`` backwards and accumulate every gradient. dB / dC
  are shared between channels (and between batch rows when B / C are): each parallel work item
  adds into a private partial buffer, summed afterwards, so there are no races. Extra memory:
  the input-sized gradients plus ``ceil(threads / batch)`` copies of dB and dC.
* ``exp`` is a branch-free polynomial (< 1 ulp) and ``error_model="numpy"`` drops
  Python's division checks, so LLVM vectorises the loops over N without ``fastmath``; every
  sum runs in a fixed sequential order.
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
_NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

_F32 = np.float32
_LOG2E = _F32(1.4426950408889634)
_LN2_HI = _F32(0.693359375)  # ln 2 split in two so that k * _LN2_HI is exact
_LN2_LO = _F32(-2.12194440e-4)
_EXP_MIN = _F32(-87.33654)  # below this exp underflows the normal fp32 range; we return 0
_EXP_MAX = _F32(88.72283)
_SQRT2 = _F32(1.4142135623730951)


@intrinsic
def _bits_to_f32(typingctx, i):
    """Reinterpret an int32's bits as a float32."""
    sig = types.float32(types.int32)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return sig, codegen


@njit(fastmath=False, error_model="numpy", cache=True)
def _exp(x):
    """float32 exp, < 1 ulp: x = k ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial in r
    (fitted to a 3e-9 relative error), scaled by 2^k through the exponent bits; 0 below the
    normal range."""
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    k = np.floor(xc * _LOG2E + _F32(0.5))
    r = xc - k * _LN2_HI
    r = r - k * _LN2_LO
    p = _F32(1.381461e-03)
    p = p * r + _F32(8.36871e-03)
    p = p * r + _F32(4.166839e-02)
    p = p * r + _F32(1.6666521e-01)
    p = p * r + _F32(4.9999994e-01)
    p = p * r * r + r + _F32(1.0)
    scaled = p * _bits_to_f32((np.int32(k) + np.int32(127)) << np.int32(23))
    return scaled if x >= _EXP_MIN else _F32(0.0)


@njit(fastmath=False, error_model="numpy", cache=True)
def _log1p_unit(w):
    """float32 log(1 + w) for w in [0, 1]: Cephes-style log polynomial, Kahan's correction."""
    v = _F32(1.0) + w
    big = v > _SQRT2
    e = _F32(1.0) if big else _F32(0.0)
    r = (v * _F32(0.5) if big else v) - _F32(1.0)  # log v = e ln2 + log(1 + r), |r| < 0.42
    r2 = r * r
    p = _F32(7.0376836292e-2)
    p = p * r - _F32(1.1514610310e-1)
    p = p * r + _F32(1.1676998740e-1)
    p = p * r - _F32(1.2420140846e-1)
    p = p * r + _F32(1.4249322787e-1)
    p = p * r - _F32(1.6668057665e-1)
    p = p * r + _F32(2.0000714765e-1)
    p = p * r - _F32(2.4999993993e-1)
    p = p * r + _F32(3.3333331174e-1)
    lg = r + (r * r2 * p - _F32(0.5) * r2 + e * _LN2_LO) + e * _LN2_HI
    f = v - _F32(1.0)  # exact; w / f undoes the rounding of 1 + w
    return w if f == _F32(0.0) else lg * (w / f)


@njit(fastmath=False, error_model="numpy", cache=True)
def _chunk_dt(raw_delta, bias, softplus, dts):
    """dts[k] = raw_delta[k] + bias, through torch's softplus (threshold 20) if asked.

    log(1 + e^x) is evaluated as max(x, 0) + log1p(e^-|x|), vectorisable and overflow-free.
    """
    for k in range(raw_delta.shape[0]):
        raw = raw_delta[k] + bias
        if softplus:
            sp = max(raw, _F32(0.0)) + _log1p_unit(_exp(-abs(raw)))
            dts[k] = raw if raw > _F32(20.0) else sp
        else:
            dts[k] = raw


@njit(fastmath=False, error_model="numpy", cache=True)
def _silu_gate(x, z):
    """x *= silu(z) = z / (1 + e^-z), in place."""
    for k in range(x.shape[0]):
        x[k] = x[k] * z[k] / (_F32(1.0) + _exp(-z[k]))


# Kernel layout. The parallel drivers are prange loops over serial functions that handle one
# (batch, channel) row, so that numba's parfor pass only sees a tiny loop body. Arrays travel as
# tuples: ins = (u, delta, A, B, C, D, z, delta_bias), grads = (du, ddelta, dz, dA, dB, dC, dD,
# d delta_bias). Every innermost loop indexes 1-D views with its own 0-based loop variable, so
# numba's negative-index wraparound folds away and LLVM emits contiguous vector loads.


@njit(fastmath=False, error_model="numpy", cache=True)
def _bc_row(m, b, d, dim):
    """The (Lb, N) slice of a (Bb, G, Lb, N) B / C (or its gradient) that channel d of batch row
    b reads, and its time stride: 0 when time-invariant (Lb == 1), else 1."""
    return m[b * min(m.shape[0] - 1, 1), d // (dim // m.shape[1])], min(m.shape[2] - 1, 1)


@njit(fastmath=False, error_model="numpy", cache=True)
def _fwd_row(b, d, ins, softplus, has_z, out, last_state, ckpt, save_ckpt):
    """Forward of row (b, d): writes out[b, d], last_state[b, d] and, if save_ckpt, the state
    before every chunk into ckpt[b, d]."""
    u_all, delta, A, B, C, D, z, bias = ins
    dim = u_all.shape[1]
    u, raw_delta, a, Dd, out_r = u_all[b, d], delta[b, d], A[d], D[d], out[b, d]
    (Bv, tb), (Cv, tc) = _bc_row(B, b, d, dim), _bc_row(C, b, d, dim)
    L, N = u.shape[0], a.shape[0]
    xs = np.zeros((CHUNK + 1, N), _F32)  # xs[0] = state before the chunk, xs[k + 1] after step k
    dts = np.empty(CHUNK, _F32)
    y = np.empty(CHUNK, _F32)
    for t0 in range(0, L, CHUNK):
        kn = min(CHUNK, L - t0)
        u_c, out_c = u[t0 : t0 + kn], out_r[t0 : t0 + kn]
        if save_ckpt:
            ckpt[b, d, t0 // CHUNK] = xs[0]
        _chunk_dt(raw_delta[t0 : t0 + kn], bias[d], softplus, dts)
        for k in range(kn):
            dt = dts[k]
            dtu = dt * u_c[k]
            brow, prev, nxt = Bv[(t0 + k) * tb], xs[k], xs[k + 1]
            for n in range(N):
                nxt[n] = _exp(dt * a[n]) * prev[n] + dtu * brow[n]
        for k in range(kn):
            crow, nxt = Cv[(t0 + k) * tc], xs[k + 1]
            acc = _F32(0.0)
            for n in range(N):
                acc += crow[n] * nxt[n]
            y[k] = acc
        for k in range(kn):
            out_c[k] = y[k] + Dd * u_c[k]
        if has_z:
            _silu_gate(out_c, z[b, d, t0 : t0 + kn])
        xs[0] = xs[kn]
    last_state[b, d] = xs[0]


@njit(parallel=True, fastmath=False, error_model="numpy", cache=True)
def _scan_fwd(ins, softplus, has_z, out, last_state, ckpt, save_ckpt):
    batch, dim, _ = ins[0].shape
    for i in prange(batch * dim):
        j = np.int64(i)
        _fwd_row(j // dim, j % dim, ins, softplus, has_z, out, last_state, ckpt, save_ckpt)


@njit(fastmath=False, error_model="numpy", cache=True)
def _bwd_row(b, d, p, ins, softplus, has_z, ckpt, dout, dlast, has_dlast, grads):
    """Backward of row (b, d): writes du, ddelta, dz, dA, dD, d delta_bias at [b, d] and adds
    into the dB / dC partial buffers dB[p], dC[p] of its work item p."""
    u_all, delta, A, B, C, D, z_all, bias_all = ins
    du_all, ddelta_all, dz_all, dA_all, dB_all, dC_all, dD_all, dbias_all = grads
    dim = u_all.shape[1]
    u, raw_delta, a, Dd, bias = u_all[b, d], delta[b, d], A[d], D[d], bias_all[d]
    du, ddelta, dout_r = du_all[b, d], ddelta_all[b, d], dout[b, d]
    z, dz = (z_all[b, d], dz_all[b, d]) if has_z else (z_all[0, 0], dz_all[0, 0])
    (Bv, tb), (Cv, tc) = _bc_row(B, b, d, dim), _bc_row(C, b, d, dim)
    dBv, dCv = _bc_row(dB_all[p], b, d, dim)[0], _bc_row(dC_all[p], b, d, dim)[0]
    L, N = u.shape[0], a.shape[0]
    xs = np.empty((CHUNK + 1, N), _F32)  # xs[k] = state before step t0 + k
    decay = np.empty((CHUNK, N), _F32)  # exp(dt a), then reused for h x_{t-1} exp(dt a)
    hs = np.empty((CHUNK, N), _F32)  # adjoint h_t = dL/dx_t
    dts = np.empty(CHUNK, _F32)
    dsp = np.empty(CHUNK, _F32)  # d dt / d raw delta
    gs = np.empty(CHUNK, _F32)  # dL/dy_t
    ys = np.empty(CHUNK, _F32)
    carry = dlast[b, d].copy() if has_dlast else np.zeros(N, _F32)  # e^(dt_{t+1} a) h_{t+1}
    dA_chunk = np.empty(N, _F32)
    dA = np.zeros(N, np.float64)
    dD = 0.0
    dbias = 0.0
    for c in range((L + CHUNK - 1) // CHUNK - 1, -1, -1):
        t0 = c * CHUNK
        kn = min(CHUNK, L - t0)
        u_c, raw_c, dout_c = u[t0 : t0 + kn], raw_delta[t0 : t0 + kn], dout_r[t0 : t0 + kn]
        # 1. recompute the chunk's states from its checkpoint
        xs[0] = ckpt[b, d, c]
        _chunk_dt(raw_c, bias, softplus, dts)
        for k in range(kn):  # sigmoid below torch's softplus threshold, else 1
            raw = raw_c[k] + bias
            sig = _F32(1.0) / (_F32(1.0) + _exp(-raw))
            dsp[k] = sig if softplus and raw <= _F32(20.0) else _F32(1.0)
        for k in range(kn):
            dt = dts[k]
            dtu = dt * u_c[k]
            brow, prev, nxt, dec = Bv[(t0 + k) * tb], xs[k], xs[k + 1], decay[k]
            for n in range(N):
                e = _exp(dt * a[n])
                dec[n] = e
                nxt[n] = e * prev[n] + dtu * brow[n]
        # 2. gradient reaching y_t, through the z gate when there is one
        if has_z:
            z_c, dz_c = z[t0 : t0 + kn], dz[t0 : t0 + kn]
            for k in range(kn):
                crow, nxt = Cv[(t0 + k) * tc], xs[k + 1]
                acc = _F32(0.0)
                for n in range(N):
                    acc += crow[n] * nxt[n]
                ys[k] = acc
            for k in range(kn):
                zt = z_c[k]
                s = _F32(1.0) / (_F32(1.0) + _exp(-zt))
                pre = ys[k] + Dd * u_c[k]
                dz_c[k] = dout_c[k] * pre * s * (_F32(1.0) + zt * (_F32(1.0) - s))
                gs[k] = dout_c[k] * zt * s
        else:
            for k in range(kn):
                gs[k] = dout_c[k]
        for k in range(kn):
            dD += gs[k] * u_c[k]
        # 3. adjoint recursion backwards in time
        for k in range(kn - 1, -1, -1):
            g, crow, h_k, dec = gs[k], Cv[(t0 + k) * tc], hs[k], decay[k]
            for n in range(N):
                h = carry[n] + g * crow[n]
                h_k[n] = h
                carry[n] = dec[n] * h
        # 4. local gradients of each step: elementwise first (one loop per output array, so
        # LLVM's runtime alias checks stay cheap enough to vectorise), then the sums over N
        dA_chunk[:] = 0
        for k in range(kn):
            dt, g = dts[k], gs[k]
            dtu = dt * u_c[k]
            dbrow, dcrow = dBv[(t0 + k) * tb], dCv[(t0 + k) * tc]
            h_k, prev, nxt, dec = hs[k], xs[k], xs[k + 1], decay[k]
            for n in range(N):
                dcrow[n] += g * nxt[n]
            for n in range(N):
                dbrow[n] += h_k[n] * dtu
            for n in range(N):
                w = h_k[n] * prev[n] * dec[n]  # dL/d(dt a) at (t, n)
                dec[n] = w
                dA_chunk[n] += w * dt
        du_c, ddelta_c = du[t0 : t0 + kn], ddelta[t0 : t0 + kn]
        for k in range(kn):
            brow, h_k, w_k = Bv[(t0 + k) * tb], hs[k], decay[k]
            hb = _F32(0.0)  # sum_n h B
            ha = _F32(0.0)  # sum_n dL/d(dt a) a
            for n in range(N):
                hb += h_k[n] * brow[n]
                ha += w_k[n] * a[n]
            du_c[k] = gs[k] * Dd + hb * dts[k]
            draw = (hb * u_c[k] + ha) * dsp[k]
            ddelta_c[k] = draw
            dbias += draw
        for n in range(N):
            dA[n] += dA_chunk[n]
    dA_all[b, d] = dA
    dD_all[b, d] = dD
    dbias_all[b, d] = dbias


@njit(parallel=True, fastmath=False, error_model="numpy", cache=True)
def _scan_bwd(ins, softplus, has_z, ckpt, dout, dlast, has_dlast, n_parts, b_inner, grads):
    # Work item i = (channel range p, batch row); with b_inner (B or C shared across the batch)
    # item p takes every batch row. Items add dB / dC only into their own partials grads[4][p],
    # grads[5][p], and write nothing else that another item writes: no races.
    batch, dim, _ = ins[0].shape
    n_items = n_parts if b_inner else batch * n_parts
    for i in prange(n_items):
        p = np.int64(i) % n_parts
        b_lo = 0 if b_inner else np.int64(i) // n_parts
        for b in range(b_lo, batch if b_inner else b_lo + 1):
            for d in range(p * dim // n_parts, (p + 1) * dim // n_parts):
                _bwd_row(b, d, p, ins, softplus, has_z, ckpt, dout, dlast, has_dlast, grads)


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


def _bc_grad(part: np.ndarray, ndim: int) -> Tensor:
    """Sum the per-item partials (P, Bb, G, Lb, N) and restore the caller's B/C layout."""
    g = torch.from_numpy(part.sum(axis=0))
    if ndim == 2:  # (1, dim, 1, N) -> (dim, N)
        g = g[0, :, 0, :]
    else:
        g = g.transpose(-1, -2)  # (batch, G, N, L)
        if ndim == 3:
            g = g[:, 0]
    return g


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
        ins = (u32, delta32, A32, B32, C32, D32, z32, bias32)
        _scan_fwd(
            tuple(t.numpy() for t in ins),
            bool(delta_softplus),
            z is not None,
            out.numpy(),
            last.numpy(),
            ckpt.numpy(),
            save,
        )
        if save:
            ctx.save_for_backward(*ins, ckpt)
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
        ins = tuple(t.numpy() for t in (u, delta, A, B, C, D, z, bias))
        dlast32 = _f32(dlast) if dlast is not None else torch.zeros(1, 1, n)
        grads = (
            du.numpy(),
            ddelta.numpy(),
            dz.numpy(),
            dA_part,
            dB_part,
            dC_part,
            dD_part,
            dbias_part,
        )
        _scan_bwd(
            ins,
            ctx.softplus,
            ctx.has_z,
            ckpt.numpy(),
            _f32(dout).numpy(),
            dlast32.numpy(),
            dlast is not None,
            parts,
            b_inner,
            grads,
        )
        meta = ctx.meta  # (dtype, ndim) of each input, None where it was not given
        result = [
            du,
            ddelta,
            torch.from_numpy(dA_part.sum(axis=0)),
            _bc_grad(dB_part, meta[3][1]),
            _bc_grad(dC_part, meta[4][1]),
            torch.from_numpy(dD_part.sum(axis=0)),
            dz,
            torch.from_numpy(dbias_part.sum(axis=0)),
        ]
        result = [
            g.to(m[0]) if need and m is not None else None
            for g, need, m in zip(result, ctx.needs_input_grad[:8], meta, strict=True)
        ]
        return (*result, None, None)


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
    tensors = (u, delta, A, B, C, D, z, delta_bias)
    for name, t in zip(_NAMES, tensors, strict=True):
        if t is not None and t.device.type != "cpu":
            raise InputError(f"selective_scan_cpu: {name} is on {t.device}, expected a CPU tensor")
    out, last = _SelectiveScanFn.apply(*tensors, delta_softplus, return_last_state)
    return (out, last) if return_last_state else out
