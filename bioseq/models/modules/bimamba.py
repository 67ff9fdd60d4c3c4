"""BiMamba: Caduceus's bidirectional Mamba-1 mixer.

``out = fwd(h) + flip(rev(flip(h)))`` (``"add"``; ``"ew_multiply"`` multiplies instead), the
two directions being :class:`~bioseq.models.modules.mamba.Mamba` mixers with their own conv,
``x_proj``, ``dt_proj``, ``A_log`` and ``D``. With ``weight_tie`` (the released setting) the
reverse mixer reads the forward one's ``in_proj`` and ``out_proj``: they are not parameters of
``mamba_rev`` at all, so the state dict holds them once (``mamba_fwd.in_proj.weight``).

An ``attention_mask`` (batch, L) with zeros at padding is given to both directions (flipped for
the reverse one): padded positions are zeroed before and after the convolution, so they add
nothing to the scan in either direction and real positions never see them.

>>> import torch
>>> from bioseq.models.modules.bimamba import BiMamba
>>> mixer = BiMamba(16, d_state=4)
>>> mixer(torch.randn(2, 10, 16)).shape
torch.Size([2, 10, 16])
>>> sorted(k for k in mixer.state_dict() if "proj.weight" in k and "rev" in k)
['mamba_rev.dt_proj.weight', 'mamba_rev.x_proj.weight']
"""

from __future__ import annotations

import torch
from torch import nn

from bioseq.models.modules.mamba import Mamba


class SharedProjectionMamba(Mamba):
    """A Mamba mixer whose ``in_proj`` and ``out_proj`` are another mixer's (not registered)."""

    def __init__(self, source: Mamba, **mamba_kwargs) -> None:
        super().__init__(**mamba_kwargs)
        del self.in_proj, self.out_proj  # drop the copies built by Mamba.__init__
        self._source = (source,)  # a tuple: not a registered submodule

    @property
    def in_proj(self) -> nn.Linear:  # type: ignore[override]
        return self._source[0].in_proj

    @property
    def out_proj(self) -> nn.Linear:  # type: ignore[override]
        return self._source[0].out_proj


class BiMamba(nn.Module):
    def __init__(
        self,
        d_model: int,
        bidirectional: bool = True,
        strategy: str = "add",
        weight_tie: bool = True,
        **mamba_kwargs,
    ) -> None:
        super().__init__()
        if strategy not in ("add", "ew_multiply"):
            raise ValueError(f"unknown bidirectional strategy {strategy!r}")
        self.strategy = strategy
        self.mamba_fwd = Mamba(d_model=d_model, **mamba_kwargs)
        self.mamba_rev: Mamba | None = None
        if bidirectional and weight_tie:
            self.mamba_rev = SharedProjectionMamba(self.mamba_fwd, d_model=d_model, **mamba_kwargs)
        elif bidirectional:
            self.mamba_rev = Mamba(d_model=d_model, **mamba_kwargs)

    def forward(
        self, hidden: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """hidden (batch, L, d_model) -> (batch, L, d_model)."""
        out = self.mamba_fwd(hidden, attention_mask)
        if self.mamba_rev is None:
            return out
        mask = None if attention_mask is None else attention_mask.flip(-1)
        rev = self.mamba_rev(hidden.flip(1), mask).flip(1)
        return out + rev if self.strategy == "add" else out * rev
