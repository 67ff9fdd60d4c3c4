"""Distributed data parallel set-up for ``torchrun``: one process per device, rank 0 writes.

``torchrun --nproc_per_node=N -m bioseq pretrain ...`` sets ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE``; :func:`setup` then joins the process group (NCCL on GPUs, gloo on CPU) and picks
this process's device. Without those variables everything here is a no-op on one process.

>>> from bioseq.train.distributed import setup
>>> dist = setup("cpu")  # no torchrun: a single process
>>> dist.rank, dist.world_size, dist.is_main
(0, 1, True)
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as torch_dist

from bioseq.errors import InputError


@dataclass
class Dist:
    """This process's place in the run."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")
    host_group: Any = None  # NCCL runs: a gloo group for flags, which must not wait for a GPU

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.enabled:
            torch_dist.barrier()

    def all_reduce_sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over all processes (in float64)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self._comm_device())
        torch_dist.all_reduce(t)
        return t.tolist()

    def sum_tensor(self, values: torch.Tensor) -> torch.Tensor:
        """``values`` summed over all processes, left on this device: no wait for the host
        (``all_reduce_sum`` reads the sum back, which waits for the GPU)."""
        if not self.enabled:
            return values
        comm = self._comm_device()
        t = values.to(comm)
        torch_dist.all_reduce(t)
        return t.to(values.device)

    def any(self, flag: bool) -> bool:
        """True when ``flag`` is true on any process (e.g. a signal reached one of them)."""
        if not self.enabled:
            return flag
        if self.host_group is None:
            return bool(self.all_reduce_sum([float(flag)])[0])
        t = torch.tensor([float(flag)])
        torch_dist.all_reduce(t, group=self.host_group)
        return bool(t.item())

    def gather(self, obj: object) -> list:
        """``obj`` of every process, in rank order (picklable objects)."""
        if not self.enabled:
            return [obj]
        out: list = [None] * self.world_size
        torch_dist.all_gather_object(out, obj)
        return out

    def _comm_device(self) -> torch.device:
        return self.device if torch_dist.get_backend() == "nccl" else torch.device("cpu")


def setup(device: str = "auto") -> Dist:
    """Join the torchrun process group if there is one, and choose the device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device cuda was asked for, but torch sees no CUDA device")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        torch.cuda.set_device(local_rank)
        chosen = torch.device("cuda", local_rank)
    else:
        chosen = torch.device("cpu")
    host_group = None
    if world_size > 1:
        if not torch_dist.is_initialized():
            torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        if torch_dist.get_backend() == "nccl":  # every process creates it, in the same order
            host_group = torch_dist.new_group(backend="gloo")
    return Dist(rank, local_rank, world_size, chosen, host_group)


def param_digest(model: torch.nn.Module) -> str:
    """SHA-256 of every parameter and buffer's bytes: equal digests, identical weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def teardown(dist: Dist) -> None:
    if dist.enabled and torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def rank_slice(n: int, rank: int, world_size: int) -> slice:
    """The contiguous part of ``n`` items that process ``rank`` takes (``n`` divisible).

    >>> rank_slice(8, 1, 2)
    slice(4, 8, None)
    """
    per = n // world_size
    return slice(rank * per, (rank + 1) * per)
