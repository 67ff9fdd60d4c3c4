"""How much memory is free, and whether a forward pass of a batch fits in it.

:func:`available_memory` is the memory free to this process (CUDA: the device's free memory;
CPU: MemAvailable within any cgroup limit, shared by the processes of a node), and
:func:`check_forward_memory` refuses, before allocating, a batch whose forward pass cannot fit:
a lower bound of the logits and the ``d_model``-wide activations of a token, so it refuses only
what cannot run. Training's estimate (optimizer state, stored activations) is in
``bioseq.train.memory``.

>>> format_bytes(3 * 2**30)
'3.0 GiB'
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from bioseq.errors import InputError

__all__ = ["available_memory", "check_forward_memory", "forward_bytes_per_token", "format_bytes"]


def format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1024
    return ""  # not reached


def available_memory(device: torch.device) -> int | None:
    """Bytes free for this process: the device's free memory on CUDA; on CPU the system's
    available memory (within a cgroup limit) shared by the processes of this node."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    free = [_meminfo_available(), _cgroup_free()]
    known = [f for f in free if f is not None]
    if not known:
        return None
    return min(known) // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_free() -> int | None:
    v1 = ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes")
    for limit, usage in (("memory.max", "memory.current"), v1):
        try:
            cap = Path("/sys/fs/cgroup", limit).read_text().strip()
            used = Path("/sys/fs/cgroup", usage).read_text().strip()
        except OSError:
            continue
        if cap.isdigit() and used.isdigit() and int(cap) < 2**60:
            return max(0, int(cap) - int(used))
    return None


def forward_bytes_per_token(config) -> int:
    """A lower bound of the bytes a no-grad forward pass holds a token: fp32 logits over the
    (padded) vocabulary and 12 ``d_model``-wide activations (measured on CPU for the tiny
    presets: Transformer 14, Mamba 19, Hyena 23)."""
    width = int(getattr(config, "d_model", None) or getattr(config, "hidden_size", 0) or 0)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    return 4 * (math.ceil(vocab / 8) * 8 + 12 * width)


def check_forward_memory(model: torch.nn.Module, batch: int, length: int) -> None:
    """InputError, saying what fits, when a forward pass over ``batch`` sequences of ``length``
    tokens cannot fit in the memory free on the model's device."""
    device = next(model.parameters()).device
    free = available_memory(device)
    per_sequence = forward_bytes_per_token(model.config) * length
    if free is None or batch * per_sequence <= free:
        return
    fits = free // per_sequence
    advice = (
        f"about {fits:,} fit at once: use --batch-size {fits:,} or lower"
        if fits >= 1
        else "not even one fits: use shorter sequences (a smaller --window)"
    )
    raise InputError(
        f"a batch of {batch:,} sequences of {length:,} tokens needs at least "
        f"{format_bytes(batch * per_sequence)} on {device} but {format_bytes(free)} is free; "
        f"{advice}"
    )
