"""Multi-process training under ``torchrun``: set-up, barriers and agreement between ranks.

Every loop calls :func:`setup` once; with ``WORLD_SIZE`` ≤ 1 (a plain ``python`` run) it does nothing and
returns rank 0 of 1. Under ``torchrun`` it initialises the process group (NCCL on CUDA, gloo on the CPU),
pins each rank to its ``LOCAL_RANK`` GPU, and the loop wraps its model in DistributedDataParallel. Only rank
0 writes checkpoints, validates and shows the progress bar.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def main(self) -> bool:
        """True on the rank that writes files and prints."""
        return self.rank == 0


@contextmanager
def setup(device: torch.device):
    """Yield the :class:`World` of this process; destroys the process group on exit if it created it."""
    created = False
    if not (dist.is_available() and dist.is_initialized()):
        if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
            yield World(0, 1, device)
            return
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        created = True
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank() % torch.cuda.device_count())))
        torch.cuda.set_device(device)
    try:
        yield World(dist.get_rank(), dist.get_world_size(), device)
    finally:
        if created:
            dist.destroy_process_group()


def barrier(world: World) -> None:
    if world.size > 1:
        torch.distributed.barrier()


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any (clocks differ; all ranks must stop at the same step)."""
    if world.size == 1:
        return flag
    t = torch.tensor(float(flag), device=world.device)
    torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
    return bool(t.item())


def mean_over_ranks(value: torch.Tensor, world: World) -> float:
    """The mean of a scalar tensor over all ranks, as a float."""
    value = value.detach().clone()
    if world.size > 1:
        torch.distributed.all_reduce(value)
        value /= world.size
    return float(value)


def wrap(model: torch.nn.Module, world: World) -> torch.nn.Module:
    """``model`` wrapped in DistributedDataParallel when there are several ranks, else itself."""
    if world.size == 1:
        return model
    ids = [world.device.index] if world.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
