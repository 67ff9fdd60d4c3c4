"""What the three language models share: blocks, the backbone, the LM head and the loss.

Each model (``HyenaLM``, ``MambaLM``, ``TransformerLM``) is a ``PreTrainedModel``: a config
object, ``save_pretrained`` to safetensors, ``AutoModelForCausalLM.from_pretrained`` after
``import bioseq``, and ``generate()``. The state-dict layout is ``backbone.embedding``,
``backbone.layers.{i}.{norm, mixer, norm2, mlp}``, ``backbone.norm_f``, ``lm_head``: that of
mamba-ssm's ``MambaLMHeadModel``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from bioseq.models.config import BioseqConfig

# transformers 5.24 renamed ``past_key_values`` (forward argument, output field, generate()'s
# model kwarg) to ``cache``; its ModelOutput still answers to the old name. Our models use
# ``cache`` and accept both: these helpers and LMOutput's alias (for transformers < 5.24,
# whose generate() looks the cache up by the old name) are all the compatibility there is.


def _cache_key(key: object) -> object:
    return "cache" if key == "past_key_values" else key


def either_cache(cache: object | None, past_key_values: object | None) -> object | None:
    """The cache, passed as ``cache`` or by its name before transformers 5.24."""
    return cache if cache is not None else past_key_values


def shifted_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy: logits at t predict labels at t + 1; -100 is ignored."""
    return F.cross_entropy(
        logits[:, :-1].float().reshape(-1, logits.shape[-1]),
        labels[:, 1:].reshape(-1),
        ignore_index=-100,
    )


class RecurrentState:
    """Per-layer tuples of state tensors (batch first) and how many tokens they have consumed:
    the ``cache`` of models that carry a recurrent state (Mamba, StripedHyena)."""

    is_compileable = False  # generate() reads these two of a state passed in

    def __init__(self, states: list[tuple[torch.Tensor, ...]], seqlen_offset: int) -> None:
        self.states = states
        self.seqlen_offset = seqlen_offset

    @property
    def is_linear(self) -> list[bool]:
        """Every layer is recurrent (transformers >= 5.24 then leaves input slicing to us)."""
        return [True] * len(self.states)

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seqlen_offset

    def select(self, index: torch.Tensor):
        """The states of some batch rows (repeat a prefix's state for several alleles)."""
        rows = [tuple(t[index] for t in layer) for layer in self.states]
        return type(self)(rows, self.seqlen_offset)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self.states = [tuple(t[beam_idx] for t in layer) for layer in self.states]


class RecurrentGeneration:
    """For models that carry their own recurrent state (``cache`` with ``seqlen_offset``)
    through ``generate()`` instead of a key/value cache: feed only the new tokens."""

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False

    def prepare_inputs_for_generation(
        self, input_ids, cache=None, attention_mask=None, use_cache=True, past_key_values=None,
        **kwargs,
    ) -> dict:  # fmt: skip
        cache = either_cache(cache, past_key_values)
        if cache is not None and cache.seqlen_offset > 0:
            input_ids = input_ids[:, cache.seqlen_offset :]
            attention_mask = None  # the state already holds the prefix
        return {
            "input_ids": input_ids, "cache": cache, "attention_mask": attention_mask,
            "use_cache": use_cache,
        }  # fmt: skip


