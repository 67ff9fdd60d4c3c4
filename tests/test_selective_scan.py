"""Selective scan: the numba CPU kernels against the PyTorch reference, and the dispatcher."""

from __future__ import annotations

import itertools
import sys
import types

import pytest
import torch

from bioseq.errors import InputError
from bioseq.models.ops import dispatch, selective_scan_cuda
from bioseq.models.ops import selective_scan as scan
from bioseq.models.ops.selective_scan_cpu import CHUNK, selective_scan_cpu
from bioseq.models.ops.selective_scan_cuda import ScanBackendUnavailable, cuda_available
from bioseq.models.ops.selective_scan_ref import selective_scan_ref
from tests import kernel_contracts

BATCH, DIM, N, L = 2, 8, 4, 33
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
LAYOUTS = ("invariant", "varying", "grouped")


def rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|, b the reference (absolute error when b is all zeros)."""
    a, b = a.detach().double(), b.detach().double()
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()


def bc(layout: str, g: torch.Generator, batch: int, length: int) -> torch.Tensor:
    shape = {
        "invariant": (DIM, N),
        "varying": (batch, N, length),
        "grouped": (batch, 2, N, length),
    }[layout]
    return torch.randn(shape, generator=g)


def make_inputs(
    b_layout="varying",
    c_layout="varying",
    batch=BATCH,
    length=L,
    seed=0,
    D=True,
    z=True,
    delta_bias=True,
) -> dict:
    """Random scan arguments; A < 0 and delta around 0 keep the recursion in a sane range."""
    g = torch.Generator().manual_seed(seed)
    return {
        "u": torch.randn(batch, DIM, length, generator=g),
        "delta": torch.randn(batch, DIM, length, generator=g) * 0.5,
        "A": -torch.rand(DIM, N, generator=g) * 2 - 0.1,
        "B": bc(b_layout, g, batch, length),
        "C": bc(c_layout, g, batch, length),
        "D": torch.randn(DIM, generator=g) if D else None,
        "z": torch.randn(batch, DIM, length, generator=g) if z else None,
        "delta_bias": torch.randn(DIM, generator=g) * 0.3 if delta_bias else None,
    }


def run(fn, inputs: dict, softplus: bool, grad: bool = True, seed=1, last_state_loss=True):
    """Output, last state and the gradient of every input for a random loss on both (on the
    output alone without ``last_state_loss``: mamba-ssm's backward ignores the last state's
    gradient). The loss weights are drawn on the CPU and moved to the outputs' device."""
    leaves = {k: None if v is None else v.clone().requires_grad_(grad) for k, v in inputs.items()}
    out, last = fn(**leaves, delta_softplus=softplus, return_last_state=True)
    grads = {}
    if grad:
        g = torch.Generator().manual_seed(seed)
        loss = (out * torch.randn(out.shape, generator=g).to(out.device)).sum()
        if last_state_loss:
            loss = loss + (last * torch.randn(last.shape, generator=g).to(last.device)).sum()
        loss.backward()
        grads = {k: v.grad for k, v in leaves.items() if v is not None}
    return out.detach(), last.detach(), grads


def assert_close(got, want, tol_out=1e-5, tol_grad=1e-4):
    (out, last, grads), (out_r, last_r, grads_r) = got, want
    assert out.dtype == out_r.dtype and out.shape == out_r.shape
    assert rel_err(out, out_r) <= tol_out
    assert last.dtype == torch.float32 and rel_err(last, last_r) <= tol_out
    assert grads.keys() == grads_r.keys()
    for name in grads:
        assert grads[name].shape == grads_r[name].shape, name
        assert grads[name].dtype == grads_r[name].dtype, name
        assert rel_err(grads[name], grads_r[name]) <= tol_grad, name


OPTIONS = list(itertools.product((False, True), repeat=4))  # D, z, delta_bias, softplus


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize(("D", "z", "delta_bias", "softplus"), OPTIONS)
def test_cpu_matches_reference(layout, D, z, delta_bias, softplus):
    inputs = make_inputs(layout, layout, D=D, z=z, delta_bias=delta_bias)
    assert_close(
        run(selective_scan_cpu, inputs, softplus), run(selective_scan_ref, inputs, softplus)
    )


@pytest.mark.parametrize(
    ("b_layout", "c_layout"),
    [("invariant", "varying"), ("grouped", "invariant"), ("varying", "grouped")],
)
@pytest.mark.parametrize("batch", [1, 3])
def test_mixed_layouts_batches_and_several_chunks(b_layout, c_layout, batch):
    inputs = make_inputs(b_layout, c_layout, batch=batch, length=2 * CHUNK + 7, seed=batch)
    assert_close(run(selective_scan_cpu, inputs, True), run(selective_scan_ref, inputs, True))


