"""HyenaLM: the HyenaDNA architecture as a causal language model.

>>> import torch
>>> from bioseq.models import HyenaConfig, HyenaLM
>>> model = HyenaLM(HyenaConfig.from_preset("tiny", vocab_size=12, max_seq_len=256))
>>> model(torch.randint(0, 12, (2, 100))).logits.shape
torch.Size([2, 100, 12])
"""

from __future__ import annotations

import torch
from torch import nn

from bioseq.models.config import HyenaConfig
from bioseq.models.lm import BioseqLM, BioseqModel, Block
from bioseq.models.modules.hyena import HyenaOperator
from bioseq.models.modules.mlp import MLP


class HyenaModel(BioseqModel):
    """HyenaDNA's backbone (``AutoModel``)."""

    config_class = HyenaConfig
    embed_dropout_field = "embed_dropout"

    @staticmethod
    def build_layers(config: HyenaConfig) -> list[Block]:
        layers = []
        for _ in range(config.n_layer):
            mixer = HyenaOperator(
                config.d_model,
                config.max_seq_len,
                config.short_filter_order,
                dropout=config.hyena_dropout,
                emb_dim=config.emb_dim,
                filter_order=config.filter_order,
                num_inner_mlps=config.num_inner_mlps,
                activation_freq=config.activation_freq,
                train_freq=config.train_freq,
                modulation_shift=config.modulation_shift,
                fast_decay_pct=config.fast_decay_pct,
                slow_decay_pct=config.slow_decay_pct,
            )
            mlp = MLP(config.d_model, config.d_inner)
            mixer.out_proj._residual_projection = True
            mlp.fc2._residual_projection = True
            norm = nn.LayerNorm(config.d_model, eps=config.norm_epsilon)
            norm2 = nn.LayerNorm(config.d_model, eps=config.norm_epsilon)
            layers.append(
                Block(norm, mixer, norm2, mlp, config.resid_dropout, config.residual_in_fp32)
            )
        return layers

    @staticmethod
    def build_norm(config: HyenaConfig) -> nn.Module:
        return nn.LayerNorm(config.d_model, eps=config.norm_epsilon)

    def _run_layers(self, hidden: torch.Tensor, attention_mask=None, collect=None, **_) -> tuple:
        for layer in self.layers:
            hidden = layer(hidden, attention_mask=attention_mask)
            if collect is not None:
                collect.append(hidden)
        return hidden, None


class HyenaLM(BioseqLM):
    config_class = HyenaConfig
    base_class = HyenaModel

    # -- generation: Hyena keeps no cache, so every step sees the whole sequence ------------
    @classmethod
    def _supports_default_dynamic_cache(cls) -> bool:
        return False

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs) -> dict:
        return {"input_ids": input_ids, "attention_mask": attention_mask}
