"""Will a training step fit in memory? A rough estimate made before the model is built.

A step holds the parameters, their gradients and AdamW's two moments (16 bytes a parameter in
fp32) and the activations of one micro-batch, about ``d_model x (16 x n_layer + 8)`` floats a
token plus the logits. Measured on CPU in fp32 a layer keeps 25-35 ``d_model`` floats a token,
so the estimate is a lower bound: it refuses only what cannot fit (``--context 100000
--batch-size 1000``), never a run that would have trained.

>>> from bioseq.train.memory import format_bytes
>>> format_bytes(3 * 2**30)
'3.0 GiB'
"""

from __future__ import annotations

import math

import torch

from bioseq.errors import InputError
from bioseq.models.config import SIZES
from bioseq.models.memory import available_memory, format_bytes
from bioseq.train.config import TrainConfig

# parameters per layer in units of d_model^2 (presets: Hyena 12.6, Mamba 6.6, Transformer 12)
# Caduceus: a BiMamba layer is a Mamba layer run both ways (about 2x with untied weights)
LAYER_PARAMS = {"hyena": 12, "mamba": 6, "transformer": 12, "striped-hyena": 12, "caduceus": 12}
# activations relative to a one-way model: BiMamba keeps both directions' (and RCPS, on DNA,
# runs every layer on the sequence and its reverse complement: twice again)
BIDIRECTIONAL = {"caduceus": 2}
LAYER_FLOATS = 16  # activation floats kept per token, layer and d_model (measured: 25-35)
BYTES_PER_PARAM = 16  # fp32 weights, gradients and two AdamW moments


def _int(value, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def estimate(
    config: TrainConfig, vocab: int, tokens: int, rcps: bool = False
) -> tuple[int, int, int]:
    """``(parameters, bytes of parameters + gradients + AdamW state, activation bytes per
    token)`` of a resolved config for a vocabulary of ``vocab`` tokens, at ``tokens`` tokens
    per sequence (``rcps``: a reverse-complement equivariant Caduceus).

    >>> from bioseq.train.config import TrainConfig
    >>> mamba = estimate(TrainConfig(model="mamba"), 10, 256)
    >>> caduceus = estimate(TrainConfig(model="caduceus"), 10, 256, rcps=True)
    >>> round(caduceus[0] / mamba[0], 1), round(caduceus[2] / mamba[2], 1)  # params, activations
    (2.0, 3.4)
    """
    preset, extra = SIZES[config.size], config.model_config
    d = config.d_model or _int(extra.get("d_model"), preset["d_model"])
    n = config.n_layer or _int(extra.get("n_layer"), preset["n_layer"])
    family = config.model
    if family == "merge":  # a MergeLM: its backbone's layers, and
        family = config.backbone or "hyena"
        n += 4  # the local encoder's merge layers and the decoder, roughly
    vocab = math.ceil(vocab / 8) * 8
    params = n * LAYER_PARAMS[family] * d * d + 2 * vocab * d
    if family == "hyena":  # positional features, learned per position
        params += n * 6 * max(tokens, _int(extra.get("max_seq_len"), 0))
    layer_floats = LAYER_FLOATS * BIDIRECTIONAL.get(config.model, 1) * (2 if rcps else 1)
    per_token = 4 * (d * (layer_floats * n + 8) + 3 * vocab)
    return params, params * BYTES_PER_PARAM, per_token


def check_memory(
    config: TrainConfig,
    vocab: int,
    tokens: int,
    world_size: int,
    device: torch.device,
    rcps: bool = False,
) -> None:
    """InputError, saying what would fit, when a step of ``config`` (sequences of ``tokens``
    tokens) cannot fit in the memory free on ``device``."""
    free = available_memory(device)
    if free is None:
        return
    params, fixed, per_token = estimate(config, vocab, tokens, rcps)
    if device.type == "cuda" and config.precision != "fp32":
        per_token //= 2  # bf16 activations
    micro = max(1, config.batch_size // (world_size * config.grad_accum))
    per_sequence = per_token * tokens
    need = fixed + micro * per_sequence
    if need <= free:
        return
    where = f"free on {device}" if device.type == "cuda" else "available"
    head = (
        f"a training step needs at least {format_bytes(need)} ({params / 1e6:,.1f} M parameters "
        f"with gradients and AdamW state: {format_bytes(fixed)}; activations: "
        f"{format_bytes(per_sequence)} per sequence of {tokens:,} tokens x {micro:,} per "
        f"micro-batch) but {format_bytes(free)} is {where}"
    )
    raise InputError(f"{head}; {_advice(config, free - fixed, per_token, tokens, world_size)}")


def _advice(config: TrainConfig, room: int, per_token: int, tokens: int, world_size: int) -> str:
    if room <= 0:
        return "the model alone does not fit: lower --size, --d-model or --n-layer"
    fits = room // (per_token * tokens)
    if fits < 1:
        return (
            f"not even one sequence of context {config.context:,} fits; at most about "
            f"--context {max(1, room // per_token):,} (one sequence per micro-batch)"
        )
    share = config.batch_size // world_size
    first = -(-share // fits)  # the least micro-batch count that fits; it must divide share
    candidates = range(first, min(share, first + 10**5) + 1)
    accum = next((g for g in candidates if share % g == 0), None)
    if accum is None:
        return f"about {fits:,} sequences fit at once: lower --batch-size"
    return (
        f"about {fits:,} sequences of this context fit at once: use --grad-accum {accum} "
        f"(or lower --batch-size or --context)"
    )
