"""Where a recipe's data comes from: a synthetic world, or manifests of a user's own dataset.

A recipe's ``data`` section names **exactly one** of two forms:

* ``world``: a folder made by ``avlearn make-world`` (its ``train/manifest.jsonl`` and frozen
  ``lists/<task>_<split>.jsonl``), or
* ``train`` (+ optional ``val`` / ``test``): manifest files or folders of media, as written by
  ``avlearn prepare`` (and, for evaluation, the lists of ``avlearn make-lists`` or box
  annotations).

Training on a manifest draws random windows through :class:`avlearn.data.WindowDataset`, as
the anchors sample their training windows from long or many videos (Owens & Efros, ECCV 2018,
Sec. 3.3: 4.2 s windows of AudioSet videos; Zhao et al., ECCV 2018, Sec. 4.2: random excerpts
of MUSIC videos): an epoch is ``windows_per_epoch`` draws, not one item per file, so the batch
size does not depend on the number of files. :class:`WindowSamples` gives the engine a
map-style view of it (draw ``i`` of the epoch is item ``i``). Clips shorter than the window are
skipped and counted, never fatal: rows whose length the manifest records are left out when the
dataset is built (logged), and a draw that hits a file found too short or unreadable comes back
``None``, which the collate drops and the trainer reports as ``skipped`` in ``metrics.jsonl``.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any, Callable

from torch.utils.data import Dataset

from avlearn.tasks.config import ConfigError

__all__ = ["DataSource", "uses_manifests", "WindowSamples", "window_samples"]

log = logging.getLogger(__name__)


@dataclass
class DataSource:
    """The fields naming where a ``data`` section reads from (the sync, localization and
    separation sections extend it): a world (``world``, with optional ``train_manifest`` /
    ``val_list`` / ``test_list`` inside or beside it) or manifests (``train``, ``val``,
    ``test``; ``windows_per_epoch`` training draws per epoch)."""

    world: str | None = None
    train_manifest: str | None = None
    val_list: str | None = None
    test_list: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    windows_per_epoch: int | None = 1024


def uses_manifests(data: Any, *, source: str = "recipe") -> bool:
    """True when ``data`` names manifests (``data.train``), False for a world (``data.world``).

    Raises:
        ConfigError: both forms or neither are given, or ``val``/``test`` without ``train``.
    """
    world, train = getattr(data, "world", None), getattr(data, "train", None)
    if world and train:
        raise ConfigError(source, "data.train", f"give either data.world ({world}) or data.train ({train}), not both "
                                                "(add --set data.world=null to train a world recipe on manifests)")
    if not world and not train:
        extra = [k for k in ("val", "test") if getattr(data, k, None)]
        why = f"data.{extra[0]} is given without data.train" if extra else "neither is given"
        raise ConfigError(source, "data.train", f"a recipe needs data.world or data.train ({why})")
    if train and not os.path.exists(train):
        raise ConfigError(source, "data.train", f"no such manifest or folder: {train}")
    for key in ("val", "test"):
        value = getattr(data, key, None)
        if value and not os.path.exists(value):
            raise ConfigError(source, f"data.{key}", f"no such file or folder: {value}")
    return bool(train)


class WindowSamples(Dataset):
    """A map-style view of a :class:`~avlearn.data.WindowDataset` for the training engine.

    Item ``i`` is draw ``i`` of the current epoch (``set_epoch``), made by
    ``dataset.draw(i, epoch)``: the sample, or None when the draw's row was too short or
    unreadable (counted in ``dataset.counters()``; the collate drops it and the trainer logs it
    as ``skipped``).
    """

    def __init__(self, dataset):
        self.dataset, self.epoch = dataset, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the windows of ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.dataset.windows_per_epoch

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        return self.dataset.draw(int(index), self.epoch)

    def counters(self) -> dict[str, int]:
        """The skip counters of the underlying dataset."""
        return self.dataset.counters()


def window_samples(
    manifest: str | os.PathLike,
    *,
    window: float,
    windows_per_epoch: int,
    transform: Callable[[dict[str, Any]], dict[str, Any] | None],
    seed: int,
    key: str = "data.train",
    **read: Any,
) -> WindowSamples:
    """Random ``window``-second windows of a manifest (or folder) for training.

    Args:
        manifest: a manifest file or a folder of media.
        window: seconds per window (the decoded span; a task cuts its inputs from it).
        windows_per_epoch: draws per epoch.
        transform: turns a WindowDataset sample (``video`` uint8 (T, H, W, 3), ``audio``
            (C, N), ``label``...) into the task's sample.
        seed: seed of the draws.
        key: the recipe key named in errors and logs.
        **read: decoding options of :class:`~avlearn.data.WindowDataset` (``fps``, ``size``,
            ``sample_rate``, ``mono``, ``video``, ``audio``, ``vocab``, ``cache``).

    Raises:
        avlearn.data.DataError / ValueError: the manifest cannot be read, or no row is as long
            as the window (the message names the manifest).
    """
    from avlearn.data import WindowDataset

    try:
        ds = WindowDataset(manifest, window=window, windows_per_epoch=windows_per_epoch, transform=transform,
                           seed=seed, max_tries=1, **read)
    except ValueError as exc:
        raise ValueError(f"{key} ({manifest}): {exc}") from None
    if ds.too_short_rows:
        log.warning("%s (%s): skipped %d of %d rows shorter than the %.3f s window (too_short_rows)", key, manifest,
                    ds.too_short_rows, len(ds.rows), ds.window)
    log.info("%s: %r", key, ds)
    return WindowSamples(ds)
