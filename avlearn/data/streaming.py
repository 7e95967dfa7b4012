"""WindowDataset: an epoch of randomly placed windows streamed from a manifest of any size.

Training on audio-visual datasets draws short windows from long or many videos: Owens & Efros
(ECCV 2018, Sec. 3.3) sample 4.2 s windows from AudioSet videos, Korbar et al. (NeurIPS 2018,
Sec. 3.2) random clips from Kinetics/AudioSet, Zhao et al. (ECCV 2018, Sec. 4.2) random 6 s
excerpts of MUSIC videos. So an epoch here is ``windows_per_epoch`` draws, not one item per
file: draw ``i`` of epoch ``e`` picks a row and a window start from a generator seeded by
``(seed, e, i)``, whichever rank or worker computes it, and the draws are dealt to DDP ranks
and DataLoader workers (:mod:`avlearn.data._parts`) without overlap.

What makes it fit a dataset of millions of clips:

* **Memory does not grow with the dataset or the epoch.** Nothing decoded is kept unless the
  manifest is small (``cache=None`` keeps whole decoded spans only for at most ``cache_limit``
  rows); durations probed for rows without ``end`` or ``media_duration`` go to a bounded LRU.
* **Short clips are skipped and counted, never fatal.** Rows whose known span is shorter than
  the window are left out at construction (``too_short_rows``); rows found short when probed,
  and unreadable files, are counted in ``too_short`` / ``unreadable`` (shared by all workers)
  and the draw moves to another row (up to ``max_tries``).
"""

from __future__ import annotations

import logging
import math
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset

from avlearn import io as avio
from avlearn.data._parts import resolve_rank
from avlearn.data.cache import CACHE_LIMIT, ClipCache
from avlearn.data.dataset import SAMPLE_KEYS, seeded
from avlearn.data.manifest import LabelVocab, ManifestRow, known_length, load_manifest
from avlearn.data.transforms.video import ToFloatCTHW

__all__ = ["WindowDataset"]

logger = logging.getLogger(__name__)

_SLOTS = 257  # counters: slot 0 the main process, 1 + worker id for DataLoader workers


def _identity(sample: dict[str, Any]) -> dict[str, Any]:
    return sample


def _slot() -> int:
    info = torch.utils.data.get_worker_info()
    return 0 if info is None else 1 + info.id % (_SLOTS - 1)


class _LRU(OrderedDict):
    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


