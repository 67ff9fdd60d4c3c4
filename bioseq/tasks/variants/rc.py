"""Per-base log-likelihoods on both strands, in forward coordinates.

A causal DNA model reads one strand left to right. Reading the reverse complement too and
mapping its per-base scores back onto the forward coordinates gives every base a second,
independent opinion; their average is a strand-symmetric score (as Evo 2's
``average_reverse_complement``).

>>> import torch
>>> from bioseq.models import MambaConfig, MambaLM
>>> from bioseq.tokenizers import CharTokenizer
>>> tok = CharTokenizer("dna")
>>> model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=tok.vocab_size)).eval()
>>> fwd, rc, avg = strand_log_likelihoods(model, tok, ["ACGTTGCA", "GGATC"])
>>> [len(x) for x in avg]
[8, 5]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from bioseq.errors import InputError
from bioseq.io.alphabet import reverse_complement


@torch.no_grad()
def per_base_log_likelihood(
    model, tokenizer, sequences: Sequence[str], batch_size: int = 16
) -> list[np.ndarray]:
    """``log p(base_i | bases before i)`` for every base, in nats, one array per sequence.

    A BOS token is prepended so the first base is scored too. Needs a one-token-per-base
    tokenizer.
    """
    if getattr(tokenizer, "bases_per_token", 1) != 1:
        raise InputError("per-base log-likelihoods need a single-base tokenizer")
    device = next(model.parameters()).device
    results: list[np.ndarray] = []
    for start in range(0, len(sequences), batch_size):
        batch = sequences[start : start + batch_size]
        encoded = [tokenizer.encode_array(s) for s in batch]
        length = max(len(ids) for ids in encoded) + 1
        ids = torch.full((len(batch), length), tokenizer.pad_token_id, dtype=torch.long)
        for row, tokens in enumerate(encoded):  # right padding cannot affect earlier positions
            ids[row, 0] = tokenizer.bos_token_id
            ids[row, 1 : len(tokens) + 1] = torch.from_numpy(tokens)
        logp = model(ids.to(device)).logits.float().log_softmax(-1)
        scores = logp[:, :-1].gather(-1, ids[:, 1:, None].to(device))[..., 0].cpu().numpy()
        results.extend(scores[row, : len(tokens)] for row, tokens in enumerate(encoded))
    return results


def reverse_complement_log_likelihood(
    model, tokenizer, sequences: Sequence[str], batch_size: int = 16
) -> list[np.ndarray]:
    """Per-base log-likelihoods of each reverse complement, mapped onto forward coordinates.

    ``out[i]`` scores the complement of forward base ``i`` as read on the minus strand.
    """
    rc = [reverse_complement(s) for s in sequences]
    return [x[::-1].copy() for x in per_base_log_likelihood(model, tokenizer, rc, batch_size)]


def strand_log_likelihoods(
    model, tokenizer, sequences: Sequence[str], batch_size: int = 16
) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    """Forward, reverse-complement (forward coordinates) and averaged per-base scores."""
    forward = per_base_log_likelihood(model, tokenizer, sequences, batch_size)
    reverse = reverse_complement_log_likelihood(model, tokenizer, sequences, batch_size)
    return forward, reverse, [(f + r) / 2 for f, r in zip(forward, reverse, strict=True)]
