"""Evo 2's released checkpoints (StripedHyena 2) -> a bioseq model directory.

A release is one torch state dict (``evo2_1b_base.pt``) or the same bytes cut into shards
(``evo2_40b.pt.part0``, ``.part1``, ...), plus the model's YAML config from the evo2 package
(``evo2-1b-8k.yml``); the hyper-parameters are only in the YAML. See
``shared/docs/striped-hyena.md`` for the layout.

* The checkpoint is read with ``torch.load(weights_only=True)``, ``io.BytesIO`` being the only
  extra class allowed (Transformer Engine's ``*._extra_state`` entries, which are dropped); a
  pickle that needs anything else is refused and never executed. Shards are read in place as
  one stream, never concatenated on disk.
* Every tensor is checked against the shape the YAML implies, and every expected key must be
  there: a mismatch is one line naming the key and both shapes.
* The attention ``Wqkv`` rows are stored (head, {q,k,v}, head_dim); bioseq's model takes
  ({q,k,v}, head, head_dim), so they are permuted. The rotary ``inv_freq`` buffers are checked
  against ``rotary_emb_base`` and dropped (the model computes them).
* The output directory holds the model (safetensors + config.json) and
  :class:`~bioseq.tokenizers.evo2.Evo2Tokenizer`.

>>> from bioseq.models.convert_evo2 import convert_evo2           # doctest: +SKIP
>>> convert_evo2("evo2_1b_base", "models/evo2-1b")                 # doctest: +SKIP
"""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
import yaml

from bioseq.errors import InputError
from bioseq.io.outputs import atomic_directory, check_output_dir
from bioseq.models.checkpoint_files import detect_layout
from bioseq.models.config import StripedHyenaConfig
from bioseq.models.striped_hyena_lm import StripedHyenaLM
from bioseq.tokenizers.evo2 import Evo2Tokenizer

# YAML keys (evo2 package names) the bioseq model needs; all are in every released config.
MODEL_KEYS = (
    "vocab_size", "hidden_size", "num_layers", "num_attention_heads", "inner_mlp_size",
    "state_size", "short_filter_length", "hcs_filter_length", "hcm_filter_length",
    "hcs_filter_groups", "hcm_filter_groups", "hcl_filter_groups", "hcs_layer_idxs",
    "hcm_layer_idxs", "hcl_layer_idxs", "attn_layer_idxs", "eps", "rotary_emb_base",
    "evo2_style_activations", "max_seqlen",
)  # fmt: skip
INT_KEYS = {k for k in MODEL_KEYS if not k.endswith("_idxs")} - {
    "eps",
    "rotary_emb_base",
    "evo2_style_activations",
}
LAYER_KINDS = ("hcs", "hcm", "hcl", "attn")

# Settings the released configs share and the bioseq model implements; another value is refused.
SUPPORTED = {
    "short_filter_bias": False, "qkv_proj_bias": False, "mha_out_proj_bias": True,
    "hyena_out_proj_bias": True, "tie_embeddings": True, "column_split_hyena": False,
    "column_split": True, "interleave": True, "hyena_flip_x1x2": False, "final_norm": True,
    "proj_groups": 1, "hyena_filter_groups": 1, "mlp_activation": "gelu",
    "rotary_emb_scaling_factor": 1, "use_interpolated_rotary_pos_emb": False,
    "tokenizer_type": "CharLevelTokenizer",
}  # fmt: skip

CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin")
_PART = re.compile(r"^(?P<stem>.+)\.part(?P<n>\d+)$")


# ----------------------------------------------------------------------------- the YAML config