class WindowDataset(IterableDataset):
    """``windows_per_epoch`` windows of ``window`` seconds drawn from a manifest's rows.

    Args:
        manifest: a manifest file (CSV/JSONL/JSON), a folder of media, or rows.
        window: window length in seconds.
        windows_per_epoch: draws per epoch, over all ranks and workers.
        fps, size, sample_rate, mono, video, audio: decoding options of
            :func:`avlearn.io.read_clip`.
        transform: applied to each sample dict (default :class:`~avlearn.data.transforms.ToFloatCTHW`
            when video is read).
        vocab: label vocabulary (default: the rows' string labels, sorted).
        seed: seed of the draws and of random transforms.
        cache: keep each row's decoded span in memory, in the decode cache
            (:class:`avlearn.data.cache.ClipCache`; needs ``fps`` and ``sample_rate``, or no
            video); None: only when the manifest has at most ``cache_limit`` rows.
        cache_limit: the largest manifest ``cache=None`` caches.
        max_tries: rows tried per draw before the draw is dropped (counted in ``dropped``).
        rank, world_size: this process's DDP rank (default: the process group's, or 0 of 1).
        labels_from_parent: for a folder manifest, label files by their parent folder.

    A sample is ``{**row.extra, "video": (C, T, H, W), "audio": (C, N), "label": int, "path",
    "start", "duration", "index" (row), "window_index" (draw), "fps", "sample_rate"}``.
    """

    def __init__(
        self,
        manifest: str | os.PathLike | Sequence[ManifestRow],
        *,
        window: float,
        windows_per_epoch: int,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        sample_rate: int | None = None,
        mono: bool = False,
        video: bool = True,
        audio: bool = True,
        transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        vocab: LabelVocab | None = None,
        seed: int = 0,
        cache: bool | None = None,
        cache_limit: int = CACHE_LIMIT,
        max_tries: int = 32,
        rank: int | None = None,
        world_size: int | None = None,
        labels_from_parent: bool = False,
    ):
        if not window > 0:
            raise ValueError(f"WindowDataset: window must be > 0, got {window}")
        if windows_per_epoch < 1:
            raise ValueError(f"WindowDataset: windows_per_epoch must be >= 1, got {windows_per_epoch}")
        if isinstance(manifest, (str, os.PathLike)):
            manifest = load_manifest(manifest, labels_from_parent=labels_from_parent)
        rows = list(manifest)
        keys = set().union(*(r.extra.keys() for r in rows)) if rows else set()
        clash = sorted(keys & (set(SAMPLE_KEYS) | {"window_index"}))
        if clash:
            raise ValueError(f"WindowDataset: manifest fields {clash} clash with sample keys")
        self.window, self.windows_per_epoch = float(window), int(windows_per_epoch)
        self.vocab = LabelVocab.from_rows(rows) if vocab is None else vocab
        self.rows = rows
        spans = [known_length(r) for r in rows]
        self.candidates = np.array([i for i, n in enumerate(spans) if n is None or n + 1e-9 >= self.window], dtype=np.int64)
        self.too_short_rows = len(rows) - len(self.candidates)
        if len(self.candidates) == 0:
            raise ValueError(f"WindowDataset: no row is at least {self.window} s long ({len(rows)} rows, all too short)")
        self.read_options = dict(fps=fps, size=size, sample_rate=sample_rate, mono=mono, video=video, audio=audio)
        self.cache = len(rows) <= cache_limit if cache is None else bool(cache)
        if self.cache and video and (fps is None or (audio and sample_rate is None)):
            if cache:
                raise ValueError("WindowDataset: cache=True needs fps (and sample_rate with audio) to cut windows")
            self.cache = False
        self.transform = transform if transform is not None else (ToFloatCTHW() if video else _identity)
        self.seed, self.max_tries = int(seed), int(max_tries)
        self.rank, self.world_size = resolve_rank(rank, world_size)
        self._epoch = torch.zeros((), dtype=torch.int64).share_memory_()
        self._counts = torch.zeros(3, _SLOTS, dtype=torch.int64).share_memory_()  # too_short, unreadable, dropped
        self._lengths = _LRU(4096)
        # whole decoded spans of the rows (None: unreadable, logged once by the cache)
        self._decoded = ClipCache(range(len(rows)), decode=self._decode_span, name="WindowDataset") if self.cache else None

    # -- bookkeeping -------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        """Draw the windows of ``epoch`` (seen by running workers too)."""
        self._epoch.fill_(int(epoch))

    @property
    def epoch(self) -> int:
        return int(self._epoch)

    @property
    def too_short(self) -> int:
        """Draws that hit a row found shorter than the window when probed (all workers)."""
        return int(self._counts[0].sum())

    @property
    def unreadable(self) -> int:
        """Draws that hit a file that could not be probed or decoded (all workers)."""
        return int(self._counts[1].sum())

    @property
    def dropped(self) -> int:
        """Draws given up after ``max_tries`` rows (all workers)."""
        return int(self._counts[2].sum())

    @property
    def bad_samples(self) -> int:
        """too_short + unreadable: the draws that were skipped."""
        return self.too_short + self.unreadable

    def counters(self) -> dict[str, int]:
        """All skip counters at once."""
        return {"too_short_rows": self.too_short_rows, "too_short": self.too_short,
                "unreadable": self.unreadable, "dropped": self.dropped}

    def __len__(self) -> int:
        """Windows this rank yields per epoch (over its workers)."""
        return len(range(self.rank, self.windows_per_epoch, self.world_size))

    # -- drawing -----------------------------------------------------------------------
    def _span(self, r: int) -> tuple[float, float]:
        """(begin, length) of row ``r``; probes (bounded LRU) when the manifest does not say."""
        row = self.rows[r]
        length = known_length(row)
        if length is None:
            if r not in self._lengths:
                try:
                    self._lengths.put(r, float(avio.probe(row.path).duration) - (row.start or 0.0))
                except avio.MediaError as exc:
                    self._lengths.put(r, exc)
            length = self._lengths[r]
            if isinstance(length, avio.MediaError):
                raise type(length)(length.path, length.reason)
        return row.start or 0.0, length

    def _decode_span(self, r: int) -> avio.AVClip:
        begin, length = self._span(r)
        return avio.read_clip(self.rows[r].path, begin, length, threads=1, **self.read_options)

    def _read(self, r: int, start: float) -> avio.AVClip:
        row = self.rows[r]
        if self._decoded is None:
            return avio.read_clip(row.path, start, self.window, threads=1, **self.read_options)
        full = self._decoded.get(r)
        if full is None:
            raise avio.MediaError(row.path, "could not be decoded (the reason was logged when it was first read)")
        offset = start - full.start
        clip = avio.AVClip(video=None, audio=None, fps=full.fps, sample_rate=full.sample_rate, start=start,
                           duration=self.window, path=row.path)
        if full.video is not None:
            k0, n = round(offset * full.fps), round(self.window * full.fps)
            clip.video = full.video[k0 : k0 + n]  # (T, H, W, 3)
        if full.audio is not None:
            s0, n = round(offset * full.sample_rate), round(self.window * full.sample_rate)
            clip.audio = full.audio[:, s0 : s0 + n]  # (C, N)
        return clip

    def draw(self, index: int, epoch: int | None = None) -> dict[str, Any] | None:
        """The sample of draw ``index`` in ``epoch`` (None when every try failed)."""
        epoch = self.epoch if epoch is None else epoch
        rng = np.random.default_rng([self.seed, epoch, index])
        fps = self.read_options["fps"]
        for _ in range(self.max_tries):
            r = int(self.candidates[rng.integers(len(self.candidates))])
            try:
                begin, length = self._span(r)
                if length + 1e-9 < self.window:
                    self._counts[0, _slot()] += 1
                    continue
                offset = float(rng.uniform(0.0, length - self.window))
                if fps:
                    offset = math.floor(offset * fps + 1e-6) / fps  # on a frame of the decoded rate
                clip = self._read(r, begin + offset)
            except avio.MediaError as exc:
                self._counts[1, _slot()] += 1
                logger.debug("WindowDataset: skipping %s", exc)
                continue
            return self._sample(r, index, clip, epoch)
        self._counts[2, _slot()] += 1
        return None

    def _sample(self, r: int, index: int, clip: avio.AVClip, epoch: int) -> dict[str, Any]:
        row = self.rows[r]
        sample: dict[str, Any] = dict(row.extra)
        if clip.video is not None:
            sample.update(video=clip.video, fps=float(clip.fps))
        if clip.audio is not None:
            sample.update(audio=clip.audio, sample_rate=int(clip.sample_rate))
        sample.update(label=self.vocab.encode(row.label), path=row.path, start=float(clip.start),
                      duration=float(clip.duration), index=r, window_index=index)
        with seeded(int(np.random.SeedSequence([self.seed, epoch, 1, index]).generate_state(1)[0])):
            return self.transform(sample)

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (0, 1) if info is None else (info.id, info.num_workers)
        epoch = self.epoch
        # draw i belongs to rank i % world_size; a rank's draws are dealt to its workers in turn
        for index in range(self.rank, self.windows_per_epoch, self.world_size)[worker::workers]:
            sample = self.draw(index, epoch)
            if sample is not None:
                yield sample

    def __repr__(self) -> str:
        return (f"WindowDataset(rows={len(self.rows)}, window={self.window}, windows_per_epoch={self.windows_per_epoch}, "
                f"cache={self.cache}, rank={self.rank}/{self.world_size})")
