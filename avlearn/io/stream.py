"""Streaming window reader: a whole file as fixed windows, decoded once, memory bounded by a window.

Inference on real videos (minutes long, 1080p) cannot decode a file into memory first, and
reading each window with :func:`avlearn.io.read_clip` seeks and re-decodes the overlap. The
reader here demuxes the file once, front to back, and yields one :class:`~avlearn.io.AVClip`
per window ``[start + k * hop, start + k * hop + window)`` as soon as the window is complete:

* frames are picked by presentation time at the model's rate (frame i of a window is the frame
  shown at ``t0 + i / fps``: right for variable frame rates and non-zero start times) and
  converted to the model's size and RGB by swscale only when some window shows them, with the
  same converter as ``read_clip``, so a window's frames equal ``read_clip``'s of the same span;
* audio is placed on the stream's sample grid by pts, averaged to mono if asked, and resampled
  by one swresample pass over the whole stream (:class:`avlearn.io._audio.StreamResampler`); a
  window's samples match ``read_clip``'s within the resampler's edge effects (~1e-4);
* only the frames of the open windows (at the model's size) and the audio since the earliest
  window not yet yielded are held, so peak memory depends on the window, not on the file's
  duration or resolution. When both streams are read, the audio is demuxed from a second handle
  on the file, the stream that is behind read next: badly interleaved files and audio that ends
  early hold nothing back;
* H.264 / HEVC frames that no sample time shows and nothing references are not decoded at all
  (the decoder's NONREF skip, as in ``read_clip``).

Windows may overlap (``hop < window``) or leave gaps (``hop > window``). The last, partial
window (the data end inside it, not covered by an earlier window) follows ``last``: ``"pad"``
yields it at full length padded like ``read_clip`` past the end (last frame repeated, audio
zeros; ``meta["valid"]`` says how many seconds are real), ``"shorten"`` yields it cut at the
end, ``"drop"`` leaves it out. Decoding starts at the file start (no seek), so a late
``start`` costs the decode, not the conversion, of what precedes it.

The reader object holds only its arguments until iterated (each iteration opens the file anew),
so it can be handed to DataLoader workers; decoder threads are explicit (``threads``, default 1:
one slice thread, which survives ``fork``).
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Iterator
from contextlib import nullcontext

import av
import torch

from avlearn.io._collect import decode_packet, packet_time
from avlearn.io._tracks import AudioTrack, VideoTrack, Window
from avlearn.io._video import set_decoder_threads
from avlearn.io.errors import CorruptMediaError, MediaError, MissingStreamError
from avlearn.io.probe import clock_origin, ffmpeg_reason, inspect_container, open_media, probe
from avlearn.io.read import _request, _stream_end
from avlearn.io.types import AVClip

__all__ = ["StreamReader", "stream_windows"]

_LAST = ("pad", "shorten", "drop")
_TOL_S = 1e-3  # a window ending this close after the data end still counts as full


class StreamReader:
    """Iterate over a media file's windows, decoding the file once.

    Args:
        path: the media file.
        window: window length in seconds.
        hop: seconds between window starts (default ``window``: back to back).
        start: first window's start on the file's clock (seconds, as in ``read_clip``).
        end: stop at this time (None: the end of the data); treated like the data end.
        fps, size, sample_rate, mono, video, audio, threads: as in :func:`avlearn.io.read_clip`.
        last: the last partial window: ``"pad"``, ``"shorten"`` or ``"drop"`` (module doc).

    Iterating yields AVClip windows in order: ``video`` uint8 (T, H, W, 3) with
    ``T == round(duration * fps)`` (every frame in the window when ``fps`` is None), ``audio``
    float32 (C, N) with ``N == round(duration * sample_rate)``, ``start`` the window's exact t0,
    ``duration`` its length, and ``meta``: ``index`` (k), ``valid`` (seconds of real media from
    t0), ``frame_times``, ``video_pad``, ``audio_pad``, ``clock_origin`` (as in ``read_clip``).

    Raises (while iterating):
        CorruptMediaError: unreadable file, or damaged data / a truncated file inside a window
            (windows before the damage have been yielded).
        MissingStreamError: a stream asked for is absent.
        ValueError: invalid arguments (raised at construction).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        window: float,
        hop: float | None = None,
        *,
        start: float = 0.0,
        end: float | None = None,
        fps: float | None = None,
        size: int | tuple[int, int] | None = None,
        sample_rate: int | None = None,
        mono: bool = False,
        video: bool = True,
        audio: bool = True,
        threads: int = 1,
        last: str = "pad",
    ):
        if not window > 0:
            raise ValueError(f"StreamReader: window must be > 0 seconds, got {window}")
        hop = window if hop is None else hop
        if not hop > 0:
            raise ValueError(f"StreamReader: hop must be > 0 seconds, got {hop}")
        if last not in _LAST:
            raise ValueError(f"StreamReader: last must be one of {_LAST}, got {last!r}")
        if end is not None and not end > start:
            raise ValueError(f"StreamReader: end ({end}) must be after start ({start})")
        self.path = os.fspath(path)
        self.window = float(window)
        self.hop = float(hop)
        self.start = float(start)
        self.end = None if end is None else float(end)
        self.last = last
        self.req = _request(fps, size, sample_rate, mono, video, audio, threads, who="StreamReader")

    def count(self, duration: float | None = None) -> int:
        """How many windows a media of ``duration`` seconds gives (probed when None); for progress bars."""
        if duration is None:
            duration = probe(self.path).duration
        span = (min(duration, self.end) if self.end is not None else duration) - self.start
        if span <= 0:
            return 0
        full = math.floor((span - self.window + _TOL_S) / self.hop) + 1 if span + _TOL_S >= self.window else 0
        covered = (full - 1) * self.hop + self.window if full else 0.0
        partial = full * self.hop < span - _TOL_S and span > covered + _TOL_S
        return full + (self.last != "drop" and partial)

    def __iter__(self) -> Iterator[AVClip]:
        both = self.req.video and self.req.audio
        with open_media(self.path) as container, open_media(self.path) if both else nullcontext() as audio_container:
            try:
                yield from _Run(self, container, audio_container).windows()
            except MediaError:
                raise
            except av.FFmpegError as exc:
                raise CorruptMediaError(self.path, f"decoding failed: {ffmpeg_reason(exc)}") from exc


