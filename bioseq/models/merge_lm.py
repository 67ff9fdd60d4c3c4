"""MergeLM: MergeDNA-style learned tokenization, a hierarchical autoencoder over single bases.

1. Local Encoder (the tokenizer): ``n_merge_layer`` x (a local mixing block, a
   :class:`~bioseq.models.modules.merge.TokenMerge` layer) bring the bases to about
   ``merge_ratio`` bases per token, no token longer than ``window`` bases. Every row's merges
   go to its most similar adjacent pairs wherever they are, so repeats can merge more.
2. Latent Encoder: ``n_layer`` blocks of the ``backbone`` (HyenaLM, MambaLM or TransformerLM,
   built and run by those classes' own code) over the merged tokens, left to right.
3. Latent Decoder: ``n_decoder_layer`` blocks of the same backbone, right to left, so every
   token's output depends on the whole sequence (the backbones are causal).
4. Local Decoder: tokens back at base resolution through the source matrix S (a gather), plus
   each base's offset inside its token and the token's length, then local blocks and a head.

Pretraining loss (``labels`` given; the targets are the input bases themselves, ``labels`` only
drops positions set to -100):

* adaptive masked token modelling: about ``mask_ratio`` of each row's tokens are masked, drawn
  with probability proportional to 1 / bases in the token (the least merged tokens, those the
  merging judged informative, most often). Their bases enter the local encoder as a [MASK]
  embedding, with the merge decisions of an unmasked pass kept, so neighbouring tokens cannot
  carry the hidden bases; the model predicts every base of the masked tokens;
* merged token reconstruction: every other base is predicted from the merged representation;
* loss = masked-token loss + ``reconstruction_weight`` (0.25) x reconstruction loss (mean
  cross-entropy per base, nats).

What makes the tokenization adaptive: each merge layer scores a pair by the cosine similarity
of a learned projection less ``density_weight`` x the pair's predicted information density, from
a small probe trained to predict the masked-token loss (nats per base) its tokens' bases get when
masked. Predictable stretches (repeats) thus take the merge budget and dense ones keep fine
tokens. The choice itself is discrete; the scores also learn through a straight-through gate
(``MergeState.gate``, 1 in value): a zero-valued term whose gradient lowers the score of merges
whose bases reconstruct worse than the batch's mean (a REINFORCE-style estimate).

Not reproduced: MergeDNA's further global merge inside the latent encoder (the latent encoder
keeps every token); the masking choice uses token lengths instead.

>>> import torch
>>> from bioseq.models import MergeConfig, MergeLM
>>> model = MergeLM(MergeConfig.from_preset("tiny", vocab_size=10, backbone="hyena")).eval()
>>> ids = torch.randint(5, 9, (2, 64))
>>> out = model(ids, labels=ids)
>>> out.logits.shape, round(float(out.bases_per_token), 2)
(torch.Size([2, 64, 10]), 2.0)
>>> len(model.segment("ACGT" * 8))  # 32 bases in 16 tokens
16
>>> hidden = torch.zeros(2, 64, dtype=torch.bool)
>>> hidden[:, 30] = True  # base 30 and the rest of its token enter as [MASK]
>>> model.masked_logits(ids, hidden).shape  # variant scores: bioseq.tasks.variants.masked
torch.Size([2, 64, 10])
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from bioseq.io.inputs import expand_inputs, iter_sequences
from bioseq.models.config import BioseqConfig, MergeConfig
from bioseq.models.hyena_lm import HyenaModel
from bioseq.models.lm import Backbone, BackboneOutput, BioseqModel, BioseqPreTrainedModel, Block
from bioseq.models.mamba_lm import MambaModel
from bioseq.models.modules.merge import LocalConv, MergeState, TokenMerge, merge_budget
from bioseq.models.modules.mlp import MLP
from bioseq.models.transformer_lm import TransformerModel
from bioseq.tokenizers.char import CharTokenizer

BACKBONE_CLASSES = {"hyena": HyenaModel, "mamba": MambaModel, "transformer": TransformerModel}
IGNORE = -100


@dataclass
class MergeOutput(ModelOutput):
    """The MergeDNA loss and its terms (nats per base; ``density_loss``: the density probes'
    squared error), per-base logits, the learned bases per token over the batch's real bases,
    and the token holding each base (batch, L)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    bases_per_token: torch.Tensor | None = None
    masked_token_loss: torch.Tensor | None = None
    reconstruction_loss: torch.Tensor | None = None
    density_loss: torch.Tensor | None = None
    source: torch.Tensor | None = None


