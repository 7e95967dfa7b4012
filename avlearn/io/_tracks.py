"""The two halves of the streaming window reader: one decoded stream each, windows fed as it goes.

:class:`VideoTrack` gives every open window the frame shown at each of its sample times (the last
frame whose pts <= the time, the rule of :mod:`avlearn.io._video`), converting a frame to the
model's size and RGB with swscale only once, and only when some sample time shows it.
:class:`AudioTrack` places decoded samples on the stream's sample grid by pts (the rule of
:mod:`avlearn.io._audio`: contiguous, re-synchronised only at real gaps), resamples them with
one stateful swresample pass over the whole stream, and keeps only the output samples that a
window not yet emitted still needs. Neither holds more than the open windows need.
"""

from __future__ import annotations

import bisect
import collections
import math

import numpy as np

from avlearn.io._audio import _MARGIN_S, StreamResampler, _nearest, frame_to_float
from avlearn.io._video import _SKIP_NONREF_CODECS, output_size, to_rgb
from avlearn.io.errors import CorruptMediaError

__all__ = ["AudioTrack", "VideoTrack", "Window"]


class Window:
    """One window being filled: [t0, t0 + duration) in raw presentation seconds.

    Attributes:
        index: the window's number k (t0 = start + k * hop).
        t0, duration: the window.
        times: the sample times of its frames (fps mode); every frame in the window otherwise.
        arrays, frame_times: frames given so far and the pts of each.
        pad_before: frames shown before the stream's first frame (the first frame repeated).
    """

    def __init__(self, index: int, t0: float, duration: float, fps: float | None):
        self.index = index
        self.t0 = t0
        self.duration = duration
        count = round(duration * fps) if fps else 0
        self.times = [t0 + i / fps for i in range(count)]
        self.arrays: list[np.ndarray] = []
        self.frame_times: list[float] = []
        self.pad_before = 0
        self.video_done = False
        self.valid = duration  # seconds of real media from t0 (less for a padded last window)

    @property
    def end(self) -> float:
        return self.t0 + self.duration

    def shorten(self, duration: float, fps: float | None) -> None:
        """Cut the window to ``duration`` (the last, partial window)."""
        self.duration = duration
        if fps:
            count = round(duration * fps)
        else:  # every frame before the new end
            count = sum(t < self.t0 + duration - 1e-6 for t in self.frame_times)
        del self.times[count:], self.arrays[count:], self.frame_times[count:]


