"""The Mamba-1 mixer: parameter names, shapes and outputs of ``mamba_ssm``'s ``Mamba``.

``forward`` runs the selective scan over a whole sequence (the backend picked by device) and
can return the state it ends in, a ``(conv_state, ssm_state)`` pair; ``step`` advances that
state by one token (generation) and ``forward_from_state`` by many tokens at once (variant
scoring continues a prefix's state over each alternative's suffix).

>>> import torch
>>> from bioseq.models.modules.mamba import Mamba
>>> mixer = Mamba(d_model=16, d_state=4)
>>> mixer(torch.randn(2, 10, 16)).shape
torch.Size([2, 10, 16])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bioseq.models.ops import selective_scan, selective_scan_from_state
from bioseq.models.ops.causal_conv import causal_conv1d, causal_conv1d_step


class Mamba(nn.Module):
    uses_selective_scan = True  # kernel_backends() names the scan and conv kernels for runs

    def __init__(
        self,
        d_model: int,
        d_state: int = 16,
        d_conv: int = 4,
        expand: int = 2,
        dt_rank: int | None = None,
        dt_min: float = 0.001,
        dt_max: float = 0.1,
        dt_init_floor: float = 1e-4,
        conv_bias: bool = True,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_conv = d_conv
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)

        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=bias)
        self.conv1d = nn.Conv1d(
            self.d_inner,
            self.d_inner,
            d_conv,
            groups=self.d_inner,
            padding=d_conv - 1,
            bias=conv_bias,
        )
        self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=bias)

        # S4D-real initialisation: A = -(1, 2, ..., N) for every channel.
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = nn.Parameter(torch.log(A))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        self._init_dt(dt_min, dt_max, dt_init_floor)

    @torch.no_grad()
    def _init_dt(self, dt_min: float, dt_max: float, floor: float) -> None:
        """dt log-uniform in [dt_min, dt_max] at init, stored through softplus's inverse."""
        nn.init.uniform_(self.dt_proj.weight, -(self.dt_rank**-0.5), self.dt_rank**-0.5)
        u = torch.rand(self.d_inner)
        dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp(min=floor)
        self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))

    def _ssm_inputs(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """dt (without its bias), B and C from the convolved activations x (batch, L, d_inner)."""
        dt, B, C = self.x_proj(x).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.linear(dt, self.dt_proj.weight), B, C

    def forward(
        self,
        hidden: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        return_state: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """hidden (batch, L, d_model) -> (batch, L, d_model), optionally with the final
        ``(conv_state, ssm_state)`` from which :meth:`step` continues.

        ``attention_mask`` (batch, L), 0 at left padding: padded positions are zeroed before
        the convolution and the scan, so they leave the state untouched.
        """
        L = hidden.shape[1]
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        x = x.transpose(1, 2)  # (batch, d_inner, L)
        mask = None if attention_mask is None else attention_mask[:, None, -L:].to(x.dtype)
        if mask is not None:
            x = x * mask
        conv_state = F.pad(x, (self.d_conv - L, 0)) if return_state else None
        x = causal_conv1d(x, self.conv1d.weight[:, 0], self.conv1d.bias, activation="silu")
        if mask is not None:
            x = x * mask
        dt, B, C = self._ssm_inputs(x.transpose(1, 2))
        y = selective_scan(
            x,
            dt.transpose(1, 2),
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D.float(),
            z=z.transpose(1, 2),
            delta_bias=self.dt_proj.bias.float(),
            delta_softplus=True,
            return_last_state=return_state,
        )
        if return_state:
            y, ssm_state = y
        out = self.out_proj(y.transpose(1, 2))
        return (out, (conv_state, ssm_state)) if return_state else out

    @torch.no_grad()
    def forward_from_state(
        self, hidden: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """hidden (batch, L, d_model) read after ``state`` (``(conv_state, ssm_state)``, as
        :meth:`forward` returns it): the output and the state after it, in one parallel pass
        (inference only). Equals :meth:`step` token by token up to rounding; ``state`` is not
        modified."""
        conv_state, ssm_state = state
        x, z = self.in_proj(hidden).chunk(2, dim=-1)
        x = torch.cat([conv_state[..., 1:].to(x.dtype), x.transpose(1, 2)], dim=-1)
        new_conv_state = x[..., -self.d_conv :]
        x = F.silu(F.conv1d(x, self.conv1d.weight, self.conv1d.bias, groups=self.d_inner))
        dt, B, C = self._ssm_inputs(x.transpose(1, 2))
        delta = F.softplus(dt.float() + self.dt_proj.bias.float()).transpose(1, 2)
        y, last = selective_scan_from_state(
            x,
            delta,
            -torch.exp(self.A_log.float()),
            B.transpose(1, 2),
            C.transpose(1, 2),
            self.D,
            ssm_state,
            z=z.transpose(1, 2),
        )
        out = self.out_proj(y.to(hidden.dtype).transpose(1, 2))
        return out, (new_conv_state, last)

    def allocate_state(self, batch: int, device=None, dtype=None) -> tuple[torch.Tensor, ...]:
        conv_state = torch.zeros(batch, self.d_inner, self.d_conv, device=device, dtype=dtype)
        ssm_state = torch.zeros(batch, self.d_inner, self.d_state, device=device)
        return conv_state, ssm_state

    def step(
        self, hidden: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One token: hidden (batch, 1, d_model) -> output, new conv state, new SSM state."""
        x, z = self.in_proj(hidden[:, 0]).chunk(2, dim=-1)
        x, conv_state = causal_conv1d_step(
            x, conv_state, self.conv1d.weight[:, 0], self.conv1d.bias, activation="silu"
        )
        dt, B, C = self._ssm_inputs(x)
        dt = F.softplus(dt.float() + self.dt_proj.bias.float())
        A = -torch.exp(self.A_log.float())
        dA = torch.exp(dt.unsqueeze(-1) * A)  # (batch, d_inner, N)
        dBx = (dt * x.float()).unsqueeze(-1) * B.float().unsqueeze(1)
        ssm_state = ssm_state * dA + dBx
        y = (ssm_state * C.float().unsqueeze(1)).sum(-1) + self.D.float() * x.float()
        y = (y * F.silu(z.float())).to(hidden.dtype)
        return self.out_proj(y).unsqueeze(1), conv_state, ssm_state
