"""Stand-ins for the CUDA kernels bioseq calls, enforcing their documented contracts on CPU.

No GPU is needed to find the calls a GPU would refuse. :func:`selective_scan_fn` stands in for
mamba-ssm's (``mamba_ssm.ops.selective_scan_interface``), :func:`causal_conv1d_fn` and
:func:`causal_conv1d_update` for causal-conv1d's. Each checks what the real one checks (its
Python wrapper's normalisations applied first, then the C++ ``TORCH_CHECK``s of
``selective_scan.cpp`` / ``causal_conv1d.cpp``) and raises :class:`ContractError` naming the
rule, then computes with a plain PyTorch reference, mimicking the real kernel's autograd:

* selective scan: u, delta, z and time-varying B, C in one dtype (fp32, fp16 or bf16); A fp32
  (real); time-invariant B, C (dim, N) in A's dtype; D and delta_bias fp32 (dim,); N <= 256;
  shapes ``u, delta, z (b, d, L)``, ``B, C (b, N, L)`` or ``(b, G, N, L)`` with G dividing d;
  one device; the backward ignores the gradient of ``last_state`` (mamba-ssm's docstring).
* causal conv: x (b, d, L) fp32/fp16/bf16, channel-first (``stride(2) == 1``) or channel-last
  (``stride(1) == 1``, then d and ``stride(0)``, ``stride(2)`` multiples of 8); weight (d, w)
  with 2 <= w <= 4 in fp32/fp16/bf16, bias (d,) in weight's dtype; activation None, "silu" or
  "swish"; output in x's dtype. The update: x (b, d) or (b, d, L), conv_state (b, d, S) in x's
  dtype with S >= w - 1, updated in place; no autograd (the real one is a bare C++ call).

:func:`install` puts them where bioseq's dispatch imports them and makes the dispatch see
CUDA: ``torch.cuda.is_available`` patched, ``dispatch.device_type`` answering ``"cuda"``.
With meta tensors the same paths show any tensor made on the wrong device: a CPU tensor mixed
with meta ones raises, and so does an explicit ``device="cuda"`` (a CPU-only torch).

>>> import torch
>>> u = torch.randn(1, 4, 8, dtype=torch.bfloat16)
>>> A, B, C = -torch.rand(4, 2), torch.randn(1, 2, 8), torch.randn(1, 2, 8)
>>> selective_scan_fn(u, torch.rand(1, 4, 8), A, B, C)  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
ContractError: selective_scan_fn: delta is torch.float32, u is torch.bfloat16: ...
"""

from __future__ import annotations

import sys
import types
from collections import Counter

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from bioseq.models.ops import causal_conv_cuda, dispatch, selective_scan_cuda
from bioseq.models.ops.selective_scan_ref import selective_scan_ref

__all__ = [
    "ContractError", "causal_conv1d_fn", "causal_conv1d_update", "install", "selective_scan_fn",
]  # fmt: skip

FLOATS = (torch.float32, torch.float16, torch.bfloat16)
calls: Counter = Counter()  # kernel name -> calls since the last install()


class ContractError(AssertionError):
    """A call the real CUDA kernel would refuse."""


def _require(ok: bool, kernel: str, rule: str) -> None:
    if not ok:
        raise ContractError(f"{kernel}: {rule}")


def _same_device(kernel: str, ref: Tensor, **tensors: Tensor | None) -> None:
    for name, t in tensors.items():
        if t is not None:
            _require(t.device == ref.device, kernel, f"{name} on {t.device}, not {ref.device}")


def _shape(kernel: str, name: str, t: Tensor, *shape: int) -> None:
    _require(tuple(t.shape) == shape, kernel, f"{name} must be {shape}, got {tuple(t.shape)}")


# -- mamba-ssm's selective_scan_fn ---------------------------------------------------------