def _local_block(config: MergeConfig) -> Block:
    mixer = LocalConv(config.d_model, config.local_kernel)
    mlp = MLP(config.d_model, config.local_d_inner)
    mixer.out_proj._residual_projection = True
    mlp.fc2._residual_projection = True
    norm = nn.LayerNorm(config.d_model, eps=config.norm_epsilon)
    norm2 = nn.LayerNorm(config.d_model, eps=config.norm_epsilon)
    return Block(norm, mixer, norm2, mlp, residual_in_fp32=config.residual_in_fp32)


class LocalEncoder(nn.Module):
    """``n_merge_layer`` x (local mixing block, merge layer) over single-base features."""

    def __init__(self, config: MergeConfig) -> None:
        super().__init__()
        self.ratio = config.merge_ratio
        self.blocks = nn.ModuleList(_local_block(config) for _ in range(config.n_merge_layer))
        self.merges = nn.ModuleList(
            TokenMerge(config.d_model, config.merge_dim, config.window, config.density_weight)
            for _ in range(config.n_merge_layer)
        )

    def forward(
        self, hidden: torch.Tensor, mask: torch.Tensor, merges: tuple | None = None
    ) -> MergeState:
        """Merge the bases (batch, L, d) at ``mask``; with ``merges`` (an earlier state's),
        repeat those decisions instead of choosing."""
        state = MergeState.from_bases(hidden, mask)
        n = len(self.merges)
        for i, (block, merge) in enumerate(zip(self.blocks, self.merges, strict=True)):
            state = dataclasses.replace(state, hidden=block(state.hidden, mask=state.real))
            if merges is None:
                state = merge(state, merge_budget(state, self.ratio, i, n))
            else:
                state = merge(state, chosen=merges[i])
        return state


class LatentStack(nn.Module):
    """The blocks and final norm of a HyenaLM, MambaLM or TransformerLM over token features,
    built and run by that backbone class's own ``build_layers`` and ``_run_layers``."""

    def __init__(self, backbone_class: type[BioseqModel], config: BioseqConfig) -> None:
        super().__init__()
        self.backbone_class = backbone_class
        self.backbone = Backbone(
            backbone_class.build_layers(config), backbone_class.build_norm(config)
        )

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden, _ = self.backbone_class._run_layers(self.backbone, hidden, attention_mask=mask)
        return self.backbone.norm_f(hidden.to(self.backbone.norm_f.weight.dtype))


