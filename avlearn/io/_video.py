"""Choosing video frames by presentation time, converting only the frames that are kept.

Two modes (see :func:`avlearn.io.read_clip`):

* ``fps`` given: sample times ``t_i = start + i / fps`` for ``i < round(duration * fps)``; frame i
  is the frame being shown at ``t_i``: the last frame whose pts <= ``t_i``. This is right for
  variable frame rates and non-zero start times, where ``round(t * average_fps)`` is not.
* no ``fps``: every frame whose pts lies in ``[start, start + duration)``.

Speed: every decoded frame is kept as FFmpeg's YUV picture until it is known to be shown; only
then is it scaled and converted to RGB (once, by one reusable swscale context, even when it is
shown at several sample times). For H.264/HEVC, a frame that cannot be shown is not decoded at
all when the decoder can drop it (``skip_frame = NONREF``: non-reference frames, which nothing
else is predicted from). Whether a frame can be shown is decided from the packets already
demuxed: packet ``p`` is dropped only if a packet with a later pts ``q`` has been seen and no
sample time falls in ``[p, q)``, or ``p`` lies outside the clip. A frame that might be needed is
always decoded.
"""

from __future__ import annotations

import bisect
import math
import threading

import numpy as np
from av.video.reformatter import VideoReformatter

from avlearn.io._collect import Collector
from avlearn.io.errors import CorruptMediaError

__all__ = ["VideoCollector", "output_size", "to_rgb", "set_decoder_threads"]

# decoders whose NONREF discard drops exactly the frames nothing else references
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc"})

_local = threading.local()


def _reformatter() -> VideoReformatter:
    """One swscale context per thread, reused across calls (creating one costs ~1-2 ms)."""
    if not hasattr(_local, "reformatter"):
        _local.reformatter = VideoReformatter()
    return _local.reformatter


def to_rgb(frame, height: int, width: int) -> np.ndarray:
    """One decoded frame scaled and converted to (H, W, 3) uint8 RGB by FFmpeg's swscale.

    Every reader in avlearn.io converts through this one function (bilinear, one thread), so a
    frame read by :func:`avlearn.io.read_clip` and by the streaming reader is the same array.
    """
    # threads=1: swscale's own thread pool does not survive fork() into DataLoader workers (hangs)
    return _reformatter().reformat(
        frame, width=width, height=height, format="rgb24", interpolation="BILINEAR", threads=1
    ).to_ndarray()  # (H, W, 3)


def set_decoder_threads(stream, threads: int) -> None:
    """Decoder threads of a video stream: frame threading when > 1, else one slice thread."""
    stream.codec_context.thread_count = threads
    stream.codec_context.thread_type = "FRAME" if threads > 1 else "SLICE"


def output_size(height: int, width: int, size: int | tuple[int, int] | None) -> tuple[int, int]:
    """(H, W) of the returned frames: ``size`` as (H, W), an int for the short side, or native."""
    if size is None:
        return height, width
    if isinstance(size, int):
        if height <= width:
            return size, max(1, round(width * size / height))
        return max(1, round(height * size / width)), size
    return int(size[0]), int(size[1])


