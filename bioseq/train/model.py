"""The model, optimizer and learning-rate schedule of a run.

>>> from bioseq.train.model import lr_factor
>>> [round(lr_factor(s, warmup=10, total=100, min_ratio=0.1), 3) for s in (0, 9, 10, 55, 100)]
[0.1, 1.0, 1.0, 0.55, 0.1]
"""

from __future__ import annotations

import inspect
import math

import torch

from bioseq.errors import InputError
from bioseq.models import CONFIG_CLASSES, MODEL_CLASSES, MergeConfig, MergeLM
from bioseq.tokenizers.caduceus import complement_map
from bioseq.train.config import TrainConfig, default_objective


def _config_keys(cls) -> set[str]:
    keys = set()
    for klass in cls.__mro__:
        if "__init__" in vars(klass) and klass.__module__.startswith("bioseq"):
            keys |= set(inspect.signature(klass.__init__).parameters) - {"self", "kwargs"}
    return keys


def build_model(config: TrainConfig, data) -> torch.nn.Module:
    """A freshly initialised model of ``config.model`` / ``config.size`` for ``data``'s tokenizer
    (``merge``: a MergeLM over single bases whose latent backbone is ``config.backbone``).

    The model config also records ``alphabet``, ``direction``, ``training_context`` and
    ``objective`` (``causal`` or ``mlm``), so scoring code knows how the model reads sequences;
    an ``aligned`` run also ``aligned`` and ``alignment_width`` (its match columns).
    ``caduceus`` on DNA is reverse-complement equivariant (``rcps``, from the tokenizer's
    ``complement_map``) unless ``model_config`` says ``rcps: false``; on proteins it never is.
    An aligned ``caduceus`` learns a vector per column (``column_embeddings``, the alignment's
    width, unless ``model_config`` says ``column_embeddings: 0``).
    """
    merging = config.model == "merge"
    family = (config.backbone or "hyena") if merging else config.model  # what holds the layers
    if merging and data.alphabet != "dna":
        raise InputError(f"model merge needs DNA input, but the inputs are {data.alphabet}")
    cls = CONFIG_CLASSES[family]
    known = _config_keys(cls)
    if merging:
        known |= _config_keys(MergeConfig) - {"backbone", "backbone_kwargs"}
    overrides = dict(config.model_config)
    for key in overrides:
        if key not in known:
            raise InputError(
                f"model_config: unknown key {key!r} for {family} "
                f"(known: {', '.join(sorted(known))})"
            )
    for key in ("d_model", "n_layer"):
        if getattr(config, key) is not None:
            overrides[key] = getattr(config, key)
    if family == "hyena":
        overrides.setdefault("max_seq_len", config.context)
        if overrides["max_seq_len"] < config.context:
            raise InputError(
                f"model_config max_seq_len {overrides['max_seq_len']} is below --context "
                f"{config.context} (Hyena's filters are learned per position)"
            )
    if config.model == "striped-hyena":  # train hcm taps under the Evo 2 run's decay window
        overrides.setdefault("hcm_decay_preset", "weak")
    tok = data.tokenizer
    if config.model == "caduceus":
        overrides.update(caduceus_settings(overrides, data.alphabet, tok))
        if getattr(data, "aligned", False):  # position j is column j: learn each column
            overrides.setdefault("column_embeddings", data.alignment_width)
    if merging:
        cls, model_class = MergeConfig, MergeLM
        own = _config_keys(MergeConfig)
        backbone_kwargs = {k: v for k, v in overrides.items() if k not in own}
        overrides = {k: v for k, v in overrides.items() if k in own}
        overrides.update(
            backbone=family, backbone_kwargs=backbone_kwargs, merge_ratio=config.merge_ratio or 2.0
        )
    else:
        model_class = MODEL_CLASSES[config.model]
    model_config = cls.from_preset(
        config.size,
        vocab_size=len(tok),
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        **overrides,
    )
    model_config.alphabet = data.alphabet
    model_config.direction = config.direction
    model_config.training_context = config.context
    if not merging:
        model_config.objective = config.objective or default_objective(config.model)
    if getattr(data, "aligned", False):  # one position per alignment column (--aligned)
        model_config.aligned, model_config.alignment_width = True, data.alignment_width
    return model_class(model_config)


def caduceus_settings(overrides: dict, alphabet: str, tokenizer) -> dict:
    """``rcps`` and ``complement_map`` of a Caduceus: RCPS on by default for DNA, refused for
    other alphabets (they have no reverse complement)."""
    rcps = overrides.get("rcps")
    if alphabet != "dna":
        if rcps:
            raise InputError(
                f"rcps (reverse-complement equivariance) needs DNA, but the "
                f"inputs are {alphabet}: leave out rcps=true"
            )
        return {"rcps": False}
    if not isinstance(rcps, (bool, type(None))):
        raise InputError(f"model_config rcps must be true or false, not {rcps!r}")
    return {"rcps": rcps is not False, "complement_map": complement_map(tokenizer)}


def make_optimizer(
    model: torch.nn.Module, config: TrainConfig, fused: bool = True
) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices (and embeddings), none on biases and norms (nanoGPT)
    nor on parameters marked ``no_weight_decay`` (StripedHyena's filters, as in savanna).

    The fused implementation where PyTorch has one for the parameters (CPU and CUDA floats):
    faster, and it skips a step on the device when ``optimizer.found_inf`` is 1, so the loop
    never waits for the GPU to learn whether a gradient was finite (``fused=False``: the
    default implementation, as before; benchmarks compare the two)."""
    params = [p for p in model.parameters() if p.requires_grad]
    decayed = [p for p in params if p.dim() >= 2 and not getattr(p, "no_weight_decay", False)]
    ids = {id(p) for p in decayed}
    groups = [
        {"params": decayed, "weight_decay": config.weight_decay},
        {"params": [p for p in params if id(p) not in ids], "weight_decay": 0.0},
    ]
    if fused:
        try:
            return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas), fused=True)
        except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
            pass
    return torch.optim.AdamW(groups, lr=config.lr, betas=tuple(config.betas))


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay to ``min_ratio`` at ``total``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def make_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig):
    """The schedule of a resolved config as a ``LambdaLR`` (its state goes in checkpoints)."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: lr_factor(step, config.warmup_steps, config.steps, config.min_lr_ratio),
    )
