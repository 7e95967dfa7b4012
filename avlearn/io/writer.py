"""Streaming writer: encode video frames and audio samples as they are produced, window by window.

:func:`avlearn.io.write_av` takes a whole clip; whole-file inference produces its outputs (a
heatmap overlay per window, separated audio per window) as it streams, and must not hold them
all. :class:`AVWriter` keeps one encoder per stream open and accepts any number of frames or
samples per call; the muxer interleaves the packets, so memory stays bounded by what a call
passes. ``audio_from`` copies the audio stream of another file packet by packet (no re-encoding:
the original soundtrack, bit for bit), interleaved with the video as it is written, e.g. to put
the input's sound under a heatmap video made at the input's resolution.

``background=True`` moves the encoding (RGB to YUV conversion, x264, muxing; PyAV releases
the GIL in all three) to a worker thread, so a producer that decodes and draws the next
frames runs beside the encoder. Frames are handed over in pieces of at most
:data:`_PIECE_FRAMES` and at most :data:`_PENDING_BYTES` may wait (a call blocks until the
encoder has caught up), so memory stays bounded whatever the resolution or the size of a call. The
calls keep their order, the file is the same as without it, and a failure in the worker is
raised (as :class:`EncodeError`) by the next call or by :meth:`AVWriter.close`.

Containers and codecs follow :data:`avlearn.io.write.CONTAINER_CODECS` (``.mp4`` h264 + aac,
``.mkv`` h264 + flac, ``.wav`` / ``.flac`` audio only, ...).
"""

from __future__ import annotations

import os
import queue
import threading
from fractions import Fraction

import av
import numpy as np
import torch

from avlearn.io.errors import EncodeError, MediaError
from avlearn.io.probe import clock_origin, open_media
from avlearn.io.write import _LAYOUTS, CONTAINER_CODECS, _as_numpy, add_video_stream

__all__ = ["AVWriter"]

_LOOKAHEAD_S = 0.5  # copied audio is muxed this far ahead of the video written so far
_PIECE_FRAMES = 8  # a background writer takes frames over in pieces this long
_PENDING_BYTES = 192 * 2**20  # and lets at most this much wait for the encoder


