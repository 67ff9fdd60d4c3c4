"""StripedHyena 2 (Evo 2) blocks: RMSNorm, gated MLP, the hcs / hcm / hcl Hyena cascade and
rotary attention, each with a parallel forward and a recurrent step for generation.

Naming contract (the release checkpoint's keys, relative to ``blocks.{i}.``; d = hidden size,
G = filter groups, m = ``inner_mlp_size``, S = ``state_size``):

=====================================  ===================  ===============================
key                                    shape                blocks
=====================================  ===================  ===============================
``pre_norm.scale``, ``post_norm.scale``  (d,)               all
``mlp.l1.weight``, ``mlp.l2.weight``     (m, d)             all (no biases in the MLP)
``mlp.l3.weight``                        (d, m)             all
``projections.weight``                   (3d, d)            hcs, hcm, hcl (no bias)
``filter.short_filter_weight``           (3d, 1, 3)         hcs, hcm, hcl
``out_filter_dense.weight`` / ``.bias``  (d, d) / (d,)      hcs, hcm, hcl
``filter.h``                             (G, 1, 7 | 128)    hcs | hcm
``filter.D``                             (d,)               hcm, hcl
``filter.log_poles``                     (d, S, 1)          hcl
``filter.residues``                      (d, S)             hcl
``inner_mha_cls.Wqkv.weight``            (3d, d)            attn (no bias)
``inner_mha_cls.out_proj.weight/.bias``  (d, d) / (d,)      attn
=====================================  ===================  ===============================

``inner_mha_cls.rotary_emb.inv_freq`` is a non-persistent buffer (not in our state dict). The one
difference from the release: our ``Wqkv.weight`` rows are in ({q,k,v}, head, head_dim) order,
the release's in (head, {q,k,v}, head_dim); the converter permutes them.

>>> import torch
>>> from bioseq.models.config import StripedHyenaConfig
>>> from bioseq.models.modules.striped_hyena import make_block
>>> config = StripedHyenaConfig.from_preset("tiny", vocab_size=512, hcm_filter_length=16)
>>> block = make_block(config, 2)  # an hcl block
>>> y, state = block(torch.randn(1, 10, 128), use_cache=True)
>>> y.shape, block.filter.log_poles.shape
(torch.Size([1, 10, 128]), torch.Size([128, 16, 1]))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from bioseq.models.config import StripedHyenaConfig
from bioseq.models.modules.attention import rotary, rotary_inv_freq
from bioseq.models.ops.fftconv import fftconv

_MODAL_BLOCK = 256  # positions of the hcl filter built from one table of exponentials


class Evo2RMSNorm(nn.Module):
    """``scale * x / (||x|| / sqrt(d) + eps)``: eps added outside the root, as Evo 2 does."""

    def __init__(self, d: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.scale = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        rms = x32.pow(2).mean(-1, keepdim=True).sqrt()
        return (self.scale.float() * x32 / (rms + self.eps)).to(x.dtype)


class GatedMLP(nn.Module):
    """``l3(act(l1 x) * l2 x)``; act is exact GELU, or the identity (Evo 2 past layer 0)."""

    def __init__(self, d: int, inner: int, gelu: bool = True) -> None:
        super().__init__()
        self.l1 = nn.Linear(d, inner, bias=False)
        self.l2 = nn.Linear(d, inner, bias=False)
        self.l3 = nn.Linear(inner, d, bias=False)
        self.gelu = gelu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.l1(x)
        return self.l3((F.gelu(a) if self.gelu else a) * self.l2(x))


#: hcm decay presets (savanna's explicit_single_decay): log10 of the slowest and fastest rates
DECAY_PRESETS = {"strong": (0.0, 2.0), "normal": (-1.0, 2.0), "weak": (-2.0, 2.0)}
HCL_RATE_MIN, HCL_RATE_MAX = 0.01, 0.1  # savanna's modal_gamma_min / modal_gamma_max
MAX_LOG_POLE = -1e-6  # the projection's bound: |pole| = exp(log_pole) < 1


def decay_window(groups: int, taps: int, preset: str, device=None) -> torch.Tensor:
    """The hcm exponential decay window (groups, taps): exp(-r_g t), t = 0..1 over the taps,
    rates r_g log-spaced over the preset's range, one per filter group (fp32)."""
    lo, hi = DECAY_PRESETS[preset]
    rates = torch.logspace(lo, hi, groups, device=device, dtype=torch.float32)
    t = torch.linspace(0, 1, taps, device=device, dtype=torch.float32)
    return torch.exp(-rates[:, None] * t)


