"""Reverse-complement parameter sharing (RCPS), as in Caduceus.

An RCPS hidden state has ``2 * d`` channels ``[a | b]``: ``a`` reads the sequence, ``b`` its
reverse complement, stored flipped over length *and* channels (:func:`rc_flip`), so that
reverse-complementing the input maps the whole tensor to ``rc_flip`` of itself. Every module
``f`` of width ``d`` acts as ``[f(a) | rc_flip(f(rc_flip(b)))]`` (:func:`rcps_apply`); the
embedding and the head use the complement map of token ids. The whole model is then exactly
equivariant: ``logits(rc x)[L-1-t, v] == logits(x)[t, comp(v)]``.

:func:`add_norm` is the pre-norm "add, then normalise" step of a block, in the original's two
orders: with ``fused=True`` (its fused-kernel path, the released setting) an RCPS block feeds
the *second* half of the residual stream to the forward slot and the first to the reverse one,
i.e. it swaps the halves before normalising; the unfused path does not. Both are equivariant,
but the same weights give different logits, so a checkpoint must run in its own order.

>>> import torch
>>> x = torch.arange(6.0).reshape(1, 3, 2)
>>> rc_flip(x)[0].tolist()
[[5.0, 4.0], [3.0, 2.0], [1.0, 0.0]]
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def rc_flip(x: torch.Tensor) -> torch.Tensor:
    """Flip over length (dim -2) and channels (dim -1)."""
    return x.flip(-2, -1)


def rcps_embed(weight: torch.Tensor, ids: torch.Tensor, complement: torch.Tensor) -> torch.Tensor:
    """ids (batch, L) -> ``[E[x] | rc_flip(E[rc(x)])]`` (batch, L, 2d), rc(x) = comp(x) reversed."""
    rc_ids = complement[ids.flip(-1)]
    return torch.cat([F.embedding(ids, weight), rc_flip(F.embedding(rc_ids, weight))], dim=-1)


def rcps_apply(
    fn: Callable[..., torch.Tensor], x: torch.Tensor, attention_mask: torch.Tensor | None = None
) -> torch.Tensor:
    """``[fn(a) | rc_flip(fn(rc_flip(b)))]`` for x = [a | b]; the mask is flipped for b.

    Both strands go through ``fn`` as one batch of twice the size (``fn`` must treat batch
    rows independently, as norms and mixers do).
    """
    d, n = x.shape[-1] // 2, x.shape[0]
    kwargs = {}
    if attention_mask is not None:
        kwargs["attention_mask"] = torch.cat([attention_mask, attention_mask.flip(-1)])
    out = fn(torch.cat([x[..., :d], rc_flip(x[..., d:])]), **kwargs)
    return torch.cat([out[:n], rc_flip(out[n:])], dim=-1)


def swap_halves(x: torch.Tensor) -> torch.Tensor:
    """``[a | b] -> [b | a]`` (commutes with a full-width ``rc_flip``)."""
    d = x.shape[-1] // 2
    return torch.cat([x[..., d:], x[..., :d]], dim=-1)


def add_norm(
    norm: nn.Module,
    hidden: torch.Tensor,
    residual: torch.Tensor | None,
    rcps: bool,
    fused: bool = False,
    residual_in_fp32: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``residual = hidden + residual``; return ``(norm(residual), residual)``.

    With ``rcps`` the norm runs as :func:`rcps_apply`; ``fused`` then swaps the halves of the
    residual first, as the original's fused path does inside blocks (not for its final norm).
    """
    residual = hidden if residual is None else hidden + residual
    if residual_in_fp32:
        residual = residual.float()
    if rcps and fused:
        residual = swap_halves(residual)
    x = residual.to(norm.weight.dtype)
    return (rcps_apply(norm, x) if rcps else norm(x)), residual


def rcps_logits(
    hidden: torch.Tensor, weight: torch.Tensor, complement: torch.Tensor
) -> torch.Tensor:
    """``<a_t, W_v> + <channel-flip(b_t), W_comp(v)>``: the RCPS head over hidden [a | b]."""
    d = hidden.shape[-1] // 2
    rc = F.linear(hidden[..., d:].flip(-1), weight[complement])
    return F.linear(hidden[..., :d], weight) + rc
