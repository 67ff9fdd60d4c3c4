"""Learned local token merging (MergeDNA's Local Encoder layer), vectorised over the batch.

A :class:`MergeState` holds the current tokens of a batch: their features, how many bases each
holds, which are real (not padding), and for every base the index of the token holding it
(``source``). One :class:`TokenMerge` layer scores every adjacent pair of tokens by the cosine
similarity of a learned projection and merges the most similar non-overlapping pairs:

* pairs compete over the whole sequence: each row gets a budget of merges (``n_merges``, see
  :func:`merge_budget`), and the budget goes to the best pairs wherever they are, so a
  predictable region can take many merges and a dense one few;
* the chosen pairs are those of the greedy matching (best pair first, its neighbours then
  excluded), the ``n_merges`` best of it: :func:`select_merges` finds it in a few parallel
  rounds (a pair wins when it beats both still-open neighbours), with no per-example loop;
* a merged token never holds more than ``window`` bases, and padding never merges;
* merged features are the size-weighted average of the pair.

A pair's score is the cosine similarity less ``density_weight`` x the mean predicted density
of its two tokens (:meth:`TokenMerge.densities`, a probe the model trains on its masked-token
loss), so predictable neighbours merge first. The choice is discrete; gradients also reach the
scores through ``MergeState.gate``, a straight-through merge gate: exactly 1 in value, with
derivative 1 with respect to the score of every merge the token went through. A model that
weights what merging cost by ``(gate - 1)`` (see :class:`~bioseq.models.merge_lm.MergeLM`) learns
to give low scores to costly merges, without changing any forward value.

>>> import torch
>>> from bioseq.models.modules.merge import MergeState, TokenMerge, merge_budget
>>> state = MergeState.from_bases(torch.randn(2, 40, 16), torch.ones(2, 40, dtype=torch.bool))
>>> layer = TokenMerge(d_model=16, window=16)
>>> state = layer(state, merge_budget(state, ratio=1.25, layer=0, n_layers=1))
>>> state.bases_per_token.tolist()  # 40 bases in 32 tokens
[1.25, 1.25]
>>> torch.allclose(state.source_matrix() @ state.hidden, state.unmerge(state.hidden))
True
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class MergeState:
    """The tokens of a batch while merging (N tokens over L bases).

    ``hidden`` (batch, N, d) token features; ``sizes`` (batch, N) bases per token (float);
    ``real`` (batch, N) False for padding and empty slots; ``source`` (batch, L) the token holding
    each base; ``base_mask`` (batch, L) True at real bases; ``gate`` (batch, N) the
    straight-through merge gate (1 in value); ``merges`` the pairs each layer merged so far (to
    repeat them on other features, see :meth:`TokenMerge.forward`); ``layer_inputs`` each merge
    layer's input ``(detached features, source, real)``, on which its density probe trains.
    """

    hidden: torch.Tensor
    sizes: torch.Tensor
    real: torch.Tensor
    source: torch.Tensor
    base_mask: torch.Tensor
    gate: torch.Tensor
    merges: tuple[torch.Tensor, ...] = ()
    layer_inputs: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor], ...] = ()

    @classmethod
    def from_bases(cls, hidden: torch.Tensor, mask: torch.Tensor) -> MergeState:
        """One token per base; ``mask`` (batch, L) True at real bases."""
        batch, length = mask.shape
        source = torch.arange(length, device=hidden.device).expand(batch, length)
        ones = torch.ones(batch, length, device=hidden.device)
        return cls(hidden, ones, mask.bool(), source, mask.bool(), ones)

    @property
    def n_tokens(self) -> torch.Tensor:
        """Real tokens per row (batch,)."""
        return self.real.sum(1)

    @property
    def bases_per_token(self) -> torch.Tensor:
        """Real bases / real tokens per row (batch,)."""
        return self.base_mask.sum(1) / self.n_tokens.clamp(min=1)

    def source_matrix(self) -> torch.Tensor:
        """The dense assignment S (batch, L, N): S[b, i, t] = 1 when token t holds base i."""
        return F.one_hot(self.source, self.hidden.shape[1]).to(self.hidden.dtype)

    def unmerge(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token features (batch, N, d) back at base resolution (batch, L, d): ``S @ tokens``,
        computed as a gather."""
        index = self.source[..., None].expand(-1, -1, tokens.shape[-1])
        return tokens.gather(1, index)

    def offsets(self) -> torch.Tensor:
        """Each base's position inside its token (batch, L), 0 at a token's first base."""
        length = self.source.shape[1]
        positions = torch.arange(length, device=self.source.device).expand_as(self.source)
        starts = F.pad(self.source[:, 1:] != self.source[:, :-1], (1, 0), value=True)
        return positions - torch.where(starts, positions, 0).cummax(1).values

    def token_lengths(self) -> list[list[int]]:
        """Bases per real token, in order, one list per row."""
        return [s[r].long().tolist() for s, r in zip(self.sizes, self.real, strict=True)]


def merge_budget(state: MergeState, ratio: float, layer: int, n_layers: int) -> torch.Tensor:
    """Merges per row for layer ``layer`` of ``n_layers`` so that the real tokens fall
    geometrically to ``ceil(bases / ratio)`` after the last layer (batch,)."""
    factor = ratio ** ((layer + 1) / n_layers)
    target = torch.ceil(state.base_mask.sum(1).double() / factor).long()
    return (state.n_tokens - target).clamp(min=0)


