"""Seek-and-decode passes shared by the video and audio collectors of :mod:`avlearn.io.read`.

A *pass* seeks one stream to the keyframe before a target time and demuxes forward, handing
each packet to the collector of its stream; a collector decodes only the packets it needs and
says when it has seen enough. After the first decoded frame a collector checks that the seek
landed early enough (the frame is not later than the first time it needs); if not, it asks for
another pass with an earlier target (0.5, 2, 8, 32 s back, then the start of the file). This is
how a demuxer that seeks on decode timestamps (MP4 with B-frames: the keyframe's dts is before
the target but its pts after it) or one that seeks coarsely (Matroska cues, AVI) still yields the
exact frames and samples. Audio rides along in the video's pass and only seeks on its own when
the video's keyframe did not leave enough audio pre-roll.

At the end of the file each decoder is drained (FFmpeg's flush), so frame-threaded decoders never
lose their last frames. A packet that fails to decode is recorded with its time; the collectors
raise :class:`~avlearn.io.errors.CorruptMediaError` only when such a failure, or the end of the
data, falls inside the window that was asked for.
"""

from __future__ import annotations

import abc
import math

import av

from avlearn.io.errors import CorruptMediaError
from avlearn.io.probe import ffmpeg_reason

__all__ = ["Collector", "decode_packet", "decode_streams", "packet_time"]

# how far before its own target a collector seeks on each retry; after these, the file start
_BACKOFF_S = (0.0, 0.5, 2.0, 8.0, 32.0)


def packet_time(packet, tb: float) -> float | None:
    """A packet's presentation time in seconds (its dts when it has no pts; None if neither)."""
    ts = packet.pts if packet.pts is not None else packet.dts
    return ts * tb if ts is not None else None


def decode_packet(ctx, packet, t: float | None, errors: list) -> list:
    """Decode one packet (None drains the decoder); a failure is appended to ``errors`` as
    ``(t, reason)`` (drain failures are ignored) and gives no frames."""
    try:
        return ctx.decode(packet)
    except av.FFmpegError as exc:
        if packet is not None:
            errors.append((t, ffmpeg_reason(exc)))
        return []


