"""The one decode cache: each clip decoded once at fixed rates, kept, and skipped if unreadable.

Training samples many windows (shifted pairs, mixtures, frames) from the same few clips, so
decoding a clip on every draw would dominate the step time on small worlds; every task instead
decodes a clip the first time it is asked for and keeps the result in memory (the approach of
the in-memory clip caches of SyncNet-style and Sound-of-Pixels training loops: Chung &
Zisserman, ACCV 2016 workshops; Zhao et al., ECCV 2018). A clip that cannot be read is logged
once, counted in :attr:`ClipCache.bad` and returned as None, so a dataset skips it rather than
killing the run.

What "decoded" means is the task's: ``decode(row)`` returns frames + audio for synchronization
and localization, frames + stems + truth for separation, a whole untrimmed video for the
audio preview (:func:`read_whole_video`: Listen to Look, Gao et al., CVPR 2020, Sec. 3.2, scores
every time step of a video, so the video is decoded once and its windows are cut from memory).

Two options keep memory bounded and decoding done once across runs:

* ``limit``: at most this many decoded clips stay in memory, the least recently used dropped
  first (a manifest of thousands of videos then holds ``limit`` of them, not all);
* ``disk``: an on-disk tier, a folder where each decoded clip is saved (``torch.save``, read back
  with ``weights_only=True``) under a hash of ``disk_key(row)``, which names the file and the
  decoding settings; a clip dropped from memory, or asked for by a later run, is read back
  from there instead of being decoded again.

    >>> cache = ClipCache(rows, decode=lambda row: read_clip(row.path, fps=16), fps=16)
    >>> clip = cache.get(0)          # decoded now, kept
    >>> clip is cache.get(0)
    True
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable

import torch
from torch import Tensor

from avlearn.io.errors import MediaError

__all__ = ["CACHE_LIMIT", "ClipCache", "read_whole_video", "whole_video_key"]

log = logging.getLogger(__name__)

#: What ``decode`` may raise for a clip that cannot be used (it is then skipped and counted).
UNREADABLE = (MediaError, OSError, KeyError, ValueError)

#: The most clips a task keeps decoded per process by default: a manifest with more rows is
#: not cached in memory (sync, localization, separation) or only its most recent clips are
#: (preview, with the on-disk tier).
CACHE_LIMIT = 512

_MISSING = object()


class ClipCache:
    """Clips decoded on first use and kept, keyed by position or by a row key.

    Args:
        rows: what to decode (manifest rows, dicts, paths...).
        decode: ``decode(row) -> decoded clip`` (or None when the clip is unusable); may raise
            one of :data:`UNREADABLE` for an unreadable clip.
        key: ``key(row)`` naming a row (e.g. ``lambda r: r["id"]``); default: the row's position.
        cache: keep decoded clips in memory (otherwise decode on every :meth:`get`).
        limit: keep at most this many decoded clips in memory, dropping the least recently
            used (None: no bound).
        disk: a folder for the on-disk tier (None: none); clips must be what ``torch.save``
            writes and ``torch.load(weights_only=True)`` reads (tensors, numbers, strings,
            tuples, lists, dicts).
        disk_key: ``disk_key(row) -> str`` naming a row's decoded clip, file and decoding
            settings included (e.g. :func:`whole_video_key`); needed with ``disk``.
        fps, size, sample_rate: the rates clips are decoded at (read by the datasets).
        name: what the log lines call the cache's owner.

    Attributes:
        rows: ``{key: row}``, in insertion order.
        bad: clips that failed to decode.
        decoded: calls of ``decode`` (clips neither in memory nor on disk), failed ones included.

    Raises:
        ValueError: ``disk`` without ``disk_key``, or ``limit`` < 1.
    """

    def __init__(
        self,
        rows: Iterable[Any] = (),
        *,
        decode: Callable[[Any], Any],
        key: Callable[[Any], Hashable] | None = None,
        cache: bool = True,
        limit: int | None = None,
        disk: str | os.PathLike | None = None,
        disk_key: Callable[[Any], str] | None = None,
        fps: float | None = None,
        size: Any = None,
        sample_rate: int | None = None,
        name: str = "data",
    ):
        if disk is not None and disk_key is None:
            raise ValueError(f"{name}: ClipCache(disk=...) needs disk_key to name the saved clips")
        if limit is not None and limit < 1:
            raise ValueError(f"{name}: ClipCache limit must be >= 1 or None, got {limit}")
        self.decode, self.key, self.cache, self.name = decode, key, cache, name
        self.limit, self.disk_key = limit, disk_key
        self.disk = Path(disk) if disk is not None else None
        self.fps = float(fps) if fps is not None else None
        self.size = size
        self.sample_rate = int(sample_rate) if sample_rate is not None else None
        self.rows: dict[Hashable, Any] = {}
        self._clips: OrderedDict[Hashable, Any] = OrderedDict()
        self.bad = 0
        self.decoded = 0
        self.add(rows)

    def add(self, rows: Iterable[Any]) -> None:
        """Register more rows; a key already present keeps its first row."""
        for row in rows:
            k = len(self.rows) if self.key is None else self.key(row)
            self.rows.setdefault(k, row)

    def __len__(self) -> int:
        return len(self.rows)

    def __contains__(self, key: Hashable) -> bool:
        return key in self.rows

    def in_memory(self) -> int:
        """How many decoded clips memory holds now."""
        return len(self._clips)

    def get(self, key: Hashable) -> Any:
        """The decoded clip of ``key`` (from memory, else from disk, else decoded now), or None
        when it cannot be read.

        Raises:
            KeyError: no row has this key.
        """
        if key in self._clips:
            self._clips.move_to_end(key)
            return self._clips[key]
        if key not in self.rows:
            raise KeyError(f"{self.name}: no clip {key!r} in the cache ({len(self.rows)} rows)")
        row = self.rows[key]
        try:
            path = self._disk_path(row)
            out = self._load(path) if path is not None else _MISSING
            if out is _MISSING:
                self.decoded += 1
                out = self.decode(row)
                if path is not None and out is not None:
                    self._save(path, out)
        except UNREADABLE as exc:
            log.warning("%s: skipping clip %r (%s)", self.name, key, exc)
            self.bad += 1
            out = None
        if self.cache:
            self._clips[key] = out
            while self.limit is not None and len(self._clips) > self.limit:
                self._clips.popitem(last=False)
        return out

    def clear(self) -> None:
        """Forget the decoded clips held in memory (the rows and the on-disk tier stay)."""
        self._clips.clear()

    # -- on-disk tier ------------------------------------------------------------------
    def _disk_path(self, row: Any) -> Path | None:
        if self.disk is None:
            return None
        digest = hashlib.sha1(self.disk_key(row).encode()).hexdigest()[:20]
        return self.disk / f"{digest}.pt"

    def _load(self, path: Path) -> Any:
        if not path.is_file():
            return _MISSING
        try:
            return torch.load(path, weights_only=True)
        except Exception as exc:  # a torn or foreign file: decode again and overwrite it
            log.warning("%s: ignoring unreadable cache file %s (%s)", self.name, path, exc)
            return _MISSING

    def _save(self, path: Path, clip: Any) -> None:
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(clip, tmp)
            os.replace(tmp, path)  # atomic: a reader never sees half a file
        except OSError as exc:  # a full or read-only disk costs a decode later, not the clip
            log.warning("%s: could not write cache file %s (%s)", self.name, path, exc)
            tmp.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- whole videos


def read_whole_video(path: str | os.PathLike, *, fps: float, size: int | tuple[int, int], sample_rate: int,
                     min_frames: int = 1) -> tuple[Tensor, Tensor, float]:
    """A whole media file decoded compactly for a cache: frames, mono audio and duration.

    Args:
        path: a media file with video and audio.
        fps: frame rate to decode at.
        size: frame size ((H, W), or an int for square frames).
        sample_rate: audio rate; channels are mixed to mono.
        min_frames: a file with fewer frames holds its last frame up to this many.

    Returns:
        ``(frames, pcm, duration)``: uint8 (T, H, W, 3), int16 (N,) (``round(x * 32767)`` of
        the [-1, 1] waveform, half the memory of float32) and the duration in seconds.

    Raises:
        avlearn.io.MediaError: the file cannot be decoded or lacks video or audio.
    """
    from avlearn.io import read_clip

    hw = (size, size) if isinstance(size, int) else tuple(size)
    clip = read_clip(path, 0.0, None, fps=fps, size=hw, sample_rate=sample_rate, mono=True)
    frames, audio = clip.video, clip.audio[0]  # (T, H, W, 3), (N,)
    if frames.shape[0] < min_frames:  # shorter than one window: hold the last frame
        frames = torch.cat([frames, frames[-1:].expand(min_frames - frames.shape[0], -1, -1, -1)])
    pcm = (audio.clamp(-1, 1) * 32767).round().to(torch.int16)  # (N,)
    return frames.contiguous(), pcm, float(clip.duration)


def whole_video_key(path: str | os.PathLike, **settings: Any) -> str:
    """The on-disk tier's name of a :func:`read_whole_video` entry: the file (absolute path,
    size and modification time, so a rewritten file is decoded again) and the decoding settings.

    Raises:
        OSError: the file does not exist.
    """
    st = os.stat(path)
    return json.dumps({"v": 1, "path": os.path.abspath(os.fspath(path)), "bytes": st.st_size,
                       "mtime_ns": st.st_mtime_ns, **settings}, sort_keys=True)
