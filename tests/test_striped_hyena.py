"""StripedHyena 2 (Evo 2): parity with an independent reference written from the maths in
docs/striped-hyena.md, exact recurrent generation, causality, naming, save/load, bf16."""

import math

import pytest
import torch
from transformers import AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.errors import InputError
from bioseq.models import StripedHyenaConfig, StripedHyenaLM

VOCAB = 16


def tiny_config(**overrides) -> StripedHyenaConfig:
    # every kind: hcs 0 4, hcm 1 5, hcl 2 6, attn 3 (Evo 2's order); hcm filter 12 taps
    kwargs = dict(
        vocab_size=VOCAB,
        d_model=32,
        n_layer=7,
        num_attention_heads=2,
        inner_mlp_size=48,
        hcm_filter_length=12,
        hcs_filter_groups=4,
        hcm_filter_groups=8,
    )
    return StripedHyenaConfig(**{**kwargs, **overrides})


def random_model(seed: int = 0, **overrides) -> StripedHyenaLM:
    """Every parameter perturbed, so no norm scale, bias or D is trivially 1 or 0."""
    torch.manual_seed(seed)
    model = StripedHyenaLM(tiny_config(**overrides)).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("log_poles"):
                p.copy_(-(torch.rand_like(p) * 0.5 + 0.01))  # poles in (0.6, 1)
            else:
                p.add_(0.1 * torch.randn_like(p))
    return model


# -- the independent reference (float64, loops; reads only the state dict and config) ----------
def ref_norm(x, scale, eps):
    return scale * x / (torch.sqrt((x * x).mean(-1, keepdim=True)) + eps)


