"""The Mamba mixer's short depthwise causal convolution: causal-conv1d's fused CUDA kernels when
they import, PyTorch's ``conv1d`` otherwise (the choice is
:func:`~bioseq.models.ops.dispatch.resolve_conv_backend`).

causal-conv1d is optional (the ``cuda`` extra) and imported lazily, on the first CUDA call.
Its contract, which the PyTorch path also accepts: x (batch, dim, L) in fp32/fp16/bf16, weight
(dim, width) with 2 <= width <= 4 in any of those dtypes, bias (dim,) in weight's dtype;
``causal_conv1d_update`` wants conv_state (batch, dim, width) in x's dtype and updates it in
place (:func:`causal_conv1d_step` hands the kernel a copy, so a state passed in is kept).

>>> import torch
>>> x, w, b = torch.randn(2, 8, 10), torch.randn(8, 4), torch.randn(8)
>>> y = causal_conv1d(x, w, b, activation="silu")
>>> y.shape
torch.Size([2, 8, 10])
>>> state = torch.nn.functional.pad(x[..., :-1], (4 - 9, 0))  # the last 4 inputs before x[-1]
>>> out, state = causal_conv1d_step(x[..., -1], state, w, b, activation="silu")
>>> torch.allclose(out, y[..., -1], atol=1e-6)
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from bioseq.models.ops import dispatch
from bioseq.models.ops.causal_conv_cuda import _import_causal_conv, causal_conv_import_error

__all__ = ["causal_conv1d", "causal_conv1d_step", "causal_conv_import_error"]


def _activate(y: Tensor, activation: str | None) -> Tensor:
    return y if activation is None else F.silu(y)


def causal_conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, activation: str | None = None
) -> Tensor:
    """Depthwise causal convolution of x (batch, dim, L) with weight (dim, width) and bias
    (dim,), then ``activation`` (None or ``"silu"``): output (batch, dim, L)."""
    if dispatch.resolve_conv_backend(x) == "cuda":
        fn = _import_causal_conv()[0]
        # channel-first: the kernel's channel-last layout (what x.transpose gives) needs dim and
        # strides divisible by 8
        return fn(x.contiguous(), weight, bias, activation=activation)
    width = weight.shape[-1]
    y = F.conv1d(x, weight.unsqueeze(1), bias, padding=width - 1, groups=weight.shape[0])
    return _activate(y[..., : x.shape[-1]], activation)


def causal_conv1d_step(
    x: Tensor,
    conv_state: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    activation: str | None = None,
) -> tuple[Tensor, Tensor]:
    """One token x (batch, dim) after ``conv_state`` (batch, dim, width), the last ``width``
    inputs: ``(output (batch, dim), new conv_state)``; ``conv_state`` is left as it was."""
    if dispatch.resolve_conv_backend(x) == "cuda":
        update = _import_causal_conv()[1]
        state = conv_state.clone()  # the kernel shifts the state in place
        return update(x.to(state.dtype), state, weight, bias, activation=activation), state
    state = torch.cat([conv_state[..., 1:], x.unsqueeze(-1).to(conv_state.dtype)], dim=-1)
    y = (state * weight).sum(-1)
    if bias is not None:
        y = y + bias
    return _activate(y, activation), state
