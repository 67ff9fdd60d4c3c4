"""Released Caduceus checkpoints (Hugging Face layout) -> a bioseq :class:`CaduceusLM`.

A release folder holds ``config.json`` (``model_type "caduceus"``, ``auto_map`` to the
authors' remote code, which is never run) and ``model.safetensors`` or ``pytorch_model.bin``
(read with ``weights_only=True``). See ``shared/docs/caduceus.md`` for the layout.

* Config: ``ssm_cfg`` is flattened into :class:`~bioseq.models.config.CaduceusConfig`'s fields;
  ``fused_add_norm`` is kept as the checkpoint has it, since it decides the half order of the
  RCPS blocks. ``vocab_size`` (12, or 16 if saved after the original padded it) must fit the
  12-token Caduceus tokenizer, and for RCPS checkpoints the ``complement_map`` must be that
  tokenizer's (A<->T, C<->G).
* Keys are renamed (the table is in :mod:`bioseq.models.caduceus_lm`): the ``caduceus.``
  prefix and the RCPS wrappers' ``submodule.`` / ``embedding.`` levels go. Tensors that the
  release stores twice are checked equal and kept once: the tied ``mamba_rev.in_proj`` /
  ``out_proj`` (equal to ``mamba_fwd``'s) and ``lm_head`` (equal to the embedding); the
  ``complement_map`` buffers are checked against the config and dropped.
* Every model tensor must be present with its shape and every checkpoint tensor used, or the
  conversion stops with one line naming the key.

>>> from bioseq.models.convert_caduceus import load_caduceus        # doctest: +SKIP
>>> model = load_caduceus("caduceus-ps_seqlen-131k_d_model-256_n_layer-16")  # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from bioseq.errors import InputError
from bioseq.models.caduceus_lm import CaduceusLM
from bioseq.models.checkpoint_files import read_config, read_state_dict
from bioseq.models.config import CaduceusConfig
from bioseq.tokenizers.caduceus import caduceus_tokenizer, complement_map

# ssm_cfg keys the model uses, and those that only steer init or kernels (ignored)
SSM_KEYS = ("d_state", "d_conv", "expand", "dt_rank", "dt_min", "dt_max", "dt_init_floor",
            "conv_bias", "bias")  # fmt: skip
SSM_IGNORED = ("dt_scale", "dt_init", "use_fast_path", "layer_idx", "device", "dtype")
TOP_KEYS = ("rms_norm", "residual_in_fp32", "fused_add_norm", "pad_vocab_size_multiple",
            "norm_epsilon", "bidirectional", "bidirectional_strategy",
            "bidirectional_weight_tie", "rcps")  # fmt: skip
N_TOKENS = 12  # the Caduceus tokenizer's vocabulary

_RENAMES = [
    (r"^caduceus\.backbone\.embeddings\.word_embeddings\.(?:embedding\.)?weight$",
     "backbone.embedding.weight"),
    (r"^caduceus\.backbone\.layers\.(\d+)\.mixer\.(?:submodule\.)?(mamba_(?:fwd|rev)\..+)$",
     r"backbone.layers.\1.mixer.\2"),
    (r"^caduceus\.backbone\.layers\.(\d+)\.norm\.(?:submodule\.)?(weight|bias)$",
     r"backbone.layers.\1.norm.\2"),
    (r"^caduceus\.backbone\.norm_f\.(?:submodule\.)?(weight|bias)$", r"backbone.norm_f.\1"),
]  # fmt: skip
_HEAD = re.compile(r"^lm_head\.(?:lm_head\.)?weight$")
_COMPLEMENT = re.compile(
    r"^(?:caduceus\.backbone\.embeddings\.word_embeddings|lm_head)"
    r"\.complement_map$"
)
_TIED_REV = re.compile(r"^(backbone\.layers\.\d+\.mixer\.)mamba_rev\.((?:in|out)_proj\..+)$")


def is_caduceus_config(config: dict) -> bool:
    return config.get("model_type") == "caduceus"


def caduceus_config(raw: dict, where: Path | str = "config.json") -> CaduceusConfig:
    """A :class:`CaduceusConfig` from a release ``config.json`` (already parsed)."""
    for key in ("d_model", "n_layer", "vocab_size"):
        if key not in raw:
            raise InputError(
                f"{where}: no {key!r} (a Caduceus config needs d_model, n_layer, vocab_size)"
            )
    ssm = dict(raw.get("ssm_cfg") or {})
    unknown = sorted(set(ssm) - set(SSM_KEYS) - set(SSM_IGNORED))
    if unknown:
        raise InputError(
            f"{where}: ssm_cfg has {unknown[0]!r}, which bioseq's Caduceus does not implement"
        )
    kwargs = {k: ssm[k] for k in SSM_KEYS if k in ssm}
    kwargs.update({k: raw[k] for k in TOP_KEYS if k in raw})
    kwargs.setdefault("fused_add_norm", True)  # the release config's default
    multiple = int(raw.get("pad_vocab_size_multiple", 8))
    padded = -(-N_TOKENS // multiple) * multiple
    if not N_TOKENS <= int(raw["vocab_size"]) <= padded:
        raise InputError(
            f"{where}: vocab_size {raw['vocab_size']} does not fit the "
            f"{N_TOKENS}-token Caduceus tokenizer (expected {N_TOKENS}"
            f"{f' to {padded}' if padded > N_TOKENS else ''})"
        )
    cmap = raw.get("complement_map")
    try:
        config = CaduceusConfig(
            vocab_size=N_TOKENS,
            d_model=int(raw["d_model"]),
            n_layer=int(raw["n_layer"]),
            complement_map=cmap,
            pad_token_id=4,
            **kwargs,
        )
    except InputError as err:
        raise InputError(f"{where}: {err}") from None
    except (TypeError, ValueError) as err:
        raise InputError(f"{where}: not a valid Caduceus config ({err})") from None
    if config.complement_map is not None:
        expected = complement_map(caduceus_tokenizer())
        if config.complement_map[:N_TOKENS] != expected:
            raise InputError(
                f"{where}: complement_map {config.complement_map[:N_TOKENS]} is "
                f"not the Caduceus tokenizer's {expected}"
            )
    return config


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.equal(a, b)


def caduceus_state_dict(
    state: dict[str, torch.Tensor], config: CaduceusConfig, where: Path | str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Rename release keys to bioseq's; check and drop the tensors stored twice."""
    out: dict[str, torch.Tensor] = {}
    heads, complements = [], []
    for key, value in state.items():
        if _HEAD.match(key):
            heads.append((key, value))
            continue
        if _COMPLEMENT.match(key):
            complements.append((key, value))
            continue
        for pattern, replacement in _RENAMES:
            new, n = re.subn(pattern, replacement, key)
            if n:
                break
        else:
            new = key  # reported as unused by load_caduceus
        if new in out:
            raise InputError(f"{where}: two checkpoint tensors map to {new!r}")
        out[new] = value
    embedding = out.get("backbone.embedding.weight")
    for key, value in heads:
        if embedding is not None and not _same(value, embedding):
            raise InputError(f"{where}: {key} differs from the embedding (Caduceus ties them)")
    full = config.padded_complement_map
    for key, value in complements:
        if full is None or value.tolist() != full:
            raise InputError(
                f"{where}: {key} {value.tolist()} does not match config.json's complement_map"
            )
    if config.bidirectional and config.bidirectional_weight_tie:
        for key in [k for k in out if _TIED_REV.match(k)]:
            fwd = _TIED_REV.sub(r"\1mamba_fwd.\2", key)
            if fwd in out and not _same(out[key], out[fwd]):
                raise InputError(f"{where}: {key} differs from {fwd} (tied in the release)")
            del out[key]
    return out


def load_caduceus(directory: str | Path) -> CaduceusLM:
    """A release-layout Caduceus folder as a :class:`CaduceusLM` (same logits)."""
    directory = Path(directory)
    config = caduceus_config(read_config(directory), directory / "config.json")
    model = CaduceusLM(config)
    state = caduceus_state_dict(read_state_dict(directory), config, directory)
    expected = model.state_dict()
    missing = sorted(expected.keys() - state.keys())
    unused = sorted(state.keys() - expected.keys())
    if missing or unused:
        listed = f"missing: {missing[:3] or 'none'}; unused: {unused[:3] or 'none'}"
        raise InputError(f"{directory}: checkpoint does not match the Caduceus config ({listed})")
    for key, value in state.items():
        if value.shape != expected[key].shape:
            raise InputError(
                f"{directory}: {key} has shape {tuple(value.shape)}, expected "
                f"{tuple(expected[key].shape)} from config.json"
            )
    model.load_state_dict(state, strict=True)
    return model.eval()
