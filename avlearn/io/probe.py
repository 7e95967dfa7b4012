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

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Union

import av

from avlearn.io.errors import CorruptMediaError
from avlearn.io.types import MediaInfo, StreamInfo

__all__ = ["probe", "MediaSource", "source_name"]

#: What the readers accept: a path, the bytes of a file, or a readable binary file object
#: (seekable; PyAV reads it through FFmpeg's custom I/O, as for a tar member or a network buffer).
MediaSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO]


def source_name(source: MediaSource) -> str:
    """The name errors use for a source: the path, a file object's ``name``, or ``<bytes>``."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<bytes>"
    name = getattr(source, "name", None)
    return os.fspath(name) if isinstance(name, (str, os.PathLike)) else f"<{type(source).__name__}>"


def probe(path: MediaSource) -> MediaInfo:
    """Describe a media file without decoding it.

    Args:
        path: the media file: a path, its bytes, or a readable binary file object.

    Returns:
        MediaInfo with the duration (end of the media on the reader's clock, in seconds; 0.0
        when the container does not say) and one StreamInfo per audio or video stream.

    Raises:
        CorruptMediaError: the file is missing, empty, or not a media container.
    """
    with open_media(path) as container:
        return inspect_container(container, source_name(path))


def _opener(source: MediaSource, name: str):
    """What ``av.open`` gets for a source (a path, or a seekable file object); checks emptiness."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if len(source) == 0:
            raise CorruptMediaError(name, "empty file (0 bytes)")
        return io.BytesIO(bytes(source))
    if not isinstance(source, (str, os.PathLike)):
        if not callable(getattr(source, "read", None)):
            raise TypeError(f"avlearn.io: expected a path, bytes or a binary file object, got {type(source).__name__}")
        return source
    if not os.path.exists(name):
        raise CorruptMediaError(name, "no such file")
    if os.path.isdir(name):
        raise CorruptMediaError(name, "is a directory, not a media file")
    if os.path.getsize(name) == 0:
        raise CorruptMediaError(name, "empty file (0 bytes)")
    return name


@contextmanager
def open_media(path: MediaSource) -> Iterator[av.container.InputContainer]:
    """Open a path, bytes or a binary file object for reading, turning every failure into a
    typed error; always closes the container (a caller's file object stays open).

    Raises:
        CorruptMediaError: missing, a directory, empty, unreadable or not a media container.
        TypeError: ``path`` is none of the accepted kinds.
    """
    name = source_name(path)
    target = _opener(path, name)
    path = name
    try:
        container = av.open(target, mode="r", metadata_errors="ignore")
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