def _check_scan(u, delta, A, B, C, D, z, delta_bias) -> None:
    k = "selective_scan_fn"
    _require(u.dim() == 3, k, f"u must be (batch, dim, L), got {tuple(u.shape)}")
    batch, dim, length = u.shape
    _require(u.dtype in FLOATS, k, f"u must be fp32, fp16 or bf16, got {u.dtype}")
    _require(A.dtype == torch.float32, k, f"A must be fp32 (the weight type), got {A.dtype}")
    _shape(k, "A", A, dim, A.shape[-1])
    n = A.shape[1]
    _require(n <= 256, k, f"state dimension {n} > 256")
    _require(delta.dtype == u.dtype, k, f"delta is {delta.dtype}, u is {u.dtype}: one dtype")
    _shape(k, "delta", delta, batch, dim, length)
    for name, m in (("B", B), ("C", C)):
        if m.dim() == 2:  # time-invariant: the weight type
            _require(m.dtype == A.dtype, k, f"(dim, N) {name} is {m.dtype}, A is {A.dtype}")
            _shape(k, name, m, dim, n)
        else:  # time-varying: the input type; (b, N, L) is (b, 1, N, L) after the wrapper
            _require(m.dtype == u.dtype, k, f"{name} is {m.dtype}, u is {u.dtype}: one dtype")
            m4 = m.unsqueeze(1) if m.dim() == 3 else m
            _require(m4.dim() == 4, k, f"{name} must be 2-, 3- or 4-dimensional")
            groups = m4.shape[1]
            _shape(k, name, m4, batch, groups, n, length)
            _require(groups > 0 and dim % groups == 0, k, f"{name}: {groups} groups, dim {dim}")
    for name, v in (("D", D), ("delta_bias", delta_bias)):
        if v is not None:
            _require(v.dtype == torch.float32, k, f"{name} must be fp32, got {v.dtype}")
            _shape(k, name, v, dim)
    if z is not None:
        _require(z.dtype == u.dtype, k, f"z is {z.dtype}, u is {u.dtype}: one dtype")
        _shape(k, "z", z, batch, dim, length)
    _same_device(k, u, delta=delta, A=A, B=B, C=C, D=D, z=z, delta_bias=delta_bias)


class _FirstOutputGradOnly(torch.autograd.Function):
    """Runs ``fn`` (which returns two tensors); the backward uses the first one's gradient
    only, as mamba-ssm's does for ``(out, last_state)``."""

    @staticmethod
    def forward(ctx, fn, names, *tensors):
        with torch.enable_grad():
            leaves = [
                None if t is None else t.detach().requires_grad_(t.requires_grad) for t in tensors
            ]
            out, last = fn(**dict(zip(names, leaves, strict=True)))
        ctx.graph = (out, leaves)
        return out.detach(), last.detach()

    @staticmethod
    def backward(ctx, dout, dlast):  # dlast ignored, as the real kernel's backward does
        out, leaves = ctx.graph
        wanted = [t for t in leaves if t is not None and t.requires_grad]
        grads = iter(torch.autograd.grad(out, wanted, dout, allow_unused=True) if wanted else ())
        return (
            None,
            None,
            *(next(grads) if t is not None and t.requires_grad else None for t in leaves),
        )


def selective_scan_fn(
    u,
    delta,
    A,
    B,
    C,
    D=None,
    z=None,
    delta_bias=None,
    delta_softplus=False,
    return_last_state=False,
):
    """mamba-ssm's ``selective_scan_fn``, contract-checked, computed by the reference."""
    calls["selective_scan_fn"] += 1
    _check_scan(u, delta, A, B, C, D, z, delta_bias)
    names = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")

    def ref(**kw):
        return selective_scan_ref(**kw, delta_softplus=delta_softplus, return_last_state=True)

    out, last = _FirstOutputGradOnly.apply(ref, names, u, delta, A, B, C, D, z, delta_bias)
    return (out, last) if return_last_state else out


# -- causal-conv1d -------------------------------------------------------------------------


def _check_conv_weights(k: str, dim: int, weight: Tensor, bias: Tensor | None, activation):
    _require(activation in (None, "silu", "swish"), k, f"activation {activation!r}")
    _require(weight.dtype in FLOATS, k, f"weight must be fp32, fp16 or bf16, got {weight.dtype}")
    _require(weight.dim() == 2, k, f"weight must be (dim, width), got {tuple(weight.shape)}")
    _shape(k, "weight", weight, dim, weight.shape[-1])
    _require(2 <= weight.shape[-1] <= 4, k, f"width {weight.shape[-1]} outside 2..4")
    if bias is not None:
        _require(bias.dtype == weight.dtype, k, f"bias is {bias.dtype}, weight {weight.dtype}")
        _shape(k, "bias", bias, dim)