class VideoTrack:
    """Feeds decoded frames of one video stream into the open windows.

    Args:
        path: the file (for errors).
        stream: the PyAV video stream.
        fps: sampling rate, or None for every frame in a window.
        size: output size (see :func:`avlearn.io._video.output_size`).
    """

    def __init__(self, path: str, stream, fps: float | None, size):
        self.path = path
        self.fps = fps
        self.size = size
        self.tb = float(stream.time_base) if stream.time_base else 1e-6
        self.eps = min(0.5 * self.tb, 1e-3) + 1e-9
        rate = stream.average_rate or stream.guessed_rate
        self.period = 1.0 / float(rate) if rate else 1.0 / 30.0
        self.stream_fps = float(rate) if rate else None
        ctx = stream.codec_context
        self.hw = output_size(ctx.height, ctx.width, size) if ctx.height and ctx.width else None
        self.prev = None  # (frame, time) of the last frame decoded
        self.prev_array: np.ndarray | None = None
        self.last_time: float | None = None
        self.last_duration = self.period
        self.n_decoded = 0
        self.max_packet_end = -math.inf
        self.ctx = ctx
        self.skip_ok = bool(fps) and ctx.name in _SKIP_NONREF_CODECS
        self.skipping = False
        self.seen: list[float] = []  # pts of recent packets, sorted

    def choose_skip(self, t: float | None, shown_between) -> None:
        """Before decoding a packet of pts ``t``: let the decoder drop it (when nothing references
        it) if no sample time can show it, i.e. none falls between ``t`` and the next pts already
        demuxed (``shown_between(lo, hi)``, conservative). The rule of :mod:`avlearn.io._video`."""
        if not self.skip_ok or t is None:
            return
        skip = False
        j = bisect.bisect_right(self.seen, t)
        if j < len(self.seen) and self.n_decoded > 0:  # the first frame is always decoded (padding)
            skip = not shown_between(t - 2 * self.eps, self.seen[j] + self.eps)
        bisect.insort(self.seen, t)
        if len(self.seen) > 512:  # only recent pts matter: packets arrive nearly in pts order
            del self.seen[:256]
        if skip != self.skipping:
            self.ctx.skip_frame = "NONREF" if skip else "DEFAULT"
            self.skipping = skip

    def _convert(self, frame) -> np.ndarray:
        if self.hw is None:
            self.hw = output_size(frame.height, frame.width, self.size)
        return to_rgb(frame, *self.hw)  # (H, W, 3)

    def time_of(self, frame) -> float:
        """A frame's presentation time; one period after the previous frame when it has no pts."""
        if frame.pts is not None:
            return frame.pts * self.tb
        return self.last_time + self.period if self.last_time is not None else 0.0

    def feed(self, frame, t: float, windows) -> None:
        """Take one decoded frame shown from ``t`` on; ``windows`` are the open windows."""
        self.n_decoded += 1
        self.last_duration = frame.duration * self.tb if frame.duration else self.period
        self.last_time = t
        eps = self.eps
        if not self.fps:
            array = None
            for win in windows:
                if win.t0 - eps <= t < win.end - eps:
                    array = self._convert(frame) if array is None else array
                    win.arrays.append(array)
                    win.frame_times.append(t)
                elif t >= win.end - eps:
                    win.video_done = True
            return
        first = None
        for win in windows:
            while len(win.arrays) < len(win.times) and win.times[len(win.arrays)] + eps < t:
                if self.prev is None:  # before the stream's first frame: show that frame
                    first = self._convert(frame) if first is None else first
                    win.arrays.append(first)
                    win.frame_times.append(t)
                    win.pad_before += 1
                else:
                    self._show_prev(win)
            win.video_done = len(win.arrays) >= len(win.times)
        self.prev = (frame, t)
        self.prev_array = first

    def _show_prev(self, win: Window) -> None:
        if self.prev_array is None:
            self.prev_array = self._convert(self.prev[0])
        win.arrays.append(self.prev_array)
        win.frame_times.append(self.prev[1])

    def data_end(self) -> float:
        """Where the decoded video ends (after the last frame's duration)."""
        if self.last_time is None:
            return -math.inf
        return max(self.last_time + self.last_duration, self.max_packet_end)

    def finish(self, win: Window) -> int:
        """At the end of the data: fill ``win``'s remaining samples with the last frame.

        Returns:
            How many sample times lie at or after the end of the data (video_pad after).
        """
        after = 0
        if self.fps:
            end = self.data_end()
            while len(win.arrays) < len(win.times):
                after += win.times[len(win.arrays)] >= end - self.eps
                if self.prev is None:
                    raise CorruptMediaError(self.path, "no video frame could be decoded")
                self._show_prev(win)
        win.video_done = True
        return after

    def frames(self, win: Window) -> np.ndarray:
        """The window's frames (T, H, W, 3) uint8."""
        if not win.arrays:
            h, w = self.hw or (0, 0)
            return np.zeros((0, h, w, 3), np.uint8)
        return np.stack(win.arrays)  # (T, H, W, 3)


