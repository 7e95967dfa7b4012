"""Sample-exact reading of paired video and audio clips with PyAV.

``read_clip`` returns the frames shown during ``[start, start + duration)`` and exactly the audio
that plays during them, on one clock (the container's presentation clock, see
:mod:`avlearn.io.probe`). It avoids the decoding pitfalls that users of other video readers report:

* frames are chosen by presentation time, not by an average frame rate (right for variable
  frame rates and non-zero start times; :mod:`avlearn.io._video`);
* audio is cut by sample, not to packet boundaries; stream start offsets are honoured; missing
  audio at the edges is zero-padded and reported in ``meta["audio_pad"]``, never stretched
  (:mod:`avlearn.io._audio`);
* header frame counts are never trusted; a damaged file gives what can be decoded when the
  window is intact and a typed error otherwise (:mod:`avlearn.io._collect`);
* one container open per call, always closed; seek to the keyframe before ``start`` and decode
  only to the end of the clip; decoder threads bounded (default 1) and frame-threaded decoders
  drained at the end of the file so the last frames are never lost.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import av
import torch

from avlearn.io._audio import AudioCollector
from avlearn.io._collect import decode_streams
from avlearn.io._video import VideoCollector, set_decoder_threads
from avlearn.io.errors import (
    ClipOutOfRangeError,
    CorruptMediaError,
    MediaError,
    MissingStreamError,
)
from avlearn.io.probe import MediaSource, clock_origin, ffmpeg_reason, inspect_container, open_media, source_name
from avlearn.io.types import AVClip, MediaInfo

__all__ = ["read_audio", "read_clip"]


def read_clip(
    path: MediaSource,
    start: float = 0.0,
    duration: float | None = None,
    *,
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    sample_rate: int | None = None,
    mono: bool = False,
    video: bool = True,
    audio: bool = True,
    threads: int = 1,
) -> AVClip:
    """Read the frames and the audio of ``[start, start + duration)`` from a media file.

    Args:
        path: the media file: a path, the file's bytes, or a readable, seekable binary file
            object (e.g. a member of a tar shard); errors name the path, the object's ``name``
            or ``<bytes>``.
        start: clip start in seconds on the file's clock (may be negative: padded).
        duration: clip length in seconds; None reads to the end of the media.
        fps: if given, return ``round(duration * fps)`` frames, frame i being the frame shown at
            ``start + i / fps`` (the last frame whose pts <= that time); frames are repeated or
            dropped as the rates differ. If None, return every frame whose pts lies in the window
            and set ``clip.fps`` to the stream's average rate.
        size: (H, W) of the returned frames, or an int for the short side (aspect kept); the
            scaling happens in FFmpeg's converter, on the kept frames only.
        sample_rate: resample the audio to this rate (swresample); None keeps the decoder's rate.
        mono: average the audio channels into one.
        video: read video; False leaves ``clip.video`` None.
        audio: read audio; False leaves ``clip.audio`` None.
        threads: decoder threads for the video (frame threading when > 1). Keep 1 inside
            DataLoader workers.

    Returns:
        AVClip with ``video`` uint8 (T, H, W, 3) and ``audio`` float32 (C, N) in [-1, 1] where
        ``N == round(duration * sample_rate)``. ``meta`` holds ``frame_times`` (pts of each
        returned frame, seconds), ``video_pad`` (frames before the first or after the last frame
        of the stream, shown as the nearest frame), ``audio_pad`` (zero samples before, after)
        and ``clock_origin`` (raw pts seconds of the clock's 0).

    Raises:
        CorruptMediaError: missing, empty or not a media file; undecodable or truncated data
            inside the window.
        MissingStreamError: no video (or audio) stream although ``video`` (``audio``) is True.
        ClipOutOfRangeError: the window lies entirely outside the media.
        ValueError: invalid arguments (non-positive duration, fps, sample_rate or threads).
    """
    source, path = path, source_name(path)
    if duration is not None and not duration > 0:
        raise ValueError(f"read_clip: duration must be > 0 or None, got {duration}")
    req = _request(fps, size, sample_rate, mono, video, audio, threads)
    with open_media(source) as container:
        try:
            return _read(container, path, float(start), None if duration is None else float(duration), req)
        except MediaError:
            raise
        except av.FFmpegError as exc:
            raise CorruptMediaError(path, f"decoding failed: {ffmpeg_reason(exc)}") from exc


def read_audio(
    path: MediaSource,
    start: float = 0.0,
    duration: float | None = None,
    *,
    sample_rate: int | None = None,
    mono: bool = False,
) -> tuple[torch.Tensor, int]:
    """Read only the audio of ``[start, start + duration)`` (works on .wav / .flac stems too).

    Returns:
        (audio float32 (C, N) in [-1, 1], its sample rate), with the same cutting, padding and
        resampling rules as :func:`read_clip`.

    Raises:
        The errors of :func:`read_clip`; MissingStreamError when the file has no audio stream.
    """
    clip = read_clip(path, start, duration, sample_rate=sample_rate, mono=mono, video=False, audio=True)
    return clip.audio, clip.sample_rate


@dataclass(frozen=True)
class _Request:
    """What to decode, besides the window (validated, normalised arguments of read_clip)."""

    fps: float | None
    size: int | tuple[int, int] | None
    sample_rate: int | None
    mono: bool
    video: bool
    audio: bool
    threads: int


def _request(fps, size, sample_rate, mono, video, audio, threads, who: str = "read_clip") -> _Request:
    if fps is not None and not fps > 0:
        raise ValueError(f"{who}: fps must be > 0 or None, got {fps}")
    if sample_rate is not None and (int(sample_rate) != sample_rate or sample_rate <= 0):
        raise ValueError(f"{who}: sample_rate must be a positive integer or None, got {sample_rate}")
    if int(threads) != threads or threads < 1:
        raise ValueError(f"{who}: threads must be an integer >= 1, got {threads}")
    if not (video or audio):
        raise ValueError(f"{who}: video and audio are both False; nothing to read")
    if size is not None:
        dims = (size,) if isinstance(size, numbers.Integral) else tuple(size)
        if len(dims) not in (1, 2) or any(int(d) != d or d < 1 for d in dims):
            raise ValueError(f"{who}: size must be (H, W) or an int, got {size}")
        size = int(dims[0]) if len(dims) == 1 else (int(dims[0]), int(dims[1]))
    return _Request(
        fps=float(fps) if fps else None,
        size=size,
        sample_rate=int(sample_rate) if sample_rate else None,
        mono=bool(mono),
        video=bool(video),
        audio=bool(audio),
        threads=int(threads),
    )


def _window(info: MediaInfo, start: float, duration: float | None) -> tuple[float, float]:
    """The clip's duration (None: to the end) and where the media begins; raises if disjoint."""
    if duration is None:
        if info.duration <= 0:
            raise CorruptMediaError(info.path, "the container does not state its duration; pass duration=")
        duration = info.duration - start
    media_start = min([0.0] + [s.start for s in info.streams])
    if duration <= 0 or start >= info.duration > 0 or start + duration <= media_start:
        raise ClipOutOfRangeError(
            info.path,
            f"clip [{start:.3f}s, {start + duration:.3f}s) lies outside the media "
            f"[{media_start:.3f}s, {info.duration:.3f}s)",
        )
    return duration, media_start


def _read(container, path: str, start: float, duration: float | None, req: _Request) -> AVClip:
    info = inspect_container(container, path)
    origin = clock_origin(container)
    wanted = [(kind, info.video if kind == "video" else info.audio) for kind in ("video", "audio") if getattr(req, kind)]
    for kind, stream_info in wanted:
        if stream_info is None:
            raise MissingStreamError(path, f"no {kind} stream")
        if container.streams[stream_info.index].codec_context is None:
            raise CorruptMediaError(path, f"{kind} stream #{stream_info.index}: no decoder for codec {stream_info.codec!r}")
    duration, media_start = _window(info, start, duration)
    common = {  # times in raw presentation seconds from here on
        "path": path,
        "media_start": media_start + origin,
        "start": start + origin,
        "end": start + duration + origin,
        "duration": duration,
    }

    vcol = acol = None
    if req.video:
        stream = container.streams[info.video.index]
        set_decoder_threads(stream, req.threads)
        end = _stream_end(info.video, info) + origin
        vcol = VideoCollector(stream=stream, expected_end=end, fps=req.fps, size=req.size, **common)
    if req.audio:
        stream = container.streams[info.audio.index]
        stream.codec_context.thread_count = 1
        end = _stream_end(info.audio, info) + origin
        acol = AudioCollector(stream=stream, expected_end=end, sample_rate=req.sample_rate, mono=req.mono, **common)
    decode_streams(container, [c for c in (vcol, acol) if c is not None])  # video leads the pass

    clip = AVClip(video=None, audio=None, fps=None, sample_rate=None, start=start, duration=float(duration), path=path)
    clip.meta["clock_origin"] = origin
    if vcol is not None:
        frames, times, clip.meta["video_pad"] = vcol.result()
        clip.video = torch.from_numpy(frames)  # (T, H, W, 3) uint8
        clip.meta["frame_times"] = [t - origin for t in times]
        clip.fps = req.fps or info.video.fps
    if acol is not None:
        samples, clip.sample_rate, clip.meta["audio_pad"] = acol.result()
        clip.audio = torch.from_numpy(samples)  # (C, N) float32
    return clip


def _stream_end(stream, info) -> float:
    """Where a stream's data should end on the reader's clock (the media's end if unknown)."""
    if stream.duration is not None:
        return stream.start + stream.duration
    return info.duration
