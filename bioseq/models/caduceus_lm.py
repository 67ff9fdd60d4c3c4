"""Caduceus: bidirectional, optionally RC-equivariant Mamba for masked language modelling.

:class:`CaduceusModel` is the backbone (``AutoModel``), :class:`CaduceusLM` the masked LM
(``AutoModelForMaskedLM``), whose head is the embedding matrix itself (tied, no copy).

The computation is the released one (see ``shared/docs/caduceus.md``): embedding, then per
block ``residual = h + residual; h = BiMamba(norm(residual))``, then
``h = norm_f(h + residual)`` and ``logits = h @ E^T``. With ``config.rcps`` the hidden state
has ``2 * d_model`` channels and every part runs as in :mod:`bioseq.models.modules.rcps`;
``config.fused_add_norm`` picks the original's half order inside RCPS blocks.

* Logits cover the padded vocabulary (``config.padded_vocab_size``, as the original's), so
  ``logits[..., :len(tokenizer)]`` are the tokenizer's ids. The loss is the mean
  cross-entropy over positions whose label is not -100 (masked LM: no shift).
* ``attention_mask`` (batch, L), 0 at padding (right or left): padded positions are zeroed
  before and after every convolution, in both directions and both strands, so they never
  reach real positions; their own outputs are meaningless. Without a mask every position is
  real, as in the original.
* ``output_hidden_states=True`` gives ``n_layer + 1`` tensors: the embeddings, the residual
  stream after each of the first ``n_layer - 1`` blocks (mixer output + residual), and the
  final normalised output (== ``last_hidden_state``).

State dict (release keys in brackets; ``bioseq.models.convert_caduceus`` renames them):
``backbone.embedding.weight`` [``caduceus.backbone.embeddings.word_embeddings.weight``, RCPS
``...word_embeddings.embedding.weight``]; ``backbone.layers.{i}.mixer.mamba_fwd.*`` and
``mamba_rev.*`` [``...layers.{i}.mixer.mamba_{fwd,rev}.*``, RCPS ``...mixer.submodule.*``]
where a tied ``mamba_rev`` has no ``in_proj``/``out_proj`` of its own;
``backbone.layers.{i}.norm.weight`` [unfused RCPS ``...norm.submodule.weight``];
``backbone.norm_f.weight`` [unfused RCPS ``...norm_f.submodule.weight``]. The release's
``lm_head.weight`` (RCPS ``lm_head.lm_head.weight``) is the embedding and is not stored; its
``complement_map`` buffers live in ``config.complement_map``.

>>> import torch
>>> from bioseq.models import CaduceusConfig, CaduceusLM
>>> comp = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11]
>>> config = CaduceusConfig.from_preset("tiny", vocab_size=12, rcps=True, complement_map=comp)
>>> model = CaduceusLM(config).eval()
>>> ids = torch.randint(7, 11, (1, 9))
>>> rc = torch.tensor(comp)[ids.flip(-1)]
>>> a, b = model(ids).logits, model(rc).logits
>>> torch.allclose(b.flip(1)[..., :12], a[..., comp], atol=1e-4)
True
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutputWithNoAttention, MaskedLMOutput

from bioseq.errors import InputError
from bioseq.models.config import CaduceusConfig
from bioseq.models.modules.bimamba import BiMamba
from bioseq.models.modules.norm import RMSNorm
from bioseq.models.modules.rcps import add_norm, rcps_apply, rcps_embed, rcps_logits


def _norm(config: CaduceusConfig) -> nn.Module:
    if config.rms_norm:
        return RMSNorm(config.d_model, config.norm_epsilon)
    return nn.LayerNorm(config.d_model, eps=config.norm_epsilon)


class CaduceusBlock(nn.Module):
    """Add, normalise, BiMamba (RCPS-wrapped when ``config.rcps``)."""

    def __init__(self, config: CaduceusConfig) -> None:
        super().__init__()
        self.rcps = config.rcps
        self.fused = config.fused_add_norm
        self.residual_in_fp32 = config.residual_in_fp32
        self.norm = _norm(config)
        self.mixer = BiMamba(
            config.d_model,
            config.bidirectional,
            config.bidirectional_strategy,
            config.bidirectional_weight_tie,
            d_state=config.d_state,
            d_conv=config.d_conv,
            expand=config.expand,
            dt_rank=config.dt_rank,
            dt_min=config.dt_min,
            dt_max=config.dt_max,
            dt_init_floor=config.dt_init_floor,
            conv_bias=config.conv_bias,
            bias=config.bias,
        )
        for mamba in (self.mixer.mamba_fwd, self.mixer.mamba_rev):
            if mamba is not None:
                mamba.dt_proj._keep_bias = True
                if "out_proj" in mamba._modules:
                    mamba.out_proj._residual_projection = True

    def forward(
        self,
        hidden: torch.Tensor,
        residual: torch.Tensor | None,
        attention_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        normed, residual = add_norm(
            self.norm, hidden, residual, self.rcps, self.fused, self.residual_in_fp32
        )
        if self.rcps:
            return rcps_apply(self.mixer, normed, attention_mask), residual
        return self.mixer(normed, attention_mask), residual


class CaduceusPreTrainedModel(PreTrainedModel):
    config_class = CaduceusConfig
    base_model_prefix = "backbone"
    main_input_name = "input_ids"
    _no_split_modules = ["CaduceusBlock"]

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """As the original: N(0, 0.02) embedding, zero Linear biases (not dt's), out_proj
        re-drawn Kaiming-uniform / sqrt(n_layer); other weights keep their PyTorch / Mamba init."""
        if isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=self.config.initializer_range)
        elif isinstance(module, nn.Linear):
            if module.bias is not None and not getattr(module, "_keep_bias", False):
                nn.init.zeros_(module.bias)
            if getattr(module, "_residual_projection", False):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5))
                module.weight.div_(math.sqrt(self.config.n_layer))


class CaduceusModel(CaduceusPreTrainedModel):
    """The backbone: ``last_hidden_state`` (batch, L, d_model, or 2 d_model with rcps)."""

    def __init__(self, config: CaduceusConfig) -> None:
        super().__init__(config)
        self.embedding = nn.Embedding(config.padded_vocab_size, config.d_model)
        if config.column_embeddings:  # aligned inputs: one learned vector per column
            self.column_embedding = nn.Embedding(config.column_embeddings, config.d_model)
        self.layers = nn.ModuleList(CaduceusBlock(config) for _ in range(config.n_layer))
        self.norm_f = _norm(config)
        self._complements: dict[torch.device, torch.Tensor] = {}
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.embedding = value

    def complement_ids(self, device: torch.device) -> torch.Tensor:
        """The padded complement map as a tensor on ``device`` (RCPS models)."""
        if device not in self._complements:
            cmap = self.config.padded_complement_map
            self._complements[device] = torch.tensor(cmap, dtype=torch.long, device=device)
        return self._complements[device]

    def _columns(self, length: int, device: torch.device) -> torch.Tensor:
        width = self.config.column_embeddings
        if length > width:
            raise InputError(
                f"a sequence of {length} tokens is longer than the {width} "
                "alignment columns this model was trained on"
            )
        return self.column_embedding(torch.arange(length, device=device))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> BaseModelOutputWithNoAttention | tuple:
        config = self.config
        if output_hidden_states is None:
            output_hidden_states = config.output_hidden_states
        if return_dict is None:
            return_dict = config.return_dict
        if attention_mask is not None and bool(attention_mask.all()):
            attention_mask = None  # nothing is padded: skip the masking work
        if config.rcps:
            hidden = rcps_embed(
                self.embedding.weight, input_ids, self.complement_ids(input_ids.device)
            )
        else:
            hidden = self.embedding(input_ids)
        if config.column_embeddings:
            hidden = hidden + self._columns(input_ids.shape[1], input_ids.device)
        states = [hidden] if output_hidden_states else None
        residual = None
        for i, layer in enumerate(self.layers):
            hidden, residual = layer(hidden, residual, attention_mask)
            if states is not None and i < len(self.layers) - 1:
                states.append((hidden + residual).to(hidden.dtype))
        hidden, _ = add_norm(
            self.norm_f, hidden, residual, config.rcps, False, config.residual_in_fp32
        )
        if states is not None:
            states.append(hidden)
            states = tuple(states)
        if not return_dict:
            return (hidden, states) if states is not None else (hidden,)
        return BaseModelOutputWithNoAttention(last_hidden_state=hidden, hidden_states=states)


class CaduceusLM(CaduceusPreTrainedModel):
    """Masked LM: :class:`CaduceusModel` and the tied (RCPS when ``config.rcps``) head.

    ``config.rcps`` tells scorers the model is RC-equivariant (no need to average strands).
    """

    def __init__(self, config: CaduceusConfig) -> None:
        super().__init__(config)
        self.backbone = CaduceusModel(config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.backbone.embedding

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.backbone.embedding = value

    def get_output_embeddings(self) -> None:
        return None  # the head reads the input embedding directly

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> MaskedLMOutput | tuple:
        if return_dict is None:
            return_dict = self.config.return_dict
        out = self.backbone(input_ids, attention_mask, output_hidden_states, return_dict=True)
        weight = self.backbone.embedding.weight
        hidden = out.last_hidden_state.to(weight.dtype)
        if self.config.rcps:
            logits = rcps_logits(hidden, weight, self.backbone.complement_ids(hidden.device))
        else:
            logits = F.linear(hidden, weight)
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()  # as the original (fp32 logits); float64 stays float64
        loss = None
        if labels is not None:
            loss = F.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100
            )
        if not return_dict:
            rest = (logits,) if out.hidden_states is None else (logits, out.hidden_states)
            return rest if loss is None else (loss, *rest)
        return MaskedLMOutput(loss=loss, logits=logits, hidden_states=out.hidden_states)