def ref_hyena(sd, p, cfg, kind, x):
    B, L, _ = x.shape
    d = cfg.d_model
    z = x @ sd[p + "projections.weight"].T  # (B, L, 3d)
    w = sd[p + "filter.short_filter_weight"][:, 0]  # (3d, k); last tap on the current step
    k = w.shape[1]
    zf = torch.zeros_like(z)
    for t in range(L):
        for j in range(k):
            if t - (k - 1) + j >= 0:
                zf[:, t] += w[:, j] * z[:, t - (k - 1) + j]
    x2, x1, v = zf[..., 0::3], zf[..., 1::3], zf[..., 2::3]
    g = x1 * v  # (B, L, d)
    y = torch.zeros_like(g)
    if kind in ("hcs", "hcm"):
        h = sd[p + "filter.h"][:, 0]  # (groups, taps)
        per = d // h.shape[0]
        hc = torch.stack([h[c // per] for c in range(d)])  # (d, taps)
        taps = hc.shape[1]
        for t in range(L):
            for j in range(taps):
                if kind == "hcs" and t - (taps - 1) + j >= 0:  # cross-correlation
                    y[:, t] += hc[:, j] * g[:, t - (taps - 1) + j]
                if kind == "hcm" and t - j >= 0:  # convolution, h[0] on the current step
                    y[:, t] += hc[:, j] * g[:, t - j]
    else:
        lp, R = sd[p + "filter.log_poles"][..., 0], sd[p + "filter.residues"]  # (d, S)
        for t in range(L):
            for s in range(t + 1):
                y[:, t] += (R * torch.exp(lp * (t - s))).sum(-1) * g[:, s]
    if kind != "hcs":
        y = y + sd[p + "filter.D"] * g
    return (x2 * y) @ sd[p + "out_filter_dense.weight"].T + sd[p + "out_filter_dense.bias"]


def ref_attention(sd, p, cfg, x):
    B, L, d = x.shape
    H = cfg.num_attention_heads
    hd = d // H
    qkv = x @ sd[p + "inner_mha_cls.Wqkv.weight"].T  # rows ({q,k,v}, head, head_dim)
    q, k, v = (qkv[..., i * d : (i + 1) * d].reshape(B, L, H, hd) for i in range(3))
    freqs = cfg.rotary_emb_base ** (-torch.arange(0, hd, 2, dtype=torch.float64) / hd)

    def rot(a):  # GPT-NeoX: dimension i turns with i + hd/2
        ang = torch.arange(L, dtype=torch.float64)[:, None] * freqs  # (L, hd/2)
        cos, sin = ang.cos()[None, :, None], ang.sin()[None, :, None]
        a1, a2 = a[..., : hd // 2], a[..., hd // 2 :]
        return torch.cat([a1 * cos - a2 * sin, a2 * cos + a1 * sin], -1)

    q, k = rot(q), rot(k)
    out = torch.zeros(B, L, H, hd, dtype=torch.float64)
    for t in range(L):
        scores = torch.einsum("bhe,bshe->bhs", q[:, t], k[:, : t + 1]) / math.sqrt(hd)
        out[:, t] = torch.einsum("bhs,bshe->bhe", scores.softmax(-1), v[:, : t + 1])
    return (
        out.reshape(B, L, d) @ sd[p + "inner_mha_cls.out_proj.weight"].T
        + sd[p + "inner_mha_cls.out_proj.bias"]
    )


def reference_logits(model: StripedHyenaLM, ids: torch.Tensor) -> torch.Tensor:
    return reference_logits_from(model.state_dict(), model.config, ids)


def reference_logits_from(state: dict, cfg, ids: torch.Tensor) -> torch.Tensor:
    """Logits of the documented maths from a state dict with our key names (Wqkv rows in
    ({q,k,v}, head, head_dim) order) and a config."""
    sd = {k: v.double() for k, v in state.items() if isinstance(v, torch.Tensor)}
    eps = cfg.norm_epsilon
    u = sd["embedding_layer.weight"][ids]
    for i in range(cfg.n_layer):
        p = f"blocks.{i}."
        x = ref_norm(u, sd[p + "pre_norm.scale"], eps)
        if i in cfg.attn_layer_idxs:
            u = u + ref_attention(sd, p, cfg, x)
        else:
            kind = "hcs" if i in cfg.hcs_layer_idxs else "hcm" if i in cfg.hcm_layer_idxs else "hcl"
            u = u + ref_hyena(sd, p, cfg, kind, x)
        z = ref_norm(u, sd[p + "post_norm.scale"], eps)
        a = z @ sd[p + "mlp.l1.weight"].T
        if i == 0:  # evo2_style_activations: exact GELU in layer 0 only
            a = 0.5 * a * (1 + torch.erf(a / math.sqrt(2)))
        u = u + (a * (z @ sd[p + "mlp.l2.weight"].T)) @ sd[p + "mlp.l3.weight"].T
    u = ref_norm(u, sd["norm.scale"], eps)
    return (u @ sd["embedding_layer.weight"].T)[..., : cfg.vocab_size]


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.double() - b.double()).norm() / b.double().norm()).item()


def test_logits_match_an_independent_reference():
    model = random_model()
    ids = torch.randint(0, VOCAB, (2, 30))
    expected = reference_logits(model, ids)
    got = model(ids).logits
    assert got.shape == (2, 30, VOCAB)
    assert rel_err(got, expected) <= 1e-4


def test_parameter_names_and_shapes_are_the_release_checkpoints():
    model = StripedHyenaLM(tiny_config())
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    d, m = 32, 48
    expected = {"embedding_layer.weight": (VOCAB, d), "norm.scale": (d,)}
    for i in range(7):
        p = f"blocks.{i}."
        expected |= {
            p + "pre_norm.scale": (d,),
            p + "post_norm.scale": (d,),
            p + "mlp.l1.weight": (m, d),
            p + "mlp.l2.weight": (m, d),
            p + "mlp.l3.weight": (d, m),
        }
        if i == 3:
            expected |= {
                p + "inner_mha_cls.Wqkv.weight": (3 * d, d),
                p + "inner_mha_cls.out_proj.weight": (d, d),
                p + "inner_mha_cls.out_proj.bias": (d,),
            }
            continue
        expected |= {
            p + "projections.weight": (3 * d, d),
            p + "filter.short_filter_weight": (3 * d, 1, 3),
            p + "out_filter_dense.weight": (d, d),
            p + "out_filter_dense.bias": (d,),
        }
        if i in (0, 4):
            expected[p + "filter.h"] = (4, 1, 7)
        elif i in (1, 5):
            expected |= {p + "filter.h": (8, 1, 12), p + "filter.D": (d,)}
        else:
            expected |= {
                p + "filter.log_poles": (d, 16, 1),
                p + "filter.residues": (d, 16),
                p + "filter.D": (d,),
            }
    assert shapes == expected
    buffers = dict(model.named_buffers())  # rotary frequencies: a buffer, not saved
    assert buffers["blocks.3.inner_mha_cls.rotary_emb.inv_freq"].shape == (8,)


@pytest.mark.parametrize("prompt", [1, 3, 7, 200])
def test_stepwise_generation_state_equals_the_parallel_forward(prompt):
    # hcm has 12 taps, hcs 7: prompts 1, 3 and 7 are shorter than a filter, 200 longer
    model = random_model(seed=prompt)
    ids = torch.randint(0, VOCAB, (2, prompt + 6))
    full = model(ids).logits
    out = model(ids[:, :prompt], use_cache=True)
    assert torch.allclose(out.logits, full[:, :prompt], atol=1e-5)
    cache = out.cache
    for t in range(prompt, prompt + 4):  # one token at a time
        step = model(ids[:, t : t + 1], cache=cache, use_cache=True)
        assert rel_err(step.logits[:, 0], full[:, t]) <= 1e-4, t
    last = model(ids[:, prompt + 4 :], cache=cache)  # then two at once
    assert rel_err(last.logits, full[:, prompt + 4 :]) <= 1e-4
    assert cache.seqlen_offset == prompt + 6
    assert cache.states[2][1].shape == (2, 32, 16)  # hcl: the modal state, O(1) in length
    assert cache.states[1][1].shape == (2, 32, 11)  # hcm: the last 11 gated inputs


def test_generate_with_the_state_equals_generate_without():
    model = random_model()
    ids = torch.randint(1, VOCAB, (1, 5))  # never the pad id: generate() would mask it out
    kwargs = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
    cached = model.generate(ids, use_cache=True, **kwargs)
    recomputed = model.generate(ids, use_cache=False, **kwargs)
    assert cached.shape == (1, 13)
    assert torch.equal(cached, recomputed)


def test_changing_token_t_never_changes_earlier_logits():
    model = random_model()
    ids = torch.randint(0, VOCAB, (2, 40))
    a = model(ids).logits
    for t in (0, 13, 39):
        changed = ids.clone()
        changed[:, t] = (changed[:, t] + 1) % VOCAB
        b = model(changed).logits
        assert torch.allclose(a[:, :t], b[:, :t], atol=1e-6)
        assert not torch.allclose(a[:, t:], b[:, t:])


def test_save_and_load_round_trip(tmp_path):
    model = random_model()
    model.save_pretrained(tmp_path)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert isinstance(loaded, StripedHyenaLM)
    assert loaded.config.attn_layer_idxs == [3] and loaded.config.hcm_filter_length == 12
    ids = torch.randint(0, VOCAB, (1, 25))
    assert torch.equal(model(ids).logits, loaded(ids).logits)


def test_bf16_forward_and_steps_run():
    model = random_model()
    ids = torch.randint(0, VOCAB, (2, 20))
    ref = model(ids).logits
    model = model.to(torch.bfloat16)
    logits = model(ids).logits
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    assert rel_err(logits, ref) < 0.05
    out = model(ids[:, :10], use_cache=True)
    step = model(ids[:, 10:12], cache=out.cache).logits
    assert rel_err(step, logits[:, 10:12]) < 0.05


def test_presets_config_checks_and_padding_refusal():
    for size, n in (("tiny", 7), ("small", 13), ("base", 19)):
        config = StripedHyenaConfig.from_preset(size, vocab_size=512)
        assert config.n_layer == n and len(config.attn_layer_idxs) == math.ceil((n - 3) / 7)
        assert config.hcs_layer_idxs[:2] == [0, 4] and config.hcl_layer_idxs[0] == 2
    evo2_1b = StripedHyenaConfig(
        hidden_size=1920, num_layers=25, num_attention_heads=15, vocab_size=512, eps=1e-6
    )
    assert evo2_1b.attn_layer_idxs == [3, 10, 17, 24] and evo2_1b.inner_mlp_size == 5120
    with pytest.raises(InputError):
        tiny_config(attn_layer_idxs=[3, 4])  # layer 4 would have two kinds
    model = random_model()
    with pytest.raises(InputError):
        model(torch.ones(1, 4, dtype=torch.long), attention_mask=torch.tensor([[0, 1, 1, 1]]))
