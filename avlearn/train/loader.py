"""Deterministic, resumable data order for training and sharded loaders for evaluation.

Resuming a killed run must reproduce the uninterrupted one exactly, so nothing about the data
may depend on how the run was cut:

* **Order.** Epoch ``e`` visits ``torch.randperm(N)`` drawn from a generator seeded with
  ``(seed, e)``, cut into global batches of ``batch_size`` (the incomplete tail is dropped).
  With W processes, rank ``r`` loads the ``r``-th contiguous slice of each global batch, so the
  union of the W per-process batches is exactly the batch a single process would load (the
  gradient averaged by DDP equals the single-process gradient). Resuming at micro-batch ``k`` of
  an epoch skips the first ``k`` batches of the same permutation without loading them.
* **Augmentation.** :class:`SeededDataset` runs each ``dataset[i]`` with the torch, numpy and
  python RNGs seeded from ``(seed, epoch, i)`` and restores the caller's RNG states afterwards,
  so a sample's random crop or gain is the same whichever worker loads it and whenever.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler
from avlearn.data.dataset import seeded

__all__ = ["ResumableBatchSampler", "SeededDataset", "sample_seed", "build_loader"]


def sample_seed(*parts: int) -> int:
    """A 32-bit seed mixed from non-negative integers (numpy SeedSequence hashing)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


class ResumableBatchSampler(Sampler[list[int]]):
    """This process's batches of one epoch, starting at micro-batch ``start``.

    Args:
        num_samples: dataset length N.
        batch_size: global batch size B (over all processes); must be divisible by ``world_size``.
        seed: run seed.
        epoch: epoch number (the permutation is a function of ``(seed, epoch)``).
        start: micro-batches of this epoch already consumed (skipped, never loaded).
        rank: this process's rank.
        world_size: number of processes.
        shuffle: draw a permutation (else the natural order).
    """

    def __init__(
        self,
        num_samples: int,
        batch_size: int,
        *,
        seed: int,
        epoch: int,
        start: int = 0,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
    ):
        if batch_size % world_size:
            raise ValueError(f"train.batch_size {batch_size} is not divisible by the {world_size} processes")
        if num_samples < batch_size:
            raise ValueError(f"the training set has {num_samples} samples, fewer than train.batch_size {batch_size}")
        self.n, self.b, self.seed, self.epoch = num_samples, batch_size, seed, epoch
        self.start, self.rank, self.world, self.shuffle = start, rank, world_size, shuffle

    @staticmethod
    def batches_per_epoch(num_samples: int, batch_size: int) -> int:
        """Full global batches in one epoch."""
        return num_samples // batch_size

    def __len__(self) -> int:
        return max(0, self.n // self.b - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        if self.shuffle:
            g = torch.Generator().manual_seed(sample_seed(self.seed, self.epoch))
            order = torch.randperm(self.n, generator=g).tolist()
        else:
            order = list(range(self.n))
        per = self.b // self.world
        for k in range(self.start, self.n // self.b):
            lo = k * self.b + self.rank * per
            yield order[lo : lo + per]


class SeededDataset(Dataset):
    """Wrap a dataset so item ``i`` of epoch ``e`` is produced under RNGs seeded by ``(seed, e, i)``.

    The caller's torch / numpy / python RNG states are restored after each item, so loading in
    the main process does not disturb the training RNG (dropout etc.).
    """

    def __init__(self, dataset: Dataset, *, seed: int, epoch: int):
        self.dataset, self.seed, self.epoch = dataset, seed, epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Any:
        with seeded(sample_seed(self.seed, self.epoch + 1, index)):
            return self.dataset[index]


def _worker_init(_worker_id: int) -> None:
    # Decoding and transforms run one thread per worker; the workers already share the cores.
    torch.set_num_threads(1)


class _ShardBatches(Sampler[list[int]]):
    """Batches of ``rank, rank + W, rank + 2W, ...`` (every index once over all ranks)."""

    def __init__(self, n: int, batch_size: int, rank: int, world: int):
        idx = list(range(rank, n, world))
        self.batches = [idx[i : i + batch_size] for i in range(0, len(idx), batch_size)]

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)


def build_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    seed: int,
    rank: int,
    world_size: int,
    collate_fn: Callable,
    epoch: int | None = None,
    start: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A loader over ``dataset`` for training (``epoch`` given) or evaluation (``epoch=None``).

    Training: this process's slice of each global batch of ``batch_size`` of the epoch's
    permutation, from micro-batch ``start`` on (module docstring). Evaluation: every sample
    exactly once over all processes (rank ``r`` takes ``r, r+W, ...``) in order, ``batch_size``
    per process. Either way each sample is produced under RNGs seeded by (seed, epoch, index),
    so augmentation repeats (and evaluation uses a fixed stream).
    """
    if epoch is None:
        epoch, batches = -1, _ShardBatches(len(dataset), batch_size, rank, world_size)
    else:
        batches = ResumableBatchSampler(
            len(dataset), batch_size, seed=seed, epoch=epoch, start=start, rank=rank, world_size=world_size
        )
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(max(epoch, 0))
    return DataLoader(
        SeededDataset(dataset, seed=seed, epoch=epoch),
        batch_sampler=batches,
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=pin_memory,
        worker_init_fn=_worker_init if num_workers else None,
        # DataLoader draws its workers' base seed from this generator, or else from the global
        # torch RNG, which would make the training RNG depend on where a run was resumed.
        generator=torch.Generator().manual_seed(sample_seed(seed, epoch + 1, 2**31)),
    )
