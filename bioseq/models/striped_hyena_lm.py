"""StripedHyenaLM: Evo 2's StripedHyena 2 in plain PyTorch (fp32 / bf16, CPU / CUDA, SDPA).

Top-level keys are the release checkpoint's: ``embedding_layer.weight`` (vocab, d, tied to
the output), ``blocks.{i}.…`` (see :mod:`bioseq.models.modules.striped_hyena` for the full
naming contract) and ``norm.scale`` (d). An untied model adds ``unembed.weight``.

Generation carries a :class:`StripedHyenaState`: per Hyena layer the featurizer's last inputs
and the inner filter's last inputs (hcs / hcm) or its modal state (hcl, O(1) per token), per
attention layer the keys and values. It is exact for any prompt length.

>>> import torch
>>> from bioseq.models import StripedHyenaConfig, StripedHyenaLM
>>> config = StripedHyenaConfig.from_preset("tiny", vocab_size=512, hcm_filter_length=16)
>>> model = StripedHyenaLM(config).eval()
>>> ids = torch.randint(0, 512, (1, 20))
>>> full = model(ids).logits
>>> out = model(ids[:, :5], use_cache=True)
>>> torch.allclose(full[:, 5:], model(ids[:, 5:], cache=out.cache).logits, atol=1e-4)
True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel

from bioseq.errors import InputError
from bioseq.models.config import StripedHyenaConfig
from bioseq.models.lm import (
    BackboneOutput,
    LMOutput,
    RecurrentGeneration,
    RecurrentState,
    either_cache,
    shifted_loss,
)
from bioseq.models.modules.striped_hyena import (
    Evo2RMSNorm,
    HyenaCascade,
    RotaryEmbedding,
    make_block,
)


class StripedHyenaState(RecurrentState):
    """Per-layer state tuples (see the block kinds) and how many tokens they have consumed."""


class StripedHyenaModel(PreTrainedModel):
    """Evo 2's backbone (``AutoModel``): embedding, blocks and final norm, no unembedding."""

    config_class = StripedHyenaConfig
    base_model_prefix = "striped_hyena"
    main_input_name = "input_ids"
    _no_split_modules = ["StripedHyenaBlock"]
    _keys_to_ignore_on_load_unexpected = [r"^unembed\."]  # loading an untied LM's weights

    def __init__(self, config: StripedHyenaConfig) -> None:
        super().__init__(config)
        self.embedding_layer = nn.Embedding(config.padded_vocab_size, config.d_model)
        self.blocks = nn.ModuleList(make_block(config, i) for i in range(config.n_layer))
        self.norm = Evo2RMSNorm(config.d_model, config.norm_epsilon)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding_layer

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding_layer = value

    @torch.no_grad()
    def constrain_(self) -> None:
        """After an optimizer step: project every hcl log_pole back to <= -1e-6 (poles inside
        the unit circle). Weights that already satisfy it (released Evo 2 ones) are unchanged."""
        for module in self.modules():
            if isinstance(module, HyenaCascade):
                module.constrain_()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """N(0, 0.02) linears and embedding, zero biases; filters and norms their own init."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
            if isinstance(module, nn.Linear) and module.out_features == self.config.d_model:
                module.weight.div_((2 * self.config.n_layer) ** 0.5)  # residual projections
        elif isinstance(module, HyenaCascade):
            module.reset_parameters()
        elif isinstance(module, Evo2RMSNorm):
            nn.init.ones_(module.scale)
        elif isinstance(module, RotaryEmbedding):
            module.reset_parameters()  # from_pretrained leaves non-persistent buffers empty

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        cache: StripedHyenaState | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: StripedHyenaState | None = None,
        **kwargs,
    ) -> BackboneOutput:
        """Final normalised hidden states (batch, L, d_model); ``cache`` (returned with
        ``use_cache``) continues from earlier tokens and is updated in place; with
        ``output_hidden_states`` every layer's output (:class:`~bioseq.models.lm.BackboneOutput`).
        Padding is not supported: ``attention_mask`` must be all ones."""
        if attention_mask is not None and not bool(attention_mask.all()):
            raise InputError("StripedHyenaLM does not support padding (attention_mask zeros)")
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        cache = either_cache(cache, past_key_values)
        if cache is not None and cache.seqlen_offset == 0:
            cache = None
        hidden = self.embedding_layer(input_ids)
        collect = [hidden] if output_hidden_states else None
        states = []
        for i, block in enumerate(self.blocks):
            hidden, state = block(
                hidden, None if cache is None else cache.states[i], bool(use_cache)
            )
            states.append(state)
            if collect is not None:
                collect.append(hidden)
        if cache is not None:
            cache.states, cache.seqlen_offset = states, cache.seqlen_offset + input_ids.shape[1]
        elif use_cache:
            cache = StripedHyenaState(states, input_ids.shape[1])
        hidden = self.norm(hidden)
        hidden_states = None if collect is None else tuple(collect[:-1]) + (hidden,)
        out = BackboneOutput(last_hidden_state=hidden, cache=cache, hidden_states=hidden_states)
        return out if return_dict is not False else out.to_tuple()


class StripedHyenaLM(RecurrentGeneration, StripedHyenaModel, GenerationMixin):
    """Evo 2 causal LM; ``StripedHyenaLM(config)`` or ``from_pretrained`` after ``import
    bioseq``. Its state dict is the backbone's plus ``unembed.weight`` when untied."""

    def __init__(self, config: StripedHyenaConfig) -> None:
        super().__init__(config)
        if not config.tie_word_embeddings:
            self.unembed = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
            self.post_init()  # initialises only what is new

    def get_output_embeddings(self) -> nn.Module | None:
        return getattr(self, "unembed", None)

    def forward(
        self,
        input_ids: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: StripedHyenaState | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
        past_key_values: StripedHyenaState | None = None,
        **kwargs,
    ) -> LMOutput:
        """Next-token logits (batch, L, vocab_size); with ``labels`` the shifted loss (-100 is
        ignored). ``cache`` (returned with ``use_cache``) continues from earlier tokens; it is
        updated in place. Padding is not supported: ``attention_mask`` must be all ones."""
        out = super().forward(
            input_ids,
            attention_mask=attention_mask,
            use_cache=use_cache,
            cache=either_cache(cache, past_key_values),
            output_hidden_states=output_hidden_states,
        )
        weight = self.unembed.weight if hasattr(self, "unembed") else self.embedding_layer.weight
        logits = F.linear(out.last_hidden_state, weight)[..., : self.config.vocab_size]
        loss = None if labels is None else shifted_loss(logits, labels)
        return LMOutput(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)
