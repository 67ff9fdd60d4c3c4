#!/usr/bin/env bash
# One command that validates bioseq on a CUDA GPU (issue 19) and writes one report file:
#
#   bash benchmarks/gpu_check.sh                    # -> gpu_report.md (about 10 min on an H100)
#   bash benchmarks/gpu_check.sh my_report.md       # another report path
#   GPU_CHECK_STEPS=100 GPU_CHECK_SKIP=bench bash benchmarks/gpu_check.sh   # shorter
#
# Sections, in order (each with its command, output, exit status and seconds):
#   1. environment: nvidia-smi, torch / CUDA, which scan and conv kernels import (mamba-ssm,
#      causal-conv1d) or why not;
#   2. tests: pytest -m cuda (the CUDA parity tests);
#   3. parity: the selective scan (mamba-ssm kernel vs the PyTorch reference, fp32 and bf16
#      inputs, output, last state and gradients of the output), the Mamba short convolution
#      (causal-conv1d's kernels vs PyTorch conv1d, full sequence and one step) and Hyena's FFT
#      convolution vs the direct one, as max-abs-error tables;
#   4. train: bioseq pretrain in bf16 for GPU_CHECK_STEPS steps (default 300) of each model
#      family (hyena, mamba, transformer, striped-hyena, caduceus, merge) on the bundled E. coli
#      genome: validation bits per base against the order-4 Markov reference, tokens/s;
#   5. bench: benchmarks/bench_train.py --device cuda (tokens/s and MFU, bf16 autocast).
#
# GPU_CHECK_SKIP takes a comma-separated list of sections to leave out (tests, parity, train,
# bench). Without a CUDA device it stops at once with one line on stderr and exit status 1.
# The exit status is 0 only when every section ran and passed.
set -u
cd "$(dirname "$0")/.."
REPORT=${1:-gpu_report.md}
STEPS=${GPU_CHECK_STEPS:-300}
SKIP=",${GPU_CHECK_SKIP:-},"
PY=${PYTHON:-python}

"$PY" - <<'EOF' || exit 1
import sys

import torch

if not torch.cuda.is_available():
    sys.exit(
        f"gpu_check: no CUDA device (torch {torch.__version__}, CUDA build "
        f"{torch.version.cuda or 'none'}): run benchmarks/gpu_check.sh on a GPU machine"
    )
EOF

WORK=$(mktemp -d -t bioseq-gpu-check-XXXXXX)
trap 'rm -rf "$WORK"' EXIT
FAILED=()
{
    echo "# bioseq GPU check"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
    echo "on $(hostname); \`bash benchmarks/gpu_check.sh $*\`"
} >"$REPORT"

# step NAME CMD...: run CMD, show its output live, append it to the report with its status.
step() {
    local name=$1
    shift
    case "$SKIP" in *",$name,"*)
        echo "## $name: skipped (GPU_CHECK_SKIP)" >>"$REPORT"
        return
        ;;
    esac
    echo "== gpu_check: $name" >&2
    local start=$SECONDS status
    "$@" 2>&1 | tee "$WORK/$name.log"
    status=${PIPESTATUS[0]}
    {
        echo
        echo "## $name: $([ "$status" = 0 ] && echo ok || echo "FAILED (exit $status)"), $((SECONDS - start)) s"
        echo
        echo '```'
        echo "\$ $*"
        # tqdm redraws lines with carriage returns: keep only each line's last state
        sed -e 's/.*\r//' "$WORK/$name.log" | tail -n 200
        echo '```'
    } >>"$REPORT"
    [ "$status" = 0 ] || FAILED+=("$name")
}

environment() {
    nvidia-smi || true
    "$PY" - <<'EOF'
import torch

from bioseq.models.ops.causal_conv import causal_conv_import_error
from bioseq.models.ops.selective_scan_cuda import _import_mamba

print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
print(f"bf16 supported: {torch.cuda.is_bf16_supported()}")
print(f"scan: mamba-ssm {'imports' if _import_mamba()[0] else _import_mamba()[1]}")
print(f"conv: causal-conv1d {causal_conv_import_error() or 'imports'}")
EOF
}

parity() {
    "$PY" - <<'EOF'
"""Max |error| of the CUDA kernels against the PyTorch references on the same GPU inputs."""
import os

import torch
import torch.nn.functional as F

from bioseq.models.ops import selective_scan
from bioseq.models.ops.causal_conv import causal_conv1d, causal_conv1d_step
from bioseq.models.ops.dispatch import resolve_conv_backend, resolve_backend
from bioseq.models.ops.fftconv import fftconv, fftconv_ref

# the tests' CPU smoke run sets GPU_CHECK_DEVICE=cpu GPU_CHECK_SCAN=cpu GPU_CHECK_SHAPES=1
dev = torch.device(os.environ.get("GPU_CHECK_DEVICE", "cuda"))
backend = os.environ.get("GPU_CHECK_SCAN", "cuda")
shapes = ((2, 64, 16, 256), (2, 256, 16, 2048))[: int(os.environ.get("GPU_CHECK_SHAPES", 2))]
g = torch.Generator(device=dev).manual_seed(0)
print(f"scan backend for CUDA tensors: {resolve_backend(torch.zeros(1, device=dev))}")
print(f"conv backend for CUDA tensors: {resolve_conv_backend(torch.zeros(1, device=dev))}")


def scan_inputs(b, d, n, L, dtype):
    def r(*s):
        return torch.randn(*s, device=dev, generator=g)

    u, delta, z = r(b, d, L).to(dtype), (r(b, d, L) * 0.5 - 1).to(dtype), r(b, d, L).to(dtype)
    B, C = r(b, n, L).to(dtype), r(b, n, L).to(dtype)
    A = -torch.exp(torch.log(torch.arange(1, n + 1, device=dev).float()).repeat(d, 1))
    return [u, delta, A, B, C, torch.ones(d, device=dev), z, r(d) * 0.1]


def run_scan(inputs, backend):
    leaves = [t.detach().clone().requires_grad_(t.is_floating_point()) for t in inputs]
    u, delta, A, B, C, D, z, bias = leaves
    out, last = selective_scan(
        u, delta, A, B, C, D=D, z=z, delta_bias=bias, delta_softplus=True,
        return_last_state=True, backend=backend,
    )
    w = torch.randn(out.shape, device=dev, generator=torch.Generator(dev).manual_seed(1))
    (out.float() * w).sum().backward()  # through out only: mamba-ssm ignores last_state's grad
    return out.detach().float(), last.detach().float(), [t.grad.float() for t in leaves]


def rel(a, b):
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-30))


