"""Long causal convolutions: FFT in O(L log L), and the direct O(L^2) reference.

``fftconv(u, k, D)`` computes, per channel h, ``y[t] = sum_{s<=t} k[h, s] * u[h, t-s]`` plus the
skip term ``D[h] * u[h, t]``: Hyena's long convolution. Zero-padding to 2L makes the circular
FFT convolution a linear one, so no output ever sees the future.

>>> import torch
>>> from bioseq.models.ops.fftconv import fftconv, fftconv_ref
>>> u, k = torch.randn(2, 4, 100), torch.randn(4, 100)
>>> torch.allclose(fftconv(u, k), fftconv_ref(u, k), atol=1e-4)
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def fftconv(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None = None) -> torch.Tensor:
    """Causal convolution of ``u`` (batch, H, L) with filters ``k`` (H, L) via FFT, in fp32.

    Memory is linear in L; the result has ``u``'s dtype.
    """
    L = u.shape[-1]
    n = 2 * L
    k_f = torch.fft.rfft(k.float()[..., :L], n=n)
    u_f = torch.fft.rfft(u.float(), n=n)
    y = torch.fft.irfft(u_f * k_f, n=n)[..., :L]
    if D is not None:
        y = y + u.float() * D.float().unsqueeze(-1)
    return y.to(u.dtype)


def fftconv_ref(u: torch.Tensor, k: torch.Tensor, D: torch.Tensor | None = None) -> torch.Tensor:
    """The same convolution computed directly (O(L^2)): the test oracle."""
    batch, H, L = u.shape
    # conv1d is a cross-correlation: flip the filter and pad on the left to make it causal.
    weight = k.float()[..., :L].flip(-1).unsqueeze(1)  # (H, 1, L)
    y = F.conv1d(F.pad(u.float(), (L - 1, 0)), weight, groups=H)
    if D is not None:
        y = y + u.float() * D.float().unsqueeze(-1)
    return y.to(u.dtype)