class VideoCollector(Collector):
    """Collects the frames of one clip from one video stream.

    Args:
        path, stream, expected_end, media_start: see :class:`~avlearn.io._collect.Collector`.
        start, end: the window in raw presentation seconds.
        duration: the window's length as asked (``end - start`` may differ in the last bit).
        fps: sampling rate, or None for every frame in the window.
        size: output size (see :func:`output_size`).
    """

    kind = "video"

    def __init__(self, *, path, stream, expected_end, media_start, start, end, duration, fps, size):
        self.start = start
        self.end = end
        self.fps = fps
        self.count = round(duration * fps) if fps else 0
        self.times = [start + i / fps for i in range(self.count)] if fps else []
        self.size = size
        rate = stream.average_rate or stream.guessed_rate
        self.frame_period = self.period = 1.0 / float(rate) if rate else 1.0 / 30.0
        self.skip_ok = stream.codec_context.name in _SKIP_NONREF_CODECS
        ctx = stream.codec_context
        self.hw = output_size(ctx.height, ctx.width, size) if ctx.height and ctx.width else None
        super().__init__(path=path, stream=stream, expected_end=expected_end, media_start=media_start)

    def need_time(self) -> float:
        return self.start

    def reset(self) -> None:
        self.seen: list[float] = []  # pts of packets demuxed in this pass, sorted
        self.skipping = False
        self.ctx.skip_frame = "DEFAULT"
        self.arrays: list[np.ndarray | None] = []  # one per returned frame (None: first frame)
        self.frame_times: list[float | None] = []
        self.prev = None  # (frame, time) of the last frame decoded
        self.prev_array: np.ndarray | None = None
        self.first: tuple[np.ndarray, float] | None = None  # fills samples before the stream
        self.last_duration = self.frame_period

    # -- which packets to decode ---------------------------------------------------------------
    def wants(self, packet, t: float | None) -> bool:
        if not self.skip_ok:
            return True
        skip = False
        if packet.pts is not None:
            p = packet.pts * self.tb
            skip = self._unneeded(p)
            bisect.insort(self.seen, p)
        if skip != self.skipping:
            self.ctx.skip_frame = "NONREF" if skip else "DEFAULT"
            self.skipping = skip
        return True

    def _unneeded(self, p: float) -> bool:
        eps = self.eps
        if not self.fps:
            return p < self.start - eps or p >= self.end - eps
        times = self.times
        if not times or p > times[-1] + eps:
            return True
        i = max(0, math.ceil((p - eps - self.start) * self.fps) - 1)
        while i < len(times) and times[i] + eps < p:  # first sample that could show p
            i += 1
        j = bisect.bisect_right(self.seen, p)
        if j == len(self.seen):
            return False  # no later frame seen yet: p may be the one shown
        return i >= len(times) or times[i] + eps >= self.seen[j]

    # -- which frames to keep ------------------------------------------------------------------
    def feed(self, frame, t: float) -> None:
        duration = frame.duration * self.tb if frame.duration else self.frame_period
        self.last_duration = duration
        if not self.fps:
            if t < self.start - self.eps:
                return
            if t >= self.end - self.eps:
                self.done = True
                return
            self.arrays.append(self._convert(frame))
            self.frame_times.append(t)
            return
        while len(self.arrays) < self.count and self.times[len(self.arrays)] + self.eps < t:
            self._show_prev()
        if self.prev is None and self.arrays and self.first is None:
            self.first = (self._convert(frame), t)  # samples before the stream's first frame
        self.prev = (frame, t)
        self.prev_array = None
        if len(self.arrays) >= self.count:
            self.done = True

    def _show_prev(self) -> None:
        if self.prev is None:
            self.arrays.append(None)
            self.frame_times.append(None)
            return
        if self.prev_array is None:
            self.prev_array = self._convert(self.prev[0])
        self.arrays.append(self.prev_array)
        self.frame_times.append(self.prev[1])

    def _convert(self, frame) -> np.ndarray:
        if self.hw is None:
            self.hw = output_size(frame.height, frame.width, self.size)
        return to_rgb(frame, *self.hw)  # (H, W, 3)

    # -- result --------------------------------------------------------------------------------
    def result(self) -> tuple[np.ndarray, list[float], tuple[int, int]]:
        """Frames (T, H, W, 3) uint8, their raw pts, and (before, after) padded frame counts.

        Raises:
            CorruptMediaError: no frame could be decoded, a decode failure or the end of a
                truncated file lies inside the window.
        """
        if self.n_decoded == 0:
            raise CorruptMediaError(self.path, f"no video frame could be decoded{self.eof_reason}")
        data_end = self.end
        after = 0
        if self.eof:
            data_end = max(self.last_time + self.last_duration, self.max_packet_end)
            self.check_truncated(data_end, self.end, tol=max(0.1, 2 * self.frame_period))
        if self.fps:
            while len(self.arrays) < self.count:  # the data ended: the last frame stays shown
                after += self.times[len(self.arrays)] >= data_end - self.eps
                self._show_prev()
            before = sum(a is None for a in self.arrays)
            if before:
                first_array, first_time = self.first
                self.arrays = [first_array if a is None else a for a in self.arrays]
                self.frame_times = [first_time if t is None else t for t in self.frame_times]
            self.check_errors(self.start, self.times[-1] + self.eps if self.times else self.start)
        else:
            before = 0
            self.check_errors(self.start, self.end)
        if not self.arrays:
            h, w = self.hw or (0, 0)
            return np.zeros((0, h, w, 3), np.uint8), [], (before, after)
        return np.stack(self.arrays), list(self.frame_times), (before, after)  # (T, H, W, 3)
