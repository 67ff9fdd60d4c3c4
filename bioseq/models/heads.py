"""Task heads on every bioseq backbone: sequence classification / regression and per-token
classification, in Hugging Face's conventions.

``AutoModelForSequenceClassification.from_pretrained(run_or_model_dir, num_labels=N)`` (after
``import bioseq``) builds the family's backbone, loads it from a pretrained LM's weights (the
head is new) and adds a linear head ``score`` over a pooled representation:

* ``config.classifier_pooling``: ``mean`` (default; over the real tokens), ``last`` (the last
  real token: what a causal model has read everything by) or ``first``;
* ``num_labels == 1`` is regression (mean squared error), more is single-label classification
  (cross-entropy), as transformers' own heads (``config.problem_type`` may say otherwise);
* RC-equivariant Caduceus models (``rcps``) pool the two strands' features into one
  RC-invariant ``d_model`` vector.

``AutoModelForTokenClassification`` puts the same linear head on every token (labels -100 are
ignored). Causal backbones are run without the padding mask when the batch is right-padded:
their real positions never see later padding, so StripedHyena (which refuses masks) works too.

LoRA with ``peft``: :data:`LORA_TARGETS` names each family's linear layers, e.g.

>>> import bioseq, torch
>>> from peft import LoraConfig, get_peft_model
>>> from bioseq.models import MambaConfig
>>> from bioseq.models.heads import LORA_TARGETS, MambaForSequenceClassification
>>> config = MambaConfig.from_preset("tiny", vocab_size=12, d_model=32, num_labels=2)
>>> model = MambaForSequenceClassification(config)
>>> lora = get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4,
...                                         target_modules=LORA_TARGETS["bioseq-mamba"]))
>>> lora(torch.randint(4, 8, (3, 20)), labels=torch.tensor([0, 1, 1])).logits.shape
torch.Size([3, 2])
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

from bioseq.errors import InputError
from bioseq.models.caduceus_lm import CaduceusModel, CaduceusPreTrainedModel
from bioseq.models.config import (
    CaduceusConfig,
    HyenaConfig,
    MambaConfig,
    MergeConfig,
    StripedHyenaConfig,
    TransformerConfig,
)
from bioseq.models.hyena_lm import HyenaModel
from bioseq.models.lm import BioseqPreTrainedModel
from bioseq.models.mamba_lm import MambaModel
from bioseq.models.merge_lm import MergeModel
from bioseq.models.striped_hyena_lm import StripedHyenaModel
from bioseq.models.transformer_lm import TransformerModel

POOLINGS = ("mean", "last", "first")

# Linear layers that LoRA adapts, per model type (Mamba's dt_proj is read as a weight by the
# scan, not called, so an adapter there would do nothing).
LORA_TARGETS = {
    "bioseq-hyena": ["in_proj", "out_proj", "fc1", "fc2"],
    "bioseq-mamba": ["in_proj", "x_proj", "out_proj"],
    "bioseq-transformer": ["qkv_proj", "out_proj", "fc1", "fc2"],
    "bioseq-striped-hyena": [
        "projections",
        "out_filter_dense",
        "Wqkv",
        "out_proj",
        "l1",
        "l2",
        "l3",
    ],  # fmt: skip
    "bioseq-caduceus": ["in_proj", "x_proj", "out_proj"],
    "bioseq-merge": ["in_proj", "out_proj", "fc1", "fc2"],
}


def strand_average(hidden: torch.Tensor, config) -> torch.Tensor:
    """An RCPS model's (..., 2 d) features as (..., d): the forward half and the
    channel-flipped reverse-complement half averaged; other models' features unchanged."""
    if not getattr(config, "rcps", False):
        return hidden
    d = hidden.shape[-1] // 2
    return (hidden[..., :d] + hidden[..., d:].flip(-1)) / 2


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """(batch, L, d) features to (batch, d): ``mean`` over the real tokens, the ``last`` real
    token or the ``first`` one (left or right padding)."""
    if pooling not in POOLINGS:
        raise InputError(f"pooling {pooling!r}: expected one of {', '.join(POOLINGS)}")
    batch, length = hidden.shape[:2]
    if attention_mask is None:
        attention_mask = torch.ones(batch, length, dtype=torch.long, device=hidden.device)
    mask = attention_mask.to(hidden.device).bool()
    if pooling == "mean":
        weights = mask.to(hidden.dtype)[..., None]
        return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
    positions = torch.arange(length, device=hidden.device).expand(batch, length)
    if pooling == "last":
        index = positions.masked_fill(~mask, -1).amax(1).clamp(min=0)
    else:
        index = positions.masked_fill(~mask, length).amin(1).clamp(max=length - 1)
    return hidden[torch.arange(batch, device=hidden.device), index]


def _right_padded(mask: torch.Tensor) -> bool:
    """Whether every row's padding (zeros) comes after all of its tokens."""
    return bool((mask.long().cummin(dim=1).values == mask.long()).all())


class _HeadBase:
    """What both heads share: the backbone under ``base_model_prefix``, dropout and a linear
    ``score`` (d_model -> num_labels), and running the backbone."""

    backbone_class: type[PreTrainedModel]
    causal = True  # the backbone reads left to right (padding on the right cannot reach tokens)

    def __init__(self, config) -> None:
        super().__init__(config)
        setattr(self, self.base_model_prefix, self.backbone_class(config))
        self.dropout = nn.Dropout(getattr(config, "classifier_dropout", None) or 0.0)
        self.score = nn.Linear(config.d_model, config.num_labels)
        self.post_init()

    def get_input_embeddings(self) -> nn.Embedding:
        return self.base_model.get_input_embeddings()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        """The head N(0, 0.02) with a zero bias (whatever the family's own rule for Linears);
        everything else by the family's rule."""
        if module is getattr(self, "score", None):
            nn.init.normal_(module.weight, std=0.02)
            nn.init.zeros_(module.bias)
        else:
            super()._init_weights(module)

    def _features(self, input_ids, attention_mask, output_hidden_states) -> tuple:
        mask = attention_mask
        if mask is not None and (bool(mask.all()) or (self.causal and _right_padded(mask))):
            mask = None  # nothing padded, or padding a causal model never reads
        out = self.base_model(
            input_ids, attention_mask=mask, output_hidden_states=output_hidden_states
        )
        return strand_average(out.last_hidden_state, self.config), out.hidden_states


