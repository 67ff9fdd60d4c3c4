"""A checkpoint folder someone already has, read without running its code: its
``config.json`` (:func:`read_config`), its weights (:func:`read_state_dict`, never unpickled) and
which layout it is in (:func:`detect_layout`). The converters (:mod:`bioseq.models.convert`,
:mod:`bioseq.models.convert_caduceus`, :mod:`bioseq.models.convert_evo2`) build on these.

>>> detect_layout({"model_type": "hyenadna"}), detect_layout({"d_model": 8, "n_layer": 2,
...                                                            "vocab_size": 16})
('hyenadna', 'mamba_ssm')
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from bioseq.errors import InputError

__all__ = ["detect_layout", "read_config", "read_state_dict"]


def read_config(directory: Path) -> dict:
    """The folder's ``config.json`` as a dict; one-line InputError when it is missing or bad."""
    path = directory / "config.json"
    if not path.is_file():
        raise InputError(f"{directory}: no config.json, expected a model directory")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(f"{path}:{err.lineno}: invalid JSON ({err.msg})") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text (expected a JSON config)") from None
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object, found {type(config).__name__}")
    return config


def read_state_dict(directory: Path) -> dict[str, torch.Tensor]:
    """Weights from ``model.safetensors`` or ``pytorch_model.bin`` (never unpickled)."""
    safetensors = directory / "model.safetensors"
    if safetensors.is_file():
        try:
            return load_file(str(safetensors))
        except Exception as err:  # noqa: BLE001 - safetensors' own error type is not public
            raise InputError(f"{safetensors}: not a readable safetensors file ({err})") from None
    binary = directory / "pytorch_model.bin"
    if binary.is_file():
        try:
            state = torch.load(binary, map_location="cpu", weights_only=True)
        except Exception as err:  # an unpickling refusal or a corrupt file
            raise InputError(f"{binary}: cannot be loaded safely ({err})") from None
        return state.get("state_dict", state) if isinstance(state, dict) else state
    raise InputError(f"{directory}: no model.safetensors or pytorch_model.bin")


def detect_layout(config: dict) -> str:
    """``hyenadna``, ``caduceus``, ``evo2``, ``mamba_ssm`` or a bioseq model type."""
    model_type = config.get("model_type", "")
    if model_type == "hyenadna":
        return "hyenadna"
    if model_type == "caduceus":
        return "caduceus"  # a released Caduceus (see bioseq.models.convert_caduceus)
    if model_type.startswith("bioseq-"):
        return model_type
    if {"hcl_layer_idxs", "attn_layer_idxs", "hidden_size"} <= config.keys():
        return "evo2"  # an Evo 2 YAML config (see bioseq.models.convert_evo2)
    if "ssm_cfg" in config or {"d_model", "n_layer", "vocab_size"} <= config.keys():
        return "mamba_ssm"
    raise InputError(
        f"unrecognised checkpoint (model_type {model_type!r}); expected a mamba-ssm "
        "MambaLMHeadModel, a HyenaDNA or Caduceus checkpoint or a bioseq model"
    )
