"""Clip samplers: where in a video the clips of a dataset item are cut.

A sampler maps the span of a video (``offset`` to ``offset + duration`` seconds, i.e. a
manifest row's ``[start, end]``) and a random generator to a list of ``(start, duration)``
windows inside that span. The three policies are the ones of the video-classification
literature (and pytorchvideo's clip samplers):

* :class:`RandomClipSampler` - training: one (or k) clips at uniformly random starts per video
  per epoch (Karpathy et al. 2014; Tran et al. 2018 sample random 16-frame clips).
* :class:`UniformClipSampler` - evaluation: N clips evenly spaced from the first to the last
  possible start, scores averaged over them (the "10 clips per video" protocol of C3D/R(2+1)D).
* :class:`SlidingWindowSampler` - untrimmed video (ActivityNet, Listen to Look): windows every
  ``stride`` seconds, plus one aligned to the end so that the windows cover the whole span.

Samplers are pure: the same span and the same generator state give the same windows, so a
dataset that seeds the generator from ``(seed, epoch, video)`` samples deterministically. When
the span is shorter than ``clip_duration``, every sampler returns the single window
``(offset, clip_duration)``, which runs past the end; :func:`avlearn.io.read_clip` pads
the missing frames and audio and reports the padding in the clip's metadata.
"""

from __future__ import annotations

import abc
import math

import numpy as np

__all__ = [
    "Window",
    "ClipSampler",
    "RandomClipSampler",
    "UniformClipSampler",
    "SlidingWindowSampler",
]

#: ``(start, duration)`` in seconds.
Window = tuple[float, float]

_EPS = 1e-9


class ClipSampler(abc.ABC):
    """Abstract base class: a policy mapping a video's span to clip windows.

    Subclasses implement :meth:`starts`; one whose number of windows depends on the span
    (``clips_per_video=None``) also overrides :meth:`num_clips`.

    Args:
        clip_duration: length of every clip in seconds (> 0).
        clips_per_video: the number of windows per video when it does not depend on the
            video's duration (>= 1), else None (then :meth:`num_clips` needs the duration).
    """

    def __init__(self, clip_duration: float, clips_per_video: int | None = 1):
        name = type(self).__name__
        if not clip_duration > 0:
            raise ValueError(f"{name}: clip_duration must be > 0, got {clip_duration}")
        if clips_per_video is not None and clips_per_video < 1:
            raise ValueError(f"{name}: clips_per_video must be >= 1, got {clips_per_video}")
        self.clip_duration = float(clip_duration)
        self.clips_per_video = None if clips_per_video is None else int(clips_per_video)

    def num_clips(self, duration: float) -> int:
        """How many windows :meth:`__call__` returns for a span of ``duration`` seconds."""
        if self.clips_per_video is None:
            # Not an abstract hook: only a policy built with clips_per_video=None needs its own
            # count, which a constructor argument decides at run time, not the class.
            raise NotImplementedError(
                f"{type(self).__name__}: clips_per_video is None, so num_clips must be overridden"
            )
        return self.clips_per_video

    @abc.abstractmethod
    def starts(self, duration: float, rng: np.random.Generator) -> list[float]:
        """Window starts relative to the span's beginning (one per window)."""

    def __call__(
        self,
        duration: float,
        rng: np.random.Generator | None = None,
        *,
        offset: float = 0.0,
    ) -> list[Window]:
        """Cut windows from the span ``[offset, offset + duration]``.

        Args:
            duration: length of the span in seconds (the video's duration, or a manifest
                row's ``end - start``).
            rng: the generator random policies draw from (a fresh unseeded one if None).
            offset: where the span begins in the file, in seconds (a manifest row's start).

        Returns:
            ``(start, duration)`` pairs with ``offset <= start`` and
            ``start + clip_duration <= offset + duration`` whenever the span is at least
            one clip long.
        """
        if not duration >= 0:
            raise ValueError(f"{type(self).__name__}: duration must be >= 0, got {duration}")
        rng = np.random.default_rng() if rng is None else rng
        if duration < self.clip_duration + _EPS:
            return [(float(offset), self.clip_duration)] * self.num_clips(duration)
        last = duration - self.clip_duration
        return [(float(offset + min(max(s, 0.0), last)), self.clip_duration) for s in self.starts(duration, rng)]

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class RandomClipSampler(ClipSampler):
    """Clips at uniformly random starts (training).

    Args:
        clip_duration: clip length in seconds.
        clips_per_video: clips drawn per video per epoch (default 1).
    """

    def __init__(self, clip_duration: float, *, clips_per_video: int = 1):
        super().__init__(clip_duration, clips_per_video)

    def starts(self, duration: float, rng: np.random.Generator) -> list[float]:
        last = duration - self.clip_duration
        return [float(s) for s in rng.uniform(0.0, last, size=self.clips_per_video)]


class UniformClipSampler(ClipSampler):
    """``clips_per_video`` clips evenly spaced from the first to the last possible start.

    With one clip per video, the clip is centred. Deterministic: ``rng`` is not used.

    Args:
        clip_duration: clip length in seconds.
        clips_per_video: clips per video (>= 1).
    """

    def __init__(self, clip_duration: float, clips_per_video: int):
        super().__init__(clip_duration, clips_per_video)

    def starts(self, duration: float, rng: np.random.Generator) -> list[float]:
        last = duration - self.clip_duration
        if self.clips_per_video == 1:
            return [last / 2]
        return [last * i / (self.clips_per_video - 1) for i in range(self.clips_per_video)]


class SlidingWindowSampler(ClipSampler):
    """Windows every ``stride`` seconds over an untrimmed video.

    Args:
        clip_duration: window length in seconds.
        stride: seconds between window starts (> 0).
        cover_end: add one window aligned to the end of the span when the strided windows
            stop short of it, so that (with ``stride <= clip_duration``) every instant of the
            span lies in some window.
    """

    def __init__(self, clip_duration: float, stride: float, *, cover_end: bool = True):
        super().__init__(clip_duration, clips_per_video=None)
        if not stride > 0:
            raise ValueError(f"SlidingWindowSampler: stride must be > 0, got {stride}")
        self.stride = float(stride)
        self.cover_end = bool(cover_end)

    def num_clips(self, duration: float) -> int:
        return len(self._starts(duration))

    def _starts(self, duration: float) -> list[float]:
        last = duration - self.clip_duration
        if last < _EPS:
            return [0.0]
        n = math.floor(last / self.stride + _EPS) + 1
        starts = [k * self.stride for k in range(n)]
        if self.cover_end and starts[-1] < last - _EPS:
            starts.append(last)
        return starts

    def starts(self, duration: float, rng: np.random.Generator) -> list[float]:
        return self._starts(duration)
