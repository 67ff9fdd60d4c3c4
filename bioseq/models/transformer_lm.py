"""TransformerLM: pre-norm, rotary positions, scaled-dot-product attention, KV cache.

The baseline against which Hyena and Mamba are compared, and the linguistic control.

>>> import torch
>>> from bioseq.models import TransformerConfig, TransformerLM
>>> model = TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=12))
>>> model(torch.randint(0, 12, (2, 30))).logits.shape
torch.Size([2, 30, 12])
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import DynamicCache

from bioseq.models.config import TransformerConfig
from bioseq.models.lm import BioseqLM, BioseqModel, Block
from bioseq.models.modules.attention import CausalSelfAttention
from bioseq.models.modules.mlp import MLP
from bioseq.models.modules.norm import RMSNorm


class TransformerModel(BioseqModel):
    """The Transformer backbone (``AutoModel``); carries the KV cache."""

    config_class = TransformerConfig
    embed_dropout_field = "dropout"

    @staticmethod
    def build_layers(config: TransformerConfig) -> list[Block]:
        layers = []
        for i in range(config.n_layer):
            attn = CausalSelfAttention(
                config.d_model, config.n_head, config.rope_theta, config.dropout, layer_idx=i
            )
            mlp = MLP(config.d_model, config.d_inner)
            attn.out_proj._residual_projection = True
            mlp.fc2._residual_projection = True
            layers.append(
                Block(
                    RMSNorm(config.d_model, config.norm_epsilon),
                    attn,
                    RMSNorm(config.d_model, config.norm_epsilon),
                    mlp,
                    config.dropout,
                    config.residual_in_fp32,
                )
            )
        return layers

    @staticmethod
    def build_norm(config: TransformerConfig) -> nn.Module:
        return RMSNorm(config.d_model, config.norm_epsilon)

    def _run_layers(
        self, hidden: torch.Tensor, attention_mask=None, cache=None, use_cache=None, collect=None
    ) -> tuple:
        batch, L, _ = hidden.shape
        if use_cache and cache is None:
            cache = DynamicCache()
        past = cache.get_seq_length() if cache is not None else 0
        if attention_mask is not None:
            # left padding: a token's position counts only the real tokens before it
            positions = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -L:]
        else:
            positions = torch.arange(past, past + L, device=hidden.device).expand(batch, L)
        for layer in self.layers:
            hidden = layer(
                hidden,
                positions=positions,
                key_padding_mask=attention_mask,
                cache=cache,
            )
            if collect is not None:
                collect.append(hidden)
        return hidden, cache


class TransformerLM(BioseqLM):
    config_class = TransformerConfig
    base_class = TransformerModel
