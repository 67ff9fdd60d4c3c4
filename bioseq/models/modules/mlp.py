"""The position-wise MLP of Hyena and Transformer blocks."""

from __future__ import annotations

import torch
from torch import nn


class MLP(nn.Module):
    """``fc2(gelu_tanh(fc1(x)))``, the names HyenaDNA checkpoints use."""

    def __init__(self, d_model: int, d_inner: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_model, d_inner)
        self.fc2 = nn.Linear(d_inner, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x), approximate="tanh"))