class AVWriter:
    """Write a video and/or audio file incrementally.

    Args:
        path: output file; the extension picks the container and default codecs.
        fps: frame rate of the video (None: no video stream).
        size: (H, W) of the frames (even for h264); None: taken from the first frames written.
        sample_rate: rate of the audio passed to :meth:`write_audio` (None: no encoded audio).
        channels: channel count of that audio.
        audio_from: a media file whose first audio stream is copied without re-encoding
            (excludes ``sample_rate``); its clock's 0 becomes the output's 0.
        video_codec, audio_codec: override the container's default codecs.
        crf: constant rate factor for x264 / vp9.
        gop: keyframe interval in frames (default: one per second).
        video_options: extra encoder options (e.g. ``{"preset": "ultrafast"}``).
        background: encode in a worker thread (module doc); frames and samples passed in are
            copied, so the caller may reuse its buffers.

    Use as a context manager; on an exception inside the block the partial file is removed.

    Raises:
        EncodeError: unknown container, missing rates, wrong shapes, codec failures.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        fps: float | None = None,
        size: tuple[int, int] | None = None,
        sample_rate: int | None = None,
        channels: int | None = None,
        audio_from: str | os.PathLike | None = None,
        video_codec: str | None = None,
        audio_codec: str | None = None,
        crf: int = 18,
        gop: int | None = None,
        video_options: dict[str, str] | None = None,
        background: bool = False,
    ):
        self.path = os.fspath(path)
        self._jobs: queue.Queue | None = queue.Queue() if background else None
        self._pending = 0  # bytes handed to the worker and not yet encoded
        self._room = threading.Condition()
        self._worker: threading.Thread | None = None
        self._error: BaseException | None = None
        ext = os.path.splitext(self.path)[1].lower()
        if ext not in CONTAINER_CODECS:
            raise EncodeError(self.path, f"unknown container extension {ext!r}; one of {sorted(CONTAINER_CODECS)}")
        vcodec, acodec, self.afmt = CONTAINER_CODECS[ext]
        self.vcodec, self.acodec = video_codec or vcodec, audio_codec or acodec
        if self.acodec == "pcm_f32le":  # float WAV: samples kept to float precision
            self.afmt = "flt"
        if fps is not None and self.vcodec is None:
            raise EncodeError(self.path, f"{ext} holds audio only but fps was given")
        if fps is None and sample_rate is None and audio_from is None:
            raise EncodeError(self.path, "nothing to write: give fps, sample_rate or audio_from")
        if sample_rate is not None and audio_from is not None:
            raise EncodeError(self.path, "give either sample_rate (encoded audio) or audio_from (copied audio)")
        if sample_rate is not None and (channels not in _LAYOUTS or sample_rate <= 0):
            raise EncodeError(self.path, f"audio needs sample_rate > 0 and channels in {sorted(_LAYOUTS)}, got {channels}")
        if fps is not None and not fps > 0:
            raise EncodeError(self.path, f"fps must be > 0, got {fps}")
        self.fps, self.size, self.crf, self.gop = fps, size, crf, gop
        self.video_options = dict(video_options or {})
        self.sample_rate, self.channels = sample_rate, channels
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            self.container = av.open(self.path, mode="w")
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise EncodeError(self.path, f"cannot open for writing: {exc}") from exc
        self.vstream = self.astream = None
        self.n_frames = 0
        self.n_samples = 0
        self.pending = np.zeros((channels or 0, 0), np.float32)  # audio waiting for a full codec frame
        self.source = None
        self.closed = False
        try:
            if sample_rate is not None:
                self._add_audio()
            if audio_from is not None:
                self._open_source(os.fspath(audio_from))
            if fps is not None and size is not None:
                self._add_video(*size)
        except BaseException:
            self._abort()
            raise

    # -- streams ---------------------------------------------------------------------------------
    def _add_video(self, height: int, width: int) -> None:
        if self.vcodec in ("libx264", "libvpx-vp9", "mpeg4") and (height % 2 or width % 2):
            raise EncodeError(self.path, f"frame size {width}x{height} must be even for yuv420p")
        self.vstream = add_video_stream(
            self.container, self.vcodec, fps=float(self.fps), height=height, width=width, crf=self.crf,
            gop=self.gop, video_options=self.video_options,
        )
        self.size = (height, width)

    def _add_audio(self) -> None:
        self.astream = self.container.add_stream(self.acodec, rate=int(self.sample_rate))
        self.astream.layout = _LAYOUTS[self.channels]
        self.astream.format = self.afmt
        self.frame_size = self.astream.codec_context.frame_size or 1024

    def _open_source(self, src: str) -> None:
        self._source_cm = open_media(src)
        container = self._source_cm.__enter__()
        self.source = container
        audio = next((s for s in container.streams if s.type == "audio"), None)
        if audio is None:
            raise EncodeError(self.path, f"audio_from {src}: no audio stream to copy")
        try:
            self.astream = self.container.add_stream_from_template(audio)
        except (av.FFmpegError, ValueError) as exc:
            raise EncodeError(self.path, f"cannot copy {audio.codec_context.name} audio into this container: {exc}") from exc
        self.src_stream = audio
        self.src_shift = round(clock_origin(container) / float(audio.time_base))
        self.src_packets = container.demux(audio)

    def _copy_audio(self, until: float) -> None:
        """Mux copied audio packets that start before ``until`` seconds."""
        tb = float(self.src_stream.time_base)
        for packet in self.src_packets:
            if packet.size == 0 or packet.dts is None:
                continue
            packet.pts = None if packet.pts is None else packet.pts - self.src_shift
            packet.dts -= self.src_shift
            packet.stream = self.astream
            self.container.mux(packet)
            if packet.dts * tb >= until:
                return
        self.src_packets = iter(())

    # -- writing ---------------------------------------------------------------------------------
    def write_video(self, frames: torch.Tensor | np.ndarray, *, copy: bool = True) -> None:
        """Encode frames uint8 (T, H, W, 3) or one frame (H, W, 3), after those already written.

        ``copy=False`` hands the array over to a background writer without copying it (the
        caller must not modify it afterwards; at 720p30 the copy is 80 MB a second).
        """
        self._check_open()
        if self.fps is None:
            raise EncodeError(self.path, "this writer has no video stream (fps was not given)")
        frames = _as_numpy(frames, np.uint8)
        if frames.ndim == 3:
            frames = frames[None]
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise EncodeError(self.path, f"video must be (T, H, W, 3) uint8, got shape {frames.shape}")
        if self.size is None:
            if self.vcodec in ("libx264", "libvpx-vp9", "mpeg4") and (frames.shape[1] % 2 or frames.shape[2] % 2):
                raise EncodeError(self.path, f"frame size {frames.shape[2]}x{frames.shape[1]} must be even for yuv420p")
            self.size = (frames.shape[1], frames.shape[2])  # the stream is added by the first encode
        if tuple(frames.shape[1:3]) != tuple(self.size):
            raise EncodeError(self.path, f"frames are {frames.shape[2]}x{frames.shape[1]}, the video is {self.size[1]}x{self.size[0]}")
        self._submit(self._encode_frames, frames, copy=copy)

    def _encode_frames(self, frames: np.ndarray) -> None:
        if self.vstream is None:
            self._add_video(*self.size)
        try:
            for img in frames:
                frame = av.VideoFrame.from_ndarray(img, format="rgb24")
                frame.pts = self.n_frames
                self.n_frames += 1
                self.container.mux(self.vstream.encode(frame))
            if self.source is not None:
                self._copy_audio(self.n_frames / self.fps + _LOOKAHEAD_S)
        except av.FFmpegError as exc:
            raise EncodeError(self.path, f"encoding failed: {exc}") from exc

    def write_audio(self, samples: torch.Tensor | np.ndarray) -> None:
        """Encode float (C, N) samples in [-1, 1] (clipped), after those already written."""
        self._check_open()
        if self.sample_rate is None:
            raise EncodeError(self.path, "this writer has no encoded audio stream (sample_rate was not given)")
        x = _as_numpy(samples, np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[0] != self.channels:
            raise EncodeError(self.path, f"audio must be ({self.channels}, N), got shape {x.shape}")
        self._submit(self._queue_samples, np.clip(x, -1.0, 1.0))

    def _queue_samples(self, x: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, x], axis=1)  # (C, n)
        n = self.pending.shape[1] // self.frame_size * self.frame_size
        self._encode_samples(self.pending[:, :n])
        self.pending = self.pending[:, n:]

    def _encode_samples(self, x: np.ndarray) -> None:
        fmt = self.afmt
        if fmt.startswith("s16"):  # k / 32768 both ways (FFmpeg's convention): exact round trips
            data = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
        else:
            data = x.astype(np.float32)
        try:
            for s in range(0, data.shape[1], self.frame_size):
                chunk = data[:, s : s + self.frame_size]
                arr = chunk if fmt.endswith("p") else chunk.T.reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout=self.astream.layout.name)
                frame.sample_rate = self.sample_rate
                frame.pts = self.n_samples
                frame.time_base = Fraction(1, self.sample_rate)
                self.n_samples += chunk.shape[1]
                self.container.mux(self.astream.encode(frame))
        except av.FFmpegError as exc:
            raise EncodeError(self.path, f"encoding failed: {exc}") from exc

    def _check_open(self) -> None:
        if self.closed:
            raise EncodeError(self.path, "the writer is closed")
        self._raise_worker_error()

    # -- the background encoder ----------------------------------------------------------------
    def _submit(self, fn, data: np.ndarray, *, copy: bool = True) -> None:
        """Run ``fn(data)`` here, or queue it for the worker thread (``background``)."""
        if self._jobs is None:
            fn(data)
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name=f"AVWriter {os.path.basename(self.path)}", daemon=True)
            self._worker.start()
        frames = fn == self._encode_frames
        step = _PIECE_FRAMES if frames else max(1, len(data))
        for i in range(0, max(1, len(data)), step):
            piece = data[i : i + step] if frames else data
            piece = np.array(piece, copy=True) if copy else piece
            with self._room:  # wait until the encoder has room (an idle encoder always has)
                self._room.wait_for(lambda: self._pending == 0 or self._pending + piece.nbytes <= _PENDING_BYTES
                                    or self._error is not None)
                self._pending += piece.nbytes
            self._jobs.put((fn, piece))

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if self._error is None:  # after a failure the rest is drained, not encoded
                try:
                    job[0](job[1])
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self._error = exc
            with self._room:
                self._pending -= job[1].nbytes
                self._room.notify_all()

    def _stop_worker(self) -> None:
        if self._worker is not None:
            self._jobs.put(None)
            self._worker.join()
            self._worker = None

    def _raise_worker_error(self) -> None:
        exc = self._error
        if exc is None:
            return
        self._error = None
        self._abort()
        if isinstance(exc, EncodeError):
            raise exc
        raise EncodeError(self.path, f"encoding failed: {exc}") from exc

    # -- closing ---------------------------------------------------------------------------------
    def close(self) -> str:
        """Flush the encoders and close the file; returns its path."""
        if self.closed:
            return self.path
        self._stop_worker()
        self._raise_worker_error()
        try:
            if self.sample_rate is not None:
                self._encode_samples(self.pending)
                self.container.mux(self.astream.encode())
            if self.vstream is not None:
                self.container.mux(self.vstream.encode())
            if self.source is not None:
                self._copy_audio(float("inf"))  # the whole soundtrack
        except av.FFmpegError as exc:
            self._abort()
            raise EncodeError(self.path, f"encoding failed: {exc}") from exc
        self._close_all()
        return self.path

    def _close_all(self) -> None:
        self.closed = True
        try:
            self.container.close()
        finally:
            if self.source is not None:
                self._source_cm.__exit__(None, None, None)
                self.source = None

    def _abort(self) -> None:
        self._stop_worker()
        try:
            self._close_all()
        except (av.FFmpegError, MediaError, OSError, ValueError):
            pass
        try:
            os.remove(self.path)
        except OSError:
            pass

    def __enter__(self) -> AVWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._abort()
