"""Plain data types shared by the readers and writers (no torch.nn here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["StreamInfo", "MediaInfo", "AVClip"]


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a container.

    Attributes:
        index: the stream's index in the container.
        kind: "video" or "audio".
        codec: codec name as FFmpeg reports it (e.g. "h264", "aac").
        start: stream start time in seconds (0.0 when unknown).
        duration: stream duration in seconds, or None when unknown.
        fps: average frame rate (video), or None.
        frames: frame count when the container states it (may be wrong; None if absent).
        width, height: video frame size, or None.
        sample_rate: audio sample rate, or None.
        channels: audio channel count, or None.
    """

    index: int
    kind: str
    codec: str
    start: float = 0.0
    duration: float | None = None
    fps: float | None = None
    frames: int | None = None
    width: int | None = None
    height: int | None = None
    sample_rate: int | None = None
    channels: int | None = None


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`avlearn.io.probe` learns about a file without decoding it."""

    path: str
    duration: float
    format: str
    streams: tuple[StreamInfo, ...]

    @property
    def video(self) -> StreamInfo | None:
        """The first video stream, or None."""
        return next((s for s in self.streams if s.kind == "video"), None)

    @property
    def audio(self) -> StreamInfo | None:
        """The first audio stream, or None."""
        return next((s for s in self.streams if s.kind == "audio"), None)


@dataclass
class AVClip:
    """A stretch of a media file: frames plus exactly the audio that plays during them.

    Attributes:
        video: uint8 tensor (T, H, W, 3), or None when video was not read.
        audio: float32 tensor (C, N) in [-1, 1], or None when audio was not read.
        fps: frame rate of ``video`` (the requested fps, or the stream's average rate).
        sample_rate: sample rate of ``audio``.
        start: clip start in seconds on the file's presentation clock.
        duration: clip duration in seconds.
        path: the source file (empty for clips made in memory).
        meta: extra facts, e.g. ``audio_pad`` = (samples zero-padded before, after),
            ``frame_times`` = presentation time of each returned frame.
    """

    video: torch.Tensor | None
    audio: torch.Tensor | None
    fps: float | None
    sample_rate: int | None
    start: float
    duration: float
    path: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
