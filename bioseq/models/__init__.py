"""Hyena, Mamba, Transformer and StripedHyena (Evo 2) language models, registered with
transformers' Auto classes; MergeLM (learned merging, :mod:`bioseq.models.merge_lm`), an
``AutoModelForMaskedLM``; and Caduceus (:mod:`bioseq.models.caduceus_lm`): CaduceusLM as
``AutoModelForMaskedLM``. Every family's backbone is its ``AutoModel`` (``HyenaModel``,
``MambaModel``, ..., ``MergeModel``), and :mod:`bioseq.models.heads` registers its
``AutoModelForSequenceClassification`` and ``AutoModelForTokenClassification``.

>>> import bioseq.models  # registers the model types
>>> from transformers import AutoConfig
>>> AutoConfig.for_model("bioseq-mamba").model_type
'bioseq-mamba'
"""

from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

from bioseq.models.caduceus_lm import CaduceusLM, CaduceusModel
from bioseq.models.config import (
    CaduceusConfig,
    HyenaConfig,
    MambaConfig,
    MergeConfig,
    StripedHyenaConfig,
    TransformerConfig,
)
from bioseq.models.heads import BASE_MODELS, SEQUENCE_CLASSIFIERS, TOKEN_CLASSIFIERS
from bioseq.models.hyena_lm import HyenaLM, HyenaModel
from bioseq.models.lm import BackboneOutput, BioseqLM, BioseqModel, LMOutput
from bioseq.models.mamba_lm import MambaLM, MambaModel, MambaState
from bioseq.models.merge_lm import MergeLM, MergeModel, MergeOutput
from bioseq.models.striped_hyena_lm import StripedHyenaLM, StripedHyenaModel, StripedHyenaState
from bioseq.models.transformer_lm import TransformerLM, TransformerModel

MODEL_CLASSES = {"hyena": HyenaLM, "mamba": MambaLM, "transformer": TransformerLM,
                 "striped-hyena": StripedHyenaLM, "caduceus": CaduceusLM}  # fmt: skip
CONFIG_CLASSES = {"hyena": HyenaConfig, "mamba": MambaConfig, "transformer": TransformerConfig,
                  "striped-hyena": StripedHyenaConfig, "caduceus": CaduceusConfig}  # fmt: skip

for _config, _model in (
    (HyenaConfig, HyenaLM),
    (MambaConfig, MambaLM),
    (TransformerConfig, TransformerLM),
    (StripedHyenaConfig, StripedHyenaLM),
):
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForCausalLM.register(_config, _model, exist_ok=True)
# learned-merge models are not causal LMs: they reconstruct and unmask their input bases
AutoConfig.register(MergeConfig.model_type, MergeConfig, exist_ok=True)
AutoModelForMaskedLM.register(MergeConfig, MergeLM, exist_ok=True)
# Caduceus: bidirectional masked LM (and its backbone)
AutoConfig.register(CaduceusConfig.model_type, CaduceusConfig, exist_ok=True)
AutoModelForMaskedLM.register(CaduceusConfig, CaduceusLM, exist_ok=True)
for _config, _model in BASE_MODELS.items():
    AutoModel.register(_config, _model, exist_ok=True)
    AutoModelForSequenceClassification.register(
        _config, SEQUENCE_CLASSIFIERS[_config], exist_ok=True
    )
    AutoModelForTokenClassification.register(_config, TOKEN_CLASSIFIERS[_config], exist_ok=True)

__all__ = [
    "BioseqLM", "BioseqModel", "BackboneOutput", "LMOutput", "HyenaConfig", "HyenaLM",
    "HyenaModel", "MambaConfig", "MambaLM", "MambaModel", "MambaState", "TransformerConfig",
    "TransformerLM", "TransformerModel", "StripedHyenaConfig", "StripedHyenaLM",
    "StripedHyenaModel", "StripedHyenaState", "MergeConfig", "MergeLM", "MergeModel",
    "MergeOutput", "CaduceusConfig", "CaduceusLM", "CaduceusModel",
    "MODEL_CLASSES", "CONFIG_CLASSES",
]  # fmt: skip
