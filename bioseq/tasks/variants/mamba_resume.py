"""Continue a :class:`~bioseq.models.MambaLM` from a saved recurrent state, in parallel.

``MambaLM`` itself continues from a :class:`~bioseq.models.MambaState` one token at a time (the
path ``generate()`` needs). Variant scoring continues a shared prefix state over thousands of
suffix tokens, so this module runs the suffix in parallel instead:

* the short convolution sees the last ``d_conv - 1`` inputs kept in the conv state;
* on the CPU, a numba selective scan (forward only, same recurrence and the same float32
  ``exp`` as :mod:`bioseq.models.ops.selective_scan_cpu`) starts from the SSM state ``h0``;
* elsewhere, :func:`~bioseq.models.ops.selective_scan` starts from zero and the initial
  state's share is added in closed form (the recurrence is linear in the state):
  ``y_t += C_t . (exp(A * sum_{s<=t} delta_s) * h0)`` before the ``silu(z)`` gate.

Up to floating-point rounding this equals ``model(prefix + suffix)`` on the suffix positions.

>>> import torch
>>> from bioseq.models import MambaConfig, MambaLM
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=12, d_model=32)).eval()
>>> ids = torch.randint(0, 12, (2, 40))
>>> with torch.no_grad():
...     full = model(ids).logits
...     state = model(ids[:, :25], use_cache=True).cache
...     logits, _ = resume(model, ids[:, 25:], state)
>>> torch.allclose(full[:, 25:], logits, atol=1e-4)
True
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from numba import njit, prange

from bioseq.models import MambaLM, MambaState
from bioseq.models.modules.mamba import Mamba
from bioseq.models.ops import selective_scan

try:  # the CPU scan's branch-free float32 exp, which LLVM vectorises
    from bioseq.models.ops.selective_scan_cpu import _exp as _exp32
except ImportError:  # pragma: no cover - kernels reorganised: numpy's exp is correct, slower

    @njit(inline="always", cache=True)
    def _exp32(x):
        return np.exp(x)


_TIME_CHUNK = 256  # time steps per block off the CPU (bounds the (b, d, T, N) decay tensor)
_CHUNK = 64  # time steps per block in the CPU kernel


def stack_states(states: list[MambaState]) -> MambaState:
    """One batched state from several batch-1 (or batched) states, row order kept."""
    layers = [
        (torch.cat([s.states[i][0] for s in states]), torch.cat([s.states[i][1] for s in states]))
        for i in range(len(states[0].states))
    ]
    return MambaState(layers, states[0].seqlen_offset)


@torch.no_grad()
def resume(
    model: MambaLM, input_ids: torch.Tensor, state: MambaState
) -> tuple[torch.Tensor, MambaState]:
    """Logits (batch, L, vocab) of ``input_ids`` read after ``state``, and the state after them.

    ``state`` must have the batch size of ``input_ids`` (see :meth:`MambaState.select` and
    :func:`stack_states`); it is not modified.
    """
    hidden = model.backbone.embedding(input_ids)
    new_states = []
    for layer, (conv_state, ssm_state) in zip(model.backbone.layers, state.states, strict=True):
        residual = hidden.float() if layer.residual_in_fp32 else hidden
        normed = layer.norm(residual.to(layer.norm.weight.dtype))
        out, layer_state = _mixer_resume(layer.mixer, normed, conv_state, ssm_state)
        hidden = residual + out
        new_states.append(layer_state)
    hidden = model.backbone.norm_f(hidden.to(model.backbone.norm_f.weight.dtype))
    logits = model.lm_head(hidden)[..., : model.config.vocab_size]
    return logits, MambaState(new_states, state.seqlen_offset + input_ids.shape[1])


def _mixer_resume(
    mixer: Mamba, hidden: torch.Tensor, conv_state: torch.Tensor, ssm_state: torch.Tensor
) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
    x, z = mixer.in_proj(hidden).chunk(2, dim=-1)
    x = torch.cat([conv_state[..., 1:].to(x.dtype), x.transpose(1, 2)], dim=-1)
    new_conv_state = x[..., -mixer.d_conv :]
    x = F.silu(F.conv1d(x, mixer.conv1d.weight, mixer.conv1d.bias, groups=mixer.d_inner))
    dt, B, C = mixer._ssm_inputs(x.transpose(1, 2))
    A = -torch.exp(mixer.A_log.float())
    delta = F.softplus(dt.float() + mixer.dt_proj.bias.float()).transpose(1, 2)  # (b, d, L)
    if x.device.type == "cpu":
        y, last = _scan_cpu(x, delta, A, B, C, mixer.D, ssm_state)
    else:
        y, last = _scan_with_state_term(x, delta, A, B, C, mixer.D, ssm_state)
    y = y * F.silu(z.transpose(1, 2).float())
    out = mixer.out_proj(y.to(hidden.dtype).transpose(1, 2))
    return out, (new_conv_state, last)


def _f32(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().contiguous().numpy()


def _scan_cpu(x, delta, A, B, C, D, h0) -> tuple[torch.Tensor, torch.Tensor]:
    """``y`` (b, d, L) without the gate, and the last state: the numba kernel below."""
    batch, dim, L = x.shape
    y = np.empty((batch, dim, L), dtype=np.float32)
    last = np.empty((batch, dim, A.shape[1]), dtype=np.float32)
    _scan_from_state(_f32(x), _f32(delta), _f32(A), _f32(B), _f32(C), _f32(D), _f32(h0), y, last)
    return torch.from_numpy(y), torch.from_numpy(last)


@njit(parallel=True, cache=True)
def _scan_from_state(u, delta, A, B, C, D, h0, y, last) -> None:
    """``h_t = exp(delta_t A) h_{t-1} + delta_t u_t B_t`` from ``h_0 = h0``; ``y_t = C_t . h_t
    + D u_t``. u, delta (b, d, L); A (d, N); B, C (b, L, N); D (d,); h0, last (b, d, N)."""
    batch, dim, L = u.shape
    N = A.shape[1]
    for i in prange(batch * dim):
        b = i // dim
        d = i - b * dim
        a = A[d]
        h = np.zeros((_CHUNK + 1, N), np.float32)  # h[k + 1]: the state after step t0 + k
        h[0] = h0[b, d]
        for t0 in range(0, L, _CHUNK):
            kn = min(_CHUNK, L - t0)
            for k in range(kn):  # the recurrence, vectorised over N
                dt = delta[b, d, t0 + k]
                dtu = dt * u[b, d, t0 + k]
                row = B[b, t0 + k]
                for n in range(N):
                    h[k + 1, n] = _exp32(dt * a[n]) * h[k, n] + dtu * row[n]
            for k in range(kn):
                row = C[b, t0 + k]
                acc = np.float32(0.0)
                for n in range(N):
                    acc += row[n] * h[k + 1, n]
                y[b, d, t0 + k] = acc + D[d] * u[b, d, t0 + k]
            h[0] = h[kn]
        last[b, d] = h[0]


def _scan_with_state_term(x, delta, A, B, C, D, h0) -> tuple[torch.Tensor, torch.Tensor]:
    """The scan from zero (any backend) plus the initial state's share, in chunked torch."""
    y, last = selective_scan(
        x, delta, A, B.transpose(1, 2), C.transpose(1, 2), D.float(), return_last_state=True
    )
    log_decay = delta.float().cumsum(-1)  # (b, d, L): sum of delta up to t
    h0, C = h0.float(), C.float()
    y = y.float()
    for t0 in range(0, x.shape[-1], _TIME_CHUNK):
        decay = torch.exp(log_decay[..., t0 : t0 + _TIME_CHUNK, None] * A[:, None])  # b d T N
        c = C[:, t0 : t0 + _TIME_CHUNK]
        y[..., t0 : t0 + _TIME_CHUNK] += torch.einsum("bdtn,bdn,btn->bdt", decay, h0, c)
    return y, last + torch.exp(log_decay[..., -1, None] * A) * h0