def _conv_ref(x: Tensor, weight: Tensor, bias: Tensor | None, activation) -> Tensor:
    """The convolution in weight's dtype, outside autocast (a kernel ignores autocast)."""
    with torch.autocast("cpu", enabled=False):
        width = weight.shape[-1]
        y = F.conv1d(
            x.to(weight.dtype), weight.unsqueeze(1), bias, padding=width - 1, groups=x.shape[1]
        )
        y = y[..., : x.shape[-1]]
        return (y if activation is None else F.silu(y)).to(x.dtype)


def causal_conv1d_fn(
    x,
    weight,
    bias=None,
    seq_idx=None,
    initial_states=None,
    return_final_states=False,
    final_states_out=None,
    activation=None,
):
    """causal-conv1d's ``causal_conv1d_fn`` (no seq_idx / initial states), contract-checked."""
    k = "causal_conv1d_fn"
    calls[k] += 1
    _require(seq_idx is None and initial_states is None and not return_final_states, k, "extras")
    _require(x.dim() == 3, k, f"x must be (batch, dim, L), got {tuple(x.shape)}")
    _require(x.dtype in FLOATS, k, f"x must be fp32, fp16 or bf16, got {x.dtype}")
    _check_conv_weights(k, x.shape[1], weight, bias, activation)
    _same_device(k, x, weight=weight, bias=bias)
    if x.stride(2) != 1 and x.stride(1) != 1:  # what the wrapper does
        x = x.contiguous()
    if x.stride(1) == 1 and x.stride(2) > 1:  # channel-last
        _require(x.shape[1] % 8 == 0, k, f"channel-last x needs dim % 8 == 0, dim {x.shape[1]}")
        _require(
            x.stride(2) % 8 == 0 and x.stride(0) % 8 == 0,
            k,
            f"channel-last x needs stride(0), stride(2) multiples of 8, got {x.stride()}",
        )
    return _conv_ref(x, weight, bias, activation)


@torch.no_grad()
def causal_conv1d_update(
    x, conv_state, weight, bias=None, activation=None, cache_seqlens=None, conv_state_indices=None
):
    """causal-conv1d's ``causal_conv1d_update``: shifts ``conv_state`` in place."""
    k = "causal_conv1d_update"
    calls[k] += 1
    _require(cache_seqlens is None and conv_state_indices is None, k, "extras")
    _require(x.dim() in (2, 3), k, f"x must be (batch, dim) or (batch, dim, L), got {x.shape}")
    _require(x.dtype in FLOATS, k, f"x must be fp32, fp16 or bf16, got {x.dtype}")
    x3 = x.unsqueeze(-1) if x.dim() == 2 else x
    batch, dim, length = x3.shape
    _check_conv_weights(k, dim, weight, bias, activation)
    _require(conv_state.dtype == x.dtype, k, f"conv_state is {conv_state.dtype}, x {x.dtype}")
    state_len = conv_state.shape[-1]
    _shape(k, "conv_state", conv_state, batch, dim, state_len)
    _require(state_len >= weight.shape[-1] - 1, k, f"conv_state length {state_len} < width - 1")
    _same_device(k, x, conv_state=conv_state, weight=weight, bias=bias)
    full = torch.cat([conv_state, x3], dim=-1)
    conv_state.copy_(full[..., -state_len:])
    with torch.autocast("cpu", enabled=False):
        y = F.conv1d(full.to(weight.dtype), weight.unsqueeze(1), bias, groups=dim)[..., -length:]
    y = (y if activation is None else F.silu(y)).to(x.dtype)
    return y[..., 0] if x.dim() == 2 else y


# -- putting them in place -----------------------------------------------------------------


def install(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Make bioseq's dispatch take its CUDA paths through the stand-ins; returns :data:`calls`
    (reset). Undo with ``monkeypatch.undo()`` and :func:`uninstall` (a fixture does both)."""
    interface = types.ModuleType("mamba_ssm.ops.selective_scan_interface")
    interface.selective_scan_fn = selective_scan_fn
    conv = types.ModuleType("causal_conv1d")
    conv.causal_conv1d_fn, conv.causal_conv1d_update = causal_conv1d_fn, causal_conv1d_update
    for name in ("mamba_ssm", "mamba_ssm.ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, interface.__name__, interface)
    monkeypatch.setitem(sys.modules, "causal_conv1d", conv)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dispatch, "device_type", lambda t: "cuda")
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    uninstall()
    calls.clear()
    return calls


def uninstall() -> None:
    """Forget the imports cached while the stand-ins were in place."""
    selective_scan_cuda._import_mamba.cache_clear()
    causal_conv_cuda._import_causal_conv.cache_clear()