def read_evo2_config(path: str | Path) -> dict[str, Any]:
    """The model's hyper-parameters from an evo2 YAML config, under the evo2 key names.

    Returns the :data:`MODEL_KEYS` values; a missing key, a wrong type, layer lists that do not
    cover ``range(num_layers)`` exactly once, or a setting the model does not implement is one
    line naming the file and the key.
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read the config ({err})") from None
    except yaml.YAMLError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else "invalid YAML"
        raise InputError(f"{path}: invalid YAML ({first})") from None
    if not isinstance(raw, dict):
        raise InputError(
            f"{path}: not an Evo 2 config (expected a YAML mapping of "
            f"hyper-parameters, found {type(raw).__name__})"
        )
    try:
        is_evo2 = detect_layout(raw) == "evo2"
    except InputError:
        is_evo2 = False
    if not is_evo2:
        raise InputError(f"{path}: not an Evo 2 config (no hcl_layer_idxs/attn_layer_idxs)")
    missing = [k for k in MODEL_KEYS if k not in raw]
    if missing:
        raise InputError(
            f"{path}: no {missing[0]!r} (an Evo 2 config needs {', '.join(MODEL_KEYS)})"
        )
    values = {k: raw[k] for k in MODEL_KEYS}
    for key in MODEL_KEYS:
        value = values[key]
        if key in INT_KEYS:
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
        elif key.endswith("_idxs"):
            ok = isinstance(value, list) and all(
                isinstance(i, int) and not isinstance(i, bool) for i in value
            )
        elif key == "evo2_style_activations":
            ok = isinstance(value, bool)
        else:  # eps, rotary_emb_base
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
            values[key] = float(value)
        if not ok:
            raise InputError(f"{path}: {key} is {value!r}, not a valid value")
    for key, supported in SUPPORTED.items():
        if key in raw and raw[key] != supported:
            raise InputError(
                f"{path}: {key}: {raw[key]!r} is not supported (the bioseq "
                f"StripedHyena model implements {supported!r})"
            )
    if raw.get("num_filters", values["hidden_size"]) != values["hidden_size"]:
        raise InputError(
            f"{path}: num_filters {raw['num_filters']} differs from hidden_size "
            f"{values['hidden_size']} (not supported)"
        )
    n = values["num_layers"]
    seen: dict[int, str] = {}
    for kind in LAYER_KINDS:
        for i in values[f"{kind}_layer_idxs"]:
            if not 0 <= i < n:
                raise InputError(f"{path}: {kind}_layer_idxs has {i}, outside 0..{n - 1}")
            if i in seen:
                raise InputError(
                    f"{path}: layer {i} is in both {seen[i]}_layer_idxs and {kind}_layer_idxs"
                )
            seen[i] = kind
    if len(seen) != n:
        absent = min(set(range(n)) - seen.keys())
        raise InputError(
            f"{path}: layer {absent} is in none of the *_layer_idxs lists (num_layers {n})"
        )
    d, heads = values["hidden_size"], values["num_attention_heads"]
    if d % heads or (d // heads) % 2:
        raise InputError(
            f"{path}: hidden_size {d} is not num_attention_heads {heads} times an even head size"
        )
    for kind in ("hcs", "hcm", "hcl"):
        if d % values[f"{kind}_filter_groups"]:
            raise InputError(
                f"{path}: {kind}_filter_groups {values[f'{kind}_filter_groups']} "
                f"does not divide hidden_size {d}"
            )
    return values


def layer_kinds(values: dict[str, Any]) -> list[str]:
    """``"hcs"``, ``"hcm"``, ``"hcl"`` or ``"attn"`` for each layer."""
    kinds = [""] * values["num_layers"]
    for kind in LAYER_KINDS:
        for i in values[f"{kind}_layer_idxs"]:
            kinds[i] = kind
    return kinds


def expected_shapes(values: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """Every key of a release state dict (``_extra_state`` aside) and its shape."""
    d, mlp, state = values["hidden_size"], values["inner_mlp_size"], values["state_size"]
    head_dim = d // values["num_attention_heads"]
    shapes: dict[str, tuple[int, ...]] = {
        "embedding_layer.weight": (values["vocab_size"], d),
        "norm.scale": (d,),
    }
    for i, kind in enumerate(layer_kinds(values)):
        p = f"blocks.{i}."
        shapes.update(
            {
                p + "pre_norm.scale": (d,),
                p + "post_norm.scale": (d,),
                p + "mlp.l1.weight": (mlp, d),
                p + "mlp.l2.weight": (mlp, d),
                p + "mlp.l3.weight": (d, mlp),
            }
        )
        if kind == "attn":
            shapes.update(
                {
                    p + "inner_mha_cls.Wqkv.weight": (3 * d, d),
                    p + "inner_mha_cls.out_proj.weight": (d, d),
                    p + "inner_mha_cls.out_proj.bias": (d,),
                    p + "inner_mha_cls.rotary_emb.inv_freq": (head_dim // 2,),
                }
            )
            continue
        shapes.update(
            {
                p + "filter.short_filter_weight": (3 * d, 1, values["short_filter_length"]),
                p + "projections.weight": (3 * d, d),
                p + "out_filter_dense.weight": (d, d),
                p + "out_filter_dense.bias": (d,),
            }
        )
        if kind in ("hcs", "hcm"):
            shapes[p + "filter.h"] = (
                values[f"{kind}_filter_groups"],
                1,
                values[f"{kind}_filter_length"],
            )
        if kind in ("hcm", "hcl"):
            shapes[p + "filter.D"] = (d,)
        if kind == "hcl":
            groups = values["hcl_filter_groups"]
            shapes[p + "filter.log_poles"] = (groups, state, 1)
            shapes[p + "filter.residues"] = (groups, state)
    return shapes


# ----------------------------------------------------------------------------- the checkpoint


class _Concatenated(io.RawIOBase):
    """Read-only, seekable view of several files as one stream (byte shards, read in place)."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__()
        self._files = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self._sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(self._sizes[:i]) for i in range(len(paths))]
        self._size = sum(self._sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(j for j, s in enumerate(self._starts) if s <= self._pos)
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            want = min(len(view) - done, self._starts[i] + self._sizes[i] - self._pos)
            n = f.readinto(view[done : done + want])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def find_checkpoint(source: Path) -> list[Path]:
    """The checkpoint file, or its shards in order, in ``source`` (a file or a folder)."""
    if source.is_file():
        match = _PART.match(source.name)
        if not match:
            return [source]
        folder, stem = source.parent, match["stem"]
    else:
        singles = sorted(
            p for p in source.iterdir() if p.is_file() and p.suffix in CHECKPOINT_SUFFIXES
        )
        parts = sorted({m["stem"] for p in source.iterdir() if (m := _PART.match(p.name))})
        found = [p.name for p in singles] + [f"{s}.part*" for s in parts]
        if len(found) != 1:
            what = ", ".join(found) if found else "no *.pt file or *.pt.part0..N shards"
            raise InputError(f"{source}: expected one Evo 2 checkpoint, found {what}")
        if singles:
            return singles
        folder, stem = source, parts[0]
    numbers = sorted(
        int(m["n"]) for p in folder.iterdir() if (m := _PART.match(p.name)) and m["stem"] == stem
    )
    for expected, n in enumerate(numbers):
        if n != expected:
            have = ", ".join(f"part{k}" for k in numbers)
            raise InputError(f"{folder / f'{stem}.part{expected}'}: missing shard (found {have})")
    return [folder / f"{stem}.part{n}" for n in numbers]


def load_release_state(paths: list[Path]) -> dict[str, torch.Tensor]:
    """The release state dict, loaded ``weights_only`` (only ``io.BytesIO`` allowed besides
    tensors); Transformer Engine's ``_extra_state`` entries dropped."""
    name = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} shards)"
    stream = _Concatenated(paths) if len(paths) > 1 else None
    try:
        with torch.serialization.safe_globals([io.BytesIO]):
            if stream is None:
                state = torch.load(paths[0], map_location="cpu", weights_only=True, mmap=True)
            else:
                buffered = io.BufferedReader(stream, 1 << 20)
                state = torch.load(buffered, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        text = str(err)
        bad = re.search(r"GLOBAL ([\w.]+(?: [\w.]+)?) (?:was not|whose)", text)
        if bad or "weights_only" in text.lower() or "Weights only" in text:
            what = f"needs {bad.group(1)!r}" if bad else "needs objects other than tensors"
            raise InputError(
                f"{name}: refused: the pickle {what} (only tensors and io.BytesIO "
                "are loaded; nothing was executed)"
            ) from None
        raise InputError(f"{name}: not a torch checkpoint ({_first_line(err)})") from None
    except (RuntimeError, zipfile.BadZipFile, EOFError, OSError, ValueError) as err:
        hint = "; is a shard missing?" if stream is not None else ""
        raise InputError(
            f"{name}: not a readable torch checkpoint ({_first_line(err)}{hint})"
        ) from None
    finally:
        if stream is not None:
            stream.close()
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise InputError(
            f"{name}: not an Evo 2 checkpoint (expected a state dict, found {type(state).__name__})"
        )
    state = {k: v for k, v in state.items() if not k.endswith("._extra_state")}
    if "embedding_layer.weight" not in state or not any(k.startswith("blocks.") for k in state):
        sample = ", ".join(sorted(state)[:3]) or "none"
        raise InputError(
            f"{name}: not an Evo 2 checkpoint (no embedding_layer.weight and "
            f"blocks.N.* keys; found {sample})"
        )
    bad = next((k for k, v in state.items() if not isinstance(v, torch.Tensor)), None)
    if bad is not None:
        raise InputError(f"{name}: {bad} is a {type(state[bad]).__name__}, not a tensor")
    return state


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def permute_wqkv(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Rows (head, {q,k,v}, head_dim) -> ({q,k,v}, head, head_dim)."""
    rows, cols = weight.shape
    head_dim = rows // (3 * heads)
    return weight.reshape(heads, 3, head_dim, cols).transpose(0, 1).reshape(rows, cols)


def convert_state(
    state: dict[str, torch.Tensor],
    values: dict[str, Any],
    source: str = "checkpoint",
    config_name: str = "config",
) -> dict[str, torch.Tensor]:
    """Release state dict -> bioseq StripedHyena state dict (same keys, Wqkv permuted, no
    ``inv_freq``); every key and shape checked against the YAML values."""
    shapes = expected_shapes(values)
    n_blocks = len({k.split(".")[1] for k in state if k.startswith("blocks.")})
    if n_blocks != values["num_layers"]:
        raise InputError(
            f"{source}: {n_blocks} blocks in the checkpoint, but {config_name} "
            f"has num_layers {values['num_layers']}"
        )
    kinds = layer_kinds(values)
    for key in shapes:
        if key not in state:
            where = ""
            if key.startswith("blocks."):
                i = int(key.split(".")[1])
                where = f" (layer {i} is in {kinds[i]}_layer_idxs of {config_name})"
            raise InputError(f"{source}: no {key} in the checkpoint{where}")
    unused = sorted(state.keys() - shapes.keys())
    if unused:
        key = unused[0]
        where = ""
        if key.startswith("blocks."):
            i = int(key.split(".")[1])
            where = f" (layer {i} is in {kinds[i]}_layer_idxs of {config_name})"
        raise InputError(f"{source}: unexpected key {key}{where}")
    for key, shape in shapes.items():
        if tuple(state[key].shape) != shape:
            raise InputError(
                f"{source}: {key} has shape {tuple(state[key].shape)} in the "
                f"checkpoint, but {config_name} implies {shape}"
            )
    out = {}
    heads = values["num_attention_heads"]
    head_dim = values["hidden_size"] // heads
    expected_freq = rope_inv_freq(values["rotary_emb_base"], head_dim).double()
    for key, value in state.items():
        if key.endswith(".rotary_emb.inv_freq"):
            if not torch.allclose(value.double(), expected_freq, rtol=1e-3, atol=0):
                raise InputError(
                    f"{source}: {key} does not match rotary_emb_base "
                    f"{values['rotary_emb_base']:g} in {config_name}"
                )
            continue
        if key.endswith(".inner_mha_cls.Wqkv.weight"):
            value = permute_wqkv(value, heads)
        out[key] = value.contiguous()
    return out


# ----------------------------------------------------------------------------- the model


def build_model(values: dict[str, Any], state: dict[str, torch.Tensor]):
    """The bioseq StripedHyena model with ``state`` loaded (strictly), from the YAML values."""
    config = StripedHyenaConfig(**values, pad_token_id=1, eos_token_id=0, bos_token_id=0)
    model = StripedHyenaLM(config)
    expected = set(model.state_dict())
    state = dict(state)
    if "lm_head.weight" in expected and "lm_head.weight" not in state:
        state["lm_head.weight"] = state["embedding_layer.weight"]  # tied, as in Evo 2
    missing, unused = sorted(expected - state.keys()), sorted(state.keys() - expected)
    if missing or unused:
        raise InputError(
            f"converted Evo 2 weights do not match the bioseq model (missing: "
            f"{missing[:5] or 'none'}; unused: {unused[:5] or 'none'})"
        )
    model.load_state_dict(state, strict=True)
    return model.eval()


# ----------------------------------------------------------------------------- the command


def find_config(source: Path, config: str | Path | None) -> Path:
    if config is not None:
        path = Path(config)
        if not path.is_file():
            raise InputError(f"--config {path}: no such file")
        return path
    folder = source if source.is_dir() else source.parent
    found = sorted(p for p in folder.iterdir() if p.suffix in (".yml", ".yaml") and p.is_file())
    if len(found) != 1:
        what = ", ".join(p.name for p in found) if found else "none"
        raise InputError(
            f"{folder}: expected one Evo 2 YAML config beside the checkpoint "
            f"(found {what}); name it with --config"
        )
    return found[0]


def is_evo2_source(source: str | Path) -> bool:
    """A file, or a folder without config.json holding a checkpoint or its shards."""
    source = Path(source)
    if source.is_file():
        return True
    if not source.is_dir() or (source / "config.json").is_file():
        return False
    return any(p.suffix in CHECKPOINT_SUFFIXES or _PART.match(p.name) for p in source.iterdir())


def read_release(source: str | Path, config: str | Path | None = None):
    """``(values, state)``: the YAML's model values and the converted state dict."""
    source = Path(source)
    if not source.exists():
        raise InputError(f"{source}: no such file or folder")
    config_path = find_config(source, config)
    values = read_evo2_config(config_path)
    paths = find_checkpoint(source)
    state = load_release_state(paths)
    return values, convert_state(state, values, str(paths[0]), config_path.name)


def convert_evo2(
    source: str | Path,
    destination: str | Path,
    config: str | Path | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an Evo 2 release as a bioseq model directory with :class:`Evo2Tokenizer`."""
    destination = check_output_dir(destination, overwrite, option="DESTINATION")
    values, state = read_release(source, config)
    model = build_model(values, state)
    with atomic_directory(destination, overwrite, option="DESTINATION") as tmp:
        model.save_pretrained(tmp)
        Evo2Tokenizer().save_pretrained(tmp)
    return destination


def rope_inv_freq(base: float, head_dim: int) -> torch.Tensor:
    """GPT-NeoX rotary frequencies (what a release stores as ``inv_freq``)."""
    return 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)


__all__ = [
    "MODEL_KEYS", "build_model", "convert_evo2", "convert_state", "expected_shapes",
    "find_checkpoint", "is_evo2_source", "load_release_state", "permute_wqkv",
    "read_evo2_config", "read_release", "rope_inv_freq",
]  # fmt: skip
