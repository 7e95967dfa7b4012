"""Probe a media file with PyAV: what streams it holds and where they sit in time.

The clock every reader in :mod:`avlearn.io` uses is the container's presentation clock
(packet pts times each stream's time base, in seconds), shifted so that 0 is the container's
start time when that start time is positive. That is the convention of ``ffmpeg -ss``: a
transport stream whose timestamps begin at 1.4 s reads from 0, while files whose audio priming
gives a slightly negative start (AAC without an edit list) keep their own clock, so a frame
stamped 0.0 stays at 0.0. Stream start offsets are kept: an audio track that begins 0.5 s
after the video reports ``start == 0.5``.

``probe`` reads headers only (FFmpeg's ``avformat_find_stream_info``); frame counts come from
the container when it states them and may be wrong, which is why :func:`avlearn.io.read_clip`
never trusts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import av

from avlearn.io.errors import CorruptMediaError
from avlearn.io.types import MediaInfo, StreamInfo

__all__ = ["probe"]


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe a media file without decoding it.

    Args:
        path: the media file.

    Returns:
        MediaInfo with the duration (end of the media on the reader's clock, in seconds; 0.0
        when the container does not say) and one StreamInfo per audio or video stream.

    Raises:
        CorruptMediaError: the file is missing, empty, or not a media container.
    """
    with open_media(path) as container:
        return inspect_container(container, os.fspath(path))


@contextmanager
def open_media(path: str | os.PathLike) -> Iterator[av.container.InputContainer]:
    """Open ``path`` for reading, turning every failure into a typed error; always closes.

    Raises:
        CorruptMediaError: missing, a directory, empty, unreadable or not a media container.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CorruptMediaError(path, "no such file")
    if os.path.isdir(path):
        raise CorruptMediaError(path, "is a directory, not a media file")
    if os.path.getsize(path) == 0:
        raise CorruptMediaError(path, "empty file (0 bytes)")
    try:
        container = av.open(path, mode="r", metadata_errors="ignore")
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise CorruptMediaError(path, f"not a readable media container ({ffmpeg_reason(exc)})") from exc
    try:
        yield container
    finally:
        container.close()


def clock_origin(container: av.container.InputContainer) -> float:
    """Seconds of raw presentation time that the reader's clock calls 0 (see module doc)."""
    start = container.start_time
    return max(0.0, start / av.time_base) if start is not None else 0.0


def inspect_container(container: av.container.InputContainer, path: str) -> MediaInfo:
    """Build the MediaInfo of an already open container (no decoding)."""
    origin = clock_origin(container)
    streams = []
    for stream in container.streams:
        if stream.type not in ("video", "audio"):
            continue
        tb = stream.time_base
        start = float(stream.start_time * tb) - origin if stream.start_time is not None and tb else 0.0
        duration = float(stream.duration * tb) if stream.duration and tb else _tag_seconds(stream.metadata)
        ctx = stream.codec_context
        common = {
            "index": stream.index,
            "kind": stream.type,
            "codec": ctx.name if ctx is not None else "unknown",
            "start": start,
            "duration": duration,
            "frames": int(stream.frames) if stream.frames else None,
        }
        if stream.type == "video":
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            streams.append(
                StreamInfo(
                    **common,
                    fps=float(rate) if rate else None,
                    width=getattr(ctx, "width", 0) or None,
                    height=getattr(ctx, "height", 0) or None,
                )
            )
        else:
            streams.append(
                StreamInfo(
                    **common,
                    sample_rate=getattr(ctx, "sample_rate", 0) or None,
                    channels=getattr(ctx, "channels", 0) or None,
                )
            )
    if container.duration is not None and container.duration > 0:
        first = container.start_time / av.time_base if container.start_time is not None else 0.0
        end = first + container.duration / av.time_base - origin
    else:
        ends = [s.start + s.duration for s in streams if s.duration is not None]
        end = max(ends) if ends else 0.0
    return MediaInfo(path=path, duration=max(0.0, end), format=container.format.name, streams=tuple(streams))


def _tag_seconds(metadata: dict) -> float | None:
    """Parse Matroska's per-track ``DURATION`` tag (``HH:MM:SS.nnnnnnnnn``) to seconds."""
    text = next((v for k, v in metadata.items() if k.upper() == "DURATION"), None)
    if not text:
        return None
    try:
        h, m, s = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)
    except ValueError:
        return None


def ffmpeg_reason(exc: BaseException) -> str:
    """An FFmpeg error as one short line (no file path repeated)."""
    msg = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return msg.splitlines()[0][:200]
