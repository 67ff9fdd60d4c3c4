"""Causal self-attention with rotary positions, on PyTorch's scaled-dot-product attention.

Keys and values of earlier tokens can be kept in a transformers ``Cache`` (``DynamicCache``),
so ``generate()`` decodes one token at a time without recomputing the prefix.

>>> import torch
>>> from bioseq.models.modules.attention import CausalSelfAttention
>>> attn = CausalSelfAttention(d_model=32, n_head=4)
>>> attn(torch.randn(2, 10, 32), torch.arange(10).expand(2, 10)).shape
torch.Size([2, 10, 32])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def rotary_inv_freq(head_dim: int, theta: float, device=None) -> torch.Tensor:
    """GPT-NeoX rotary frequencies ``theta ** (-2i / head_dim)``, fp32, (head_dim / 2,)."""
    return theta ** (-torch.arange(0, head_dim, 2, device=device).float() / head_dim)


def rotary(
    x: torch.Tensor, positions: torch.Tensor, theta: float, inv_freq: torch.Tensor | None = None
) -> torch.Tensor:
    """Rotate query/key features (batch, heads, L, head_dim) by their positions (batch, L).

    GPT-NeoX half split: dimension i turns with i + head_dim / 2. ``inv_freq`` (fp32) may be
    passed precomputed; by default it is ``rotary_inv_freq(head_dim, theta)``.
    """
    if inv_freq is None:
        inv_freq = rotary_inv_freq(x.shape[-1], theta, x.device)
    angles = positions.float().unsqueeze(-1) * inv_freq  # (batch, L, head_dim/2)
    angles = torch.cat([angles, angles], dim=-1).unsqueeze(1)
    return (x.float() * angles.cos() + rotate_half(x.float()) * angles.sin()).to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(
        self,
        d_model: int,
        n_head: int,
        rope_theta: float = 10000.0,
        dropout: float = 0.0,
        layer_idx: int = 0,
    ) -> None:
        super().__init__()
        self.n_head = n_head
        self.head_dim = d_model // n_head
        self.rope_theta = rope_theta
        self.dropout = dropout
        self.layer_idx = layer_idx
        self.qkv_proj = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out_proj = nn.Linear(d_model, d_model, bias=False)

    def forward(
        self,
        x: torch.Tensor,
        positions: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
        cache=None,
    ) -> torch.Tensor:
        """x (batch, L, d); positions (batch, L); key_padding_mask (batch, total) True = keep."""
        batch, L, d = x.shape
        q, k, v = self.qkv_proj(x).view(batch, L, 3, self.n_head, self.head_dim).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (batch, heads, L, head_dim)
        q, k = rotary(q, positions, self.rope_theta), rotary(k, positions, self.rope_theta)
        if cache is not None:
            k, v = cache.update(k, v, self.layer_idx)
        total = k.shape[2]
        if key_padding_mask is None and total == L:
            mask, is_causal = None, True
        else:
            # queries sit at the end of the keys: query i may see keys up to total - L + i
            causal = torch.ones(L, total, dtype=torch.bool, device=x.device).tril(total - L)
            mask = causal
            if key_padding_mask is not None:
                # a padding query still sees itself, so no row is all -inf (which gives NaN)
                itself = torch.ones_like(causal).tril(total - L) & ~torch.ones_like(causal).tril(
                    total - L - 1
                )
                mask = (causal & key_padding_mask[:, None, None, -total:].bool()) | itself
            is_causal = False
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=is_causal,
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(y.transpose(1, 2).reshape(batch, L, d))
