"""The CUDA code paths on CPU: every scan and conv user through contract-checking stand-ins of
mamba-ssm's and causal-conv1d's kernels (``tests/kernel_contracts.py``), and on the meta device
to catch tensors made on the wrong device. Issue 19."""

from __future__ import annotations

import sys
import types
import warnings

import pytest
import torch
import torch.nn.functional as F

import tests.kernel_contracts as kc
from bioseq.models import MambaLM
from bioseq.models.modules.mamba import Mamba
from bioseq.models.ops import causal_conv as conv_ops
from bioseq.models.ops import dispatch, kernel_backends, selective_scan, selective_scan_cuda
from bioseq.models.ops.selective_scan_ref import selective_scan_ref
from bioseq.tasks.variants import PairScorer
from bioseq.tokenizers import CharTokenizer
from tests.conftest import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")
TOK = CharTokenizer("dna")
V = len(TOK)


@pytest.fixture
def kernels(monkeypatch):
    """The stand-ins in place, the dispatch seeing CUDA; yields the per-kernel call counts."""
    calls = kc.install(monkeypatch)
    yield calls
    monkeypatch.undo()
    kc.uninstall()


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


# -- the stand-ins enforce the contracts ---------------------------------------------------


def scan_args(dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    b, d, L, n = 2, 8, 12, 4
    f = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return dict(
        u=f(b, d, L).to(dtype),
        delta=(f(b, d, L) * 0.5).to(dtype),
        A=-torch.rand(d, n, generator=g) - 0.1,
        B=f(b, n, L).to(dtype),
        C=f(b, 2, n, L).to(dtype),
        D=f(d),
        z=f(b, d, L).to(dtype),
        delta_bias=f(d) * 0.3,
    )


BAD_SCANS = {
    "delta fp32 beside bf16 u": lambda a: {**a, "delta": a["delta"].float()},
    "B bf16 beside fp32 u": lambda a: {**a, "B": a["B"].bfloat16()},
    "z fp16 beside fp32 u": lambda a: {**a, "z": a["z"].half()},
    "A bf16": lambda a: {**a, "A": a["A"].bfloat16()},
    "D bf16": lambda a: {**a, "D": a["D"].bfloat16()},
    "delta_bias wrong length": lambda a: {**a, "delta_bias": a["delta_bias"][:3]},
    "(dim, N) B not fp32": lambda a: {**a, "B": a["A"].bfloat16()},
    "3 groups for dim 8": lambda a: {**a, "C": torch.randn(2, 3, 4, 12)},
}


@pytest.mark.parametrize("case", BAD_SCANS)
def test_scan_stand_in_refuses_what_the_kernel_refuses(case):
    args = scan_args(torch.bfloat16 if "bf16 u" in case else torch.float32)
    with pytest.raises(kc.ContractError):
        kc.selective_scan_fn(**BAD_SCANS[case](args), delta_softplus=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_scan_stand_in_computes_the_reference_and_drops_last_state_gradient(dtype):
    args = scan_args(dtype)
    leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
    out, last = kc.selective_scan_fn(**leaves, delta_softplus=True, return_last_state=True)
    (out.float().sum() + last.sum()).backward()  # last's share must be ignored
    ref_leaves = {k: v.clone().requires_grad_() for k, v in args.items()}
    ref, ref_last = selective_scan_ref(**ref_leaves, delta_softplus=True, return_last_state=True)
    ref.float().sum().backward()
    assert out.dtype == dtype and torch.equal(out, ref) and torch.equal(last, ref_last)
    for name in args:
        assert leaves[name].grad.dtype == args[name].dtype, name
        assert torch.allclose(leaves[name].grad, ref_leaves[name].grad), name


def naive_causal_conv(x, w, b):
    """y[.., d, t] = b[d] + sum_k w[d, k] x[.., d, t - (width - 1) + k], by loops."""
    y = torch.zeros_like(x, dtype=torch.float64)
    width = w.shape[-1]
    for t in range(x.shape[-1]):
        for k in range(width):
            s = t - (width - 1) + k
            if s >= 0:
                y[..., t] += w[:, k].double() * x[..., s].double()
    return y + b.double()[:, None]


def test_conv_stand_ins_match_loops_and_enforce_layouts_and_dtypes():
    g = torch.Generator().manual_seed(1)
    x, w, b = torch.randn(2, 12, 9, generator=g), torch.randn(12, 4, generator=g), torch.randn(12)
    want = F.silu(naive_causal_conv(x, w, b))
    assert rel(kc.causal_conv1d_fn(x, w, b, activation="silu"), want) < 1e-6
    channel_last = x.transpose(1, 2).contiguous().transpose(1, 2)  # stride(1) == 1, dim 12
    with pytest.raises(kc.ContractError, match="dim % 8"):
        kc.causal_conv1d_fn(channel_last, w, b, activation="silu")
    with pytest.raises(kc.ContractError, match="bias"):
        kc.causal_conv1d_fn(x, w, b.bfloat16())
    with pytest.raises(kc.ContractError, match="width"):
        kc.causal_conv1d_fn(x, torch.randn(12, 5), None)
    state = x[..., -5:-1].clone()  # the 4 inputs before the last one
    out = kc.causal_conv1d_update(x[..., -1], state, w, b, activation="silu")
    assert rel(out, want[..., -1]) < 1e-6 and torch.equal(state, x[..., -4:])  # in place
    with pytest.raises(kc.ContractError, match="conv_state"):
        kc.causal_conv1d_update(x[..., -1], state.bfloat16(), w, b)


# -- every scan user through the stand-ins -------------------------------------------------

MODELS = {
    "mamba": lambda: tiny_model("mamba", V, seed=0, d_model=16, n_layer=2, d_state=4),
    # d_inner 20: the conv kernel's channel-last layout would need a multiple of 8
    "mamba-d10": lambda: tiny_model("mamba", V, seed=0, d_model=10, n_layer=1, d_state=4),
    "caduceus": lambda: tiny_model("caduceus", V, seed=0, d_model=16, n_layer=2, d_state=4),
    "caduceus-rcps": lambda: tiny_model(
        "caduceus", V, seed=0, d_model=16, n_layer=2, d_state=4, rcps=True,
        complement_map=__import__("bioseq.tokenizers").tokenizers.complement_map(TOK),
    ),
    "merge-mamba": lambda: tiny_model("merge", V, seed=0, d_model=16, n_layer=1, backbone="mamba"),
}  # fmt: skip


def ids(batch=2, length=24, seed=3):
    return torch.randint(5, 9, (batch, length), generator=torch.Generator().manual_seed(seed))


def loss_and_grads(model, x, autocast=False):
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(x).logits
    loss = F.cross_entropy(logits.float().flatten(0, 1), x.flatten())
    loss.backward()
    return loss.detach(), {
        n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None
    }


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("name", MODELS)
def test_models_forward_and_backward_through_the_kernels(name, autocast, monkeypatch):
    model = MODELS[name]().eval()
    x = ids()
    want_loss, want = loss_and_grads(model, x, autocast)  # the CPU path (numba scan)
    calls = kc.install(monkeypatch)
    try:
        got_loss, got = loss_and_grads(model, x, autocast)
    finally:
        monkeypatch.undo()
        kc.uninstall()
    assert calls["selective_scan_fn"] > 0 and calls["causal_conv1d_fn"] > 0
    tol = 3e-2 if autocast else 1e-4
    assert rel(got_loss, want_loss) < tol and got.keys() == want.keys()
    for n in want:
        assert rel(got[n], want[n]) < (0.2 if autocast else 1e-3), n


def test_bf16_model_runs_through_the_kernels(kernels):
    model = MODELS["mamba"]().to(torch.bfloat16).eval()
    x = ids()
    with torch.no_grad():
        logits = model(x).logits
        _, state = model.forward_from_state(x[:, :10])
        rest, _ = model.forward_from_state(x[:, 10:], state)
    assert kernels["selective_scan_fn"] > 0 and torch.isfinite(rest.float()).all()
    assert rel(rest.float(), logits[:, 10:].float()) < 5e-2


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_state_reuse_of_the_variant_scorer_through_the_kernels(dtype, monkeypatch):
    model = MODELS["mamba"]().to(dtype).eval()
    ref = "ACGTTGCAAGCTTACGGATCCATGCA"
    alts = [ref[:p] + ("A" if ref[p] != "A" else "C") + ref[p + 1 :] for p in (3, 11, 20)]
    want = PairScorer(model, TOK, strategy="reuse").score([(ref, alts)])[0]
    calls = kc.install(monkeypatch)
    try:
        got = PairScorer(model, TOK, strategy="reuse").score([(ref, alts)])[0]
    finally:
        monkeypatch.undo()
        kc.uninstall()
    assert calls["selective_scan_fn"] > 0
    tol = 1e-4 if dtype == torch.float32 else 5e-2
    for g, w in zip(got, want, strict=True):
        assert abs(g.llr() - w.llr()) <= tol * max(1.0, abs(w.llr()))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_generation_steps_through_the_update_kernel(dtype, kernels):
    model = MODELS["mamba"]().to(dtype).eval()
    x = ids(length=16)
    with torch.no_grad():
        full = model(x).logits
        out = model(x[:, :10], use_cache=True)
        kernels.clear()
        stepped = model(x[:, 10:], cache=out.cache).logits
        generated = model.generate(x[:, :4], max_new_tokens=3, do_sample=False)
    assert kernels["causal_conv1d_update"] > 0 and kernels["selective_scan_fn"] > 0
    assert rel(stepped.float(), full[:, 10:].float()) < (1e-4 if dtype == torch.float32 else 5e-2)
    assert generated.shape == (2, 7)


def test_mixer_step_leaves_the_state_it_was_given(kernels):
    mixer = Mamba(16, d_state=4).eval()
    h = torch.randn(2, 6, 16)
    with torch.no_grad():
        _, (conv, ssm) = mixer(h, return_state=True)
        before = conv.clone()
        mixer.step(h[:, -1:], conv, ssm)
    assert kernels["causal_conv1d_update"] == 1 and torch.equal(conv, before)


# -- the CUDA paths on the meta device: no tensor made on the wrong device ------------------


def meta_run(model, x):
    model.train()
    model(x).logits.float().sum().backward()
    if isinstance(model, MambaLM):
        with torch.no_grad():
            _, state = model.forward_from_state(x[:, :5])
            model.forward_from_state(x[:, 5:], state)
            cache = model(x[:, :5], use_cache=True).cache
            model(x[:, 5:7], cache=cache)


@pytest.mark.parametrize("name", ["mamba", "caduceus", "caduceus-rcps"])
def test_cuda_paths_make_every_tensor_on_the_inputs_device(name, kernels):
    model = MODELS[name]().to("meta")
    meta_run(model, ids().to("meta"))
    assert kernels["selective_scan_fn"] > 0 and kernels["causal_conv1d_fn"] > 0
    if name == "mamba":
        assert kernels["causal_conv1d_update"] > 0


def test_meta_check_catches_a_cpu_tensor(kernels, monkeypatch):
    real = Mamba._ssm_inputs
    monkeypatch.setattr(
        Mamba, "_ssm_inputs", lambda self, x: real(self, x + torch.zeros(x.shape[-1]))
    )
    with pytest.raises(RuntimeError, match="device"):
        meta_run(MODELS["mamba"]().to("meta"), ids().to("meta"))


# -- fallbacks warn once and runs name their kernels ----------------------------------------


class BrokenExtension(types.ModuleType):
    """A package whose compiled extension does not load (torch upgraded under it)."""

    def __getattr__(self, name):
        raise ImportError(f"{self.__name__}_cuda.so: undefined symbol: _ZN3c104cuda9SetDevice")


@pytest.fixture
def cuda_without_kernels(monkeypatch):
    """CUDA 'present', mamba-ssm and causal-conv1d failing to import (an ABI mismatch)."""
    for name in ("mamba_ssm", "mamba_ssm.ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    name = "mamba_ssm.ops.selective_scan_interface"
    monkeypatch.setitem(sys.modules, name, BrokenExtension(name))
    monkeypatch.setitem(sys.modules, "causal_conv1d", BrokenExtension("causal_conv1d"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(dispatch, "device_type", lambda t: "cuda")
    monkeypatch.setattr(dispatch, "_warned", set())
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)
    kc.uninstall()
    yield
    monkeypatch.undo()
    kc.uninstall()


def test_fallback_to_the_reference_warns_once_with_the_import_error(cuda_without_kernels):
    args = scan_args()
    with pytest.warns(RuntimeWarning, match="mamba-ssm.*ImportError: .*undefined symbol"):
        out = selective_scan(**args, delta_softplus=True)
    with pytest.warns(RuntimeWarning, match="causal-conv1d.*ImportError: .*undefined symbol"):
        conv_ops.causal_conv1d(args["u"], torch.randn(8, 4), None, activation="silu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second call is silent
        again = selective_scan(**args, delta_softplus=True)
        conv_ops.causal_conv1d(args["u"], torch.randn(8, 4), None)
    assert dispatch.resolve_backend(args["u"]) == "reference"
    assert torch.equal(out, again) and torch.equal(
        out, selective_scan_ref(**args, delta_softplus=True)
    )


def test_kernel_backends_name_the_choices(cuda_without_kernels, monkeypatch):
    mamba, hyena = MODELS["mamba"](), tiny_model("hyena", V, d_model=16, n_layer=1)
    assert kernel_backends(hyena, "cuda") == ""
    text = kernel_backends(mamba, "cuda")
    assert text.startswith(", scan reference (mamba-ssm: ImportError") and "conv torch (" in text
    assert kernel_backends(mamba, "cpu") == ", scan cpu, conv torch"
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    assert kernel_backends(mamba, "cpu") == ", scan reference, conv torch"
    monkeypatch.delenv(dispatch.ENV_VAR)
    kc.install(monkeypatch)
    assert kernel_backends(mamba, "cuda") == ", scan cuda, conv causal-conv1d"
    assert selective_scan_cuda.cuda_available()


@pytest.mark.slow  # a 2-step training run (about 4 s)
def test_training_run_names_its_kernels(tmp_path, capsys):
    from bioseq.train.loop import pretrain
    from tests.conftest import TINY_RUN

    pretrain(dict(TINY_RUN, model="mamba", steps=2, out=str(tmp_path / "run")))
    captured = capsys.readouterr()
    (line,) = [ln for ln in (captured.out + captured.err).splitlines() if "M parameters" in ln]
    assert "cpu (1 thread), scan cpu, conv torch" in line


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "bf16-autocast"])
def test_real_kernels_match_the_pytorch_paths_on_cuda(autocast, monkeypatch):
    """On a GPU: the mixer through mamba-ssm and causal-conv1d equals the PyTorch paths
    (forward, gradients, and the step API through the update kernel)."""
    if not selective_scan_cuda.cuda_available() or conv_ops.causal_conv_import_error():
        pytest.skip("mamba-ssm or causal-conv1d is not installed")
    torch.manual_seed(0)
    mixer = Mamba(16, d_state=4).cuda()
    h = torch.randn(2, 40, 16, device="cuda")

    def run():
        mixer.zero_grad()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
            out, (conv, ssm) = mixer(h, return_state=True)
            step, _, _ = mixer.step(h[:, -1:], conv, ssm)
        out.float().square().sum().backward()
        return [out, step] + [p.grad for p in mixer.parameters()]

    assert dispatch.resolve_conv_backend(h) == "cuda"
    fused = run()
    monkeypatch.setattr(dispatch, "resolve_conv_backend", lambda x: "torch")
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    plain = run()
    for a, b in zip(fused, plain, strict=True):
        assert rel(a, b) < (5e-2 if autocast else 1e-3)
