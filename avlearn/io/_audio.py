"""Cutting audio by sample on the video's clock, resampling with FFmpeg's swresample.

Decoded frames are placed on the stream's sample grid by their pts (``index = round(pts x
rate)`` for the first frame, then contiguously, re-synchronising only when a frame's pts
disagrees by more than two time-base ticks, i.e. at real gaps), so a clip is never cut to
packet boundaries and never stretched. The window ``[start, start + duration)`` is taken with a
20 ms margin on each side (begun on a sample that both rates share), resampled once
(``av.AudioResampler``, whose output sample k sits at input time k / out_rate: no added delay),
and cut to exactly ``round(duration * sample_rate)`` samples, the first being the output-rate
sample nearest to ``start``. The samples are thus the same, whatever the window, as resampling
the whole stream and slicing it (within 1e-4, the resampler's edge effects). Output samples that
no decoded audio covers are zeros and are counted as padding.

Lossy codecs need a warm-up: the first frame decoded after a seek overlaps a frame the decoder
never saw (AAC's MDCT, Opus' 80 ms pre-roll). The collector therefore starts decoding two codec
frames before the margin; packets that end earlier are not decoded at all.
"""

from __future__ import annotations

import math

import av
import numpy as np

from avlearn.io._collect import Collector
from avlearn.io.errors import CorruptMediaError

__all__ = ["AudioCollector", "StreamResampler", "frame_to_float", "resample"]

_MARGIN_S = 0.02  # context kept around the window for the resampler's filter


def _nearest(x: float) -> int:
    """Round half up (Python's round() is half-to-even, which breaks index arithmetic)."""
    return math.floor(x + 0.5)


def frame_to_float(frame) -> np.ndarray:
    """A decoded AudioFrame as float32 (C, n) in [-1, 1], whatever its sample format."""
    arr = frame.to_ndarray()
    if not frame.format.is_planar:
        arr = arr.reshape(-1, frame.layout.nb_channels).T
    if arr.dtype.kind == "f":
        return arr.astype(np.float32, copy=False)
    if arr.dtype.kind == "u":  # u8: offset binary
        half = float(1 << (8 * arr.dtype.itemsize - 1))
        return ((arr.astype(np.float32) - half) / half).astype(np.float32)
    return (arr.astype(np.float32) / float(1 << (8 * arr.dtype.itemsize - 1))).astype(np.float32)


class StreamResampler:
    """Resample float32 (C, L) audio chunk by chunk with swresample, one resampler per channel.

    Output sample k sits at input time k / out_rate from the first input sample (swresample adds
    no delay), and pushing a signal in pieces gives the same samples as pushing it at once, so a
    stream can be resampled window by window with bounded memory.
    """

    def __init__(self, channels: int, rate: int, out_rate: int):
        self.rate = int(rate)
        self.resamplers = [av.AudioResampler(format="fltp", layout="mono", rate=int(out_rate)) for _ in range(channels)]

    def _run(self, frames) -> np.ndarray:
        rows = []
        for resampler, frame in zip(self.resamplers, frames):
            out = resampler.resample(frame)
            rows.append(np.concatenate([f.to_ndarray() for f in out], axis=1)[0] if out else np.zeros(0, np.float32))
        n = min(len(r) for r in rows)
        return np.stack([r[:n] for r in rows])  # (C, M)

    def push(self, x: np.ndarray) -> np.ndarray:
        """Resample the next (C, L) chunk; returns the (C, M) output samples ready so far."""
        frames = []
        for channel in x:
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channel[None], dtype=np.float32), format="fltp", layout="mono")
            frame.sample_rate = self.rate
            frames.append(frame)
        return self._run(frames)

    def flush(self) -> np.ndarray:
        """The (C, M) samples still held in the resamplers' filters (call once, at the end)."""
        return self._run([None] * len(self.resamplers))


def resample(x: np.ndarray, rate: int, out_rate: int) -> np.ndarray:
    """Resample float32 (C, L) from ``rate`` to ``out_rate`` with swresample, channel by channel."""
    resampler = StreamResampler(x.shape[0], rate, out_rate)
    return np.concatenate([resampler.push(x), resampler.flush()], axis=1)  # (C, ~L * out_rate / rate)


