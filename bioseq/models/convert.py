"""Load checkpoints people already have: mamba-ssm ``MambaLMHeadModel`` and HyenaDNA (HF).

Both are read from a local directory, never downloaded; ``.bin`` files are loaded with
``torch.load(weights_only=True)`` so nothing is unpickled. Every checkpoint key must be used
and every model parameter filled, or loading fails with the keys named.

>>> from bioseq.models.convert import load_checkpoint          # doctest: +SKIP
>>> model, tokenizer = load_checkpoint("hyenadna-tiny-1k-seqlen-hf")  # doctest: +SKIP
>>> model.save_pretrained("out"); tokenizer.save_pretrained("out")    # doctest: +SKIP
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_directory, check_output_dir
from bioseq.models.checkpoint_files import detect_layout, read_config, read_state_dict
from bioseq.models.config import HyenaConfig, MambaConfig
from bioseq.models.convert_caduceus import load_caduceus
from bioseq.models.convert_evo2 import convert_evo2, is_evo2_source
from bioseq.models.hyena_lm import HyenaLM
from bioseq.models.lm import BioseqLM
from bioseq.models.mamba_lm import MambaLM
from bioseq.tokenizers import CharTokenizer
from bioseq.tokenizers.caduceus import caduceus_tokenizer

# HyenaDNA's character vocabulary, in id order.
HYENADNA_VOCAB = [
    "[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]", "A", "C", "G", "T", "N",
]  # fmt: skip


def _build_config(make, config: dict, directory: Path, kind: str, required: tuple[str, ...]):
    """``make(config)``, with a missing key or a value of the wrong type as one line."""
    missing = [key for key in required if key not in config]
    if missing:
        raise InputError(
            f"{directory / 'config.json'}: no {missing[0]!r} (a {kind} config "
            f"needs {', '.join(required)})"
        )
    try:
        return make(config)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        where = directory / "config.json"
        raise InputError(f"{where}: not a valid {kind} config ({err})") from None


def _load_strict(model: BioseqLM, state: dict[str, torch.Tensor], source: Path) -> BioseqLM:
    expected = set(model.state_dict())
    if model.config.tie_word_embeddings:
        state.setdefault("lm_head.weight", state.get("backbone.embedding.weight"))
    missing = sorted(expected - state.keys())
    unused = sorted(state.keys() - expected)
    if missing or unused:
        raise InputError(
            f"{source}: checkpoint does not match the model "
            f"(missing: {missing[:5] or 'none'}; unused: {unused[:5] or 'none'})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


def mamba_ssm_config(config: dict) -> MambaConfig:
    ssm_cfg = dict(config.get("ssm_cfg") or {})
    if ssm_cfg.pop("layer", "Mamba1") != "Mamba1":
        raise InputError("only Mamba-1 checkpoints are supported (ssm_cfg.layer is not Mamba1)")
    if config.get("d_intermediate", 0) or config.get("attn_layer_idx"):
        raise InputError("hybrid mamba-ssm checkpoints (MLP or attention layers) are not supported")
    return MambaConfig(
        vocab_size=config["vocab_size"],
        d_model=config["d_model"],
        n_layer=config["n_layer"],
        rms_norm=config.get("rms_norm", True),
        residual_in_fp32=config.get("residual_in_fp32", True),
        pad_vocab_size_multiple=config.get("pad_vocab_size_multiple", 8),
        tie_word_embeddings=config.get("tie_embeddings", True),
        **ssm_cfg,
    )


def load_mamba_ssm(directory: str | Path) -> MambaLM:
    """A mamba-ssm ``MambaLMHeadModel`` checkpoint as a :class:`MambaLM` (same logits)."""
    directory = Path(directory)
    config = _build_config(
        mamba_ssm_config,
        read_config(directory),
        directory,
        "mamba-ssm",
        ("vocab_size", "d_model", "n_layer"),
    )
    model = MambaLM(config)
    return _load_strict(model, read_state_dict(directory), directory)


def hyenadna_config(config: dict) -> HyenaConfig:
    if config.get("hyena_order", 2) != 2:
        raise InputError(f"only hyena_order 2 is supported, not {config['hyena_order']}")
    return HyenaConfig(
        vocab_size=config["vocab_size"],
        d_model=config["d_model"],
        n_layer=config["n_layer"],
        d_inner=config.get("d_inner"),
        max_seq_len=config["max_seq_len"],
        emb_dim=config.get("emb_dim", 5),
        filter_order=config.get("filter_order", 64),
        short_filter_order=config.get("short_filter_order", 3),
        num_inner_mlps=config.get("num_inner_mlps", 2),
        activation_freq=config.get("activation_freq", 10.0),
        train_freq=config.get("train_freq", True),
        embed_dropout=config.get("embed_dropout", 0.1),
        hyena_dropout=config.get("hyena_dropout", 0.0),
        norm_epsilon=config.get("layer_norm_epsilon", 1e-5),
        pad_vocab_size_multiple=config.get("pad_vocab_size_multiple", 8),
        pad_token_id=config.get("pad_token_id", 4),
        tie_word_embeddings=False,
    )


_HYENADNA_RENAMES = [
    (r"^hyena\.backbone\.embeddings\.word_embeddings\.", "backbone.embedding."),
    (r"^hyena\.backbone\.layers\.(\d+)\.norm1\.", r"backbone.layers.\1.norm."),
    (r"^hyena\.backbone\.ln_f\.", "backbone.norm_f."),
    (r"^hyena\.backbone\.", "backbone."),
]


def hyenadna_state_dict(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename HyenaDNA keys; drop duplicate copies of the shared sine frequency."""
    out = {}
    for key, value in state.items():
        if re.search(r"implicit_filter\.[35]\.freq$", key):
            continue  # the same shared module as implicit_filter.1
        for pattern, replacement in _HYENADNA_RENAMES:
            key, n = re.subn(pattern, replacement, key)
            if n:
                break
        out[key] = value
    return out


