"""Tiny test media with known content: a frame counter in the pixels, clicks at known times.

Other test files import this module (``from media import write_clip, read_counters``; pytest
puts ``tests/`` on ``sys.path``). Every writer makes a file of a few KB in well under a second:

* Frame i of every clip carries the number ``first + i`` as a 4x4 grid of bright/dark blocks
  (16 bits), which survives H.264 / VP9 / MPEG-4 compression and any resize down to 8x8;
  :func:`read_counter` reads it back.
* The audio is silence with single-sample clicks of amplitude 0.8 at given times; channel c is
  scaled by ``1 - 0.1 * c`` so channel order can be checked. :func:`click_positions` finds them.

Writers: :func:`write_clip` (through :func:`avlearn.io.write_av`, any container it supports),
:func:`write_timed` (PyAV directly: arbitrary frame presentation times for variable frame rate,
and an audio stream that starts later than the video), :func:`truncate`,
:func:`write_garbage` and :func:`write_empty` for damaged files.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np

from avlearn.io import write_av
from avlearn.io.write import CONTAINER_CODECS

__all__ = [
    "Media",
    "click_positions",
    "click_track",
    "counter_frames",
    "read_counter",
    "read_counters",
    "truncate",
    "write_clip",
    "write_empty",
    "write_garbage",
    "write_timed",
]

_GRID = 4
_DARK, _BRIGHT = 32, 224
_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}


@dataclass
class Media:
    """What a writer put into a file (the truth tests compare against).

    Attributes:
        path: the file written.
        seconds: intended length of the media.
        frame_times: presentation time of each written frame (frame i shows counter i).
        fps: nominal frame rate (None without video).
        sample_rate: audio rate as written (None without audio).
        channels: audio channels.
        clicks: click times in seconds on the file's clock.
        audio_start: where the audio stream begins.
    """

    path: str
    seconds: float
    frame_times: list[float] = field(default_factory=list)
    fps: float | None = None
    sample_rate: int | None = None
    channels: int = 0
    clicks: tuple[float, ...] = ()
    audio_start: float = 0.0

    def shown_at(self, t: float) -> int:
        """Index of the frame shown at time ``t``: the last one whose time is <= t."""
        times = np.asarray(self.frame_times)
        return max(int(np.searchsorted(times, t + 1e-9, side="right")) - 1, 0)


def counter_frames(n: int, height: int = 32, width: int = 32, first: int = 0) -> np.ndarray:
    """``n`` frames (n, H, W, 3) uint8; frame i shows the number ``first + i`` in 4x4 blocks."""
    frames = np.full((n, height, width, 3), _DARK, np.uint8)
    for i in range(n):
        value = first + i
        for bit in range(_GRID * _GRID):
            if value >> bit & 1:
                r, c = divmod(bit, _GRID)
                ys = slice(r * height // _GRID, (r + 1) * height // _GRID)
                xs = slice(c * width // _GRID, (c + 1) * width // _GRID)
                frames[i, ys, xs] = _BRIGHT
    return frames


def read_counter(frame) -> int:
    """The number drawn by :func:`counter_frames` into one (H, W, 3) frame (array or tensor)."""
    img = np.asarray(frame, dtype=np.float32).mean(axis=-1)
    h, w = img.shape
    value = 0
    for bit in range(_GRID * _GRID):
        r, c = divmod(bit, _GRID)
        y0, x0 = int((r + 0.25) * h / _GRID), int((c + 0.25) * w / _GRID)
        y1, x1 = max(y0 + 1, int((r + 0.75) * h / _GRID)), max(x0 + 1, int((c + 0.75) * w / _GRID))
        if img[y0:y1, x0:x1].mean() > (_DARK + _BRIGHT) / 2:
            value |= 1 << bit
    return value


def read_counters(video) -> list[int]:
    """:func:`read_counter` of every frame of a (T, H, W, 3) clip."""
    return [read_counter(f) for f in np.asarray(video)]


def click_track(seconds: float, sample_rate: int, clicks=(0.25,), channels: int = 1) -> np.ndarray:
    """Silence (C, round(seconds * rate)) float32 with a click at each time in ``clicks``."""
    n = round(seconds * sample_rate)
    audio = np.zeros((channels, n), np.float32)
    for t in clicks:
        k = round(t * sample_rate)
        if 0 <= k < n:
            audio[:, k] = 0.8 * (1.0 - 0.1 * np.arange(channels))
    return audio


def click_positions(audio, count: int = 1, min_gap: int = 32) -> list[int]:
    """Sample indices of the ``count`` strongest clicks in (C, N) audio, in time order."""
    env = np.abs(np.asarray(audio, dtype=np.float32)).max(axis=0)
    found: list[int] = []
    for _ in range(count):
        k = int(env.argmax())
        if env[k] <= 0:
            break
        found.append(k)
        env[max(0, k - min_gap) : k + min_gap] = 0
    return sorted(found)


def write_clip(
    path,
    *,
    seconds: float = 1.0,
    fps: float = 8.0,
    size: tuple[int, int] = (32, 32),
    sample_rate: int = 16000,
    channels: int = 1,
    clicks=(0.25,),
    video: bool = True,
    audio: bool = True,
    gop: int | None = None,
) -> Media:
    """Write a counter video and a click track with :func:`avlearn.io.write_av`.

    The container follows the extension (.mp4 h264+aac, .webm vp9+opus, .mkv h264+flac,
    .avi mpeg4+pcm, .wav/.flac audio only).
    """
    path = os.fspath(path)
    if CONTAINER_CODECS[os.path.splitext(path)[1].lower()][0] is None:
        video = False
    n = round(seconds * fps) if video else 0
    frames = counter_frames(n, *size) if video else None
    samples = click_track(seconds, sample_rate, clicks, channels) if audio else None
    write_av(path, frames, samples, fps if video else None, sample_rate if audio else None, gop=gop)
    return Media(
        path=path,
        seconds=seconds,
        frame_times=[i / fps for i in range(n)],
        fps=fps if video else None,
        sample_rate=sample_rate if audio else None,
        channels=channels if audio else 0,
        clicks=tuple(clicks) if audio else (),
    )


def write_timed(
    path,
    frame_times,
    *,
    seconds: float | None = None,
    size: tuple[int, int] = (32, 32),
    sample_rate: int | None = 16000,
    channels: int = 1,
    clicks=(),
    audio_start: float = 0.0,
    gop: int = 12,
) -> Media:
    """H.264 frames at arbitrary presentation times (variable frame rate) and an optional AAC
    (.mp4, .ts) or FLAC (.mkv) track whose first sample plays at ``audio_start``; clicks are
    absolute times relative to the first frame. MPEG-TS keeps AAC's 1024 priming samples (it has
    no edit list): its audio starts 1024 samples before the first frame, which it shifts later,
    and its timestamps do not start at 0.
    """
    path = os.fspath(path)
    frame_times = [float(t) for t in frame_times]
    seconds = seconds if seconds is not None else frame_times[-1] + 0.1
    tick = Fraction(1, 1000)
    frames = counter_frames(len(frame_times), *size)
    with av.open(path, mode="w") as container:
        vstream = container.add_stream("libx264", rate=round(len(frame_times) / seconds) or 1)
        vstream.width, vstream.height, vstream.pix_fmt = size[1], size[0], "yuv420p"
        vstream.time_base = vstream.codec_context.time_base = tick
        vstream.options = {"crf": "18", "preset": "veryfast", "g": str(gop)}
        astream = None
        if sample_rate:
            acodec = "flac" if path.endswith(".mkv") else "aac"
            astream = container.add_stream(acodec, rate=sample_rate)
            astream.layout = _LAYOUTS[channels]
            astream.format = "fltp" if acodec == "aac" else "s16"
        for img, t in zip(frames, frame_times):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts, frame.time_base = round(t * 1000), tick
            container.mux(vstream.encode(frame))
        container.mux(vstream.encode())
        if astream is not None:
            rel = [t - audio_start for t in clicks]
            samples = click_track(seconds - audio_start, sample_rate, rel, channels)
            _encode_audio(container, astream, samples, sample_rate, round(audio_start * sample_rate))
    return Media(
        path=path,
        seconds=seconds,
        frame_times=frame_times,
        fps=len(frame_times) / seconds,
        sample_rate=sample_rate,
        channels=channels if sample_rate else 0,
        clicks=tuple(clicks),
        audio_start=audio_start,
    )


def _encode_audio(container, stream, samples: np.ndarray, rate: int, first_pts: int) -> None:
    size = stream.codec_context.frame_size or 1024
    planar = stream.format.is_planar
    if stream.format.name.startswith("flt"):
        data = samples
    else:  # k / 32768 both ways, as avlearn.io.write_av does
        data = np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)
    for s in range(0, data.shape[1], size):
        chunk = data[:, s : s + size]
        arr = chunk if planar else chunk.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=stream.format.name, layout=stream.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, first_pts + s, Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def truncate(src, dst, fraction: float) -> str:
    """Copy the first ``fraction`` of the bytes of ``src`` to ``dst`` (a cut-short download)."""
    with open(src, "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return os.fspath(dst)


def write_garbage(path, nbytes: int = 4096, seed: int = 0) -> str:
    """A file of random bytes."""
    with open(path, "wb") as f:
        f.write(np.random.default_rng(seed).integers(0, 256, nbytes, dtype=np.uint8).tobytes())
    return os.fspath(path)


def write_empty(path) -> str:
    """A zero-byte file."""
    open(path, "wb").close()
    return os.fspath(path)


def tiny_sync_run(folder) -> str:
    """A run folder with an untrained ``multisensory_small`` (seed 0) and its recipe (16 fps,
    32x32, 16 kHz, 0.5 s windows): what the sync CLI tests load. Returns its weights.pt path."""
    import torch
    import yaml

    from avlearn.models import create_model

    run = os.path.join(os.fspath(folder), "run")
    os.makedirs(run)
    torch.manual_seed(0)
    torch.save(create_model("multisensory_small").state_dict(), os.path.join(run, "weights.pt"))
    cfg = {"task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
           "data": {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 0.5}}
    with open(os.path.join(run, "config.yaml"), "w") as f:
        f.write(yaml.safe_dump(cfg))
    return os.path.join(run, "weights.pt")