class HyenaCascade(nn.Module):
    """The ``filter`` of a Hyena block: 3-tap featurizer, gating and the inner filter.

    Input z = projections(x) (batch, L, 3d); output x2 * (filter(x1 * v) + D * x1 * v)
    (batch, L, d), all in fp32 inside. ``kind``: ``hcs`` (cross-correlation, last tap on the
    current step, no D), ``hcm`` (convolution, h[0] on the current step, plus D) or ``hcl``
    (modal: h[t] = sum_s residues[s] exp(log_poles[s] t), plus D). State: (the last
    ``short_filter_length - 1`` inputs z, then the last ``taps - 1`` gated inputs or the hcl
    modal state (batch, d, S)), all fp32. hcm is the convolution plus D at every length; the
    original switches to the hcs path below 128 taps (the released configs use 128).
    """

    def __init__(self, config: StripedHyenaConfig, kind: str) -> None:
        super().__init__()
        d = config.d_model
        self.kind, self.d = kind, d
        self.max_seqlen = config.max_seqlen
        self.short_filter_weight = nn.Parameter(torch.empty(3 * d, 1, config.short_filter_length))
        if kind == "hcl":
            self.log_poles = nn.Parameter(torch.empty(d, config.state_size, 1))
            self.residues = nn.Parameter(torch.empty(d, config.state_size))
        else:
            groups = getattr(config, f"{kind}_filter_groups")
            taps = getattr(config, f"{kind}_filter_length")
            self.h = nn.Parameter(torch.empty(groups, 1, taps))
        if kind != "hcs":
            self.D = nn.Parameter(torch.empty(d))
        # training only (None for released weights: their h already holds the effective taps)
        self.decay_preset = getattr(config, "hcm_decay_preset", None) if kind == "hcm" else None
        for p in self.parameters():
            p.no_weight_decay = True  # as savanna's hyena_filter_no_wd
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Random init for training, after the StripedHyena 2 training code (savanna):
        hcl log_poles = -e^-1 * U(0.01, 0.1) (its -exp(p) exp(gamma) with p = -1, gamma =
        log U), residues 0.1 N(0, 1/S); hcm raw taps 1e-5 N(0, 1/taps) (times the decay window
        in the forward); D ~ U(+-1/sqrt(taps)), taps = 128 or, for hcl, ``max_seqlen``. The two
        uniforms are laid out by their quantiles (deterministic: the random stream, and so
        seeded tests, stay as they were). Short filters N(0, 1/k) and hcs taps N(0, 1/taps)
        with a decay towards the past (ours)."""
        nn.init.normal_(self.short_filter_weight, std=self.short_filter_weight.shape[-1] ** -0.5)
        if self.kind == "hcl":
            S = self.log_poles.shape[1]
            # U(0.01, 0.1) by its S quantiles, the same in every channel (no random draws)
            q = (torch.arange(S, dtype=torch.float32, device=self.log_poles.device) + 0.5) / S
            rates = HCL_RATE_MIN + (HCL_RATE_MAX - HCL_RATE_MIN) * q
            self.log_poles.copy_(-math.exp(-1.0) * rates.expand(self.d, S).unsqueeze(-1))
            nn.init.normal_(self.residues, std=0.1 * S**-0.5)
            kernel = self.max_seqlen
        else:
            taps = kernel = self.h.shape[-1]
            if self.kind == "hcm":
                self.h.copy_(torch.randn_like(self.h) * 1e-5 * taps**-0.5)
                if self.decay_preset is None:  # no window in the forward: init the product
                    w = decay_window(self.h.shape[0], taps, "weak", self.h.device)
                    self.h.mul_(w.unsqueeze(1))
            else:
                t = torch.arange(taps, dtype=torch.float32, device=self.h.device)
                decay = torch.exp(-t / max(1.0, taps / 4)).flip(-1)
                self.h.copy_(torch.randn_like(self.h) * taps**-0.5 * decay)  # last tap: now
        if hasattr(self, "D"):  # U(+-1/sqrt(kernel)) by its d quantiles over the channels
            q = (torch.arange(self.d, dtype=torch.float32, device=self.D.device) + 0.5) / self.d
            self.D.copy_((2 * q - 1) * kernel**-0.5)

    @torch.no_grad()
    def constrain_(self, max_log_pole: float = MAX_LOG_POLE) -> None:
        """Project hcl log_poles onto ``<= max_log_pole`` (< 0), so every pole stays inside
        the unit circle; the training loop calls it after each optimizer step."""
        if self.kind == "hcl":
            self.log_poles.clamp_(max=max_log_pole)

    # -- filters, channel-wise ----------------------------------------------------------------
    def taps(self) -> torch.Tensor:
        """hcs / hcm taps per channel (d, taps), fp32 (channel c uses group c // (d / G))."""
        h = self.h.float()[:, 0]
        if self.decay_preset is not None:  # hcm trained with savanna's fixed decay window
            h = h * decay_window(h.shape[0], h.shape[1], self.decay_preset, h.device)
        return h.repeat_interleave(self.d // self.h.shape[0], dim=0)

    def modal_filter(self, L: int) -> torch.Tensor:
        """hcl's h (d, L) = sum_s residues[:, s] exp(log_poles[:, s] t), built in fp32.

        In blocks of ``_MODAL_BLOCK`` positions: exp(p (t0 + j)) = exp(p t0) exp(p j), so one
        (d, S, block) table of exp(p j) and a batched matrix product per block replace d x S x L
        exponentials (memory-bound at long L: 15 ns an element at 64k).
        """
        lp, R = self.log_poles.float()[..., 0], self.residues.float()  # (d, S)
        width = min(L, _MODAL_BLOCK)
        j = torch.arange(width, device=lp.device, dtype=torch.float32)
        table = torch.exp(lp[..., None] * j)  # (d, S, width)
        blocks = []
        for t0 in range(0, L, width):
            coefficient = R * torch.exp(lp * t0)  # (d, S): the residues decayed to t0
            n = min(width, L - t0)
            blocks.append(torch.bmm(coefficient[:, None, :], table[..., :n])[:, 0])
        return torch.cat(blocks, dim=-1)

    def _split(self, zf: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """De-interleave (…, 3d) channels: 3i -> x2, 3i+1 -> x1, 3i+2 -> v; return x2, x1 * v."""
        x2, x1, v = zf.unflatten(-1, (self.d, 3)).unbind(-1)
        return x2, x1 * v

    # -- parallel -----------------------------------------------------------------------------
    def forward(self, z: torch.Tensor, use_cache: bool = False) -> tuple[torch.Tensor, object]:
        """z (batch, L, 3d) -> (batch, L, d) in z's dtype, and the state after it if asked."""
        L = z.shape[1]
        z32 = z.float().transpose(1, 2)  # (batch, 3d, L)
        k = self.short_filter_weight.shape[-1]
        zf = F.conv1d(F.pad(z32, (k - 1, 0)), self.short_filter_weight.float(), groups=3 * self.d)
        x2, g = self._split(zf.transpose(1, 2))
        g = g.transpose(1, 2)  # (batch, d, L)
        if self.kind == "hcs":
            taps = self.taps()
            y = F.conv1d(F.pad(g, (taps.shape[-1] - 1, 0)), taps.unsqueeze(1), groups=self.d)
        elif self.kind == "hcm":
            y = fftconv(g, self.taps(), self.D)
        else:
            y = fftconv(g, self.modal_filter(L), self.D)
        out = (x2 * y.transpose(1, 2)).to(z.dtype)
        if not use_cache:
            return out, None
        return out, (_last(z32, k - 1), self._inner_state(g))

    def _inner_state(self, g: torch.Tensor) -> torch.Tensor:
        if self.kind != "hcl":
            return _last(g, self.h.shape[-1] - 1)
        # state_s = sum_k p_s^(L-1-k) g_k: what the recurrence holds after the prompt
        L = g.shape[-1]
        age = torch.arange(L - 1, -1, -1, device=g.device, dtype=torch.float32)
        lp = self.log_poles.float()[..., 0]
        return torch.stack(
            [(g * torch.exp(lp[:, s : s + 1] * age)).sum(-1) for s in range(lp.shape[1])], -1
        )

    # -- recurrent ----------------------------------------------------------------------------
    def step(self, z: torch.Tensor, state: tuple) -> tuple[torch.Tensor, tuple]:
        """Advance over z (batch, L, 3d) one token at a time from ``state``; O(1) per token
        for hcl, O(taps) for hcs / hcm."""
        fir, inner = state
        w = self.short_filter_weight.float()[:, 0]  # (3d, k)
        if self.kind == "hcl":
            p = torch.exp(self.log_poles.float()[..., 0])
            R = self.residues.float()
        else:
            taps = self.taps()
            if self.kind == "hcm":
                taps = taps.flip(-1)  # h[0] on the current (last) element of the window
        outs = []
        for t in range(z.shape[1]):
            window = torch.cat([fir, z[:, t].float().unsqueeze(-1)], -1)  # (batch, 3d, k)
            fir = window[..., 1:]
            x2, g = self._split((window * w).sum(-1))
            if self.kind == "hcl":
                inner = p * inner + g.unsqueeze(-1)
                y = (R * inner).sum(-1)
            else:
                gw = torch.cat([inner, g.unsqueeze(-1)], -1)
                inner = gw[..., 1:]
                y = (gw * taps).sum(-1)
            if self.kind != "hcs":
                y = y + self.D.float() * g
            outs.append(x2 * y)
        return torch.stack(outs, 1).to(z.dtype), (fir, inner)


def _last(x: torch.Tensor, n: int) -> torch.Tensor:
    """The last n steps of x (batch, C, L), zeros before the start: exact for any L."""
    return F.pad(x, (n, 0))[..., x.shape[-1] :] if n > 0 else x[..., :0]


class RotaryEmbedding(nn.Module):
    """Holds ``inv_freq`` (non-persistent) for GPT-NeoX half-split rotary positions."""

    def __init__(self, head_dim: int, base: float) -> None:
        super().__init__()
        self.head_dim, self.base = head_dim, base
        self.register_buffer("inv_freq", rotary_inv_freq(head_dim, base), persistent=False)

    @torch.no_grad()
    def reset_parameters(self) -> None:
        self.inv_freq.copy_(rotary_inv_freq(self.head_dim, self.base, self.inv_freq.device))

    def frequencies(self, device: torch.device) -> torch.Tensor:
        if self.inv_freq.dtype == torch.float32 and self.inv_freq.device == device:
            return self.inv_freq
        return rotary_inv_freq(self.head_dim, self.base, device)  # after .to(bf16), recompute


class StripedAttention(nn.Module):
    """Causal multi-head attention (SDPA), rotary over the whole head, out_proj with bias.

    State: keys and values so far, (batch, heads, T, head_dim) each.
    """

    def __init__(self, d: int, n_head: int, base: float) -> None:
        super().__init__()
        self.n_head, self.head_dim = n_head, d // n_head
        self.Wqkv = nn.Linear(d, 3 * d, bias=False)
        self.out_proj = nn.Linear(d, d, bias=True)
        self.rotary_emb = RotaryEmbedding(self.head_dim, base)

    def forward(
        self, x: torch.Tensor, state: tuple | None = None, use_cache: bool = False
    ) -> tuple[torch.Tensor, tuple | None]:
        batch, L, d = x.shape
        q, k, v = self.Wqkv(x).view(batch, L, 3, self.n_head, self.head_dim).unbind(2)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (batch, heads, L, head_dim)
        past = 0 if state is None else state[0].shape[2]
        positions = torch.arange(past, past + L, device=x.device).expand(batch, L)
        inv_freq = self.rotary_emb.frequencies(x.device)
        q = rotary(q, positions, self.rotary_emb.base, inv_freq)
        k = rotary(k, positions, self.rotary_emb.base, inv_freq)
        if state is not None:
            k, v = torch.cat([state[0], k], 2), torch.cat([state[1], v], 2)
        total = k.shape[2]
        mask = None
        if total != L:  # queries sit at the end of the keys
            mask = torch.ones(L, total, dtype=torch.bool, device=x.device).tril(total - L)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, is_causal=mask is None, scale=1 / math.sqrt(self.head_dim)
        )
        out = self.out_proj(y.transpose(1, 2).reshape(batch, L, d))
        return out, ((k, v) if use_cache or state is not None else None)


class StripedHyenaBlock(nn.Module):
    """u += mixer(pre_norm(u)); u += mlp(post_norm(u)); the mixer is Hyena or attention."""

    def __init__(self, config: StripedHyenaConfig, layer_idx: int) -> None:
        super().__init__()
        d = config.d_model
        self.kind = config.layer_kind(layer_idx)
        self.pre_norm = Evo2RMSNorm(d, config.norm_epsilon)
        self.post_norm = Evo2RMSNorm(d, config.norm_epsilon)
        gelu = not config.evo2_style_activations or layer_idx == 0
        self.mlp = GatedMLP(d, config.inner_mlp_size, gelu)
        if self.kind == "attn":
            self.inner_mha_cls = StripedAttention(
                d, config.num_attention_heads, config.rotary_emb_base
            )
        else:
            self.projections = nn.Linear(d, 3 * d, bias=False)
            self.filter = HyenaCascade(config, self.kind)
            self.out_filter_dense = nn.Linear(d, d, bias=True)

    def forward(
        self, u: torch.Tensor, state: tuple | None = None, use_cache: bool = False
    ) -> tuple[torch.Tensor, tuple | None]:
        """u (batch, L, d); ``state`` continues from earlier tokens; returns (u, new state)."""
        x = self.pre_norm(u)
        if self.kind == "attn":
            y, state = self.inner_mha_cls(x, state, use_cache)
        else:
            z = self.projections(x)
            if state is None:
                y, state = self.filter(z, use_cache)
            else:
                y, state = self.filter.step(z, state)
            y = self.out_filter_dense(y)
        u = u + y
        return u + self.mlp(self.post_norm(u)), state


def make_block(config: StripedHyenaConfig, layer_idx: int) -> StripedHyenaBlock:
    """Block ``layer_idx`` of the kind the config's layer lists give it."""
    return StripedHyenaBlock(config, layer_idx)