def stream_windows(path: str | os.PathLike, window: float, hop: float | None = None, **kwargs) -> Iterator[AVClip]:
    """``iter(StreamReader(path, window, hop, **kwargs))``: the windows of a file, decoded once."""
    return iter(StreamReader(path, window, hop, **kwargs))


class _Run:
    """One pass over one open container."""

    def __init__(self, reader: StreamReader, container, audio_container=None):
        self.r = reader
        self.container = container
        self.audio_container = audio_container
        path, req = reader.path, reader.req
        info = inspect_container(container, path)
        self.origin = clock_origin(container)
        self.vt = self.at = None
        self.expected = {}
        for kind, sinfo in (("video", info.video), ("audio", info.audio)):
            if not getattr(req, kind):
                continue
            if sinfo is None:
                raise MissingStreamError(path, f"no {kind} stream")
            stream = container.streams[sinfo.index]
            if stream.codec_context is None:
                raise CorruptMediaError(path, f"{kind} stream #{sinfo.index}: no decoder for codec {sinfo.codec!r}")
            self.expected[sinfo.index] = _stream_end(sinfo, info) + self.origin
            if kind == "video":
                set_decoder_threads(stream, req.threads)
                self.vt = VideoTrack(path, stream, req.fps, req.size)
            else:
                stream.codec_context.thread_count = 1
                self.at = AudioTrack(path, stream, req.sample_rate, req.mono)
        self.tracks = {i: (container.streams[i], self.vt if container.streams[i].type == "video" else self.at) for i in self.expected}
        for track in (self.vt, self.at):
            if track is not None:
                track.ended = False
        self.open: collections.deque[Window] = collections.deque()
        self.next_k = 0
        self.opening = True  # False once the last window has been opened
        self.start = reader.start + self.origin
        self.end = math.inf if reader.end is None else reader.end + self.origin
        self.covered_to = -math.inf  # end of the last window yielded
        self.errors: list[tuple[float | None, str]] = []
        self.eof_reason = ""

    # -- windows ---------------------------------------------------------------------------------
    def _t0(self, k: int) -> float:
        return self.start + k * self.r.hop

    def _open_until(self, t: float, limit: float) -> None:
        """Open every window starting before ``t``; ``limit`` is where the span ends (may be inf)."""
        while self.opening:
            t0 = self._t0(self.next_k)
            if t0 >= t or t0 >= limit - _TOL_S:
                if t0 >= limit - _TOL_S:
                    self.opening = False
                return
            duration = self.r.window
            if t0 + duration > limit + _TOL_S:  # the last, partial window
                self.opening = False
                if limit <= self.covered_to + _TOL_S or (self.open and limit <= self.open[-1].end + _TOL_S):
                    return  # an earlier window already reaches the end
                if self.r.last == "drop":
                    return
                if self.r.last == "shorten":
                    duration = limit - t0
            win = Window(self.next_k, t0, duration, self.r.req.fps)
            win.valid = min(duration, limit - t0)
            self.open.append(win)
            self.next_k += 1

    def _trim_to(self, limit: float) -> None:
        """Apply the ``last`` rule to windows opened before the end of the span was known."""
        kept: collections.deque[Window] = collections.deque()
        for win in self.open:
            if win.end <= limit + _TOL_S:
                kept.append(win)
                continue
            reach = kept[-1].end if kept else self.covered_to
            if self.r.last != "drop" and win.t0 < limit - _TOL_S and limit > reach + _TOL_S:
                if self.r.last == "shorten":
                    win.shorten(limit - win.t0, self.r.req.fps)
                win.valid = min(win.duration, limit - win.t0)
                kept.append(win)
            break
        self.open = kept
        self.opening = False

    def _sample_between(self, lo: float, hi: float) -> bool:
        """Whether any window's sample time lies in [lo, hi) (raw seconds; fps mode)."""
        r, fps = self.r, self.r.req.fps
        count = round(r.window * fps)
        k = max(0, math.floor((lo - self.start - r.window) / r.hop))
        while True:
            t0 = self._t0(k)
            if t0 >= hi or t0 >= self.end - _TOL_S:
                return False
            i = max(0, math.ceil((lo - t0) * fps - 1e-6))
            if i < count and t0 + i / fps < hi:
                return True
            k += 1

    def _ready(self, win: Window) -> bool:
        video = self.vt is None or win.video_done or self.vt.ended
        return video and (self.at is None or self.at.ended or self.at.covers(win.t0, win.duration))

    def _clip(self, win: Window) -> AVClip:
        r = self.r
        for t, msg in self.errors:
            if t is None or win.t0 - 1e-3 <= t < win.end:
                where = f" at {t - self.origin:.3f}s" if t is not None else ""
                raise CorruptMediaError(r.path, f"stream undecodable{where}: {msg}")
        clip = AVClip(None, None, None, None, start=win.t0 - self.origin, duration=win.duration, path=r.path)
        clip.meta.update(index=win.index, valid=win.valid, clock_origin=self.origin)
        if self.vt is not None:
            after = self.vt.finish(win) if self.vt.ended else 0
            clip.video = torch.from_numpy(self.vt.frames(win))  # (T, H, W, 3) uint8
            clip.fps = r.req.fps or self.vt.stream_fps
            clip.meta["frame_times"] = [t - self.origin for t in win.frame_times]
            clip.meta["video_pad"] = (win.pad_before, after)
        if self.at is not None:
            samples, clip.meta["audio_pad"] = self.at.samples(win.t0, win.duration, self.at.ended)
            clip.audio = torch.from_numpy(samples)  # (C, N) float32
            clip.sample_rate = self.at.out_rate
        self.covered_to = max(self.covered_to, win.end)
        return clip

    def _emit_ready(self) -> Iterator[AVClip]:
        if all(track.ended for _, track in self.tracks.values()):
            return  # the end of the data is known: _finish applies the last-window rule
        while self.open and self._ready(self.open[0]):
            yield self._clip(self.open.popleft())
        if self.at is not None and self.at.out_rate:
            first = self.open[0].t0 if self.open else self._t0(self.next_k)
            self.at.drop_before(math.floor(first * self.at.out_rate) - 1)

    # -- decoding --------------------------------------------------------------------------------
    def _decode(self, stream, track, packet) -> None:
        t = None
        if packet is not None:
            t = packet_time(packet, track.tb)
            if t is not None and packet.duration:
                track.max_packet_end = max(track.max_packet_end, t + packet.duration * track.tb)
        if track is self.vt and packet is not None:
            self.vt.choose_skip(t, self._sample_between)
        for frame in decode_packet(stream.codec_context, packet, t, self.errors):
            if track is self.vt:
                ft = self.vt.time_of(frame)
                self._open_until(ft + 1e-3, self.end)
                self.vt.feed(frame, ft, self.open)
            else:
                ft = frame.pts * track.tb if frame.pts is not None else self.at.time()
                self.at.feed(frame, ft)
                if self.vt is None or self.vt.ended:
                    self._open_until(self.at.time(), self.end)

    def windows(self) -> Iterator[AVClip]:
        """Demux each stream front to back (audio from its own container when both are read, so
        a file whose streams are far apart, or one that ends early, never makes the other wait)
        and yield every window as soon as it is complete."""
        alive = {}
        for index, (stream, track) in self.tracks.items():
            source = self.audio_container if track is self.at and self.audio_container is not None else self.container
            alive[id(track)] = (stream, track, source.demux(source.streams[index]))
        while alive:
            stream, track, packets = min(alive.values(), key=lambda item: self._progress(item[1]))
            try:
                packet = next(packets)
            except StopIteration:
                packet = None
            except av.FFmpegError as exc:  # damaged data: keep what was decoded
                packet = None
                self.eof_reason = f" (reading stopped: {ffmpeg_reason(exc)})"
            if packet is None:
                self._decode(stream, track, None)  # drain the decoder
                track.ended = True
                if track is self.at:
                    self.at.flush()
                del alive[id(track)]
            else:
                self._decode(stream, track, None if packet.size == 0 else packet)
            yield from self._emit_ready()
            if not self.opening and not self.open:
                return  # every window of the span has been yielded
        yield from self._finish()

    def _progress(self, track) -> float:
        """Raw seconds up to which a track has decoded (the stream behind is read next)."""
        if track is self.vt:
            return self.vt.last_time if self.vt.last_time is not None else -math.inf
        return self.at.time()

    def _finish(self) -> Iterator[AVClip]:
        if self.at is not None:
            self.at.flush()
        tracks = [t for t in (self.vt, self.at) if t is not None]
        if self.vt is not None and self.vt.n_decoded == 0:
            raise CorruptMediaError(self.r.path, f"no video frame could be decoded{self.eof_reason}")
        if self.at is not None and self.at.rate is None:
            raise CorruptMediaError(self.r.path, f"no audio could be decoded{self.eof_reason}")
        data_end = max(t.data_end() for t in tracks)
        limit = min(self.end, data_end)
        self._open_until(math.inf, limit)
        self._trim_to(limit)
        truncated = self._truncation(tracks)
        while self.open:
            win = self.open.popleft()
            if truncated and win.end > truncated[0] + _TOL_S:
                raise CorruptMediaError(self.r.path, truncated[1])
            yield self._clip(win)

    def _truncation(self, tracks) -> tuple[float, str] | None:
        """(data end, reason) when a stream's data stops well before the container says it ends."""
        for index, track in ((i, t) for i, (_, t) in self.tracks.items()):
            end = track.data_end()
            tol = 0.1 + (2 * track.period if track is self.vt else 0.05)
            if end + tol < self.expected[index] and end < self.end:
                kind = "video" if track is self.vt else "audio"
                return end, (
                    f"truncated or damaged: {kind} data ends at {end - self.origin:.3f}s but the stream "
                    f"should last to {self.expected[index] - self.origin:.3f}s{self.eof_reason}"
                )
        return None
