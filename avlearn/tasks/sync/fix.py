"""Re-synchronize a file: remux its video untouched and re-time its audio by a measured offset.

The correction an offset estimate calls for (Chung & Zisserman, ACCV 2016 workshops, Sec. 4:
"the offset ... can be used to correct the synchronization"): with the audio ``d`` seconds late
(``d > 0``, the convention of :mod:`avlearn.tasks.sync.inference`), the fixed audio at time
``t`` is the input's at ``t + d``, so its first ``d`` seconds are dropped; with the audio early
(``d < 0``) ``|d|`` seconds of silence are put in front. The video packets are copied as they
are (no decoding, byte-identical), the audio is decoded, shifted on its sample grid and
re-encoded (AAC in MP4/MOV/MKV, the container's default otherwise), one packet at a time, so
memory does not depend on the file's length.
"""

from __future__ import annotations

import math
import os

import av
import numpy as np

from avlearn.io.errors import CorruptMediaError, MediaError, MissingStreamError
from avlearn.io.probe import ffmpeg_reason, open_media

__all__ = ["shift_audio_file"]

_AUDIO_CODECS = {".mp4": "aac", ".m4v": "aac", ".mov": "aac", ".mkv": "aac", ".webm": "libopus"}


def shift_audio_file(src: str | os.PathLike, dst: str | os.PathLike, offset: float) -> dict[str, float]:
    """Write ``dst``: ``src``'s video packets copied, its audio moved ``offset`` seconds earlier.

    Args:
        src: a media file with video and audio.
        dst: the output (its extension picks the container; it must differ from ``src``).
        offset: how late the audio of ``src`` is, seconds (positive: drop its first ``offset``
            seconds; negative: prepend silence).

    Returns:
        ``{"offset", "samples_dropped", "samples_padded", "video_packets"}``.

    Raises:
        MissingStreamError: ``src`` lacks video or audio.
        MediaError: ``src`` cannot be read or ``dst`` cannot be written (both name the file).
        ValueError: ``dst`` is ``src``, or ``offset`` is not finite.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    if not math.isfinite(offset):
        raise ValueError(f"offset must be finite, got {offset}")
    if os.path.abspath(src) == os.path.abspath(dst):
        raise ValueError(f"{dst}: the fixed file must not overwrite its input")
    with open_media(src) as inp:
        if not inp.streams.video or not inp.streams.audio:
            raise MissingStreamError(src, "needs a video and an audio stream to re-synchronize")
        vin, ain = inp.streams.video[0], inp.streams.audio[0]
        rate = ain.codec_context.sample_rate or ain.rate
        layout = ain.codec_context.layout.name if ain.codec_context.layout else "stereo"
        codec = _AUDIO_CODECS.get(os.path.splitext(dst)[1].lower())
        try:
            out = av.open(dst, "w")
        except av.FFmpegError as exc:
            raise MediaError(dst, f"cannot write: {ffmpeg_reason(exc)}") from exc
        try:
            vout = out.add_stream_from_template(vin)
            aout = out.add_stream(codec or out.default_audio_codec, rate=rate, layout=layout)
            return _remux(src, inp, out, vin, ain, vout, aout, rate, offset)
        except av.FFmpegError as exc:
            raise MediaError(dst, f"re-synchronizing {src} failed: {ffmpeg_reason(exc)}") from exc
        finally:
            out.close()


def _remux(src, inp, out, vin, ain, vout, aout, rate, offset) -> dict[str, float]:
    shift = int(round(offset * rate))
    drop, pad = max(shift, 0), max(-shift, 0)
    fmt = aout.codec_context.format.name
    layout = aout.codec_context.layout.name
    resample = av.AudioResampler(format=fmt, layout=layout, rate=rate)
    frame_size = aout.codec_context.frame_size or 1024
    pending: list[np.ndarray] = []  # (C, n) planar samples waiting for a full encoder frame
    held = 0
    written = 0  # output samples encoded so far
    start_pts: int | None = None  # the input audio's first sample on the output's sample clock
    to_drop = drop
    n_video = 0

    def encode(block: np.ndarray | None) -> None:
        nonlocal written
        if block is not None:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block), format=fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = (start_pts or 0) + written
            frame.time_base = aout.time_base if aout.time_base is not None else None
            written += block.shape[1]
        for packet in aout.encode(None if block is None else frame):
            out.mux(packet)

    def push(samples: np.ndarray) -> None:
        nonlocal held
        pending.append(samples)
        held += samples.shape[1]
        while held >= frame_size:
            cat = np.concatenate(pending, axis=1)
            encode(cat[:, :frame_size])
            rest = cat[:, frame_size:]
            pending[:] = [rest] if rest.shape[1] else []
            held = rest.shape[1]

    try:
        for packet in inp.demux(vin, ain):
            if packet.stream.index == vin.index:
                if packet.dts is None and packet.size == 0:
                    continue
                packet.stream = vout
                out.mux(packet)
                n_video += 1
                continue
            for frame in packet.decode():
                if start_pts is None:
                    start_pts = int(round(float(frame.pts * frame.time_base) * rate)) if frame.pts is not None else 0
                    if pad:
                        channels = len(frame.layout.channels)
                        push(np.zeros((channels, pad), dtype=_dtype(fmt)))
                for rf in resample.resample(frame):
                    x = rf.to_ndarray()  # (C, n) planar
                    if to_drop:
                        cut = min(to_drop, x.shape[1])
                        x, to_drop = x[:, cut:], to_drop - cut
                    if x.shape[1]:
                        push(x)
    except av.FFmpegError as exc:
        raise CorruptMediaError(src, f"reading failed: {ffmpeg_reason(exc)}") from exc
    for rf in resample.resample(None):
        x = rf.to_ndarray()
        if to_drop:
            cut = min(to_drop, x.shape[1])
            x, to_drop = x[:, cut:], to_drop - cut
        if x.shape[1]:
            push(x)
    if held:
        encode(np.concatenate(pending, axis=1))
    encode(None)
    return {"offset": offset, "samples_dropped": drop, "samples_padded": pad, "video_packets": n_video}


def _dtype(fmt: str):
    return {"fltp": np.float32, "flt": np.float32, "s16p": np.int16, "s16": np.int16, "s32p": np.int32, "dblp": np.float64}.get(fmt, np.float32)
