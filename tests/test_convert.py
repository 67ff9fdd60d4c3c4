"""Existing checkpoint layouts load into bioseq models and give the original models' logits.

mamba-ssm cannot be imported without CUDA, so its oracle is transformers' own Mamba port (same
equations, different code) fed the same weights; HyenaDNA's oracle is a direct functional
implementation of the operator described in shared/docs/models.md, with an O(L^2) convolution.
"""

import json
import math

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from bioseq.errors import InputError
from bioseq.models import HyenaConfig, HyenaLM, MambaConfig, MambaLM
from bioseq.models.convert import load_checkpoint, load_hyenadna, load_mamba_ssm


def write_mamba_ssm_checkpoint(directory, d_model=32, n_layer=2, vocab_size=13, d_state=8):
    torch.manual_seed(0)
    config = MambaConfig(vocab_size=vocab_size, d_model=d_model, n_layer=n_layer, d_state=d_state)
    state = MambaLM(config).state_dict()
    for key in state:  # perturb every tensor so no default value hides a mistake
        state[key] = state[key] + 0.05 * torch.randn_like(state[key].float())
    state["lm_head.weight"] = state["backbone.embedding.weight"]
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(
        json.dumps(
            {
                "d_model": d_model,
                "n_layer": n_layer,
                "vocab_size": vocab_size,
                "ssm_cfg": {"d_state": d_state},
                "rms_norm": True,
                "residual_in_fp32": True,
                "fused_add_norm": True,
                "pad_vocab_size_multiple": 8,
                "tie_embeddings": True,
            }
        )
    )
    torch.save(state, directory / "pytorch_model.bin")
    return state


def test_mamba_ssm_checkpoint_gives_transformers_mamba_logits(tmp_path):
    from transformers import MambaConfig as HFMambaConfig
    from transformers import MambaForCausalLM

    state = write_mamba_ssm_checkpoint(tmp_path)
    model = load_mamba_ssm(tmp_path)
    hf = MambaForCausalLM(
        HFMambaConfig(
            vocab_size=16,
            hidden_size=32,
            state_size=8,
            num_hidden_layers=2,
            expand=2,
            conv_kernel=4,
            use_bias=False,
            use_conv_bias=True,
            time_step_rank=math.ceil(32 / 16),
            residual_in_fp32=True,
            layer_norm_epsilon=1e-5,
            tie_word_embeddings=True,
        )
    ).eval()
    renamed = {
        k.replace("backbone.embedding.", "backbone.embeddings."): v for k, v in state.items()
    }
    hf.load_state_dict(renamed, strict=True)
    ids = torch.randint(0, 13, (2, 40))
    with torch.no_grad():
        expected = hf(ids).logits[..., :13]
        got = model(ids).logits
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_mamba_ssm_checkpoint_with_a_missing_key_is_refused(tmp_path):
    state = write_mamba_ssm_checkpoint(tmp_path)
    del state["backbone.layers.1.mixer.D"]
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(InputError, match=r"missing: \['backbone.layers.1.mixer.D'\]"):
        load_mamba_ssm(tmp_path)


