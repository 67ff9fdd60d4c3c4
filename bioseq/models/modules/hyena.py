"""The Hyena operator of HyenaDNA: implicit long filters and order-2 gated FFT convolution.

Submodule and parameter names follow HyenaDNA checkpoints (``filter_fn.pos_emb.z``,
``filter_fn.implicit_filter.{0,2,4,6}``, ``filter_fn.modulation.deltas``...), so converting one
is a matter of renaming prefixes.

>>> import torch
>>> from bioseq.models.modules.hyena import HyenaOperator
>>> op = HyenaOperator(d_model=16, max_seq_len=64)
>>> op(torch.randn(2, 50, 16)).shape
torch.Size([2, 50, 16])
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bioseq.errors import InputError
from bioseq.models.ops.fftconv import fftconv


class Sin(nn.Module):
    """``sin(freq * x)`` with a per-feature frequency (learned when ``train_freq``)."""

    def __init__(self, dim: int, freq: float = 10.0, train_freq: bool = True) -> None:
        super().__init__()
        self.freq = nn.Parameter(freq * torch.ones(1, dim), requires_grad=train_freq)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(self.freq * x)


class PositionalEmbedding(nn.Module):
    """Features ``z = [t, cos(f w), -sin(f w)]`` for every position up to ``max_seq_len``.

    ``z`` is a parameter (HyenaDNA trains it with a tiny learning rate); ``t`` in [0, 1] is a
    buffer used by the decay modulation.
    """

    def __init__(self, emb_dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.max_seq_len = max_seq_len
        t = torch.linspace(0, 1, max_seq_len)[None, :, None]
        bands = (emb_dim - 1) // 2
        # built on the CPU explicitly: transformers' meta-device init pins linspace to the CPU
        w = torch.arange(max_seq_len, dtype=torch.float32, device="cpu")[None, :, None]
        w = 2 * math.pi * w
        w = w / max_seq_len
        f = torch.linspace(1e-4, bands - 1, bands)[None, None]
        z = torch.cat([t, torch.cos(f * w), -torch.sin(f * w)], dim=-1)
        self.z = nn.Parameter(z)
        self.register_buffer("t", t)

    def forward(self, L: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.z[:, :L], self.t[:, :L]


class ExponentialModulation(nn.Module):
    """Multiply filters by ``exp(-t |delta_c|) + shift``: fast decay for some channels."""

    def __init__(
        self,
        d_model: int,
        fast_decay_pct: float = 0.3,
        slow_decay_pct: float = 1.5,
        target: float = 1e-2,
        shift: float = 0.05,
    ) -> None:
        super().__init__()
        self.shift = shift
        max_decay = math.log(target) / fast_decay_pct
        min_decay = math.log(target) / slow_decay_pct
        self.register_buffer("deltas", torch.linspace(min_decay, max_decay, d_model)[None, None])

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return h * (torch.exp(-t * self.deltas.abs()) + self.shift)


class ImplicitFilterMLP(nn.Module):
    """Linear -> Sin -> (Linear -> Sin) x n -> Linear, one Sin module shared by every slot.

    Children are named by their slot ("0", "1", "2", ...) like HyenaDNA's ``nn.Sequential``;
    the shared Sin appears once, as "1".
    """

    def __init__(
        self,
        emb_dim: int,
        order: int,
        d_model: int,
        num_inner_mlps: int,
        freq: float,
        train_freq: bool,
    ) -> None:
        super().__init__()
        self.add_module("0", nn.Linear(emb_dim, order))
        self.add_module("1", Sin(order, freq, train_freq))
        for i in range(num_inner_mlps):
            self.add_module(str(2 * i + 2), nn.Linear(order, order))
        self.add_module(str(2 * num_inner_mlps + 2), nn.Linear(order, d_model, bias=False))
        self.linears = [m for name, m in self.named_children() if name != "1"]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        sin = getattr(self, "1")
        h = z
        for linear in self.linears[:-1]:
            h = sin(linear(h))
        return self.linears[-1](h)


class HyenaFilter(nn.Module):
    """The implicit long filter ``k`` (d_model, L) and the skip bias of the long convolution."""

    def __init__(
        self,
        d_model: int,
        max_seq_len: int,
        emb_dim: int = 5,
        filter_order: int = 64,
        num_inner_mlps: int = 2,
        activation_freq: float = 10.0,
        train_freq: bool = True,
        modulation_shift: float = 0.05,
        fast_decay_pct: float = 0.3,
        slow_decay_pct: float = 1.5,
    ) -> None:
        super().__init__()
        if emb_dim < 3 or emb_dim % 2 == 0:
            raise InputError(f"emb_dim must be odd and at least 3, not {emb_dim}")
        self.pos_emb = PositionalEmbedding(emb_dim, max_seq_len)
        self.implicit_filter = ImplicitFilterMLP(
            emb_dim, filter_order, d_model, num_inner_mlps, activation_freq, train_freq
        )
        self.modulation = ExponentialModulation(
            d_model, fast_decay_pct, slow_decay_pct, shift=modulation_shift
        )
        self.bias = nn.Parameter(torch.randn(d_model))

    def filter(self, L: int) -> torch.Tensor:
        z, t = self.pos_emb(L)
        h = self.modulation(t, self.implicit_filter(z))  # (1, L, d_model)
        return h[0].transpose(0, 1)  # (d_model, L)


class HyenaOperator(nn.Module):
    """Order-2 Hyena: ``y = out_proj(x0 * (k * (x1 * v) + bias * (x1 * v)))``.

    ``x0, x1, v`` come from one input projection followed by a short depthwise causal
    convolution; ``k *`` is the long causal convolution computed with FFTs.
    """

    def __init__(
        self,
        d_model: int,
        max_seq_len: int,
        short_filter_order: int = 3,
        dropout: float = 0.0,
        **filter_kwargs,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.max_seq_len = max_seq_len
        self.in_proj = nn.Linear(d_model, 3 * d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.short_filter = nn.Conv1d(
            3 * d_model,
            3 * d_model,
            short_filter_order,
            groups=3 * d_model,
            padding=short_filter_order - 1,
        )
        self.dropout = nn.Dropout(dropout)
        self.filter_fn = HyenaFilter(d_model, max_seq_len, **filter_kwargs)

    def forward(self, u: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """u (batch, L, d_model); ``attention_mask`` (batch, L), 0 at left padding, makes padded
        rows give the same outputs as unpadded ones."""
        L = u.shape[1]
        if self.max_seq_len < L:
            raise InputError(
                f"sequence length {L} exceeds the model's max_seq_len {self.max_seq_len}"
            )
        projected = self.in_proj(u).transpose(1, 2)  # (batch, 3d, L)
        mask = None if attention_mask is None else attention_mask[:, None, -L:].to(u.dtype)
        if mask is not None:
            projected = projected * mask
        x0, x1, v = self.short_filter(projected)[..., :L].split(self.d_model, dim=1)
        v = self.dropout(v * x1 if mask is None else v * x1 * mask)
        v = fftconv(v, self.filter_fn.filter(L), self.filter_fn.bias)
        return self.out_proj((v * x0).transpose(1, 2))