class Collector(abc.ABC):
    """Decodes one stream for one clip; subclasses say which packets and frames matter.

    Times are raw presentation seconds (pts x time base). Abstract: subclasses implement
    :meth:`need_time`, :meth:`feed` and :meth:`reset`, and may override :meth:`wants` and
    :meth:`seek_time`.

    Attributes:
        path: the file (for error messages).
        stream: the PyAV stream decoded.
        expected_end: where the container says this stream's data ends (raw seconds).
    """

    kind = "stream"

    def __init__(self, *, path: str, stream, expected_end: float, media_start: float):
        self.path = path
        self.stream = stream
        self.ctx = stream.codec_context
        self.tb = float(stream.time_base) if stream.time_base else 1e-6
        # pts rounded to a coarse time base (Matroska: 1 ms) must still compare equal
        self.eps = min(0.5 * self.tb, 1e-3) + 1e-9
        self.expected_end = expected_end
        self.media_start = media_start
        self.period = getattr(self, "period", 0.0)  # typical frame duration (set by subclasses)
        self.attempts = 0
        self.begin_pass(from_beginning=True)

    # -- implemented by subclasses -------------------------------------------------------------
    @abc.abstractmethod
    def need_time(self) -> float:
        """Earliest time whose decoded data this collector must see (raw seconds)."""

    def seek_time(self) -> float:
        """Where a pass led by this stream seeks to (default: :meth:`need_time`)."""
        return self.need_time()

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything decoded in an earlier pass."""

    def wants(self, packet, t: float | None) -> bool:
        """Whether to decode ``packet`` (presentation time ``t``) at all."""
        return True

    @abc.abstractmethod
    def feed(self, frame, t: float) -> None:
        """Take one decoded frame shown at ``t``; set ``self.done`` when nothing more is needed."""

    # -- shared machinery ----------------------------------------------------------------------
    def begin_pass(self, *, from_beginning: bool) -> None:
        self.from_beginning = from_beginning
        self.done = False
        self.need_earlier = False
        self.eof = False
        self.eof_reason = ""
        self.flushed = False
        self.first_time: float | None = None
        self.last_time: float | None = None
        self.max_packet_end = -math.inf
        self.n_decoded = 0
        self.errors: list[tuple[float | None, str]] = []
        self.reset()

    def target(self) -> float | None:
        """Seek target of the next pass this collector leads; None means the file start."""
        if self.attempts >= len(_BACKOFF_S):
            return None
        t = self.seek_time() - _BACKOFF_S[self.attempts]
        return None if t <= self.media_start + self.eps else t

    def consume(self, packet) -> None:
        """Decode ``packet`` if needed and feed its frames; decode failures are recorded."""
        if packet.size == 0:  # the demuxer's end-of-file packet: drain the decoder
            self.flushed = True
            self._decode(None, None)
            return
        t = packet_time(packet, self.tb)
        if t is not None and packet.duration:
            self.max_packet_end = max(self.max_packet_end, t + packet.duration * self.tb)
        if self.wants(packet, t):
            self._decode(packet, t)

    def finish_eof(self, error: BaseException | None) -> None:
        """The data ended (or could not be read further): drain and remember why."""
        if not self.flushed and not self.done:
            self.flushed = True
            self._decode(None, None)
        self.eof = True
        if self.first_time is None and not self.from_beginning:
            self.need_earlier = True  # the seek went past every frame: retry earlier
        if error is not None:
            self.eof_reason = f" (reading stopped: {ffmpeg_reason(error)})"

    def _decode(self, packet, t: float | None) -> None:
        for frame in decode_packet(self.ctx, packet, t, self.errors):
            if self.done:
                return
            ft = frame.pts * self.tb if frame.pts is not None else self._next_time()
            self.n_decoded += 1
            if self.first_time is None:
                self.first_time = ft
                if not self.from_beginning and ft > self.need_time() + self.eps:
                    self.need_earlier = True  # the seek landed too late: retry earlier
                    self.done = True
                    return
            self.last_time = ft
            self.feed(frame, ft)

    def _next_time(self) -> float:
        """Time of a frame without pts: one frame period after the previous one."""
        return self.last_time + self.period if self.last_time is not None else self.need_time()

    def check_errors(self, lo: float, hi: float) -> None:
        """Raise if a decode failure (or the end of a cut-short file) lies in [lo, hi)."""
        for t, msg in self.errors:
            if t is None or lo - self.eps <= t < hi:
                where = f" at {t:.3f}s" if t is not None else ""
                raise CorruptMediaError(self.path, f"{self.kind} stream undecodable{where}: {msg}")

    def check_truncated(self, data_end: float, needed_until: float, tol: float) -> None:
        """Raise when the data stopped before the window ends although the stream goes on."""
        if data_end + tol < min(needed_until, self.expected_end):
            raise CorruptMediaError(
                self.path,
                f"truncated or damaged: {self.kind} data ends at {data_end:.3f}s but the stream "
                f"should last to {self.expected_end:.3f}s and the clip needs it to {needed_until:.3f}s"
                f"{self.eof_reason}",
            )


def decode_streams(container, collectors: list[Collector]) -> None:
    """Run passes until every collector has what it needs (see the module docstring)."""
    group = list(collectors)
    fresh = True  # nothing demuxed yet: the container already sits at the file start
    while group:
        lead = group[0]
        target = lead.target()
        try:
            _seek(container, lead, target, fresh)
        except av.FFmpegError as exc:
            if target is None:
                raise CorruptMediaError(lead.path, f"cannot seek to the start: {ffmpeg_reason(exc)}") from exc
            lead.attempts = len(_BACKOFF_S)  # seeking fails here: decode from the start
            continue
        fresh = False
        for col in group:
            col.begin_pass(from_beginning=target is None)
        _run_pass(container, group)
        failed = [c for c in group if c.need_earlier]
        for col in failed:
            if col is lead:
                col.attempts += 1
        group = failed


def _seek(container, lead: Collector, target: float | None, fresh: bool) -> None:
    if target is None:
        if fresh:
            return
        # Well before the first timestamp: a transport stream seeks by bisection and lands
        # after its exact start time; AVI refuses negative times, hence the fallback to 0.
        first = container.start_time or 0
        for offset in (min(first, 0) - 60 * av.time_base, 0):
            try:
                container.seek(offset, backward=True, any_frame=False)
                return
            except av.FFmpegError as exc:
                error = exc
        raise error
    offset = math.floor(target / lead.tb)
    container.seek(offset, backward=True, any_frame=False, stream=lead.stream)


def _run_pass(container, group: list[Collector]) -> None:
    by_index = {c.stream.index: c for c in group}
    error = None
    try:
        for packet in container.demux(*[c.stream for c in group]):
            col = by_index.get(packet.stream.index)
            if col is not None and not col.done:
                col.consume(packet)
            if all(c.done for c in group):
                return
    except av.FFmpegError as exc:  # damaged data: keep what was decoded
        error = exc
    for col in group:
        if not col.done:
            col.finish_eof(error)