def select_merges(
    scores: torch.Tensor, valid: torch.Tensor, n_merges: torch.Tensor
) -> torch.Tensor:
    """The pairs to merge (batch, P) from pair scores (batch, P), pair i joining tokens i, i+1.

    The greedy matching over ``valid`` pairs (highest score first; between equal neighbours the
    even-indexed pair first), then its ``n_merges[b]`` best pairs (equal scores: leftmost).
    """
    even = torch.arange(scores.shape[1], device=scores.device) % 2 == 0
    beats_next = (scores[:, :-1] > scores[:, 1:]) | ((scores[:, :-1] == scores[:, 1:]) & even[:-1])
    alive, chosen = valid.clone(), torch.zeros_like(valid)
    while alive.any():
        # a pair wins this round when it beats each neighbour still open
        left_ok = F.pad(~alive[:, :-1] | ~beats_next, (1, 0), value=True)
        right_ok = F.pad(~alive[:, 1:] | beats_next, (0, 1), value=True)
        won = alive & left_ok & right_ok
        chosen |= won
        alive &= ~(won | F.pad(won[:, 1:], (0, 1)) | F.pad(won[:, :-1], (1, 0)))
    order = (
        scores.masked_fill(~chosen, -torch.inf).sort(dim=1, descending=True, stable=True).indices
    )
    positions = torch.arange(order.shape[1], device=order.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(1, order, positions)
    return chosen & (ranks < n_merges[:, None])


def merge_pairs(state: MergeState, chosen: torch.Tensor, scores: torch.Tensor) -> MergeState:
    """Merge tokens i and i+1 wherever ``chosen[:, i]``: size-weighted average features, summed
    sizes, the tokens renumbered (rows right-padded with empty slots to the longest row)."""
    absorbed = F.pad(chosen, (1, 0))  # token j joins token j - 1
    index = (~absorbed).long().cumsum(1) - 1  # new index of every old token
    n_new = int(index[:, -1].max()) + 1
    batch, _, d = state.hidden.shape
    sizes = state.sizes.new_zeros(batch, n_new).scatter_add_(1, index, state.sizes)
    weighted = state.hidden * state.sizes[..., None].to(state.hidden.dtype)
    summed = weighted.new_zeros(batch, n_new, d).scatter_add_(
        1, index[..., None].expand(-1, -1, d), weighted
    )
    hidden = summed / sizes.clamp(min=1)[..., None].to(summed.dtype)
    real = state.real.new_zeros(batch, n_new).scatter_(1, index, state.real)
    # straight-through gate: value 1, d gate / d score = 1 for every merge the token went through
    step = (scores - scores.detach()).masked_fill(~chosen, 0)
    gate = (state.gate - 1).new_zeros(batch, n_new)
    gate = gate.scatter_add(1, index, state.gate - 1).scatter_add(1, index[:, :-1], step) + 1
    source = index.gather(1, state.source)
    merges = (*state.merges, chosen)
    inputs = (*state.layer_inputs, (state.hidden.detach(), state.source, state.real))
    return MergeState(hidden, sizes, real, source, state.base_mask, gate, merges, inputs)


class LocalConv(nn.Module):
    """Non-causal depthwise convolution over tokens then a linear map: the local mixing in front
    of each merge layer (padding is zeroed first, so it adds nothing)."""

    def __init__(self, d_model: int, kernel_size: int = 9) -> None:
        super().__init__()
        self.conv = nn.Conv1d(
            d_model, d_model, kernel_size, groups=d_model, padding=kernel_size // 2
        )
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)
        return self.out_proj(self.conv(x.transpose(1, 2)).transpose(1, 2))


class TokenMerge(nn.Module):
    """One merge layer: score adjacent tokens, merge the best ``n_merges`` pairs per row."""

    def __init__(
        self, d_model: int, merge_dim: int = 32, window: int = 16, density_weight: float = 2.0
    ) -> None:
        super().__init__()
        self.window = window
        self.density_weight = density_weight
        self.proj = nn.Linear(d_model, merge_dim, bias=False)
        self.density = nn.Sequential(
            nn.Linear(d_model, merge_dim), nn.GELU(), nn.Linear(merge_dim, 1)
        )

    def densities(self, hidden: torch.Tensor) -> torch.Tensor:
        """Predicted information density of each token (batch, N): the nats per base the model
        would need to predict its bases were they masked. Reads detached features: it is a
        probe of them, trained by its own regression loss, not a pressure on them."""
        return self.density(hidden.detach())[..., 0].float()

    def scores(self, hidden: torch.Tensor) -> torch.Tensor:
        """Cosine similarity of the projected features of tokens i and i+1, less
        ``density_weight`` x their mean predicted density (batch, N - 1): similar, predictable
        neighbours merge first."""
        keys = F.normalize(self.proj(hidden).float(), dim=-1)
        similarity = (keys[:, :-1] * keys[:, 1:]).sum(-1)
        if self.density_weight == 0:
            return similarity
        density = self.densities(hidden)
        return similarity - self.density_weight * 0.5 * (density[:, :-1] + density[:, 1:])

    def valid_pairs(self, state: MergeState) -> torch.Tensor:
        """Pairs of two real tokens holding at most ``window`` bases together."""
        fits = state.sizes[:, :-1] + state.sizes[:, 1:] <= self.window
        return fits & state.real[:, :-1] & state.real[:, 1:]

    def forward(
        self,
        state: MergeState,
        n_merges: torch.Tensor | None = None,
        chosen: torch.Tensor | None = None,
    ) -> MergeState:
        """Merge ``n_merges`` (batch,) pairs per row, or exactly the pairs ``chosen`` (batch,
        N - 1), e.g. an earlier pass's ``merges[i]``, to repeat its decisions on other features."""
        if chosen is None and state.hidden.shape[1] < 2:
            chosen = state.real.new_zeros(state.real.shape[0], 0)
        scores = self.scores(state.hidden)
        if chosen is None:
            chosen = select_merges(scores.detach(), self.valid_pairs(state), n_merges)
        return merge_pairs(state, chosen, scores)
