"""AVDataset: a map-style dataset of audio-visual clips cut from the files of a manifest.

Each item is one (video, clip) pair: a manifest row and one window of its clip sampler
(:mod:`avlearn.data.samplers`), decoded with :func:`avlearn.io.read_clip` into video frames
plus exactly the audio that plays during them, then passed through a transform. This is the
clip-level data pipeline of the video-classification and audio-visual papers
(random clips for training, N uniform clips or sliding windows for testing; Karpathy et al.
CVPR'14, Tran et al. CVPR'18, Gao et al. CVPR'20 for untrimmed video).

Three properties matter for training runs:

* **Bad files never kill a run.** Any :class:`avlearn.io.MediaError` (a missing, empty,
  truncated or streamless file) makes the item None, logged once per file; :func:`collate`
  drops it and reports the count as ``batch["skipped"]``. ``dataset.bad_samples`` counts the
  skipped items of all DataLoader worker processes (the counters live in shared memory).
* **Deterministic.** Clip windows are drawn from a generator seeded by ``(seed, epoch,
  row)`` and the transform runs with torch's, numpy's and random's global RNGs seeded by
  ``(seed, epoch, index)`` (the caller's states are restored afterwards), so an
  item is the same whatever worker computes it and whatever the batch order; ``set_epoch``
  (shared with persistent workers) draws new clips each epoch.
* **Lazy.** Files are probed only when a duration is needed (a row without ``end``), once
  per process.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import os
import random
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avlearn import io as avio
from avlearn.data.collate import collate
from avlearn.data.manifest import LabelVocab, ManifestRow, load_manifest
from avlearn.data.samplers import ClipSampler, Window
from avlearn.data.transforms.video import ToFloatCTHW

__all__ = ["AVDataset", "make_loader", "seed_worker", "set_loader_epoch", "SAMPLE_KEYS"]

logger = logging.getLogger(__name__)

#: Keys a sample always (or, for video/audio/fps/sample_rate, when present) has; manifest
#: extra fields must not reuse them.
SAMPLE_KEYS = (
    "video", "audio", "label", "path", "start", "duration", "index", "clip_index", "fps",
    "sample_rate", "skipped",
)

_PROCESS_SLOTS = 257  # slot 0: the main process; 1 + worker id (mod 256): a DataLoader worker


def _identity(sample: dict[str, Any]) -> dict[str, Any]:
    return sample


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch (CPU), numpy and random for a block, restoring the caller's states afterwards.

    Only the CPU generator is seeded: ``torch.manual_seed`` would also reseed every GPU's
    generator, which ``fork_rng(devices=[])`` does not restore (data pipelines draw on the CPU).
    """
    np_state, py_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)
            random.setstate(py_state)


def _process_slot() -> int:
    info = torch.utils.data.get_worker_info()
    return 0 if info is None else 1 + info.id % (_PROCESS_SLOTS - 1)