def hyenadna_checkpoint(directory, d_model=16, n_layer=2, max_seq_len=66):
    """A tiny checkpoint in the LongSafari/hyenadna-*-hf layout, with random weights."""
    torch.manual_seed(1)
    config = {
        "model_type": "hyenadna",
        "vocab_size": 12,
        "d_model": d_model,
        "d_inner": 4 * d_model,
        "n_layer": n_layer,
        "max_seq_len": max_seq_len,
        "emb_dim": 5,
        "filter_order": 16,
        "short_filter_order": 3,
        "hyena_order": 2,
        "num_inner_mlps": 2,
        "activation_freq": 10,
        "train_freq": True,
        "use_bias": True,
        "embed_dropout": 0.1,
        "hyena_dropout": 0.0,
        "hyena_filter_dropout": 0.0,
        "layer_norm_epsilon": 1e-5,
        "pad_vocab_size_multiple": 8,
        "pad_token_id": 4,
        "tie_word_embeddings": False,
    }
    d, order, L = d_model, 16, max_seq_len

    def rnd(*shape, scale=0.3):
        return scale * torch.randn(*shape)

    state = {"hyena.backbone.embeddings.word_embeddings.weight": rnd(16, d, scale=1.0)}
    for i in range(n_layer):
        p = f"hyena.backbone.layers.{i}."
        f = p + "mixer.filter_fn."
        state.update(
            {
                p + "mixer.in_proj.weight": rnd(3 * d, d),
                p + "mixer.in_proj.bias": rnd(3 * d),
                p + "mixer.short_filter.weight": rnd(3 * d, 1, 3),
                p + "mixer.short_filter.bias": rnd(3 * d),
                p + "mixer.out_proj.weight": rnd(d, d),
                p + "mixer.out_proj.bias": rnd(d),
                f + "bias": rnd(d),
                f + "pos_emb.z": rnd(1, L, 5, scale=1.0),
                f + "pos_emb.t": torch.linspace(0, 1, L)[None, :, None],
                f + "modulation.deltas": torch.linspace(
                    math.log(1e-2) / 1.5, math.log(1e-2) / 0.3, d
                )[None, None],
                f + "implicit_filter.0.weight": rnd(order, 5),
                f + "implicit_filter.0.bias": rnd(order),
                f + "implicit_filter.1.freq": 10 * torch.ones(1, order) + rnd(1, order),
                f + "implicit_filter.2.weight": rnd(order, order),
                f + "implicit_filter.2.bias": rnd(order),
                f + "implicit_filter.4.weight": rnd(order, order),
                f + "implicit_filter.4.bias": rnd(order),
                f + "implicit_filter.6.weight": rnd(d, order),
                p + "mlp.fc1.weight": rnd(4 * d, d),
                p + "mlp.fc1.bias": rnd(4 * d),
                p + "mlp.fc2.weight": rnd(d, 4 * d),
                p + "mlp.fc2.bias": rnd(d),
                p + "norm1.weight": 1 + rnd(d),
                p + "norm1.bias": rnd(d),
                p + "norm2.weight": 1 + rnd(d),
                p + "norm2.bias": rnd(d),
            }
        )
    state["hyena.backbone.ln_f.weight"] = 1 + rnd(d)
    state["hyena.backbone.ln_f.bias"] = rnd(d)
    state["lm_head.weight"] = rnd(16, d, scale=1.0)
    directory.mkdir(exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    save_file(state, str(directory / "model.safetensors"))
    return config, state


def hyenadna_reference_logits(config, state, ids):
    """HyenaDNA's forward pass written from its published equations (direct convolution)."""
    d, L = config["d_model"], ids.shape[1]

    def linear(x, name, bias=True):
        return F.linear(x, state[name + ".weight"], state[name + ".bias"] if bias else None)

    def layer_norm(x, name):
        return F.layer_norm(x, (d,), state[name + ".weight"], state[name + ".bias"], 1e-5)

    x = state["hyena.backbone.embeddings.word_embeddings.weight"][ids]
    for i in range(config["n_layer"]):
        p = f"hyena.backbone.layers.{i}."
        f = p + "mixer.filter_fn."
        u = linear(layer_norm(x, p + "norm1"), p + "mixer.in_proj").transpose(1, 2)
        u = F.conv1d(
            u,
            state[p + "mixer.short_filter.weight"],
            state[p + "mixer.short_filter.bias"],
            padding=2,
            groups=3 * d,
        )[..., :L]
        x0, x1, v = u.split(d, dim=1)
        freq = state[f + "implicit_filter.1.freq"]
        h = state[f + "pos_emb.z"][:, :L]
        for j in (0, 2, 4):
            h = torch.sin(freq * linear(h, f + f"implicit_filter.{j}"))
        h = linear(h, f + "implicit_filter.6", bias=False)
        t = state[f + "pos_emb.t"][:, :L]
        h = h * (torch.exp(-t * state[f + "modulation.deltas"].abs()) + 0.05)
        k = h[0].T  # (d, L)
        v = v * x1
        conv = torch.zeros_like(v)
        for s in range(L):  # y[t] = sum_s k[s] v[t - s]
            conv[..., s:] += k[:, s : s + 1] * v[..., : L - s]
        y = (conv + v * state[f + "bias"][:, None]) * x0
        x = x + linear(y.transpose(1, 2), p + "mixer.out_proj")
        hidden = F.gelu(linear(layer_norm(x, p + "norm2"), p + "mlp.fc1"), approximate="tanh")
        x = x + linear(hidden, p + "mlp.fc2")
    x = layer_norm(x, "hyena.backbone.ln_f")
    return F.linear(x, state["lm_head.weight"])[..., :12]


def test_hyenadna_checkpoint_gives_the_reference_logits(tmp_path):
    config, state = hyenadna_checkpoint(tmp_path)
    model = load_hyenadna(tmp_path)
    ids = torch.randint(7, 12, (2, 50))
    with torch.no_grad():
        expected = hyenadna_reference_logits(config, state, ids)
        got = model(ids).logits
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)


def test_hyenadna_duplicate_freq_copies_are_accepted_and_extra_keys_refused(tmp_path):
    config, state = hyenadna_checkpoint(tmp_path)
    freq = state["hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.1.freq"].clone()
    state["hyena.backbone.layers.0.mixer.filter_fn.implicit_filter.3.freq"] = freq
    save_file(state, str(tmp_path / "model.safetensors"))
    load_hyenadna(tmp_path)
    state["hyena.backbone.layers.0.mixer.something_else"] = torch.zeros(1)
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(InputError, match="unused"):
        load_hyenadna(tmp_path)


def test_load_checkpoint_detects_the_layout_and_gives_hyenadna_its_tokenizer(tmp_path):
    hyenadna_checkpoint(tmp_path / "hyena")
    model, tokenizer = load_checkpoint(tmp_path / "hyena")
    assert isinstance(model, HyenaLM) and isinstance(model.config, HyenaConfig)
    assert tokenizer.encode("ACGTN", add_special_tokens=False) == [7, 8, 9, 10, 11]
    assert tokenizer.pad_token_id == 4
    write_mamba_ssm_checkpoint(tmp_path / "mamba")
    model, _ = load_checkpoint(tmp_path / "mamba")
    assert isinstance(model, MambaLM)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(InputError, match="unrecognised checkpoint"):
        load_checkpoint(tmp_path / "other")


def test_convert_command_writes_a_loadable_model_directory(tmp_path):
    from click.testing import CliRunner
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from bioseq.cli.main import main

    config, state = hyenadna_checkpoint(tmp_path / "src")
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "src"), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out").eval()
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "out")
    ids = torch.tensor([tokenizer.encode("ACGTTGCAN", add_special_tokens=False)])
    assert ids.tolist() == [[7, 8, 9, 10, 10, 9, 8, 7, 11]]
    with torch.no_grad():
        assert torch.allclose(
            model(ids).logits, hyenadna_reference_logits(config, state, ids), atol=1e-4
        )
    bad = CliRunner().invoke(main, ["convert", str(tmp_path), str(tmp_path / "x")])
    assert bad.exit_code == 2 and "no config.json" in bad.stderr