@pytest.mark.parametrize("last_state", [False, True])
def test_return_last_state_flag_and_state_only_loss(last_state):
    inputs = make_inputs()
    out = selective_scan_cpu(**inputs, delta_softplus=True, return_last_state=last_state)
    ref = selective_scan_ref(**inputs, delta_softplus=True, return_last_state=last_state)
    assert isinstance(out, tuple) == last_state == isinstance(ref, tuple)
    # a loss through the last state alone: the output receives no gradient
    grads = []
    for fn in (selective_scan_cpu, selective_scan_ref):
        leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
        _, last = fn(**leaves, delta_softplus=True, return_last_state=True)
        (last**2).sum().backward()
        grads.append({k: v.grad for k, v in leaves.items()})
    for name in ("u", "delta", "A", "B", "delta_bias"):
        assert rel_err(grads[0][name], grads[1][name]) <= 1e-4, name
    for name in ("C", "D", "z"):  # they only act on the output
        assert grads[0][name] is None or not grads[0][name].any(), name


def test_no_grad_forward_and_partial_requires_grad():
    inputs = make_inputs("grouped", "grouped")
    with torch.no_grad():
        got = run(selective_scan_cpu, inputs, True, grad=False)
    want = run(selective_scan_ref, inputs, True, grad=False)
    assert_close(got, want)
    u = inputs["u"].clone().requires_grad_()
    out = selective_scan_cpu(u, *(inputs[k] for k in NAMES[1:5]), D=inputs["D"])
    out.sum().backward()
    u_ref = inputs["u"].clone().requires_grad_()
    selective_scan_ref(u_ref, *(inputs[k] for k in NAMES[1:5]), D=inputs["D"]).sum().backward()
    assert rel_err(u.grad, u_ref.grad) <= 1e-4


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_other_dtypes_are_cast(dtype):
    inputs = make_inputs()
    cast = {k: v.to(dtype) for k, v in inputs.items()}
    got = run(selective_scan_cpu, cast, True)
    want = run(selective_scan_ref, cast, True)  # the reference also computes in fp32
    assert got[0].dtype == dtype and got[1].dtype == torch.float32
    assert all(g.dtype == dtype for g in got[2].values())
    tol = 1e-5 if dtype == torch.float64 else 2e-2  # bf16 rounding of the outputs
    assert_close(got, want, tol_out=tol, tol_grad=max(tol, 1e-4))


def test_non_contiguous_inputs():
    inputs = make_inputs()
    strided = {
        k: v.transpose(-1, -2).contiguous().transpose(-1, -2) if v.dim() == 3 else v
        for k, v in inputs.items()
    }
    assert not strided["u"].is_contiguous()
    assert_close(run(selective_scan_cpu, strided, True), run(selective_scan_ref, inputs, True))


@pytest.mark.parametrize("fn", [selective_scan_cpu, selective_scan_ref])
def test_empty_sequence(fn):
    inputs = make_inputs(length=0)
    out, last = fn(**inputs, delta_softplus=True, return_last_state=True)
    assert out.shape == (BATCH, DIM, 0) and not last.any()


@pytest.mark.parametrize("fn", [selective_scan_cpu, selective_scan_ref])
def test_bad_shapes_raise_input_error(fn):
    inputs = make_inputs()
    inputs["B"] = torch.randn(BATCH, 3, N, L)  # 3 groups do not divide dim 8
    with pytest.raises(InputError, match="B must be"):
        fn(**inputs)
    inputs = make_inputs()
    inputs["D"] = torch.randn(DIM + 1)
    with pytest.raises(InputError, match="D must be"):
        fn(**inputs)


# --- dispatch -------------------------------------------------------------------------------


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv(dispatch.ENV_VAR, raising=False)


def spy_on(monkeypatch, name: str) -> list:
    """Record calls to the dispatcher's backend ``name`` (still running it)."""
    calls, real = [], getattr(dispatch, name)

    def spy(*args, **kwargs):
        calls.append(name)
        return real(*args, **kwargs)

    monkeypatch.setattr(dispatch, name, spy)
    return calls


def test_dispatch_picks_cpu_for_cpu_tensors(no_env, monkeypatch):
    calls = spy_on(monkeypatch, "selective_scan_cpu")
    inputs = make_inputs()
    assert dispatch.resolve_backend(inputs["u"]) == "cpu"
    out, last = scan(**inputs, delta_softplus=True, return_last_state=True)
    assert calls == ["selective_scan_cpu"]
    assert_close((out, last, {}), run(selective_scan_ref, inputs, True, grad=False))


def test_env_var_and_argument_force_backends(monkeypatch):
    ref_calls = spy_on(monkeypatch, "selective_scan_ref")
    cpu_calls = spy_on(monkeypatch, "selective_scan_cpu")
    inputs = make_inputs()
    monkeypatch.setenv(dispatch.ENV_VAR, "reference")
    scan(**inputs)
    assert ref_calls == ["selective_scan_ref"] and not cpu_calls
    scan(**inputs, backend="cpu")  # the argument beats the environment
    assert cpu_calls == ["selective_scan_cpu"]
    monkeypatch.setenv(dispatch.ENV_VAR, "CPU")
    assert dispatch.resolve_backend(inputs["u"]) == "cpu"
    monkeypatch.setenv(dispatch.ENV_VAR, "tpu")
    with pytest.raises(InputError, match="BIOSEQ_SCAN_BACKEND"):
        scan(**inputs)
    with pytest.raises(InputError, match="unknown backend"):
        scan(**inputs, backend="fast")