def load_hyenadna(directory: str | Path) -> HyenaLM:
    """A HyenaDNA Hugging Face checkpoint (``LongSafari/hyenadna-*-hf``) as a :class:`HyenaLM`."""
    directory = Path(directory)
    config = _build_config(
        hyenadna_config,
        read_config(directory),
        directory,
        "HyenaDNA",
        ("vocab_size", "d_model", "n_layer", "max_seq_len"),
    )
    model = HyenaLM(config)
    return _load_strict(model, hyenadna_state_dict(read_state_dict(directory)), directory)


def hyenadna_tokenizer():
    """A character tokenizer with HyenaDNA's 12-token vocabulary and ids."""
    return CharTokenizer.from_vocab(HYENADNA_VOCAB)


def load_checkpoint(directory: str | Path):
    """Any supported checkpoint directory -> ``(model, tokenizer or None)``."""
    directory = Path(directory)
    layout = detect_layout(read_config(directory))
    if layout == "hyenadna":
        return load_hyenadna(directory), hyenadna_tokenizer()
    if layout == "mamba_ssm":
        return load_mamba_ssm(directory), None
    if layout == "caduceus":
        return load_caduceus(directory), caduceus_tokenizer()
    # a bioseq model: our own classes, never the folder's code, never a pickle
    try:
        auto = AutoModelForMaskedLM if layout == "bioseq-caduceus" else AutoModelForCausalLM
        model = auto.from_pretrained(directory, trust_remote_code=False, weights_only=True)
    except Exception as err:  # noqa: BLE001 - a broken folder is one line, whatever broke
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise InputError(f"{directory}: cannot load the model ({first})") from None
    return model, None


TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
    "merges.txt", "vocab.txt",
)  # fmt: skip


def convert_checkpoint(
    source: str | Path,
    destination: str | Path,
    overwrite: bool = False,
    config: str | Path | None = None,
) -> Path:
    """Write any supported checkpoint as a bioseq model directory (safetensors + config).

    The tokenizer goes with it: HyenaDNA's character vocabulary, or the tokenizer files the
    source directory already has. ``destination`` appears only once complete; an existing,
    non-empty one is replaced only with ``overwrite``.
    """
    source = Path(source)
    if config is not None or is_evo2_source(source):  # an Evo 2 release: .pt (+ YAML config)
        return convert_evo2(source, destination, config, overwrite)
    destination = check_output_dir(destination, overwrite, option="DESTINATION")
    model, tokenizer = load_checkpoint(source)
    with atomic_directory(destination, overwrite, option="DESTINATION") as tmp:
        model.save_pretrained(tmp)
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp)
        else:
            for name in TOKENIZER_FILES:
                if (source / name).is_file():
                    (tmp / name).write_bytes((source / name).read_bytes())
    return destination
