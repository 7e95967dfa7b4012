"""The one decode cache: each clip decoded once at fixed rates, kept, and skipped if unreadable.

Training samples many windows (shifted pairs, mixtures, frames) from the same few clips, so
decoding a clip on every draw would dominate the step time on small worlds; every task instead
decodes a clip the first time it is asked for and keeps the result in memory (the approach of
the in-memory clip caches of SyncNet-style and Sound-of-Pixels training loops: Chung &
Zisserman, ACCV 2016 workshops; Zhao et al., ECCV 2018). A clip that cannot be read is logged
once, counted in :attr:`ClipCache.bad` and returned as None, so a dataset skips it rather than
killing the run.

What "decoded" means is the task's: ``decode(row)`` returns frames + audio for synchronization
and localization, frames + stems + truth for separation.

    >>> cache = ClipCache(rows, decode=lambda row: read_clip(row.path, fps=16), fps=16)
    >>> clip = cache.get(0)          # decoded now, kept
    >>> clip is cache.get(0)
    True
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Hashable, Iterable

from avlearn.io.errors import MediaError

__all__ = ["ClipCache"]

log = logging.getLogger(__name__)

#: What ``decode`` may raise for a clip that cannot be used (it is then skipped and counted).
UNREADABLE = (MediaError, OSError, KeyError, ValueError)


class ClipCache:
    """Clips decoded on first use and kept, keyed by position or by a row key.

    Args:
        rows: what to decode (manifest rows, dicts, paths...).
        decode: ``decode(row) -> decoded clip`` (or None when the clip is unusable); may raise
            one of :data:`UNREADABLE` for an unreadable clip.
        key: ``key(row)`` naming a row (e.g. ``lambda r: r["id"]``); default: the row's position.
        cache: keep decoded clips in memory (otherwise decode on every :meth:`get`).
        fps, size, sample_rate: the rates clips are decoded at (read by the datasets).
        name: what the log lines call the cache's owner.

    Attributes:
        rows: ``{key: row}``, in insertion order.
        bad: clips that failed to decode.
    """

    def __init__(
        self,
        rows: Iterable[Any] = (),
        *,
        decode: Callable[[Any], Any],
        key: Callable[[Any], Hashable] | None = None,
        cache: bool = True,
        fps: float | None = None,
        size: Any = None,
        sample_rate: int | None = None,
        name: str = "data",
    ):
        self.decode, self.key, self.cache, self.name = decode, key, cache, name
        self.fps = float(fps) if fps is not None else None
        self.size = size
        self.sample_rate = int(sample_rate) if sample_rate is not None else None
        self.rows: dict[Hashable, Any] = {}
        self._clips: dict[Hashable, Any] = {}
        self.bad = 0
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

    def get(self, key: Hashable) -> Any:
        """The decoded clip of ``key`` (decoded now if needed), or None when it cannot be read.

        Raises:
            KeyError: no row has this key.
        """
        if key in self._clips:
            return self._clips[key]
        if key not in self.rows:
            raise KeyError(f"{self.name}: no clip {key!r} in the cache ({len(self.rows)} rows)")
        try:
            out = self.decode(self.rows[key])
        except UNREADABLE as exc:
            log.warning("%s: skipping clip %r (%s)", self.name, key, exc)
            self.bad += 1
            out = None
        if self.cache:
            self._clips[key] = out
        return out

    def clear(self) -> None:
        """Forget the decoded clips (the rows stay)."""
        self._clips.clear()
