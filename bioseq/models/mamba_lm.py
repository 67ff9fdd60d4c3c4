"""MambaLM: Mamba-1 blocks with the state-dict layout of mamba-ssm's ``MambaLMHeadModel``.

The recurrent state (per layer a conv state and an SSM state) is a :class:`MambaState`: a
forward pass with ``use_cache=True`` returns it, and later calls continue from it one token
at a time (``cache=``, updating it in place: what ``generate()`` needs).
:meth:`MambaLM.forward_from_state` continues from a state over many tokens in one parallel
pass and leaves the state as it was, so one prefix's state serves many continuations
(variant scoring: a reference's prefix, then each alternative's suffix);
:meth:`MambaState.stack` batches states taken at different positions.

>>> import torch
>>> from bioseq.models import MambaConfig, MambaLM
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=12)).eval()
>>> ids = torch.randint(0, 12, (1, 20))
>>> full = model(ids).logits
>>> out = model(ids[:, :15], use_cache=True)
>>> last = model(ids[:, 15:], cache=out.cache).logits
>>> torch.allclose(full[:, 15:], last, atol=1e-4)
True
>>> prefix, state = model.forward_from_state(ids[:, :8])   # no state: from the start
>>> rest, _ = model.forward_from_state(ids[:, 8:], state)
>>> torch.allclose(full, torch.cat([prefix, rest], dim=1), atol=1e-4)
True
"""

from __future__ import annotations

import torch
from torch import nn

from bioseq.models.config import MambaConfig
from bioseq.models.lm import BioseqLM, BioseqModel, Block, RecurrentGeneration, RecurrentState
from bioseq.models.modules.mamba import Mamba
from bioseq.models.modules.norm import RMSNorm


class MambaState(RecurrentState):
    """Per-layer ``(conv_state, ssm_state)`` and how many tokens they have consumed."""


def _norm(config: MambaConfig) -> nn.Module:
    if config.rms_norm:
        return RMSNorm(config.d_model, config.norm_epsilon)
    return nn.LayerNorm(config.d_model, eps=config.norm_epsilon)


class MambaModel(BioseqModel):
    """Mamba's backbone (``AutoModel``); carries the recurrent state (:class:`MambaState`)."""

    config_class = MambaConfig

    @staticmethod
    def build_layers(config: MambaConfig) -> list[Block]:
        layers = []
        for _ in range(config.n_layer):
            mixer = Mamba(
                config.d_model,
                config.d_state,
                config.d_conv,
                config.expand,
                config.dt_rank,
                config.dt_min,
                config.dt_max,
                config.dt_init_floor,
                config.conv_bias,
                config.bias,
            )
            # mamba-ssm keeps PyTorch's default Linear init and its own dt initialisation
            for linear in (mixer.in_proj, mixer.x_proj, mixer.dt_proj, mixer.out_proj):
                linear._keep_init = True
            mixer.out_proj._residual_projection = True
            layers.append(Block(_norm(config), mixer, residual_in_fp32=config.residual_in_fp32))
        return layers

    @staticmethod
    def build_norm(config: MambaConfig) -> nn.Module:
        return _norm(config)

    def _run_layers(
        self, hidden: torch.Tensor, attention_mask=None, cache=None, use_cache=None, collect=None
    ) -> tuple[torch.Tensor, MambaState | None]:
        if cache is not None and cache.seqlen_offset > 0:
            return self._step_tokens(hidden, cache, collect)
        states = []
        for layer in self.layers:
            if use_cache:
                hidden, state = self._layer_with_state(layer, hidden, attention_mask)
                states.append(state)
            else:
                hidden = layer(hidden, attention_mask=attention_mask)
            if collect is not None:
                collect.append(hidden)
        return hidden, (MambaState(states, hidden.shape[1]) if use_cache else None)

    @staticmethod
    def _layer_with_state(layer: Block, hidden: torch.Tensor, attention_mask) -> tuple:
        return layer.mix(hidden, lambda h: layer.mixer(h, attention_mask, return_state=True))

    def _step_tokens(self, hidden: torch.Tensor, cache: MambaState, collect=None) -> tuple:
        """Advance the recurrent state token by token over ``hidden`` (batch, L, d_model)."""
        per_layer = [[] for _ in self.layers]
        for t in range(hidden.shape[1]):
            x = hidden[:, t : t + 1]
            for i, layer in enumerate(self.layers):
                x, cache.states[i] = layer.mix(
                    x, lambda h, i=i, layer=layer: _stepped(layer.mixer.step(h, *cache.states[i]))
                )
                per_layer[i].append(x)
        cache.seqlen_offset += hidden.shape[1]
        if collect is not None:
            collect.extend(torch.cat(steps, dim=1) for steps in per_layer)
        return torch.cat(per_layer[-1], dim=1), cache

    @torch.no_grad()
    def forward_from_state(
        self, input_ids: torch.LongTensor, state: MambaState
    ) -> tuple[torch.Tensor, MambaState]:
        """The final hidden states (batch, L, d_model) of ``input_ids`` read after ``state``,
        and the state after them (see :meth:`MambaLM.forward_from_state`)."""
        hidden = self.embedding(input_ids)
        layers = []
        for layer, layer_state in zip(self.layers, state.states, strict=True):
            hidden, new = layer.mix(
                hidden, lambda h, layer=layer, s=layer_state: layer.mixer.forward_from_state(h, s)
            )
            layers.append(new)
        hidden = self.norm_f(hidden.to(self.norm_f.weight.dtype))
        return hidden, MambaState(layers, state.seqlen_offset + input_ids.shape[1])


def _stepped(out: tuple) -> tuple:
    """``Mamba.step``'s ``(output, conv_state, ssm_state)`` as ``(output, state)``."""
    return out[0], out[1:]


class MambaLM(RecurrentGeneration, BioseqLM):
    config_class = MambaConfig
    base_class = MambaModel

    @torch.no_grad()
    def forward_from_state(
        self, input_ids: torch.LongTensor, state: MambaState | None = None
    ) -> tuple[torch.Tensor, MambaState]:
        """Logits (batch, L, vocab_size) of ``input_ids`` read after ``state``, and the state
        after them, in one parallel pass (inference only); ``state`` is left as it was.

        Without ``state`` this is a plain forward pass from the start that also returns its
        state. ``state`` must have the batch size of ``input_ids``: repeat rows with
        :meth:`MambaState.select`, batch states with :meth:`MambaState.stack` (rows may sit
        at different positions). Equals ``model(prefix + input_ids)`` on the new positions up
        to floating-point rounding.
        """
        if state is None:
            out = self(input_ids, use_cache=True)
            return out.logits, out.cache
        hidden, state = self.backbone.forward_from_state(input_ids, state)
        return self.lm_head(hidden)[..., : self.config.vocab_size], state