@pytest.mark.skipif(cuda_available(), reason="the cuda backend is available here")
def test_forced_cuda_without_cuda_raises(monkeypatch):
    inputs = make_inputs()
    with pytest.raises(ScanBackendUnavailable, match="cuda"):
        scan(**inputs, backend="cuda")
    monkeypatch.setenv(dispatch.ENV_VAR, "cuda")
    with pytest.raises(ScanBackendUnavailable, match="mamba-ssm"):
        scan(**inputs)
    assert dispatch.available_backends() == ["reference", "cpu"]


@pytest.fixture
def fake_mamba(monkeypatch):
    """A stand-in ``mamba_ssm`` whose kernel is the reference, and a CUDA 'device'."""
    calls = []

    def selective_scan_fn(*args, **kwargs):
        calls.append(kwargs)
        return selective_scan_ref(*args, **kwargs)

    mod = types.ModuleType("mamba_ssm.ops.selective_scan_interface")
    mod.selective_scan_fn = selective_scan_fn
    for name in ("mamba_ssm", "mamba_ssm.ops"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    selective_scan_cuda._import_mamba.cache_clear()
    yield calls
    selective_scan_cuda._import_mamba.cache_clear()


def test_cuda_backend_is_wired_to_mamba_ssm(fake_mamba, no_env):
    assert cuda_available() and "cuda" in dispatch.available_backends()
    inputs = make_inputs()
    out = scan(**inputs, delta_softplus=True, backend="cuda")
    assert fake_mamba == [
        {
            "D": inputs["D"],
            "z": inputs["z"],
            "delta_bias": inputs["delta_bias"],
            "delta_softplus": True,
            "return_last_state": False,
        }
    ]
    assert rel_err(out, selective_scan_ref(**inputs, delta_softplus=True)) == 0


def test_cuda_unavailable_when_mamba_import_fails(monkeypatch):
    monkeypatch.setitem(sys.modules, "mamba_ssm", None)  # makes the import raise ImportError
    selective_scan_cuda._import_mamba.cache_clear()
    try:
        assert not cuda_available()
        with pytest.raises(ScanBackendUnavailable):
            selective_scan_cuda.selective_scan_cuda(**make_inputs())
    finally:
        selective_scan_cuda._import_mamba.cache_clear()


def check_cuda_backend(inputs: dict) -> None:
    """The cuda backend against the reference, the loss on the output only: mamba-ssm's
    backward ignores the last state's gradient (backends differ there, see dispatch)."""
    got = run(lambda **kw: scan(**kw, backend="cuda"), inputs, True, last_state_loss=False)
    want = run(selective_scan_ref, inputs, True, last_state_loss=False)
    assert_close(got, want, tol_out=1e-4, tol_grad=1e-3)  # different summation orders on GPU


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_backend_matches_reference(layout, no_env):
    if not cuda_available():
        pytest.skip("mamba-ssm is not installed")
    inputs = {k: v.cuda() for k, v in make_inputs(layout, layout).items()}
    assert dispatch.resolve_backend(inputs["u"]) == "cuda"
    check_cuda_backend(inputs)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_cuda_check_runs_through_the_kernel_contract(layout, monkeypatch):
    """The CUDA test's body on CPU, mamba-ssm's kernel emulated (tests/kernel_contracts.py):
    it dropped the last state's gradient, so a loss that included it failed by design."""
    calls = kernel_contracts.install(monkeypatch)
    try:
        check_cuda_backend(make_inputs(layout, layout))
    finally:
        monkeypatch.undo()
        kernel_contracts.uninstall()
    assert calls["selective_scan_fn"] == 1  # the backend ran the (emulated) kernel


def test_loss_weights_are_made_on_the_outputs_device():
    """``run`` on meta tensors (standing in for CUDA ones): CPU loss weights would not mix."""
    inputs = {k: v.to("meta") for k, v in make_inputs().items()}
    _, _, grads = run(selective_scan_ref, inputs, True)
    assert grads["u"].device.type == "meta"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_backend_forced_on_cuda_tensors(no_env):
    inputs = {k: v.cuda() for k, v in make_inputs().items()}
    got = run(lambda **kw: scan(**kw, backend="cpu"), inputs, True)
    assert got[0].device.type == "cuda" and got[2]["u"].device.type == "cuda"
    want = run(selective_scan_ref, {k: v.cpu() for k, v in inputs.items()}, True)
    assert_close([got[0].cpu(), got[1].cpu(), {k: v.cpu() for k, v in got[2].items()}], want)