class AudioCollector(Collector):
    """Collects the samples of one clip from one audio stream.

    Args:
        path, stream, expected_end, media_start: see :class:`~avlearn.io._collect.Collector`.
        start, end: the window in raw presentation seconds.
        duration: the window's length as asked (``end - start`` may differ in the last bit).
        sample_rate: output rate, or None for the decoder's rate.
        mono: average the channels.
    """

    kind = "audio"

    def __init__(self, *, path, stream, expected_end, media_start, start, end, duration, sample_rate, mono):
        self.start = start
        self.end = end
        self.duration = duration
        self.out_rate = sample_rate
        self.mono = mono
        ctx = stream.codec_context
        rate = ctx.sample_rate or 48000
        self.frame_dur = self.period = (ctx.frame_size or 1024) / rate
        super().__init__(path=path, stream=stream, expected_end=expected_end, media_start=media_start)

    def need_time(self) -> float:
        return self.start - _MARGIN_S - 2 * self.frame_dur

    def seek_time(self) -> float:
        return self.need_time() - self.frame_dur

    def reset(self) -> None:
        self.rate: int | None = None
        self.channels: int | None = None
        self.pos: int | None = None  # sample index where the next frame should start
        self.lo = self.hi = 0  # sample indices kept: the window with its margins
        self.data_lo: int | None = None
        self.chunks: list[tuple[int, np.ndarray]] = []

    def wants(self, packet, t: float | None) -> bool:
        if t is None or not packet.duration:
            return True
        return t + packet.duration * self.tb >= self.seek_time()

    def feed(self, frame, t: float) -> None:
        rate, channels = frame.sample_rate, frame.layout.nb_channels
        if self.rate is None:
            self.rate, self.channels = rate, channels
            # start the kept span on a sample shared by both rates, so output sample k sits at
            # k / out_rate on the stream's own clock whatever the window (see result())
            step = rate // math.gcd(rate, self.out_rate or rate)
            self.lo = (_nearest(self.start * rate) - math.ceil(_MARGIN_S * rate)) // step * step
            self.hi = _nearest(self.end * rate) + math.ceil(_MARGIN_S * rate) + 1
            self.pos = _nearest(t * rate)
            self.data_lo = self.pos
        elif (rate, channels) != (self.rate, self.channels):
            raise CorruptMediaError(
                self.path,
                f"audio changes from {self.rate} Hz x{self.channels} to {rate} Hz x{channels} mid-stream",
            )
        idx = self.pos
        if frame.pts is not None:
            actual = _nearest(t * rate)
            if abs(actual - idx) > max(2, math.ceil(2 * self.tb * rate)):
                idx = actual  # a real gap (filled with zeros) or overlap (later data wins)
        n = frame.samples
        self.pos = idx + n
        a, b = max(idx, self.lo), min(idx + n, self.hi)
        if a < b:
            self.chunks.append((a, frame_to_float(frame)[:, a - idx : b - idx]))
        if self.pos >= self.hi:
            self.done = True

    def result(self) -> tuple[np.ndarray, int, tuple[int, int]]:
        """Samples (C, N) float32, their rate, and (before, after) zero-padded sample counts.

        Raises:
            CorruptMediaError: no audio could be decoded, or a decode failure or the end of a
                truncated file lies inside the window.
        """
        if self.rate is None:
            raise CorruptMediaError(self.path, f"no audio could be decoded{self.eof_reason}")
        rate, out_rate = self.rate, self.out_rate or self.rate
        data_hi = self.pos
        if self.eof:
            if math.isfinite(self.max_packet_end):  # the last packet may say to drop padding
                data_hi = max(self.data_lo, min(data_hi, _nearest(self.max_packet_end * rate)))
            self.check_truncated(data_hi / rate, self.end, tol=0.1 + self.frame_dur)
        self.check_errors(self.start, self.end)
        seg = np.zeros((self.channels, self.hi - self.lo), np.float32)  # (C, L) window + margins
        for a, chunk in self.chunks:
            seg[:, a - self.lo : a - self.lo + chunk.shape[1]] = chunk
        if self.mono:
            seg = seg.mean(axis=0, keepdims=True)  # (1, L)
        if out_rate != rate:
            seg = resample(seg, rate, out_rate)  # (C, ~L * out_rate / rate)
        n = round(self.duration * out_rate)
        first = _nearest(self.start * out_rate)  # output sample j plays at (first + j) / out_rate
        k0 = first - self.lo * out_rate // rate  # exact: lo is on both rates' grids
        out = np.zeros((seg.shape[0], n), np.float32)  # (C, N)
        piece = seg[:, k0 : k0 + n]
        out[:, : piece.shape[1]] = piece
        # an output sample is covered when the nearest input sample is decoded data; the others
        # are zeroed and counted as padding
        covered_lo = math.ceil((self.data_lo - 0.5) * out_rate / rate - first - 1e-9)
        covered_hi = math.ceil((data_hi - 0.5) * out_rate / rate - first - 1e-9)
        before = min(max(covered_lo, 0), n)
        after = n - min(max(covered_hi, 0), n)
        out[:, :before] = 0.0
        out[:, n - after :] = 0.0
        np.clip(out, -1.0, 1.0, out=out)
        return out, out_rate, (before, after)