class MergeModel(PreTrainedModel):
    """MergeLM without its head (``AutoModel``): per-base features of the local decoder."""

    config_class = MergeConfig
    base_model_prefix = "merge"
    main_input_name = "input_ids"
    _init_weights = BioseqPreTrainedModel._init_weights
    _keys_to_ignore_on_load_unexpected = [r"^lm_head\."]  # loading a MergeLM's weights

    def __init__(self, config: MergeConfig) -> None:
        super().__init__(config)
        d, backbone = config.d_model, BACKBONE_CLASSES[config.backbone]
        self.embedding = nn.Embedding(config.padded_vocab_size, d)
        self.mask_embedding = nn.Embedding(1, d)
        self.local_encoder = LocalEncoder(config)
        self.latent_encoder = LatentStack(backbone, config.latent_config(config.n_layer))
        self.latent_decoder = LatentStack(backbone, config.latent_config(config.n_decoder_layer))
        self.offset_embedding = nn.Embedding(config.window, d)
        self.length_embedding = nn.Embedding(config.window + 1, d)
        self.local_decoder = nn.ModuleList(
            _local_block(config) for _ in range(config.n_local_decoder_layer)
        )
        self.norm_f = nn.LayerNorm(d, eps=config.norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BackboneOutput:
        """Per-base features (batch, L, d_model) of the unmasked input. ``hidden_states``: the
        base embeddings, the latent encoder's and decoder's outputs (each base reading its
        token's) and ``last_hidden_state``."""
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        mask = self._base_mask(input_ids, attention_mask)
        embedded = self.embedding(input_ids)
        collect = [embedded] if output_hidden_states else None
        hidden = self._decode_hidden(self.local_encoder(embedded, mask), collect)
        states = None if collect is None else (*collect, hidden)
        out = BackboneOutput(last_hidden_state=hidden, hidden_states=states)
        return out if return_dict is not False else out.to_tuple()

    def _decode_hidden(self, state: MergeState, collect: list | None = None) -> torch.Tensor:
        """Latent encoder (left to right), latent decoder (right to left), local decoder."""
        latent = self.latent_encoder(state.hidden, state.real)
        if collect is not None:
            collect.append(state.unmerge(latent))
        latent = self.latent_decoder(latent.flip(1), state.real.flip(1)).flip(1)
        if collect is not None:
            collect.append(state.unmerge(latent))
        window = self.config.window
        lengths = state.sizes.gather(1, state.source).long().clamp(max=window)
        hidden = state.unmerge(latent) + self.offset_embedding(
            state.offsets().clamp(max=window - 1)
        )
        hidden = hidden + self.length_embedding(lengths)
        for block in self.local_decoder:
            hidden = block(hidden, mask=state.base_mask)
        return self.norm_f(hidden.to(self.norm_f.weight.dtype))

    def _base_mask(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None):
        if attention_mask is not None:
            return attention_mask.bool()
        pad = getattr(self.config, "pad_token_id", None)
        if pad is None:
            return torch.ones_like(input_ids, dtype=torch.bool)
        return input_ids != pad


class MergeLM(MergeModel):
    """The MergeDNA model: :class:`MergeModel` and a per-base head (``AutoModelForMaskedLM``)."""

    def __init__(self, config: MergeConfig) -> None:
        super().__init__(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.post_init()  # initialises only the head

    # -- forward ------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        **kwargs,
    ) -> MergeOutput:
        """Per-base logits (batch, L, vocab_size) of the input bases; with ``labels`` the
        pretraining loss on a masked pass (see the module doc). ``attention_mask`` defaults to
        ``input_ids != pad_token_id``."""
        mask = self._base_mask(input_ids, attention_mask)
        if labels is None:
            state = self.local_encoder(self.embedding(input_ids), mask)
            return self._output(self._decode(state), state)
        with torch.no_grad():  # the tokenization, and which tokens to mask
            unmasked = self.local_encoder(self.embedding(input_ids), mask)
            masked = _bases_of(unmasked, self._choose_masked(unmasked)) & mask
        state = self._masked_pass(input_ids, mask, masked, unmasked)
        logits = self._decode(state)
        counted = mask & (labels != IGNORE)
        target = input_ids.masked_fill(~counted, IGNORE)
        ce = F.cross_entropy(
            logits.float().flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none"
        ).view_as(target)
        recon_at = counted & ~masked
        mtm, recon = _mean(ce, counted & masked), _mean(ce, recon_at)
        loss = mtm + self.config.reconstruction_weight * recon + _merge_cost(state, ce, recon_at)
        density = self._density_loss(unmasked, ce.detach(), counted & masked)
        return self._output(logits, state, loss + density, mtm, recon, density)

    def masked_logits(
        self,
        input_ids: torch.LongTensor,
        masked_bases: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Per-base logits (batch, L, vocab_size) with the bases at ``masked_bases`` (bool,
        batch x L) hidden, as in pretraining: the merges are those of the unmasked input and
        every token holding a masked base enters as [MASK] (whole tokens are masked).
        Deterministic in eval mode; the scores of masked-marginal variant scoring."""
        mask = self._base_mask(input_ids, attention_mask)
        with torch.no_grad():
            unmasked = self.local_encoder(self.embedding(input_ids), mask)
            masked = _bases_of(unmasked, _tokens_holding(unmasked, masked_bases & mask)) & mask
        return self._decode(self._masked_pass(input_ids, mask, masked, unmasked))

    def _masked_pass(
        self,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        masked: torch.Tensor,
        unmasked: MergeState,
    ) -> MergeState:
        """The local encoder with the bases at ``masked`` entering as the [MASK] embedding and
        the merge decisions of the ``unmasked`` pass repeated."""
        embedded = self.embedding(input_ids)
        embedded = torch.where(masked[..., None], self.mask_embedding.weight[0], embedded)
        return self.local_encoder(embedded, mask, merges=unmasked.merges)

    def _density_loss(self, state: MergeState, ce: torch.Tensor, masked: torch.Tensor):
        """Each merge layer's density probe, on the features that layer saw when it chose the
        merges (``state.layer_inputs``), regressed on the masked-token loss (nats per base) of
        the masked bases its tokens hold; squared error over tokens holding any."""
        total = ce.new_zeros(())
        weight = masked.to(ce.dtype)
        for merge, inputs in zip(self.local_encoder.merges, state.layer_inputs, strict=True):
            hidden, source, real = inputs
            count = weight.new_zeros(real.shape).scatter_add_(1, source, weight)
            summed = weight.new_zeros(real.shape).scatter_add_(1, source, ce * weight)
            target = summed / count.clamp(min=1)
            total = total + _mean((merge.densities(hidden) - target) ** 2, real & (count > 0))
        return total

    def _decode(self, state: MergeState) -> torch.Tensor:
        """Per-base logits of the merged ``state``."""
        return self.lm_head(self._decode_hidden(state))[..., : self.config.vocab_size]

    def _choose_masked(self, state: MergeState) -> torch.Tensor:
        """About ``mask_ratio`` of each row's real tokens (batch, N), drawn without replacement
        with probability proportional to 1 / length (Gumbel top-k); fixed draws in eval mode."""
        generator = None
        if not self.training:
            generator = torch.Generator(state.sizes.device).manual_seed(0)
        u = torch.rand(state.sizes.shape, generator=generator, device=state.sizes.device)
        keys = -state.sizes.clamp(min=1).log() - torch.log(-torch.log(u.clamp(1e-9, 1 - 1e-7)))
        order = keys.masked_fill(~state.real, -torch.inf).argsort(dim=1, descending=True)
        ranks = torch.empty_like(order).scatter_(
            1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
        )
        k = torch.round(state.n_tokens * self.config.mask_ratio)
        return state.real & (ranks < k[:, None])

    def _output(
        self, logits, state: MergeState, loss=None, mtm=None, recon=None, density=None
    ) -> MergeOutput:
        bases_per_token = state.base_mask.sum() / state.n_tokens.sum().clamp(min=1)
        return MergeOutput(
            loss=loss,
            logits=logits,
            bases_per_token=bases_per_token,
            masked_token_loss=mtm,
            reconstruction_loss=recon,
            density_loss=density,
            source=state.source,
        )

    # -- the learned tokenization --------------------------------------------------------
    @torch.no_grad()
    def merge_tokens(
        self, input_ids: torch.LongTensor, attention_mask: torch.Tensor | None = None
    ) -> MergeState:
        """The local encoder's tokens: ``.source`` (the token of each base), ``.token_lengths()``,
        ``.bases_per_token`` (per row), ``.source_matrix()``."""
        mask = self._base_mask(input_ids, attention_mask)
        return self.local_encoder(self.embedding(input_ids), mask)

    def segment(self, sequence: str, tokenizer=None) -> list[str]:
        """``sequence`` cut into the learned tokens, e.g. ``["AC", "G", "TTTT", ...]``."""
        tokenizer = tokenizer or CharTokenizer("dna")
        ids = torch.from_numpy(tokenizer.encode_array(sequence))[None]
        lengths = self.merge_tokens(ids.to(self.device)).token_lengths()[0]
        ends = torch.tensor(lengths).cumsum(0).tolist()
        return [sequence[end - n : end] for n, end in zip(lengths, ends, strict=True)]

    @torch.no_grad()
    def compression_report(
        self, paths, window: int | None = None, batch_size: int = 8, progress: bool = False
    ) -> list[dict]:
        """Learned bases per token on each DNA file: every contig cut into windows of
        ``window`` bases (default: the training context; a shorter last window kept), merged,
        and the tokens counted. One dict per file: ``file, bases, tokens, bases_per_token``.

        >>> model.compression_report(["genome.fa.gz"])  # doctest: +SKIP
        [{'file': 'genome.fa.gz', 'bases': 4641652, 'tokens': 1544813, 'bases_per_token': 3.0047}]
        """
        tokenizer = CharTokenizer("dna")
        window = window or int(getattr(self.config, "training_context", None) or 1024)
        report = []
        for path in expand_inputs(list(paths)):
            bases = tokens = 0
            for codes in iter_sequences(path, "dna", progress):
                ids = torch.from_numpy(tokenizer.encode_array(codes))
                pieces = list(ids.split(window))
                for start in range(0, len(pieces), batch_size):
                    chunk = pieces[start : start + batch_size]
                    batch = torch.nn.utils.rnn.pad_sequence(
                        chunk, batch_first=True, padding_value=tokenizer.pad_token_id
                    )
                    mask = (
                        torch.arange(batch.shape[1])[None]
                        < torch.tensor([len(c) for c in chunk])[:, None]
                    )
                    state = self.merge_tokens(batch.to(self.device), mask.to(self.device))
                    bases += int(mask.sum())
                    tokens += int(state.n_tokens.sum())
            ratio = round(bases / tokens, 4) if tokens else 0.0
            report.append(
                {"file": str(path), "bases": bases, "tokens": tokens, "bases_per_token": ratio}
            )
        return report


def _bases_of(state: MergeState, tokens: torch.Tensor) -> torch.Tensor:
    """The bases (batch, L) held by the chosen ``tokens`` (bool, batch x N)."""
    return state.unmerge(tokens[..., None])[..., 0]


def _tokens_holding(state: MergeState, bases: torch.Tensor) -> torch.Tensor:
    """The tokens (batch, N) holding any of the chosen ``bases`` (bool, batch x L)."""
    count = torch.zeros(state.real.shape, dtype=torch.long, device=bases.device)
    return count.scatter_add_(1, state.source, bases.long()) > 0


def _mean(values: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    return (values * where).sum() / where.sum().clamp(min=1)


def _merge_cost(state: MergeState, ce: torch.Tensor, where: torch.Tensor) -> torch.Tensor:
    """Zero in value; its gradient on each merge score is the mean over the bases the merged
    token holds of their reconstruction loss less the batch mean (detached): merges whose bases
    reconstruct badly lose score, cheap ones gain it (a REINFORCE-style straight-through
    estimate through ``MergeState.gate``)."""
    gate = state.unmerge(state.gate[..., None])[..., 0]
    cost = ce.detach() - _mean(ce.detach(), where)
    return _mean((gate - 1) * cost, where)