class SequenceClassification(_HeadBase):
    """Pooled features, dropout, ``score`` (d_model -> num_labels); the loss per
    ``problem_type`` (regression when ``num_labels == 1``)."""

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        hidden, states = self._features(input_ids, attention_mask, output_hidden_states)
        pooling = getattr(self.config, "classifier_pooling", None) or "mean"
        pooled = pool(hidden, attention_mask, pooling)
        logits = self.score(self.dropout(pooled).to(self.score.weight.dtype)).float()
        loss = None if labels is None else self._loss(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=states)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        problem = self.config.problem_type
        if problem is None:
            integral = labels.dtype in (torch.long, torch.int)
            problem = (
                "regression"
                if self.config.num_labels == 1
                else ("single_label_classification" if integral else "multi_label_classification")
            )
            self.config.problem_type = problem
        if problem == "regression":
            return F.mse_loss(logits.squeeze(-1), labels.float().view(-1))
        if problem == "single_label_classification":
            return F.cross_entropy(logits, labels.view(-1))
        return F.binary_cross_entropy_with_logits(logits, labels.float())


class TokenClassification(_HeadBase):
    """A linear ``score`` on every token's features; cross-entropy over labels != -100."""

    def forward(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> TokenClassifierOutput:
        hidden, states = self._features(input_ids, attention_mask, output_hidden_states)
        logits = self.score(self.dropout(hidden).to(self.score.weight.dtype)).float()
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return TokenClassifierOutput(loss=loss, logits=logits, hidden_states=states)


class _MergePreTrainedModel(PreTrainedModel):
    config_class = MergeConfig
    base_model_prefix = "merge"
    main_input_name = "input_ids"
    _init_weights = BioseqPreTrainedModel._init_weights


class _StripedHyenaPreTrainedModel(PreTrainedModel):
    config_class = StripedHyenaConfig
    base_model_prefix = "striped_hyena"
    main_input_name = "input_ids"
    _init_weights = StripedHyenaModel._init_weights


class HyenaForSequenceClassification(SequenceClassification, BioseqPreTrainedModel):
    config_class, backbone_class = HyenaConfig, HyenaModel


class HyenaForTokenClassification(TokenClassification, BioseqPreTrainedModel):
    config_class, backbone_class = HyenaConfig, HyenaModel


class MambaForSequenceClassification(SequenceClassification, BioseqPreTrainedModel):
    config_class, backbone_class = MambaConfig, MambaModel


class MambaForTokenClassification(TokenClassification, BioseqPreTrainedModel):
    config_class, backbone_class = MambaConfig, MambaModel


class TransformerForSequenceClassification(SequenceClassification, BioseqPreTrainedModel):
    config_class, backbone_class = TransformerConfig, TransformerModel


class TransformerForTokenClassification(TokenClassification, BioseqPreTrainedModel):
    config_class, backbone_class = TransformerConfig, TransformerModel


class StripedHyenaForSequenceClassification(SequenceClassification, _StripedHyenaPreTrainedModel):
    config_class, backbone_class = StripedHyenaConfig, StripedHyenaModel


class StripedHyenaForTokenClassification(TokenClassification, _StripedHyenaPreTrainedModel):
    config_class, backbone_class = StripedHyenaConfig, StripedHyenaModel


class CaduceusForSequenceClassification(SequenceClassification, CaduceusPreTrainedModel):
    config_class, backbone_class, causal = CaduceusConfig, CaduceusModel, False


class CaduceusForTokenClassification(TokenClassification, CaduceusPreTrainedModel):
    config_class, backbone_class, causal = CaduceusConfig, CaduceusModel, False


class MergeForSequenceClassification(SequenceClassification, _MergePreTrainedModel):
    config_class, backbone_class, causal = MergeConfig, MergeModel, False


class MergeForTokenClassification(TokenClassification, _MergePreTrainedModel):
    config_class, backbone_class, causal = MergeConfig, MergeModel, False


BASE_MODELS = {
    HyenaConfig: HyenaModel, MambaConfig: MambaModel, TransformerConfig: TransformerModel,
    StripedHyenaConfig: StripedHyenaModel, CaduceusConfig: CaduceusModel, MergeConfig: MergeModel,
}  # fmt: skip
SEQUENCE_CLASSIFIERS = {
    HyenaConfig: HyenaForSequenceClassification, MambaConfig: MambaForSequenceClassification,
    TransformerConfig: TransformerForSequenceClassification,
    StripedHyenaConfig: StripedHyenaForSequenceClassification,
    CaduceusConfig: CaduceusForSequenceClassification,
    MergeConfig: MergeForSequenceClassification,
}  # fmt: skip
TOKEN_CLASSIFIERS = {
    HyenaConfig: HyenaForTokenClassification, MambaConfig: MambaForTokenClassification,
    TransformerConfig: TransformerForTokenClassification,
    StripedHyenaConfig: StripedHyenaForTokenClassification,
    CaduceusConfig: CaduceusForTokenClassification, MergeConfig: MergeForTokenClassification,
}  # fmt: skip
