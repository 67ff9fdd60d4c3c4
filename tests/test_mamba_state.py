"""Mamba's public state API: continuing from a saved state in one parallel pass equals reading
the whole sequence at once (the reference: a plain forward pass, and the PyTorch-loop scan)."""

import pytest
import torch

from bioseq.models import MambaConfig, MambaLM, MambaState
from bioseq.models.modules.mamba import Mamba
from bioseq.models.ops import selective_scan_from_state
from bioseq.models.ops.selective_scan_ref import selective_scan_ref

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_mamba(seed=0, **overrides) -> MambaLM:
    torch.manual_seed(seed)
    config = MambaConfig.from_preset("tiny", vocab_size=12, d_model=16, n_layer=2, **overrides)
    return MambaLM(config).eval()


def test_scan_from_a_prefix_state_equals_the_whole_scan():
    """h0 = the reference scan's state after a prefix; the suffix from h0 is the whole scan's."""
    torch.manual_seed(1)
    b, d, L, N, cut = 2, 6, 150, 4, 70
    u, delta, z = torch.randn(b, d, L), torch.rand(b, d, L) * 0.2, torch.randn(b, d, L)
    A, D = -torch.rand(d, N) * 2, torch.randn(d)
    B, C = torch.randn(b, N, L), torch.randn(b, N, L)
    whole, last = selective_scan_ref(u, delta, A, B, C, D, z=z, return_last_state=True)
    _, h0 = selective_scan_ref(
        u[..., :cut], delta[..., :cut], A, B[..., :cut], C[..., :cut], D, return_last_state=True
    )
    y, end = selective_scan_from_state(
        u[..., cut:], delta[..., cut:], A, B[..., cut:], C[..., cut:], D, h0, z=z[..., cut:]
    )
    assert torch.allclose(y, whole[..., cut:], atol=1e-4)
    assert torch.allclose(end, last, atol=1e-4)


def test_mixer_forward_from_state_equals_stepping_token_by_token():
    torch.manual_seed(2)
    mixer = Mamba(d_model=8, d_state=4).eval()
    x = torch.randn(2, 30, 8)
    with torch.no_grad():
        _, state = mixer(x[:, :10], return_state=True)
        out, (conv, ssm) = mixer.forward_from_state(x[:, 10:], state)
        stepped, conv_t, ssm_t = [], *state
        for t in range(10, 30):
            y, conv_t, ssm_t = mixer.step(x[:, t : t + 1], conv_t, ssm_t)
            stepped.append(y)
    assert torch.allclose(out, torch.cat(stepped, dim=1), atol=1e-5)
    assert torch.allclose(conv, conv_t, atol=1e-6) and torch.allclose(ssm, ssm_t, atol=1e-5)


@pytest.mark.parametrize("overrides", [{}, {"rms_norm": False, "residual_in_fp32": False}])
def test_forward_from_state_equals_one_forward_pass(overrides):
    model = tiny_mamba(3, **overrides)
    ids = torch.randint(0, 12, (3, 90))
    with torch.no_grad():
        full = model(ids).logits
        first, state = model.forward_from_state(ids[:, :25])  # no state: from the start
        kept = [t.clone() for layer in state.states for t in layer]
        second, state2 = model.forward_from_state(ids[:, 25:60], state)
        third, state3 = model.forward_from_state(ids[:, 60:], state2)
        whole_state = model(ids, use_cache=True).cache
    assert torch.allclose(torch.cat([first, second, third], dim=1), full, atol=1e-4)
    assert state3.seqlen_offset == 90 and state2.seqlen_offset == 60
    for (conv, ssm), (conv_ref, ssm_ref) in zip(state3.states, whole_state.states, strict=True):
        assert torch.allclose(conv, conv_ref, atol=1e-5) and torch.allclose(ssm, ssm_ref, atol=1e-4)
    # the state it started from is left as it was
    assert all(
        torch.equal(a, b)
        for a, b in zip(kept, [t for layer in state.states for t in layer], strict=True)
    )


def test_stacked_and_selected_states_continue_each_row():
    """Rows saved at different positions, batched: each continues as its own sequence."""
    model = tiny_mamba(4)
    ids = torch.randint(0, 12, (2, 80))
    with torch.no_grad():
        full = model(ids).logits
        _, early = model.forward_from_state(ids[:1, :20])
        _, late = model.forward_from_state(ids[1:, :50])
        stacked = MambaState.stack([late, early, late])
        logits, _ = model.forward_from_state(
            torch.cat([ids[1:, 50:62], ids[:1, 20:32], ids[1:, 50:62]]), stacked
        )
        picked = stacked.select(torch.tensor([1, 1]))
        again, _ = model.forward_from_state(ids[:1, 20:32].expand(2, -1), picked)
    assert torch.allclose(logits[0], full[1, 50:62], atol=1e-4)
    assert torch.allclose(logits[1], full[0, 20:32], atol=1e-4)
    assert torch.allclose(logits[2], full[1, 50:62], atol=1e-4)
    assert torch.allclose(again[0], full[0, 20:32], atol=1e-4)
    assert torch.allclose(again[1], full[0, 20:32], atol=1e-4)
