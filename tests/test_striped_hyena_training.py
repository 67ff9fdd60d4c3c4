"""StripedHyena training details: hcl poles kept negative, the hcm decay window, filter init."""

import math
from types import SimpleNamespace

import torch

from bioseq.models import StripedHyenaConfig, StripedHyenaLM
from bioseq.models.modules.striped_hyena import HyenaCascade, decay_window
from bioseq.train.model import make_optimizer


def config(**overrides):
    kwargs = dict(
        vocab_size=16,
        d_model=32,
        n_layer=4,
        num_attention_heads=2,
        inner_mlp_size=32,
        hcm_filter_length=12,
        hcm_filter_groups=4,
        hcs_filter_groups=4,
        state_size=4,
        max_seqlen=64,
    )
    return StripedHyenaConfig(**{**kwargs, **overrides})


def poles(model):
    return torch.cat(
        [
            m.log_poles.flatten()
            for m in model.modules()
            if isinstance(m, HyenaCascade) and m.kind == "hcl"
        ]
    )


def train(model, steps, constrain, lr=1.0):
    """Plain SGD with a large learning rate and a loss that pushes every log_pole up."""
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    ids = torch.randint(0, 16, (2, 24))
    for _ in range(steps):
        loss = model(ids, labels=ids).loss - poles(model).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if constrain:
            model.constrain_()
    return poles(model).detach()


def test_projection_keeps_poles_negative_where_plain_steps_make_them_positive():
    torch.manual_seed(0)
    free = StripedHyenaLM(config())
    kept = StripedHyenaLM(config())
    kept.load_state_dict(free.state_dict())
    assert (poles(free) < 0).all()
    assert (train(free, 3, constrain=False) > 0).any()  # unstable: |pole| > 1
    after = train(kept, 3, constrain=True)
    assert (after <= -1e-6).all() and after.max() == -1e-6


def test_constrain_leaves_released_weights_alone():
    model = StripedHyenaLM(config())
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, HyenaCascade) and m.kind == "hcl":
                m.log_poles.copy_(-torch.rand_like(m.log_poles) - 1e-3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.constrain_()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_decay_window_by_hand():
    # weak preset: rates 10^-2 .. 10^2 log-spaced over groups, t = 0, 1/2, 1 over 3 taps
    w = decay_window(2, 3, "weak")
    expected = torch.tensor(
        [[1.0, math.exp(-0.005), math.exp(-0.01)], [1.0, math.exp(-50.0), math.exp(-100.0)]]
    )
    assert torch.allclose(w, expected, rtol=1e-6, atol=0)
    w = decay_window(3, 2, "strong")  # rates 1, 10, 100
    assert torch.allclose(w[:, 1], torch.tensor([math.exp(-1), math.exp(-10), math.exp(-100)]))


def test_hcm_window_multiplies_taps_in_forward_and_steps_only_when_set():
    torch.manual_seed(0)
    released = HyenaCascade(config(), "hcm")  # hcm_decay_preset None: h is the effective taps
    trained = HyenaCascade(config(hcm_decay_preset="weak"), "hcm")
    trained.load_state_dict(released.state_dict())
    h = released.h.detach()[:, 0]
    assert torch.equal(released.taps(), h.repeat_interleave(8, 0))
    w = decay_window(4, 12, "weak")
    assert torch.allclose(trained.taps(), (h * w).repeat_interleave(8, 0))
    z = torch.randn(1, 10, 96)
    y, state = trained(z[:, :4], use_cache=True)
    y2, _ = trained.step(z[:, 4:], state)
    assert torch.allclose(torch.cat([y, y2], 1), trained(z)[0], atol=1e-6)
    assert not torch.allclose(trained(z)[0], released(z)[0])


def test_init_follows_the_training_code():
    torch.manual_seed(0)
    c = config(d_model=64, state_size=16, hcm_filter_length=128, hcm_filter_groups=8)
    hcl, hcm = HyenaCascade(c, "hcl"), HyenaCascade(c, "hcm")
    lp = hcl.log_poles.detach()
    bound = math.exp(-1)
    assert (lp < -0.01 * bound).all() and (lp > -0.1 * bound).all()
    assert abs(hcl.residues.std().item() - 0.1 / 4) < 0.005  # 0.1 / sqrt(16)
    assert hcl.D.abs().max() <= 64**-0.5 and abs(hcl.D.mean().item()) < 1e-6  # max_seqlen 64
    assert hcm.D.abs().max() <= 128**-0.5
    # no window in the forward (released meaning): init is the product raw taps x weak window
    raw = hcm.h.detach()[:, 0] / decay_window(8, 128, "weak")
    assert abs(raw[:, :20].std().item() - 1e-5 / math.sqrt(128)) < 3e-7
    trained = HyenaCascade(config(hcm_decay_preset="weak", hcm_filter_length=128), "hcm")
    assert abs(trained.h.std().item() - 1e-5 / math.sqrt(128)) < 2e-7


def test_filters_get_no_weight_decay():
    model = StripedHyenaLM(config())
    opt = make_optimizer(model, SimpleNamespace(weight_decay=0.1, lr=1e-3, betas=(0.9, 0.95)))
    decayed = {id(p) for p in opt.param_groups[0]["params"]}
    filters = [p for m in model.modules() if isinstance(m, HyenaCascade) for p in m.parameters()]
    assert filters and not any(id(p) in decayed for p in filters)
    assert id(model.blocks[0].projections.weight) in decayed
