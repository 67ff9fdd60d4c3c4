"""Hyena, Mamba, Transformer and StripedHyena (Evo 2) language models, registered with
transformers' Auto classes; MergeLM (learned merging, :mod:`bioseq.models.merge_lm`), an
``AutoModelForMaskedLM``; and Caduceus (:mod:`bioseq.models.caduceus_lm`): CaduceusLM as
``AutoModelForMaskedLM``, CaduceusModel as ``AutoModel``.

>>> import bioseq  # registers the model types
>>> from transformers import AutoConfig
>>> AutoConfig.for_model("bioseq-mamba").model_type
'bioseq-mamba'
"""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForMaskedLM

from bioseq.models.caduceus_lm import CaduceusLM, CaduceusModel
from bioseq.models.config import (
    CaduceusConfig,
    HyenaConfig,
    MambaConfig,
    MergeConfig,
    StripedHyenaConfig,
    TransformerConfig,
)
from bioseq.models.hyena_lm import HyenaLM
from bioseq.models.lm import BioseqLM, LMOutput
from bioseq.models.mamba_lm import MambaLM, MambaState
from bioseq.models.merge_lm import MergeLM, MergeOutput
from bioseq.models.striped_hyena_lm import StripedHyenaLM, StripedHyenaState
from bioseq.models.transformer_lm import TransformerLM

MODEL_CLASSES = {"hyena": HyenaLM, "mamba": MambaLM, "transformer": TransformerLM,
                 "striped-hyena": StripedHyenaLM, "caduceus": CaduceusLM}  # fmt: skip
CONFIG_CLASSES = {"hyena": HyenaConfig, "mamba": MambaConfig, "transformer": TransformerConfig,
                  "striped-hyena": StripedHyenaConfig, "caduceus": CaduceusConfig}  # fmt: skip

for _config, _model in ((HyenaConfig, HyenaLM), (MambaConfig, MambaLM),
                        (TransformerConfig, TransformerLM),
                        (StripedHyenaConfig, StripedHyenaLM)):  # fmt: skip
    AutoConfig.register(_config.model_type, _config, exist_ok=True)
    AutoModelForCausalLM.register(_config, _model, exist_ok=True)
# learned-merge models are not causal LMs: they reconstruct and unmask their input bases
AutoConfig.register(MergeConfig.model_type, MergeConfig, exist_ok=True)
AutoModelForMaskedLM.register(MergeConfig, MergeLM, exist_ok=True)
# Caduceus: bidirectional masked LM (and its backbone)
AutoConfig.register(CaduceusConfig.model_type, CaduceusConfig, exist_ok=True)
AutoModelForMaskedLM.register(CaduceusConfig, CaduceusLM, exist_ok=True)
AutoModel.register(CaduceusConfig, CaduceusModel, exist_ok=True)

__all__ = [
    "BioseqLM", "LMOutput", "HyenaConfig", "HyenaLM", "MambaConfig", "MambaLM", "MambaState",
    "TransformerConfig", "TransformerLM", "StripedHyenaConfig", "StripedHyenaLM",
    "StripedHyenaState", "MergeConfig", "MergeLM", "MergeOutput", "CaduceusConfig",
    "CaduceusLM", "CaduceusModel",
    "MODEL_CLASSES", "CONFIG_CLASSES",
]  # fmt: skip