class AVDataset(Dataset):
    """Clips of the files of a manifest, as sample dicts.

    Args:
        manifest: a manifest file (CSV/JSONL) or its rows.
        sampler: where clips are cut; None reads each row's whole span ``[start, end]`` as
            one clip (trimmed datasets).
        fps: frame rate to sample frames at (None: the file's frames).
        size: (height, width) to resize frames to in the decoder (None: as stored).
        sample_rate: audio rate to resample to (None: the file's rate).
        mono: mix audio down to one channel.
        video: read video frames.
        audio: read audio.
        transform: applied to each sample dict. It receives the reader's uint8 (T, H, W, 3)
            video; None means :class:`~avlearn.data.transforms.ToFloatCTHW` only (when video
            is read).
        vocab: maps string labels to class indices (default: built from the rows' string
            labels, sorted). Integer labels pass unchanged; a row without label gets -1.
        seed: seed (>= 0) of clip sampling and random transforms.
        threads: decoder threads per read (keep 1 with DataLoader workers).

    A sample is ``{"video": (C, T, H, W) float, "audio": (C, N) or a spectrogram, "label":
    int, "path": str, "start": float, "duration": float, "index": int, "clip_index": int,
    "fps": float, "sample_rate": int, **row.extra}`` (after the default transform), or None
    for a file that could not be read.
    """

    def __init__(
        self,
        manifest: str | os.PathLike | Sequence[ManifestRow],
        *,
        sampler: ClipSampler | None = None,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        sample_rate: int | None = None,
        mono: bool = False,
        video: bool = True,
        audio: bool = True,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        vocab: LabelVocab | None = None,
        seed: int = 0,
        threads: int = 1,
    ):
        if not (video or audio):
            raise ValueError("AVDataset: read at least one of video and audio")
        if seed < 0:
            raise ValueError(f"AVDataset: seed must be >= 0, got {seed}")
        if isinstance(manifest, (str, os.PathLike)):
            manifest = load_manifest(manifest)
        self.rows = list(manifest)
        for row in self.rows:
            clash = sorted(set(row.extra) & set(SAMPLE_KEYS))
            if clash:
                raise ValueError(f"AVDataset: {row.path}: manifest fields {clash} clash with sample keys")
        self.sampler = sampler
        self.read_options = dict(
            fps=fps, size=size, sample_rate=sample_rate, mono=mono, video=video, audio=audio, threads=threads
        )
        self.transform = transform if transform is not None else (ToFloatCTHW() if video else _identity)
        self.vocab = LabelVocab.from_rows(self.rows) if vocab is None else vocab
        self.labels = [self.vocab.encode(r.label) for r in self.rows]
        self.seed = int(seed)
        # Shared memory, so that DataLoader workers (forked or spawned, persistent or not)
        # read the epoch the main process sets and report their skips back to it.
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._bad = torch.zeros(_PROCESS_SLOTS, dtype=torch.int64).share_memory_()
        self._logged = torch.zeros(len(self.rows), dtype=torch.uint8).share_memory_()
        self._durations: dict[int, float | avio.MediaError] = {}
        self._cumulative: list[int] | None = None

    # -- bookkeeping -------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        """The epoch clips are drawn for."""
        return int(self._epoch)

    def set_epoch(self, epoch: int) -> None:
        """Draw the clips (and random transforms) of ``epoch``; seen by running workers too."""
        self._epoch.fill_(int(epoch))

    @property
    def bad_samples(self) -> int:
        """Items returned as None so far, summed over this process and its DataLoader workers."""
        return int(self._bad.sum())

    @property
    def bad_files(self) -> list[str]:
        """Files that produced at least one skipped item."""
        return [self.rows[i].path for i in torch.nonzero(self._logged).flatten().tolist()]

    def reset_bad_samples(self) -> None:
        """Zero :attr:`bad_samples` (files already logged are not logged again)."""
        self._bad.zero_()

    # -- index -------------------------------------------------------------------------
    def _clips_per_row(self) -> int | None:
        return 1 if self.sampler is None else self.sampler.clips_per_video

    def _row_starts(self) -> list[int]:
        """Index of each row's first item (then the total), probing durations if needed."""
        if self._cumulative is None:
            counts = []
            for r in range(len(self.rows)):
                try:
                    counts.append(self.sampler.num_clips(self._span(r)[1]))
                except avio.MediaError:
                    counts.append(1)  # one item, which comes back None
            self._cumulative = np.concatenate([[0], np.cumsum(counts)]).tolist()
        return self._cumulative

    def __len__(self) -> int:
        per_row = self._clips_per_row()
        return len(self.rows) * per_row if per_row is not None else self._row_starts()[-1]

    def locate(self, index: int) -> tuple[int, int]:
        """The (row, clip) pair of item ``index``."""
        per_row = self._clips_per_row()
        if per_row is not None:
            return divmod(index, per_row)
        starts = self._row_starts()
        row = bisect.bisect_right(starts, index) - 1
        return row, index - starts[row]

    # -- reading -----------------------------------------------------------------------
    def _duration(self, r: int) -> float:
        if r not in self._durations:
            try:
                self._durations[r] = float(avio.probe(self.rows[r].path).duration)
            except avio.MediaError as e:
                self._durations[r] = e
        d = self._durations[r]
        if isinstance(d, avio.MediaError):
            raise type(d)(d.path, d.reason)  # a fresh error: re-raising one would grow its traceback
        return d

    def _span(self, r: int) -> tuple[float, float]:
        """(begin, length) in seconds of the part of row ``r`` clips are cut from."""
        row = self.rows[r]
        begin = row.start or 0.0
        end = row.end if row.end is not None else self._duration(r)
        if end <= begin:
            raise avio.ClipOutOfRangeError(row.path, f"manifest start {begin} s is not before the end {end} s")
        return begin, end - begin

    def windows(self, row: int, epoch: int | None = None) -> list[Window]:
        """The clip windows of ``row`` in ``epoch`` (default: the current epoch).

        Raises:
            avlearn.io.MediaError: the file cannot be probed when its duration is needed.
        """
        epoch = self.epoch if epoch is None else epoch
        begin, length = self._span(row)
        if self.sampler is None:
            return [(begin, length)]
        rng = np.random.default_rng([self.seed, epoch, 0, row])
        return self.sampler(length, rng, offset=begin)

    def _skip(self, r: int, error: avio.MediaError) -> None:
        self._bad[_process_slot()] += 1
        if not self._logged[r]:
            self._logged[r] = 1
            logger.warning("AVDataset: skipping a bad file: %s", error)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"AVDataset: index {index} out of range for {n} items")
        r, k = self.locate(index)
        row, epoch = self.rows[r], self.epoch
        try:
            windows = self.windows(r, epoch)
            start, duration = windows[min(k, len(windows) - 1)]
            clip = avio.read_clip(row.path, start, duration, **self.read_options)
        except avio.MediaError as e:
            self._skip(r, e)
            return None
        sample: dict[str, Any] = dict(row.extra)
        if clip.video is not None:
            sample.update(video=clip.video, fps=float(clip.fps))
        if clip.audio is not None:
            sample.update(audio=clip.audio, sample_rate=int(clip.sample_rate))
        sample.update(
            label=self.labels[r], path=row.path, start=float(clip.start), duration=float(clip.duration),
            index=index, clip_index=k,
        )
        with seeded(int(np.random.SeedSequence([self.seed, epoch, 1, index]).generate_state(1)[0])):
            return self.transform(sample)

    def __repr__(self) -> str:
        return (
            f"AVDataset(rows={len(self.rows)}, sampler={self.sampler}, classes={len(self.vocab)}, "
            f"read={self.read_options}, seed={self.seed})"
        )


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and random from the worker's torch seed, one thread.

    The DataLoader gives each worker the torch seed ``base_seed + worker_id`` (base_seed drawn
    from the loader's generator), so seeding numpy/random from it makes them differ between
    workers and repeat between runs. One intra-op thread per worker avoids oversubscribing
    the cores the workers already share.
    """
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    torch.set_num_threads(1)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    num_workers: int,
    distributed: bool = False,
    drop_last: bool = False,
    pin_memory: bool = False,
    persistent_workers: bool = False,
    timeout: float = 0,
    multiprocessing_context: str | None = None,
) -> DataLoader:
    """A DataLoader wired for avlearn datasets.

    The item order is a function of ``(seed, epoch)`` (a :class:`DistributedSampler`, with one
    replica unless ``distributed``), so a resumed run sees the same order; call
    :func:`set_loader_epoch` before each epoch. Workers are seeded by :func:`seed_worker`;
    batches are made by :func:`avlearn.data.collate`, which drops skipped items.

    Args:
        dataset: the dataset (usually an :class:`AVDataset`).
        batch_size: items per batch (fewer come back when items are skipped).
        shuffle: shuffle the order each epoch.
        seed: seed of the order and of the workers' base seeds.
        num_workers: DataLoader worker processes (0: load in this process).
        distributed: shard the items over the ranks of the initialised process group.
        drop_last: drop the last incomplete batch (and, distributed, the uneven tail).
        pin_memory: pin batches for faster host-to-GPU copies.
        persistent_workers: keep workers alive between epochs.
        timeout: seconds to wait for a batch from the workers before raising (0: forever).
        multiprocessing_context: ``"fork"``, ``"spawn"`` or ``"forkserver"`` (None: the
            platform default, fork on Linux).
    """
    if distributed:
        sampler = DistributedSampler(dataset, shuffle=shuffle, seed=seed, drop_last=drop_last)
    else:
        sampler = DistributedSampler(dataset, num_replicas=1, rank=0, shuffle=shuffle, seed=seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        generator=torch.Generator().manual_seed(seed),
        drop_last=drop_last,
        pin_memory=pin_memory,
        persistent_workers=persistent_workers and num_workers > 0,
        timeout=timeout if num_workers > 0 else 0,
        multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
    )


def set_loader_epoch(loader: DataLoader, epoch: int) -> None:
    """Set the epoch of a loader's sampler and dataset (whichever have ``set_epoch``)."""
    for part in (loader.sampler, loader.dataset):
        if hasattr(part, "set_epoch"):
            part.set_epoch(epoch)