class AudioTrack:
    """Decoded samples of one audio stream, resampled as they come, kept while windows need them.

    Args:
        path: the file (for errors).
        stream: the PyAV audio stream.
        sample_rate: output rate, or None for the decoder's rate.
        mono: average the channels (before resampling, as :func:`avlearn.io.read_clip` does).
    """

    def __init__(self, path: str, stream, sample_rate: int | None, mono: bool):
        self.path = path
        self.want_rate = sample_rate
        self.mono = mono
        self.tb = float(stream.time_base) if stream.time_base else 1e-6
        self.rate: int | None = None
        self.out_rate: int | None = None
        self.channels: int | None = None
        self.resampler: StreamResampler | None = None
        self.pos = 0  # input sample index where the next frame should start
        self.data_lo: int | None = None
        self.out_hi = 0  # output sample index after the last one produced
        self.chunks: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self.max_packet_end = -math.inf
        self.flushed = False

    def time(self) -> float:
        """Raw seconds up to which samples have been decoded."""
        return self.pos / self.rate if self.rate else -math.inf

    def feed(self, frame, t: float) -> None:
        """Place one decoded frame (pts time ``t``) on the sample grid and resample it."""
        rate, channels = frame.sample_rate, frame.layout.nb_channels
        if self.rate is None:
            self._begin(rate, channels, t)
        elif (rate, channels) != (self.rate, self.channels):
            raise CorruptMediaError(
                self.path, f"audio changes from {self.rate} Hz x{self.channels} to {rate} Hz x{channels} mid-stream"
            )
        x = frame_to_float(frame)  # (C, n)
        if frame.pts is not None:
            actual = _nearest(t * rate)
            gap = actual - self.pos
            if abs(gap) > max(2, math.ceil(2 * self.tb * rate)):
                if gap > 0:  # a real gap: zeros
                    self._push(np.zeros((x.shape[0], gap), np.float32))
                else:  # overlapping data: the earlier samples are kept
                    x = x[:, -gap:]
        if x.shape[1]:
            self._push(x)

    def _begin(self, rate: int, channels: int, t: float) -> None:
        self.rate, self.channels = rate, channels
        self.out_rate = self.want_rate or rate
        # start on a sample both rates share, a margin before the data (as read_clip does), so
        # output sample j sits at j / out_rate on the stream's clock
        step = rate // math.gcd(rate, self.out_rate)
        first = _nearest(t * rate)
        lo = (first - math.ceil(_MARGIN_S * rate)) // step * step
        self.data_lo = first
        self.pos = lo
        self.out_hi = lo * self.out_rate // rate
        if self.out_rate != rate:
            self.resampler_channels = 1 if self.mono else channels
            self.resampler = StreamResampler(self.resampler_channels, rate, self.out_rate)
        self._push(np.zeros((channels, first - lo), np.float32))

    def _push(self, x: np.ndarray) -> None:
        self.pos += x.shape[1]
        if self.mono and x.shape[0] > 1:
            x = x.mean(axis=0, keepdims=True)  # (1, n)
        self._append(self.resampler.push(x) if self.resampler is not None else x)

    def _append(self, y: np.ndarray) -> None:
        if y.shape[1]:
            self.chunks.append((self.out_hi, y))
            self.out_hi += y.shape[1]

    def flush(self) -> None:
        """The end of the data: drain the resampler."""
        if self.resampler is not None and not self.flushed:
            # zeros after the data, as read_clip's window margin has, then drain the filter
            pad = np.zeros((self.resampler_channels, math.ceil(_MARGIN_S * self.rate)), np.float32)
            self._append(np.concatenate([self.resampler.push(pad), self.resampler.flush()], axis=1))
        self.flushed = True

    def drop_before(self, index: int) -> None:
        """Forget output samples before ``index`` (no window needs them any more)."""
        while self.chunks and self.chunks[0][0] + self.chunks[0][1].shape[1] <= index:
            self.chunks.popleft()

    def covers(self, t0: float, duration: float) -> bool:
        """Whether every output sample of the window has been produced."""
        if self.out_rate is None:
            return False
        return self.out_hi >= _nearest(t0 * self.out_rate) + round(duration * self.out_rate)

    def samples(self, t0: float, duration: float, eof: bool) -> tuple[np.ndarray, tuple[int, int]]:
        """The window's samples (C, N) float32 and (before, after) zero-padded sample counts."""
        if self.rate is None:
            raise CorruptMediaError(self.path, "no audio could be decoded")
        rate, out_rate = self.rate, self.out_rate
        first = _nearest(t0 * out_rate)
        n = round(duration * out_rate)
        out = np.zeros((1 if self.mono else self.channels, n), np.float32)  # (C, N)
        starts = [c[0] for c in self.chunks]
        i = max(0, bisect.bisect_right(starts, first) - 1)
        for a, chunk in list(self.chunks)[i:]:
            if a >= first + n:
                break
            lo, hi = max(a, first), min(a + chunk.shape[1], first + n)
            if lo < hi:
                out[:, lo - first : hi - first] = chunk[:, lo - a : hi - a]
        data_hi = self.pos
        if eof and math.isfinite(self.max_packet_end):  # the last packet may say to drop padding
            data_hi = max(self.data_lo, min(data_hi, _nearest(self.max_packet_end * rate)))
        covered_lo = math.ceil((self.data_lo - 0.5) * out_rate / rate - 1e-9) - first
        covered_hi = math.ceil((data_hi - 0.5) * out_rate / rate - 1e-9) - first if eof else n
        before = min(max(covered_lo, 0), n)
        after = n - min(max(covered_hi, 0), n)
        out[:, :before] = 0.0
        out[:, n - after :] = 0.0
        np.clip(out, -1.0, 1.0, out=out)
        return out, (before, after)

    def data_end(self) -> float:
        """Raw seconds where the decoded audio ends."""
        if self.rate is None:
            return -math.inf
        data_hi = self.pos
        if math.isfinite(self.max_packet_end):
            data_hi = max(self.data_lo, min(data_hi, _nearest(self.max_packet_end * self.rate)))
        return data_hi / self.rate
