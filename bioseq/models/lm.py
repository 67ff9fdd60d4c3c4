"""What the three language models share: blocks, the backbone, the LM head and the loss.

Each model (``HyenaLM``, ``MambaLM``, ``TransformerLM``) is a ``PreTrainedModel``: a config
object, ``save_pretrained`` to safetensors, ``AutoModelForCausalLM.from_pretrained`` after
``import bioseq``, and ``generate()``. Its backbone (``HyenaModel``, ``MambaModel``,
``TransformerModel``: a :class:`BioseqModel`) is what ``AutoModel`` loads from the same folder.
The state-dict layout is ``backbone.embedding``, ``backbone.layers.{i}.{norm, mixer, norm2,
mlp}``, ``backbone.norm_f``, ``lm_head``: that of mamba-ssm's ``MambaLMHeadModel``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
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

    @classmethod
    def stack(cls, states: list[RecurrentState]):
        """One batched state from several states, rows in order (their ``seqlen_offset`` may
        differ: the first one's is kept, which only :meth:`get_seq_length` reads)."""
        layers = [
            tuple(torch.cat(parts) for parts in zip(*layer, strict=True))
            for layer in zip(*(s.states for s in states), strict=True)
        ]
        return cls(layers, states[0].seqlen_offset)

    def reorder_cache(self, beam_idx: torch.Tensor) -> None:
        self.states = [tuple(t[beam_idx] for t in layer) for layer in self.states]


class RecurrentGeneration:
    """For models that carry their own recurrent state (``cache`` with ``seqlen_offset``)
    through ``generate()`` instead of a key/value cache: feed only the new tokens."""

    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False

    def prepare_inputs_for_generation(
        self,
        input_ids,
        cache=None,
        attention_mask=None,
        use_cache=True,
        past_key_values=None,
        **kwargs,
    ) -> dict:
        cache = either_cache(cache, past_key_values)
        if cache is not None and cache.seqlen_offset > 0:
            input_ids = input_ids[:, cache.seqlen_offset :]
            attention_mask = None  # the state already holds the prefix
        return {
            "input_ids": input_ids,
            "cache": cache,
            "attention_mask": attention_mask,
            "use_cache": use_cache,
        }


@dataclass
class LMOutput(ModelOutput):
    """Loss (mean next-token cross-entropy, nats), logits over the vocabulary, and the cache."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    cache: object | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None

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
        self,
        norm: nn.Module,
        mixer: nn.Module,
        norm2: nn.Module | None = None,
        mlp: nn.Module | None = None,
        dropout: float = 0.0,
        residual_in_fp32: bool = True,
    ) -> None:
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

    def mix(self, x: torch.Tensor, run: Callable[[torch.Tensor], tuple]) -> tuple:
        """``(x + out, state)`` where ``(out, state) = run(norm(x))``: the block with the mixer
        called as ``run`` says (returning a recurrent state beside its output), for blocks
        without an MLP, in :meth:`forward`'s precision and without dropout.

        >>> import torch
        >>> block = Block(torch.nn.LayerNorm(4), torch.nn.Linear(4, 4)).eval()
        >>> x = torch.randn(1, 3, 4)
        >>> out, _ = block.mix(x, lambda h: (block.mixer(h), None))
        >>> torch.equal(out, block(x))
        True
        """
        residual = x.float() if self.residual_in_fp32 else x
        out, state = run(self.norm(residual.to(self.norm.weight.dtype)))
        return residual + out, state


class Backbone(nn.Module):
    """Blocks and a final norm as a plain module (MergeLM's latent stacks; no embedding)."""

    def __init__(self, layers: list[Block], norm_f: nn.Module) -> None:
        super().__init__()
        self.embedding = None
        self.layers = nn.ModuleList(layers)
        self.norm_f = norm_f


@dataclass
class BackboneOutput(ModelOutput):
    """The final normalised hidden states (batch, L, d_model), the cache, and with
    ``output_hidden_states`` every layer's output: the embeddings, the residual stream after
    each of the first ``n_layer - 1`` blocks, and ``last_hidden_state`` (``n_layer + 1``)."""

    last_hidden_state: torch.Tensor | None = None
    cache: object | None = None
    hidden_states: tuple[torch.Tensor, ...] | None = None


class BioseqPreTrainedModel(PreTrainedModel):
    """Weight initialisation and naming shared by the backbones, the LMs and the task heads."""

    config_class = BioseqConfig
    base_model_prefix = "backbone"
    main_input_name = "input_ids"

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


class BioseqModel(BioseqPreTrainedModel):
    """The backbone (``AutoModel``): embedding, the blocks, the final norm.

    Subclasses (``HyenaModel``, ``MambaModel``, ``TransformerModel``) build the blocks
    (``build_layers``, ``build_norm``) and run them (``_run_layers``).
    """

    embed_dropout_field: str | None = None  # the config field holding the embedding dropout

    def __init__(self, config: BioseqConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.padded_vocab_size, config.d_model)
        self.layers = nn.ModuleList(self.build_layers(config))
        self.norm_f = self.build_norm(config)
        dropout = getattr(config, self.embed_dropout_field, 0.0) if self.embed_dropout_field else 0
        self.embed_dropout = nn.Dropout(dropout)
        self.post_init()

    @staticmethod
    def build_layers(config: BioseqConfig) -> list[Block]:
        raise NotImplementedError

    @staticmethod
    def build_norm(config: BioseqConfig) -> nn.Module:
        raise NotImplementedError

    def _run_layers(
        self,
        hidden: torch.Tensor,
        attention_mask=None,
        cache=None,
        use_cache=None,
        collect: list | None = None,
    ) -> tuple[torch.Tensor, object]:
        """Run the blocks (appending each block's output to ``collect`` when given); return
        the residual stream and the updated cache (or None)."""
        raise NotImplementedError

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        cache: object | None = None,
        use_cache: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: object | None = None,
        **kwargs,
    ) -> BackboneOutput:
        """Hidden states (batch, L, d_model) after the final norm; see :class:`BackboneOutput`.

        ``attention_mask`` (1 = token, 0 = padding) supports left padding; ``cache`` (returned
        with ``use_cache``) continues from earlier tokens.
        """
        if output_hidden_states is None:
            output_hidden_states = self.config.output_hidden_states
        hidden = self.embed_dropout(self.embedding(input_ids))
        collect = [hidden] if output_hidden_states else None
        hidden, cache = self._run_layers(
            hidden,
            attention_mask=attention_mask,
            use_cache=use_cache,
            cache=either_cache(cache, past_key_values),
            collect=collect,
        )
        hidden = self.norm_f(hidden.to(self.norm_f.weight.dtype))
        states = None
        if collect is not None:
            states = tuple(collect[:-1]) + (hidden,)  # the last block's output, normalised
        out = BackboneOutput(last_hidden_state=hidden, cache=cache, hidden_states=states)
        return out if return_dict is not False else out.to_tuple()


class BioseqLM(BioseqPreTrainedModel, GenerationMixin):
    """Causal LM: a :class:`BioseqModel` backbone (``base_class``) and a tied LM head."""

    base_class: type[BioseqModel] = BioseqModel
    _tied_weights_keys = {"lm_head.weight": "backbone.embedding.weight"}

    def __init__(self, config: BioseqConfig) -> None:
        super().__init__(config)
        self.backbone = self.base_class(config)
        self.lm_head = nn.Linear(config.d_model, config.padded_vocab_size, bias=False)
        self.post_init()

    # -- weights ------------------------------------------------------------------------
    def get_input_embeddings(self) -> nn.Embedding:
        return self.backbone.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.backbone.embedding = value

    def get_output_embeddings(self) -> nn.Linear:
        return self.lm_head

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
        ``output_hidden_states`` adds every layer's output (:class:`BackboneOutput`).
        """
        out = self.backbone(
            input_ids,
            attention_mask=attention_mask,
            use_cache=use_cache,
            cache=either_cache(cache, past_key_values),
            output_hidden_states=output_hidden_states,
        )
        logits = self.lm_head(out.last_hidden_state)[..., : self.config.vocab_size]
        loss = None if labels is None else shifted_loss(logits, labels)
        return LMOutput(loss=loss, logits=logits, cache=out.cache, hidden_states=out.hidden_states)
