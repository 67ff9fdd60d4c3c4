"""How many tokens a model reads: the one place that answers it for every command.

Two answers, for two questions:

- :func:`position_limit` — the most tokens (special ones included) the model can take at all:
  a ``max_seq_len`` in the config (Hyena's: its positional features are learned per position)
  and learned absolute position embeddings (ESM and RoBERTa count positions from
  ``pad_token_id + 1``, BERT from 0). None when unbounded (Mamba, rotary Transformers and
  ESM-2, Caduceus) or unknown. Longer inputs fail or read garbage, so callers refuse them.
- :func:`model_context` — how long an input should be: the context a bioseq run was trained
  on (``config.training_context``), else :func:`position_limit`, else the tokenizer's
  ``model_max_length`` when it states one. Callers take it as their default length (embedding
  windows, fine-tuning and prediction lengths, score-vcf windows) and subtract their own
  special tokens.

>>> from bioseq.models import HyenaConfig, HyenaLM
>>> hyena = HyenaLM(HyenaConfig.from_preset("tiny", vocab_size=10, max_seq_len=64))
>>> position_limit(hyena.config), model_context(hyena)
(64, 64)
>>> hyena.config.training_context = 32  # what `bioseq pretrain --context 32` records
>>> model_context(hyena)
32
"""

from __future__ import annotations

__all__ = ["model_context", "position_limit"]

# Hugging Face tokenizers without a stated limit say int(1e30) (VERY_LARGE_INTEGER)
_NO_TOKENIZER_LIMIT = 10**9


def position_limit(config) -> int | None:
    """Tokens (special ones included) that ``config``'s model can read at all; None when
    unbounded or unknown (see the module doc).

    >>> from transformers import EsmConfig
    >>> position_limit(EsmConfig(vocab_size=33, max_position_embeddings=1026, pad_token_id=1))
    1024
    >>> position_limit(EsmConfig(vocab_size=33, position_embedding_type="rotary")) is None
    True
    """
    limits = [getattr(config, "max_seq_len", None)]  # Hyena's, or any config that states one
    limit = getattr(config, "max_position_embeddings", None)
    if limit is not None and getattr(config, "position_embedding_type", "absolute") == "absolute":
        if getattr(config, "model_type", "") in ("esm", "roberta"):
            limit = int(limit) - int(getattr(config, "pad_token_id", 0) or 0) - 1
        limits.append(limit)
    found = [int(x) for x in limits if x]
    return min(found) if found else None


def model_context(model, tokenizer=None) -> int | None:
    """Tokens per input that ``model`` was trained on or takes: ``training_context``, else
    :func:`position_limit`, else ``tokenizer.model_max_length`` (when given and stated); None
    when none is known (see the module doc)."""
    config = model.config
    trained = getattr(config, "training_context", None)
    if isinstance(trained, int) and trained > 0:
        return trained
    limit = position_limit(config)
    if limit is not None:
        return limit
    stated = getattr(tokenizer, "model_max_length", None)
    if isinstance(stated, int) and 0 < stated < _NO_TOKENIZER_LIMIT:
        return stated
    return None
