"""torch.distributed helpers for runs launched by ``torchrun``.

``torchrun --nproc_per_node N -m avlearn.cli train recipe.yaml`` sets ``RANK``, ``WORLD_SIZE``
and ``LOCAL_RANK``; :func:`init_distributed` then joins the process group (gloo on CPU, nccl on
CUDA). Without those variables everything runs as a single process and the collectives below
are no-ops, so the trainer has one code path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo",
    "init_distributed",
    "shutdown_distributed",
    "all_reduce_sums",
    "gather_objects",
    "barrier",
    "broadcast_buffers",
    "is_timeout",
]


@dataclass(frozen=True)
class DistInfo:
    """Where this process sits in the run.

    Attributes:
        rank: global rank (0 in a single-process run).
        world_size: number of processes.
        local_rank: rank on this machine (selects the CUDA device).
        device: the device this process trains on.
        owns_group: whether :func:`init_distributed` created the process group (and so
            :func:`shutdown_distributed` destroys it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """True on rank 0, the only process that writes logs and checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _pick_device(device: str, local_rank: int) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is 'cuda' but torch.cuda.is_available() is False")
    if device == "cuda" or (device == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def init_distributed(device: str = "auto", timeout: float | None = None) -> DistInfo:
    """Join the process group if launched by torchrun, and pick this process's device.

    Args:
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        timeout: seconds a collective waits for the other processes before failing
            (``train.dist_timeout``; None: torch's default).

    Returns:
        the :class:`DistInfo` of this process.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _pick_device(device, local)
    if world <= 1:
        return DistInfo(0, 1, 0, dev, False)
    owns = False
    if not dist.is_initialized():
        kwargs = {"timeout": timedelta(seconds=float(timeout))} if timeout else {}
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo", **kwargs)
        owns = True
    return DistInfo(dist.get_rank(), dist.get_world_size(), local, dev, owns)


def shutdown_distributed(info: DistInfo) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sums(sums: dict[str, torch.Tensor], info: DistInfo) -> dict[str, torch.Tensor]:
    """Sum each tensor of ``sums`` over all processes; returns float64 CPU tensors.

    Every process must pass the same keys with the same shapes (they are reduced in sorted-key
    order as one flat buffer).
    """
    keys = sorted(sums)
    if not keys:
        return {}
    flat = [sums[k].detach().to(torch.float64).reshape(-1) for k in keys]
    if info.distributed:
        buf = torch.cat(flat).to(info.device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        flat = list(buf.cpu().split([t.numel() for t in flat]))
    return {k: t.cpu().reshape(sums[k].shape) for k, t in zip(keys, flat)}


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every process's ``obj`` (picklable), in rank order; ``[obj]`` in a single process."""
    if not info.distributed:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def barrier(info: DistInfo) -> None:
    """Wait for all processes (no-op in a single process)."""
    if info.distributed:
        dist.barrier()


def broadcast_buffers(module: torch.nn.Module, info: DistInfo) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics and the like) to every process.

    Each rank's BatchNorm layers see only that rank's share of the batch, so their running
    statistics drift apart; before evaluating or exporting, every rank takes rank 0's, so all
    ranks hold the model rank 0 saves.
    """
    if not info.distributed:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def is_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` is a collective that gave up waiting for another process."""
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("timed out" in text or "timeout" in text)