names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
print(f"\nselective scan: {backend} vs reference, delta_softplus, z, D, delta_bias")
print("max |error| / max |reference| of each tensor (gradients of the output's weighted sum)")
print("| dtype | B x D x N x L | out | last_state | worst gradient (which) |")
print("|---|---|--:|--:|--:|")
for dtype in (torch.float32, torch.bfloat16):
    for shape in shapes:
        x = scan_inputs(*shape, dtype)
        try:
            ours = run_scan(x, backend)
        except Exception as exc:
            print(f"| {dtype} | {shape} | {backend} failed: {type(exc).__name__}: {exc} |")
            continue
        ref = run_scan([t.float() if t.is_floating_point() else t for t in x], "reference")
        worst = max((rel(a, b), n) for a, b, n in zip(ours[2], ref[2], names))
        print(
            f"| {str(dtype)[6:]} | {' x '.join(map(str, shape))} | {rel(ours[0], ref[0]):.2e} | "
            f"{rel(ours[1], ref[1]):.2e} | {worst[0]:.2e} ({worst[1]}) |"
        )

print("\nMamba short convolution: causal_conv1d (kernel when it imports) vs torch conv1d")
print("| dtype | width | full sequence | one step | out scale |")
print("|---|--:|--:|--:|--:|")
for dtype in (torch.float32, torch.bfloat16):
    for width in (2, 3, 4):
        x = torch.randn(2, 128, 512, device=dev, generator=g).to(dtype)
        w = torch.randn(128, width, device=dev, generator=g).to(dtype)
        b = torch.randn(128, device=dev, generator=g).to(dtype)
        ref = F.conv1d(x.float(), w.float().unsqueeze(1), b.float(), padding=width - 1,
                       groups=128)[..., :512]
        ref = F.silu(ref)
        full = causal_conv1d(x, w, b, activation="silu").float()
        state = x[..., -width - 1 : -1].contiguous()
        step, _ = causal_conv1d_step(x[..., -1], state, w, b, activation="silu")
        print(
            f"| {str(dtype)[6:]} | {width} | {float((full - ref).abs().max()):.2e} | "
            f"{float((step.float() - ref[..., -1]).abs().max()):.2e} | "
            f"{float(ref.abs().max()):.1f} |"
        )

print("\nHyena long convolution: fftconv (fp32 FFT) vs the direct convolution")
print("| L | max abs error | out scale |")
print("|--:|--:|--:|")
for L in (1024, 8192):
    u = torch.randn(1, 64, L, device=dev, generator=g)
    k = torch.randn(64, L, device=dev, generator=g) / L**0.5
    ref = fftconv_ref(u, k)
    print(f"| {L} | {float((fftconv(u, k) - ref).abs().max()):.2e} | {float(ref.abs().max()):.1f} |")
EOF
}

train() {
    local model status=0
    for model in hyena mamba transformer striped-hyena caduceus merge; do
        echo "-- bioseq pretrain --model $model --steps $STEPS --precision bf16 --device cuda"
        bioseq pretrain --model "$model" --steps "$STEPS" --precision bf16 --device cuda \
            --quiet --out "$WORK/runs/$model" >"$WORK/$model.out" 2>&1 || {
            status=1
            tail -n 5 "$WORK/$model.out"
        }
    done
    "$PY" - "$WORK/runs" <<'EOF'
import json
import sys
from pathlib import Path

print("\n| model | steps | validation bits/base | reference | tokens/s (last log) | wall s |")
print("|---|--:|--:|--:|--:|--:|")
for run in sorted(Path(sys.argv[1]).iterdir()):
    if not (run / "metrics.jsonl").is_file():
        print(f"| {run.name} | failed: no metrics.jsonl |")
        continue
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines() if x]
    val = [x for x in lines if x.get("val_bits_per_base") is not None]
    last, end = (val[-1] if val else {}), lines[-1]
    ref = last.get("markov_bits_per_base")
    print(
        f"| {run.name} | {end['step']} | {last.get('val_bits_per_base', float('nan')):.4f} | "
        f"{ref if ref is None else round(ref, 4)} | {end.get('tokens_per_s', 0):,.0f} | "
        f"{end.get('elapsed_s', 0):.0f} |"
    )
EOF
    return $status
}

bench() {
    "$PY" benchmarks/bench_train.py --device cuda
}

step environment environment
step tests "$PY" -m pytest -q -m cuda -p no:cacheprovider tests
step parity parity
step train train
step bench bench

if [ ${#FAILED[@]} -eq 0 ]; then
    echo "gpu_check: every section passed; report in $REPORT" >&2
else
    echo "gpu_check: FAILED: ${FAILED[*]}; report in $REPORT" >&2
    exit 1
fi
