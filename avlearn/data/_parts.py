"""Which part of a stream this process reads: DDP rank x DataLoader worker.

An iterable dataset read by ``world_size`` ranks, each with ``num_workers`` DataLoader workers,
is cut into ``world_size * num_workers`` disjoint parts; part ``rank * num_workers + worker``
belongs to this process (the scheme of WebDataset's ``split_by_node`` + ``split_by_worker``
and torchdata's sharding filters). The rank and world size come from an initialised
``torch.distributed`` process group unless given explicitly.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

__all__ = ["resolve_rank", "stream_part", "make_stream_loader"]


def resolve_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``(rank, world_size)``: the explicit values, else the process group's, else ``(0, 1)``.

    Raises:
        ValueError: only one of the two given, or ``rank`` outside ``[0, world_size)``.
    """
    if (rank is None) != (world_size is None):
        raise ValueError("give both rank and world_size, or neither")
    if rank is None:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is outside [0, world_size={world_size})")
    return int(rank), int(world_size)


def stream_part(rank: int, world_size: int) -> tuple[int, int]:
    """``(part, parts)`` of the calling process: its rank and DataLoader worker combined."""
    info = torch.utils.data.get_worker_info()
    worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
    return rank * workers + worker, world_size * workers


def make_stream_loader(dataset, batch_size: int, *, num_workers: int = 0, pin_memory: bool = False,
                       persistent_workers: bool = False, drop_last: bool = False, timeout: float = 0) -> DataLoader:
    """A DataLoader for an iterable avlearn dataset (:class:`~avlearn.data.WindowDataset`,
    :class:`~avlearn.data.ShardDataset`): batches by :func:`avlearn.data.collate` (skipped items
    dropped), workers seeded by :func:`avlearn.data.seed_worker`; call ``dataset.set_epoch``
    before each epoch."""
    from avlearn.data.collate import collate
    from avlearn.data.dataset import seed_worker

    return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                      worker_init_fn=seed_worker if num_workers > 0 else None, pin_memory=pin_memory,
                      persistent_workers=persistent_workers and num_workers > 0, drop_last=drop_last,
                      timeout=timeout if num_workers > 0 else 0)