@dataclass
class LMOutput(ModelOutput):
    """Loss (mean next-token cross-entropy, nats), logits over the vocabulary, and the cache."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: object | None = None
    hidden_states: torch.Tensor | None = None

    if not hasattr(ModelOutput, "past_key_values"):  # transformers < 5.24: old name as alias
        past_key_values = property(lambda self: self.cache)

        def __contains__(self, key: object) -> bool:
            return super().__contains__(_cache_key(key))

        def __getitem__(self, key):
            return super().__getitem__(_cache_key(key))


class Block(nn.Module):
    """Pre-norm residual block: ``x += mixer(norm(x))``, then ``x += mlp(norm2(x))`` if any.

    The residual stream stays in fp32 when ``residual_in_fp32`` (as in mamba-ssm and HyenaDNA).
    """

    def __init__(
        self, norm: nn.Module, mixer: nn.Module, norm2: nn.Module | None = None,
        mlp: nn.Module | None = None, dropout: float = 0.0, residual_in_fp32: bool = True,
    ) -> None:  # fmt: skip
        super().__init__()
        self.norm = norm
        self.mixer = mixer
        self.norm2 = norm2
        self.mlp = mlp
        self.dropout = nn.Dropout(dropout)
        self.residual_in_fp32 = residual_in_fp32

    def forward(self, x: torch.Tensor, **mixer_kwargs) -> torch.Tensor:
        dtype = self.norm.weight.dtype
        if self.residual_in_fp32:
            x = x.float()
        x = x + self.dropout(self.mixer(self.norm(x.to(dtype)), **mixer_kwargs))
        if self.mlp is not None:
            x = x + self.dropout(self.mlp(self.norm2(x.to(dtype))))
        return x


class Backbone(nn.Module):
    """Embedding, a stack of blocks, and the final norm."""

    def __init__(
        self, embedding: nn.Embedding, layers: list[Block], norm_f: nn.Module,
        embed_dropout: float = 0.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embedding = embedding
        self.layers = nn.ModuleList(layers)
        self.norm_f = norm_f
        self.embed_dropout = nn.Dropout(embed_dropout)


class BioseqLM(PreTrainedModel, GenerationMixin):
    """Base class: subclasses build ``self.backbone`` and define ``_run_layers``."""

    config_class = BioseqConfig
    base_model_prefix = "backbone"
    main_input_name = "input_ids"
    _tied_weights_keys = {"lm_head.weight": "backbone.embedding.weight"}

    def __init__(self, config: BioseqConfig) -> None:
        super().__init__(config)
        self.backbone = self._build_backbone(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.post_init()

    def _build_backbone(self, config: BioseqConfig) -> Backbone:
        raise NotImplementedError

    def _run_layers(self, hidden: torch.Tensor, **kwargs) -> tuple[torch.Tensor, object]:
        """Run the blocks; return the residual stream and the updated cache (or None)."""
        raise NotImplementedError

    # -- weights ------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Embedding:
        return self.backbone.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.backbone.embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """GPT-2 style: N(0, 0.02) weights, zero biases, residual projections scaled down."""
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        elif isinstance(module, nn.Linear):
            if not getattr(module, "_keep_init", False):
                nn.init.normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            if getattr(module, "_residual_projection", False):
                module.weight.div_(math.sqrt(2 * self.config.n_layer))

    # -- forward ------------------------------------------------------------------------
    def forward(
        self,
        input_ids: torch.LongTensor,
        labels: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        cache: object | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool = False,
        return_dict: bool | None = None,
        past_key_values: object | None = None,
        **kwargs,
    ) -> LMOutput:
        """Next-token logits (batch, L, vocab_size); with ``labels`` also the shifted loss.

        Label positions set to -100 are ignored. ``attention_mask`` (1 = token, 0 = padding)
        supports left padding for batched generation. ``cache`` (returned with ``use_cache``)
        continues from earlier tokens; ``past_key_values`` is its name before transformers 5.24.
        """
        hidden = self.backbone.embed_dropout(self.backbone.embedding(input_ids))
        hidden, cache = self._run_layers(
            hidden, attention_mask=attention_mask, use_cache=use_cache,
            cache=either_cache(cache, past_key_values),
        )  # fmt: skip
        hidden = self.backbone.norm_f(hidden.to(self.backbone.norm_f.weight.dtype))
        logits = self.lm_head(hidden)[..., : self.config.vocab_size]
        loss = None if labels is None else shifted_loss(logits, labels)
        return LMOutput(
            loss=loss, logits=logits, cache=cache,
            hidden_states=hidden if output_hidden_states else None,
        )  # fmt: skip
