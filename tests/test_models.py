import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.errors import InputError
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.models.ops.fftconv import fftconv, fftconv_ref
from tests.conftest import tiny_model

VOCAB = 10


def tiny(kind: str, **overrides):
    if kind == "hyena":
        overrides = {"max_seq_len": 128, "embed_dropout": 0.0, **overrides}
    return tiny_model(kind, VOCAB, d_model=32, **overrides).eval()


KINDS = ["hyena", "mamba", "transformer"]


@pytest.mark.parametrize("L", [1, 7, 64, 300])
def test_fftconv_matches_direct_convolution(L):
    torch.manual_seed(L)
    u, k, D = torch.randn(3, 5, L), torch.randn(5, L), torch.randn(5)
    expected = fftconv_ref(u.double(), k.double(), D.double())
    assert torch.allclose(fftconv(u, k, D).double(), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("kind", KINDS)
def test_changing_token_t_never_changes_earlier_logits(kind):
    torch.manual_seed(0)
    model = tiny(kind)
    ids = torch.randint(0, VOCAB, (2, 60))
    for t in (0, 17, 59):
        changed = ids.clone()
        changed[:, t] = (changed[:, t] + 1) % VOCAB
        a, b = model(ids).logits, model(changed).logits
        assert torch.equal(a[:, :t], b[:, :t]) or torch.allclose(a[:, :t], b[:, :t], atol=1e-6)
        assert not torch.allclose(a[:, t:], b[:, t:])  # and the change is seen from t on


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip_through_auto_class(kind, tmp_path):
    torch.manual_seed(1)
    model = tiny(kind)
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    ids = torch.randint(0, VOCAB, (2, 40))
    assert torch.equal(model(ids).logits, loaded(ids).logits)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_is_shifted_cross_entropy(kind):
    model = tiny(kind)
    ids = torch.randint(0, VOCAB, (2, 30))
    out = model(ids, labels=ids)
    logp = out.logits[:, :-1].log_softmax(-1)
    expected = -logp.gather(-1, ids[:, 1:, None]).mean()
    assert torch.allclose(out.loss, expected, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_generate_with_and_without_cache_agree(kind):
    torch.manual_seed(2)
    model = tiny(kind)
    prompt = torch.randint(1, VOCAB, (2, 12))  # no pad (0): generate() would mask it
    kwargs = {"max_new_tokens": 8, "do_sample": False, "pad_token_id": 0}
    cached = model.generate(prompt, **kwargs)
    uncached = model.generate(prompt, use_cache=False, **kwargs)
    assert cached.shape == (2, 20) and torch.equal(cached, uncached)
    # greedy decoding by hand
    ids = prompt
    for _ in range(8):
        ids = torch.cat([ids, model(ids).logits[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(cached, ids)


@pytest.mark.parametrize("kind", KINDS)
def test_left_padding_gives_the_same_logits_as_no_padding(kind):
    torch.manual_seed(3)
    model = tiny(kind)
    short = torch.randint(1, VOCAB, (1, 20))
    padded = torch.cat([torch.zeros(1, 7, dtype=torch.long), short], dim=1)
    mask = torch.cat([torch.zeros(1, 7), torch.ones(1, 20)], dim=1).long()
    expected = model(short).logits
    got = model(padded, attention_mask=mask).logits[:, 7:]
    assert torch.allclose(expected, got, atol=1e-5)


def test_mamba_step_by_step_decoding_equals_parallel_forward():
    torch.manual_seed(4)
    model = tiny("mamba")
    ids = torch.randint(0, VOCAB, (3, 25))
    full = model(ids).logits
    out = model(ids[:, :1], use_cache=True)
    steps = [out.logits]
    for t in range(1, 25):
        out = model(ids[:, t : t + 1], cache=out.cache)
        steps.append(out.logits)
    assert torch.allclose(full, torch.cat(steps, dim=1), atol=1e-4)


@pytest.mark.parametrize("kind", ["mamba", "transformer"])
def test_cache_still_answers_to_past_key_values(kind):
    """``past_key_values``, the cache's name before transformers 5.24, works in and out."""
    torch.manual_seed(4)
    model = tiny(kind)
    ids = torch.randint(0, VOCAB, (2, 12))
    out = model(ids[:, :8], use_cache=True)
    assert out.past_key_values is out.cache and out["past_key_values"] is out.cache
    last = model(ids[:, 8:], past_key_values=out.cache).logits
    assert torch.allclose(model(ids).logits[:, 8:], last, atol=1e-4)


def test_mamba_generate_continues_from_a_passed_state():
    from transformers.generation.utils import ALL_CACHE_NAMES

    name = ALL_CACHE_NAMES[0]  # "cache" from transformers 5.24, "past_key_values" before
    torch.manual_seed(6)
    model = tiny("mamba")
    prompt, other = torch.randint(1, VOCAB, (1, 12)), torch.randint(1, VOCAB, (1, 9))
    kwargs = {"max_new_tokens": 6, "do_sample": False, "pad_token_id": 0}
    state = model(prompt[:, :9], use_cache=True).cache
    assert torch.equal(
        model.generate(prompt, **{name: state}, **kwargs), model.generate(prompt, **kwargs)
    )
    # the state is used, only the tokens after it are read: another prefix's state continues
    # exactly as that prefix would
    state = model(other, use_cache=True).cache
    continued = model.generate(prompt, **{name: state}, **kwargs)[:, 12:]
    expected = model.generate(torch.cat([other, prompt[:, 9:]], dim=1), **kwargs)[:, 12:]
    assert torch.equal(continued, expected)


def test_mamba_prefix_state_can_be_shared_across_alleles():
    torch.manual_seed(5)
    model = tiny("mamba")
    prefix = torch.randint(0, VOCAB, (1, 30))
    suffixes = torch.randint(0, VOCAB, (4, 10))
    state = model(prefix, use_cache=True).cache
    reused = model(suffixes, cache=state.select(torch.zeros(4, dtype=torch.long)))
    direct = model(torch.cat([prefix.expand(4, -1), suffixes], dim=1)).logits[:, 30:]
    assert torch.allclose(reused.logits, direct, atol=1e-4)


def test_mamba_dt_initialisation_survives_post_init():
    model = tiny("mamba", dt_min=0.001, dt_max=0.1)
    dt = torch.nn.functional.softplus(model.backbone.layers[0].mixer.dt_proj.bias)
    assert dt.min() >= 1e-4 - 1e-7 and dt.max() <= 0.1 + 1e-6 and dt.std() > 0


def test_hyena_rejects_inputs_longer_than_max_seq_len():
    model = tiny("hyena")
    with pytest.raises(InputError, match="max_seq_len 128"):
        model(torch.zeros(1, 129, dtype=torch.long))


def test_presets_and_overrides():
    config = MambaConfig.from_preset("small", n_layer=3)
    assert (config.d_model, config.n_layer, config.dt_rank) == (256, 3, 16)
    with pytest.raises(InputError, match="unknown model size"):
        HyenaConfig.from_preset("huge")
    assert TransformerConfig.from_preset("base").n_head == 8


def test_strand_log_likelihoods_match_a_hand_computation():
    from bioseq.io.alphabet import reverse_complement
    from bioseq.tasks.variants.rc import strand_log_likelihoods
    from bioseq.tokenizers import CharTokenizer

    torch.manual_seed(6)
    tok = CharTokenizer("dna")
    model = tiny_model("mamba", tok.vocab_size, d_model=32).eval()
    sequences = ["ACGTTGCAAC", "GGATCN", "T"]

    def by_hand(seq):
        ids = torch.tensor([[tok.bos_token_id] + tok.encode(seq, add_special_tokens=False)])
        logp = model(ids).logits.log_softmax(-1)[0]
        return [logp[i, ids[0, i + 1]].item() for i in range(len(seq))]

    forward, reverse, average = strand_log_likelihoods(model, tok, sequences, batch_size=2)
    for seq, f, r, a in zip(sequences, forward, reverse, average, strict=True):
        assert f == pytest.approx(by_hand(seq), abs=1e-5)
        assert r == pytest.approx(by_hand(reverse_complement(seq))[::-1], abs=1e-5)
        assert a == pytest.approx((f + r) / 2)


def test_documented_preset_parameter_counts_are_true():
    import re

    import bioseq.models.config as config_module

    rows = re.findall(
        r"^\| (tiny|small|base)\s*\|.*?\| ([\d.]+) M \| ([\d.]+) M \| ([\d.]+) M \|",
        config_module.__doc__,
        re.M,
    )
    assert len(rows) == 3
    for size, *documented in rows:
        models = [
            HyenaLM(HyenaConfig.from_preset(size, vocab_size=10, max_seq_len=8192)),
            MambaLM(MambaConfig.from_preset(size, vocab_size=10)),
            TransformerLM(TransformerConfig.from_preset(size, vocab_size=10)),
        ]
        for model, text in zip(models, documented, strict=True):
            count = sum(p.numel() for p in model.parameters()) / 1e6
            assert count == pytest.approx(float(text), abs=0.051), (size, type(model))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("kind", KINDS)
def test_cuda_forward_matches_cpu(kind):
    """On a GPU the models (Mamba through mamba-ssm's kernels when installed) match the CPU."""
    torch.manual_seed(7)
    model = tiny(kind)
    ids = torch.randint(0, VOCAB, (2, 64))
    expected = model(ids).logits
    got = model.cuda()(ids.cuda()).logits.cpu()
    assert torch.allclose(got, expected, atol=1e-3, rtol=1e-3)


def test_cpu_allocator_tuning_applies_on_glibc_and_can_be_turned_off(monkeypatch):
    import platform

    from bioseq.models.ops.allocator import tune_cpu_allocator

    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert tune_cpu_allocator() is glibc
    monkeypatch.setenv("BIOSEQ_MALLOC_TUNING", "0")
    assert tune_cpu_allocator() is False
