"""Released-layout Caduceus checkpoints through ``bioseq convert``, checked against an
independent plain-PyTorch reference written from shared/docs/caduceus.md and the original's
structure (its own scan loop, RCPS maths on the release state dict; no bioseq model code)."""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from safetensors.torch import save_file
from transformers import AutoModelForMaskedLM, AutoTokenizer

import bioseq.models  # noqa: F401 - registers the model and tokenizer types
from bioseq.cli.main import main
from bioseq.models import CaduceusLM
from bioseq.models.convert import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")

D, N_LAYER, N_STATE, D_CONV, V = 8, 2, 4, 4, 16  # V: 12 tokens padded to 16
D_INNER, DT_RANK = 2 * D, math.ceil(D / 16)
COMP = [0, 1, 2, 3, 4, 5, 6, 10, 9, 8, 7, 11]
MAMBA_SHAPES = {
    "in_proj.weight": (2 * D_INNER, D), "conv1d.weight": (D_INNER, 1, D_CONV),
    "conv1d.bias": (D_INNER,), "x_proj.weight": (DT_RANK + 2 * N_STATE, D_INNER),
    "dt_proj.weight": (D_INNER, DT_RANK), "dt_proj.bias": (D_INNER,),
    "A_log": (D_INNER, N_STATE), "D": (D_INNER,), "out_proj.weight": (D, D_INNER),
}  # fmt: skip


# ------------------------------------------------------------------ a release-layout folder


def release_config(rcps: bool, fused: bool) -> dict:
    return {
        "model_type": "caduceus",
        "auto_map": {
            "AutoConfig": "configuration_caduceus.CaduceusConfig",
            "AutoModelForMaskedLM": "modeling_caduceus.CaduceusForMaskedLM",
        },
        "d_model": D,
        "n_layer": N_LAYER,
        "vocab_size": 12,
        "pad_vocab_size_multiple": 8,
        "ssm_cfg": {
            "d_state": N_STATE,
            "d_conv": D_CONV,
            "expand": 2,
            "dt_rank": "auto",
            "dt_min": 0.001,
            "dt_max": 0.1,
            "dt_init": "random",
            "dt_scale": 1.0,
            "dt_init_floor": 1e-4,
            "conv_bias": True,
            "bias": False,
            "use_fast_path": True,
        },
        "rms_norm": True,
        "residual_in_fp32": True,
        "fused_add_norm": fused,
        "norm_epsilon": 1e-5,
        "initializer_cfg": None,
        "bidirectional": True,
        "bidirectional_strategy": "add",
        "bidirectional_weight_tie": True,
        "rcps": rcps,
        "complement_map": {str(i): c for i, c in enumerate(COMP)},
    }


def release_state(rcps: bool, fused: bool, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)

    def rand(*shape, scale=0.3):
        return torch.randn(*shape, generator=g) * scale

    sd = {}
    emb = rand(V, D, scale=0.5)
    prefix = "caduceus.backbone."
    if rcps:
        sd[prefix + "embeddings.word_embeddings.embedding.weight"] = emb
        sd[prefix + "embeddings.word_embeddings.complement_map"] = torch.tensor(
            COMP + [12, 13, 14, 15]
        )
    else:
        sd[prefix + "embeddings.word_embeddings.weight"] = emb
    wrap = "submodule." if rcps else ""
    norm_wrap = "submodule." if rcps and not fused else ""
    for i in range(N_LAYER):
        shared = {}
        for direction in ("mamba_fwd", "mamba_rev"):
            for name, shape in MAMBA_SHAPES.items():
                if name in shared and direction == "mamba_rev":
                    value = shared[name].clone()  # tied: stored twice, equal
                elif name == "A_log":
                    value = torch.log(torch.rand(*shape, generator=g) * 4 + 0.5)
                elif name == "dt_proj.bias":
                    value = torch.log(torch.expm1(torch.rand(*shape, generator=g) * 0.1 + 0.01))
                elif name == "D":
                    value = torch.rand(*shape, generator=g) + 0.5
                else:
                    value = rand(*shape)
                if name in ("in_proj.weight", "out_proj.weight"):
                    shared[name] = value
                sd[f"{prefix}layers.{i}.mixer.{wrap}{direction}.{name}"] = value
        sd[f"{prefix}layers.{i}.norm.{norm_wrap}weight"] = torch.rand(D, generator=g) + 0.5
    sd[prefix + f"norm_f.{norm_wrap}weight"] = torch.rand(D, generator=g) + 0.5
    if rcps:
        sd["lm_head.lm_head.weight"] = emb.clone()
        sd["lm_head.complement_map"] = torch.tensor(COMP + [12, 13, 14, 15])
    else:
        sd["lm_head.weight"] = emb.clone()
    return sd


