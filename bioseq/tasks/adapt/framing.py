"""Sequences fed as the model was pretrained to read them: the one place that decides whether a
beginning token goes first (:func:`start_ids`), how a batch of letters becomes padded ids
(:func:`encode`); how long an input may be is :func:`bioseq.models.context.model_context`.
Generation, embeddings, fine-tuning, probes and predictions all frame sequences through this
module.

bioseq tokenizers give bare letters, after a beginning token only where pretraining put one
(protein records, Evo 2's documents); Hugging Face tokenizers add their own special tokens
(ESM's ``<cls>``/``<eos>``).

>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=len(tok), d_model=16))
>>> start_ids(model, tok)  # a genome model reads windows that start anywhere
[]
>>> batch = encode(model, tok, ["acgt", "GA"], max_length=3, device="cpu")
>>> batch["attention_mask"].tolist()
[[1, 1, 1], [1, 1, 0]]
"""

from __future__ import annotations

import torch

from bioseq.tokenizers.base import SequenceTokenizer

__all__ = ["encode", "start_ids"]


def start_ids(model, tokenizer) -> list[int]:
    """``[bos]`` if the model was trained with sequences that start with a beginning token,
    else ``[]``. bioseq runs: protein records do (``[CLS] seq [SEP]``); genome windows, aligned
    columns and text do not. Evo 2 (converted) starts documents after its end token; other
    foreign models use their tokenizer's ``bos_token`` when they have one."""
    config, bos = model.config, tokenizer.bos_token_id
    if bos is None:
        return []
    if getattr(config, "objective", None) is not None:  # a bioseq pretrain run
        records = getattr(config, "alphabet", None) == "protein"
        return [bos] if records and not getattr(config, "aligned", False) else []
    if getattr(config, "model_type", "") == "bioseq-striped-hyena":
        return [bos]
    return [] if isinstance(tokenizer, SequenceTokenizer) else [bos]


def encode(model, tokenizer, sequences: list[str], max_length: int, device) -> dict:
    """Tokens of a batch as the model was trained to read them (upper-cased; see the module
    doc), padded on the right and cut to ``max_length``: ``input_ids`` and ``attention_mask``
    on ``device``."""
    texts = [s.upper() for s in sequences]
    if not isinstance(tokenizer, SequenceTokenizer):
        batch = tokenizer(
            texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
    prefix = start_ids(model, tokenizer)
    rows = [
        (prefix + tokenizer(t, add_special_tokens=False)["input_ids"])[:max_length] for t in texts
    ]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        mask[i, : len(row)] = 1
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
