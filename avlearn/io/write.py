"""Writing paired video and audio with PyAV.

``write_av`` writes an mp4 (h264 + aac) by default; the container follows the extension:
``.webm`` (vp9 + opus), ``.mkv`` (h264 + flac), ``.avi`` (mpeg4 + pcm_s16le), ``.mov`` (h264 +
aac), and ``.wav`` / ``.flac`` for audio only (lossless, used for ground-truth stems).

``deterministic=True`` makes the bytes a function of the inputs alone: the same frames and
samples give the same file on every run, in any process. x264 is then run single-threaded
without its assembly (:data:`DETERMINISTIC_X264`): with assembly, encodes of the same frames
through PyAV were measured to differ between runs on an AVX-512 machine (5 distinct files in 25
encodes, also with one thread; ``asm=0`` gave one), while x264's C code paths are repeatable.
The muxer and encoders run with ``bitexact`` flags (no library version strings), and no
creation time is written. The synthetic world is written this way; the cost is measured by
``benchmarks/world_encode.py``.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

import av
import numpy as np
import torch

from avlearn.io.errors import EncodeError

__all__ = ["write_av", "write_audio", "add_video_stream", "CONTAINER_CODECS", "DETERMINISTIC_X264"]

# extension -> (video codec, audio codec, audio sample format); None: stream not allowed.
CONTAINER_CODECS: dict[str, tuple[str | None, str, str]] = {
    ".mp4": ("libx264", "aac", "fltp"),
    ".mov": ("libx264", "aac", "fltp"),
    ".mkv": ("libx264", "flac", "s16"),
    ".webm": ("libvpx-vp9", "libopus", "flt"),
    ".avi": ("mpeg4", "pcm_s16le", "s16"),
    ".wav": (None, "pcm_s16le", "s16"),
    ".flac": (None, "flac", "s16"),
}

DETERMINISTIC_X264: dict[str, str] = {
    "threads": "1",
    "x264-params": "threads=1:sliced-threads=0:lookahead-threads=1:asm=0",
}
"""libx264 options that make an encode repeatable (module docstring)."""

_LAYOUTS = {1: "mono", 2: "stereo", 3: "2.1", 4: "quad", 5: "5.0", 6: "5.1", 8: "7.1"}


def _as_numpy(x: Any, dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(np.asarray(x), dtype=dtype)


def _fps_fraction(fps: float) -> Fraction:
    # 29.97 -> 30000/1001 exactly; integer rates stay integers.
    frac = Fraction(fps).limit_denominator(1001)
    return frac



def add_video_stream(
    container: Any,
    vcodec: str,
    *,
    fps: float,
    height: int,
    width: int,
    crf: int = 18,
    gop: int | None = None,
    video_options: dict[str, str] | None = None,
    deterministic: bool = False,
) -> Any:
    """Add a yuv420p video stream with avlearn's encoder settings to an open PyAV output container.

    One place for the codec options used by :func:`write_av` (whole arrays) and the streaming
    :class:`~avlearn.io.writer.AVWriter`: x264 ``crf``/``veryfast``, vp9 realtime, mpeg4 ``qscale 3``;
    with ``deterministic`` the bit-exact, single-threaded settings of :data:`DETERMINISTIC_X264`.
    ``video_options`` are applied last.
    """
    rate = _fps_fraction(float(fps))
    vstream = container.add_stream(vcodec, rate=rate)
    vstream.width, vstream.height, vstream.pix_fmt = int(width), int(height), "yuv420p"
    vstream.codec_context.time_base = 1 / rate
    opts: dict[str, str] = {}
    if vcodec == "libx264":
        opts = {"crf": str(crf), "preset": "veryfast"}
    elif vcodec == "libvpx-vp9":
        opts = {"crf": str(crf + 12), "b": "0", "deadline": "realtime", "cpu-used": "8"}
    elif vcodec == "mpeg4":
        opts = {"qscale": "3"}
        vstream.codec_context.qscale = 3  # type: ignore[attr-defined]
    if deterministic:
        opts["flags"] = "+bitexact"
        if vcodec == "libx264":
            opts.update(DETERMINISTIC_X264)
        else:
            opts["threads"] = "1"
    opts.update(video_options or {})
    vstream.options = opts
    vstream.codec_context.gop_size = int(gop or max(1, round(float(fps))))
    return vstream


def write_av(
    path: str | os.PathLike,
    video: torch.Tensor | np.ndarray | None,
    audio: torch.Tensor | np.ndarray | None,
    fps: float | None = None,
    sample_rate: int | None = None,
    *,
    video_codec: str | None = None,
    audio_codec: str | None = None,
    crf: int = 18,
    audio_bitrate: int = 128_000,
    gop: int | None = None,
    video_options: dict[str, str] | None = None,
    deterministic: bool = False,
) -> str:
    """Write frames and audio into one container.

    Args:
        path: output file; the extension picks the container and default codecs.
        video: uint8 (T, H, W, 3) frames, or None for audio only. H and W must be even for
            h264 (yuv420p).
        audio: float (C, N) samples in [-1, 1] (values outside are clipped), or None.
        fps: frame rate of ``video`` (required with video).
        sample_rate: sample rate of ``audio`` (required with audio).
        video_codec, audio_codec: override the container's default codecs.
        crf: constant rate factor for x264/vp9 (lower is better quality).
        audio_bitrate: bit rate for lossy audio codecs.
        gop: keyframe interval in frames (default: one keyframe per second).
        video_options: extra codec options passed to FFmpeg.
        deterministic: write the same bytes for the same inputs on every run (module
            docstring; slower x264).

    Returns:
        The path written, as a string.

    Raises:
        EncodeError: unknown extension, missing rate, bad shapes, or FFmpeg failing.
    """
    path = os.fspath(path)
    ext = os.path.splitext(path)[1].lower()
    if ext not in CONTAINER_CODECS:
        raise EncodeError(path, f"unknown container extension {ext!r}; one of {sorted(CONTAINER_CODECS)}")
    vcodec, acodec, afmt = CONTAINER_CODECS[ext]
    vcodec = video_codec or vcodec
    acodec = audio_codec or acodec
    if video is None and audio is None:
        raise EncodeError(path, "nothing to write: video and audio are both None")
    if video is not None:
        if vcodec is None:
            raise EncodeError(path, f"{ext} holds audio only but video was given")
        if not fps or fps <= 0:
            raise EncodeError(path, "fps is required to write video")
        frames = _as_numpy(video, np.uint8)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise EncodeError(path, f"video must be (T, H, W, 3) uint8, got shape {frames.shape}")
        if vcodec in ("libx264", "libvpx-vp9", "mpeg4") and (frames.shape[1] % 2 or frames.shape[2] % 2):
            raise EncodeError(path, f"frame size {frames.shape[2]}x{frames.shape[1]} must be even for yuv420p")
    if audio is not None:
        if not sample_rate or sample_rate <= 0:
            raise EncodeError(path, "sample_rate is required to write audio")
        samples = _as_numpy(audio, np.float32)
        if samples.ndim == 1:
            samples = samples[None]
        if samples.ndim != 2 or samples.shape[0] not in _LAYOUTS:
            raise EncodeError(path, f"audio must be (C, N) with C in {sorted(_LAYOUTS)}, got {samples.shape}")
        samples = np.clip(samples, -1.0, 1.0)
        if acodec == "libopus" and sample_rate not in (8000, 12000, 16000, 24000, 48000):
            raise EncodeError(path, f"opus cannot store {sample_rate} Hz; use 8/12/16/24/48 kHz or another container")

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        with av.open(path, mode="w", options={"fflags": "+bitexact"} if deterministic else None) as container:
            vstream = astream = None
            if video is not None:
                vstream = add_video_stream(
                    container, vcodec, fps=float(fps), height=frames.shape[1], width=frames.shape[2], crf=crf,
                    gop=gop, video_options=video_options, deterministic=deterministic,
                )
            if audio is not None:
                astream = container.add_stream(acodec, rate=int(sample_rate))
                astream.layout = _LAYOUTS[samples.shape[0]]
                astream.format = afmt
                if acodec in ("aac", "libopus"):
                    astream.bit_rate = audio_bitrate
                if deterministic:
                    astream.options = {"flags": "+bitexact", "threads": "1"}
            if vstream is not None:
                for i, img in enumerate(frames):
                    frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                    frame.pts = i
                    for packet in vstream.encode(frame):
                        container.mux(packet)
                for packet in vstream.encode():
                    container.mux(packet)
            if astream is not None:
                _encode_audio(container, astream, samples, int(sample_rate), afmt)
    except EncodeError:
        raise
    except (av.FFmpegError, ValueError, TypeError, OSError) as exc:  # pragma: no cover - codec specific
        try:
            os.remove(path)
        except OSError:
            pass
        raise EncodeError(path, f"encoding failed: {exc}") from exc
    return path


def _encode_audio(container, stream, samples: np.ndarray, sample_rate: int, fmt: str) -> None:
    """Feed (C, N) float samples to ``stream`` in codec-sized frames."""
    channels, n = samples.shape
    frame_size = stream.codec_context.frame_size or 1024
    planar = fmt.endswith("p")
    if fmt.startswith("s16"):
        # k / 32768 on both sides (FFmpeg's s16 <-> float convention), so a value read back is exact
        data = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    else:
        data = samples.astype(np.float32)
    pts = 0
    for s in range(0, n, frame_size):
        chunk = data[:, s : s + frame_size]
        arr = chunk if planar else np.ascontiguousarray(chunk.T).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=stream.layout.name)
        frame.sample_rate = sample_rate
        frame.pts = pts
        frame.time_base = Fraction(1, sample_rate)
        pts += chunk.shape[1]
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)


def write_audio(
    path: str | os.PathLike, audio: torch.Tensor | np.ndarray, sample_rate: int, *, deterministic: bool = False
) -> str:
    """Write audio only (``.wav`` or ``.flac``, lossless 16-bit)."""
    return write_av(path, None, audio, sample_rate=sample_rate, deterministic=deterministic)