def write_release(folder, rcps, fused, fmt="safetensors", state=None, config=None):
    folder.mkdir(parents=True, exist_ok=True)
    state = release_state(rcps, fused) if state is None else state
    config = release_config(rcps, fused) if config is None else config
    (folder / "config.json").write_text(json.dumps(config))
    if fmt == "safetensors":
        save_file(state, str(folder / "model.safetensors"))
    else:
        torch.save(state, folder / "pytorch_model.bin")
    return state


# --------------------------------------------------------------- the independent reference


def ref_rmsnorm(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def ref_mamba(x, sd, p):
    """Mamba-1 mixer on x (B, L, D), weights sd[p + name]; the scan as a Python loop."""
    length = x.shape[1]
    xz = x @ sd[p + "in_proj.weight"].T
    u, z = xz[..., :D_INNER], xz[..., D_INNER:]
    w = sd[p + "conv1d.weight"][:, 0]  # (C, K)
    padded = F.pad(u.transpose(1, 2), (D_CONV - 1, 0))
    conv = torch.stack([(padded[..., t : t + D_CONV] * w).sum(-1) for t in range(length)], -1)
    u = F.silu(conv + sd[p + "conv1d.bias"][:, None]).transpose(1, 2)  # (B, L, C)
    proj = u @ sd[p + "x_proj.weight"].T
    dt, b, c = proj[..., :DT_RANK], proj[..., DT_RANK : DT_RANK + N_STATE], proj[..., -N_STATE:]
    dt = F.softplus(dt @ sd[p + "dt_proj.weight"].T + sd[p + "dt_proj.bias"])
    a = -torch.exp(sd[p + "A_log"])
    state = torch.zeros(x.shape[0], D_INNER, N_STATE, dtype=x.dtype)
    ys = []
    for t in range(length):
        state = (
            torch.exp(dt[:, t, :, None] * a) * state
            + (dt[:, t] * u[:, t])[..., None] * b[:, t, None]
        )
        ys.append((state * c[:, t, None]).sum(-1))
    y = (torch.stack(ys, 1) + sd[p + "D"] * u) * F.silu(z)
    return y @ sd[p + "out_proj.weight"].T


def ref_bimamba(x, sd, p):
    return ref_mamba(x, sd, p + "mamba_fwd.") + ref_mamba(x.flip(1), sd, p + "mamba_rev.").flip(1)


def rcf(x):
    return x.flip(-2, -1)


def reference_logits(sd, cfg, ids):
    """Logits (B, L, V) of the release maths, straight from its state dict."""
    rcps, fused = cfg["rcps"], cfg["fused_add_norm"]
    sd = {k: v.double() for k, v in sd.items()}
    pre = "caduceus.backbone."
    comp = torch.tensor(COMP + [12, 13, 14, 15])
    if rcps:
        emb = sd[pre + "embeddings.word_embeddings.embedding.weight"]
        rc_ids = torch.gather(comp.expand(ids.shape[0], -1), 1, ids.flip(-1))
        h = torch.cat([emb[ids], rcf(emb[rc_ids])], -1)
    else:
        emb = sd[pre + "embeddings.word_embeddings.weight"]
        h = emb[ids]

    def norm_weight(key):
        return sd[key] if key in sd else sd[key.replace(".weight", ".submodule.weight")]

    res = None
    for i in range(N_LAYER):
        w = norm_weight(f"{pre}layers.{i}.norm.weight")
        mix = f"{pre}layers.{i}.mixer." + ("submodule." if rcps else "")
        if not rcps:
            res = h if res is None else h + res
            h = ref_bimamba(ref_rmsnorm(res, w), sd, mix)
            continue
        r = torch.zeros_like(h) if res is None else res
        if fused:  # the original's fused path: forward slot from the second half
            res_f = h[..., D:] + r[..., D:]
            res_r = rcf(h[..., :D]) + rcf(r[..., :D])
        else:
            res_f = h[..., :D] + r[..., :D]
            res_r = rcf(h[..., D:]) + rcf(r[..., D:])
        res = torch.cat([res_f, rcf(res_r)], -1)
        normed = torch.cat([ref_rmsnorm(res_f, w), rcf(ref_rmsnorm(res_r, w))], -1)
        out_f = ref_bimamba(normed[..., :D], sd, mix)
        out_r = ref_bimamba(rcf(normed[..., D:]), sd, mix)
        h = torch.cat([out_f, rcf(out_r)], -1)
    w = norm_weight(pre + "norm_f.weight")
    s = h + res
    if rcps:  # the final norm: same half order in both paths
        h = torch.cat([ref_rmsnorm(s[..., :D], w), rcf(ref_rmsnorm(rcf(s[..., D:]), w))], -1)
        return h[..., :D] @ emb.T + h[..., D:].flip(-1) @ emb[comp].T
    return ref_rmsnorm(s, w) @ emb.T


# ------------------------------------------------------------------------------------ tests


def convert(src, dest):
    return CliRunner().invoke(main, ["convert", str(src), str(dest)])


@pytest.mark.parametrize("rcps", [False, True])
@pytest.mark.parametrize("fused", [False, True])
def test_converted_logits_match_the_reference(tmp_path, rcps, fused):
    fmt = "bin" if rcps and not fused else "safetensors"
    state = write_release(tmp_path / "src", rcps, fused, fmt)
    result = convert(tmp_path / "src", tmp_path / "out")
    assert result.exit_code == 0, result.output
    model = AutoModelForMaskedLM.from_pretrained(tmp_path / "out").eval()
    assert model.config.rcps is rcps and model.config.fused_add_norm is fused
    tok = AutoTokenizer.from_pretrained(tmp_path / "out")
    assert tok.encode("ACGTN", add_special_tokens=False) == [7, 8, 9, 10, 11]
    ids = torch.tensor(
        [
            tok.encode("ACGTTGCAANGGCA", add_special_tokens=False),
            tok.encode("TTTACGGGCATCAG", add_special_tokens=False),
        ]
    )
    with torch.no_grad():
        got = model(ids).logits.double()
    expected = reference_logits(state, release_config(rcps, fused), ids)
    assert got.shape == expected.shape == (2, 14, V)
    rel = (got - expected).norm() / expected.norm()
    assert rel <= 1e-4, float(rel)


def test_fused_flag_changes_the_reference_and_the_model(tmp_path):
    """The trap: the same weights under the other fused_add_norm give other logits."""
    state = write_release(tmp_path / "a", rcps=True, fused=True)
    cfg = release_config(rcps=True, fused=False)
    write_release(tmp_path / "b", rcps=True, fused=False, state=state, config=cfg)
    ids = torch.tensor([[7, 8, 9, 10, 7, 7, 9, 11, 8]])
    logits = []
    for name in "ab":
        assert convert(tmp_path / name, tmp_path / f"{name}-out").exit_code == 0
        model = AutoModelForMaskedLM.from_pretrained(tmp_path / f"{name}-out").eval()
        with torch.no_grad():
            logits.append(model(ids).logits.double())
    assert (logits[0] - logits[1]).abs().max() > 1e-3
    model, tok = load_checkpoint(tmp_path / "b-out")  # a converted folder loads back as itself
    assert type(model) is CaduceusLM and tok is None
    torch.testing.assert_close(logits[1], reference_logits(state, cfg, ids), rtol=1e-4, atol=1e-5)


def _error(tmp_path, state=None, config=None, rcps=True):
    write_release(tmp_path / "src", rcps, True, state=state, config=config)
    result = convert(tmp_path / "src", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bioseq: error:")
    assert not (tmp_path / "out").exists()
    return lines[0]


def test_bad_checkpoints_are_one_line_errors(tmp_path):
    state = release_state(True, True)
    del state["caduceus.backbone.layers.1.mixer.submodule.mamba_fwd.D"]
    line = _error(tmp_path / "1", state=state)
    assert "missing" in line and "layers.1.mixer.mamba_fwd.D" in line
    state = release_state(True, True)
    state["caduceus.backbone.layers.0.mixer.submodule.mamba_fwd.A_log"] = torch.zeros(16, 5)
    assert "shape (16, 5)" in _error(tmp_path / "2", state=state)
    state = release_state(True, True)
    state["caduceus.backbone.layers.0.mixer.submodule.mamba_rev.in_proj.weight"] += 1
    assert "tied" in _error(tmp_path / "3", state=state)
    state = release_state(True, True)
    state["lm_head.lm_head.weight"] = state["lm_head.lm_head.weight"] * 2
    assert "embedding" in _error(tmp_path / "4", state=state)
    config = release_config(True, True) | {"vocab_size": 8}
    assert "vocab_size 8" in _error(tmp_path / "5", config=config)
    state = release_state(False, True)
    state["caduceus.backbone.embeddings.word_embeddings.weight"] = torch.zeros(24, D)
    state["lm_head.weight"] = torch.zeros(24, D)
    assert "(24, 8)" in _error(tmp_path / "6", state=state, rcps=False)
    config = release_config(True, True)
    config["complement_map"] = {str(i): i for i in range(12)}
    assert "complement_map" in _error(tmp_path / "7", config=config)
    state = release_state(True, True)
    state["caduceus.backbone.extra.weight"] = torch.zeros(3)
    assert "unused" in _error(tmp_path / "8", state=state)
