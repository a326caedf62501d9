"""PyTorch DDP under ``torchrun``: process group, rank roles, reductions.

``torchrun --nproc_per_node=N train.py ...`` sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``;
without them the run is one process and every helper here is a no-op. The backend is gloo on
CPU and nccl on CUDA, chosen from the device.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from graphsep.errors import GraphsepError
from graphsep.training.runtime import resolve_device

COLLECTIVE_TIMEOUT = dt.timedelta(minutes=10)
"""A rank that stops answering ends the run with an error after this, instead of a hang."""


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the run.

    Args:
        rank (int): global rank, 0 for a single process.
        world_size (int): number of processes.
        device (torch.device): this process's device.
    """

    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        """Whether this process logs, shows progress and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        """Whether there is more than one process."""
        return self.world_size > 1


def init_distributed(device_name: str) -> DistContext:
    """Join the process group that ``torchrun`` describes, or stay a single process.

    Args:
        device_name (str): the config's ``device`` (``auto``, ``cpu``, ``cuda``...).

    Returns:
        DistContext: rank, world size and device (``cuda:LOCAL_RANK`` under torchrun on GPUs).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    device = resolve_device(device_name)
    if world_size == 1:
        return DistContext(0, 1, device)
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=COLLECTIVE_TIMEOUT)
    return DistContext(dist.get_rank(), dist.get_world_size(), device)


def per_rank_batch_size(batch_size: int, ctx: DistContext) -> int:
    """Split the global ``train.batch_size`` (graphs per optimizer step) over the ranks."""
    if batch_size % ctx.world_size:
        raise GraphsepError(
            f"train.batch_size={batch_size} is the global batch and must be divisible by the "
            f"number of processes ({ctx.world_size})"
        )
    return batch_size // ctx.world_size


def mean_over_ranks(value: float, ctx: DistContext) -> float:
    """Average a per-rank number over all ranks (every rank gets the result)."""
    if not ctx.distributed:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / ctx.world_size


def gather_from_ranks(value: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``value`` (picklable), in rank order, on every rank; ``[value]`` for one."""
    if not ctx.distributed:
        return [value]
    gathered: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def barrier(ctx: DistContext) -> None:
    """Wait for every rank (no-op for one process)."""
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
