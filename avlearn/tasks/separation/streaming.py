"""Streaming whole-file separation: overlapping windows, overlap-add, tracks written as they go.

Mix-and-separate separators (Zhao et al., ECCV 2018, Sec. 3; Gao & Grauman, ICCV 2019;
Gao & Grauman, CVPR 2021) are trained on short windows. A file of any length is separated as
follows:

* it is decoded front to back at the model's frame rate, frame size and sample rate
  (:class:`avlearn.io.stream.StreamReader`) in windows of ``window`` seconds, ``window / 2``
  apart; windows of the same shape are separated ``batch_size`` at a time;
* the estimates are stitched by **overlap-add** with a periodic Hann window: at 50% overlap
  the weights of the two windows covering a sample sum to one (Allen & Rabiner, Proc. IEEE
  1977, the constant-overlap-add condition), the first window's leading half and the last
  window's trailing half weigh one, and the sum is divided by the summed weights, so identical
  windows reproduce the whole signal and no seam is left at window edges;
* every finished stretch (before the next window's start) is resampled to the **input's**
  sample rate by a chunked polyphase resampler that gives exactly the samples of one
  :func:`torchaudio.functional.resample` call over the whole signal (:class:`ChunkResampler`),
  and written as it is produced (:class:`avlearn.io.writer.AVWriter`): one mono float WAV per
  source, and ``residual.wav`` with the input's channels, ``input - sum(tracks)`` per channel,
  so that the tracks plus the residual give back the input to float precision;
* optionally one video per source at the input's frame rate and resolution with the source's
  box drawn and its track as sound, encoded as the frames are decoded.

Memory is bounded by one batch of windows and the overlap buffers, whatever the duration.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchaudio.functional as AF
from torch import Tensor

__all__ = ["ChunkResampler", "OverlapAdd", "ola_weights", "separate_stream"]


class ChunkResampler:
    """Resample a signal given in chunks, exactly as one ``torchaudio.functional.resample`` call.

    The sinc resampler of torchaudio computes output block ``j`` (``new`` samples, after the
    rates are divided by their gcd) from input samples ``[j * orig - width, (j + 1) * orig +
    width)``; chunks are therefore cut at multiples of ``orig`` and resampled with ``context``
    input samples (a multiple of ``orig`` at least ``width``) on both sides, zeros before the
    start and after the end as torchaudio pads.

    Args:
        orig_freq, new_freq: the rates.
        channels: rows of the (C, N) chunks.
    """

    def __init__(self, orig_freq: int, new_freq: int, channels: int = 1):
        g = math.gcd(int(orig_freq), int(new_freq))
        self.orig, self.new = int(orig_freq) // g, int(new_freq) // g
        self.rates = (int(orig_freq), int(new_freq))
        width = math.ceil(6 * self.orig / (min(self.orig, self.new) * 0.99))  # torchaudio's defaults
        self.context = self.orig * math.ceil((width + 1) / self.orig)
        self.buf = torch.zeros(channels, self.context)  # zeros before the start
        self.seen = 0  # input samples pushed
        self.done = 0  # output blocks emitted

    def _run(self, x: Tensor, blocks: int) -> Tensor:
        if self.orig == self.new:
            return x[:, self.context : self.context + blocks * self.orig]
        y = AF.resample(x, self.rates[0], self.rates[1])  # (C, len(x) / orig * new)
        off = self.context // self.orig * self.new
        return y[:, off : off + blocks * self.new]

    def push(self, x: Tensor) -> Tensor:
        """Resample (C, n) more samples; returns the output samples that are final."""
        self.buf = torch.cat([self.buf, x.float()], dim=1)
        self.seen += x.shape[1]
        blocks = (self.buf.shape[1] - 2 * self.context) // self.orig
        if blocks <= 0:
            return self.buf.new_zeros(self.buf.shape[0], 0)
        out = self._run(self.buf[:, : 2 * self.context + blocks * self.orig], blocks)
        self.buf = self.buf[:, blocks * self.orig :]
        self.done += blocks
        return out

    def flush(self) -> Tensor:
        """The remaining output samples (total ``ceil(seen * new / orig)``, as torchaudio)."""
        total = math.ceil(self.seen * self.new / self.orig)
        left = total - self.done * self.new
        if left <= 0:
            return self.buf.new_zeros(self.buf.shape[0], 0)
        blocks = math.ceil(left / self.new)
        pad = self.context + blocks * self.orig + self.context - self.buf.shape[1]
        x = torch.nn.functional.pad(self.buf, (0, max(0, pad)))
        return self._run(x[:, : 2 * self.context + blocks * self.orig], blocks)[:, :left]


def ola_weights(length: int, full: int, *, first: bool, last: bool) -> Tensor:
    """Overlap-add weights (``length``,) of a window of nominal ``full`` samples at 50% overlap.

    A periodic Hann window (its halves sum to one at a hop of ``full / 2``); the first window's
    leading half and the last window's trailing half are flat (one), where no other window
    covers the samples. A window cut short at the end keeps the weights of its first samples.
    """
    n = torch.arange(length, dtype=torch.float64)
    w = 0.5 - 0.5 * torch.cos(2 * math.pi * n / full)  # (length,)
    half = full // 2
    if first:
        w[: min(half, length)] = 1.0
    if last:
        w[half:] = 1.0
    return w.float()


class OverlapAdd:
    """Weighted overlap-add of (S, n) window estimates placed at absolute sample offsets.

    :meth:`add` a window, then :meth:`pop` the samples before ``until`` (no later window
    reaches them): ``sum(w * x) / sum(w)`` there.
    """

    def __init__(self, rows: int):
        self.base = 0
        self.num = torch.zeros(rows, 0, dtype=torch.float64)
        self.den = torch.zeros(0, dtype=torch.float64)

    def add(self, start: int, x: Tensor, w: Tensor) -> None:
        end = start + x.shape[1]
        if start < self.base:
            raise ValueError(f"overlap-add: window at {start} starts before the samples already popped ({self.base})")
        grow = end - self.base - self.den.shape[0]
        if grow > 0:
            self.num = torch.nn.functional.pad(self.num, (0, grow))
            self.den = torch.nn.functional.pad(self.den, (0, grow))
        a = start - self.base
        self.num[:, a : a + x.shape[1]] += x.double() * w.double()
        self.den[a : a + x.shape[1]] += w.double()

    def pop(self, until: int | None = None) -> Tensor:
        n = self.den.shape[0] if until is None else max(0, min(until - self.base, self.den.shape[0]))
        out = (self.num[:, :n] / self.den[:n].clamp_min(1e-12)).float()
        self.num, self.den = self.num[:, n:], self.den[n:]
        self.base += n
        return out


def _lookahead(it: Iterator[Any]) -> Iterator[tuple[Any, bool]]:
    """``(item, is_last)`` pairs."""
    cur = next(it, None)
    while cur is not None:
        nxt = next(it, None)
        yield cur, nxt is None
        cur = nxt


_FRAME_BLOCK_S = 0.5  # seconds of input-resolution frames decoded at a time for the per-source videos


def separate_stream(
    task: Any,
    cfg: Any,
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    sources: list[dict[str, Any]],
    make_batch: Callable[[list[Any], list[dict[str, Any]]], dict[str, Any]],
    *,
    window: float = 4.0,
    batch_size: int = 4,
    videos: bool = True,
    threads: int = 1,
) -> dict[str, Any]:
    """Separate ``sources`` of a file, streaming (module docstring); writes the WAVs (and videos).

    Args:
        task: the separator (eval mode).
        cfg: its recipe (``cfg.data``: fps, size, sample_rate).
        path: the media file.
        out_dir: output folder.
        sources: dicts with ``id`` and ``box_input(times)`` -> (n, 4) input-pixel boxes per time
            (for the videos; None: no box drawn).
        make_batch: ``(windows, sources) -> batch`` for :meth:`SeparationTask.separate` of AVClip
            windows of one shape.
        window: seconds per window (hop: half of it).
        batch_size: windows per forward pass.
        videos: also write ``<stem>_<id>.mp4`` per source.
        threads: decoder threads.

    Returns:
        ``{"sample_rate", "channels", "samples", "residual", "files": {id: (wav, video)}, "energy"}``
        (``energy``: each track's sum of squares).
    """
    from avlearn.io import MissingStreamError, probe
    from avlearn.io.stream import StreamReader
    from avlearn.io.writer import AVWriter
    from avlearn.viz.overlay import draw_boxes

    d = cfg.data
    path = os.fspath(path)
    out = Path(out_dir)
    info = probe(path)
    if info.audio is None or info.video is None:
        raise MissingStreamError(path, "needs both a video and an audio stream")
    rate, channels = int(info.audio.sample_rate), int(info.audio.channels or 1)
    if channels not in (1, 2, 3, 4, 5, 6, 8):
        channels = 2  # unusual layouts are mixed down to stereo by the resampler
    full = int(round(window * d.sample_rate))
    hop_samples = full // 2
    stem = Path(path).stem
    S = len(sources)
    wavs = [AVWriter(out / f"{stem}_{s['id']}.wav", sample_rate=rate, channels=1, audio_codec="pcm_f32le") for s in sources]
    residual_w = AVWriter(out / "residual.wav", sample_rate=rate, channels=channels, audio_codec="pcm_f32le")
    fps_in = info.video.fps or d.fps
    h, w = info.video.height, info.video.width
    vids = [AVWriter(out / f"{stem}_{s['id']}.mp4", fps=fps_in, size=(h + h % 2, w + w % 2), sample_rate=rate, channels=1,
                     video_options={"preset": "ultrafast"}, background=True)  # previews, one per source: the fastest x264 preset, encoded beside the separation
            for s in sources] if videos else []
    writers = [*wavs, residual_w, *vids]
    native = iter(StreamReader(path, 2.0, video=False, mono=False, last="shorten", threads=threads))
    # input-resolution frames for the per-source videos in short blocks: each source's video gets
    # its own copy of a block (boxes drawn), so a 1080p30 block costs 190 MB per 1 s held
    frames_it = iter(StreamReader(path, _FRAME_BLOCK_S, audio=False, last="shorten", threads=threads)) if videos else None
    state = {"native": torch.zeros(channels, 0), "native_done": False, "frames": None, "written": 0, "frame_done": False,
             "energy": torch.zeros(S, dtype=torch.float64)}
    resampler = ChunkResampler(d.sample_rate, rate, channels=S)
    ola = OverlapAdd(S)

    def native_until(n: int) -> Tensor:
        while state["native"].shape[1] < n and not state["native_done"]:
            clip = next(native, None)
            if clip is None:
                state["native_done"] = True
                break
            a = clip.audio
            if a.shape[0] != channels:
                a = a.mean(0, keepdim=True).expand(channels, -1)
            state["native"] = torch.cat([state["native"], a], dim=1)
        take = state["native"][:, :n]
        state["native"] = state["native"][:, n:]
        return take

    def write_frames(until_s: float) -> None:
        while videos and not state["frame_done"]:
            if state["frames"] is None:
                clip = next(frames_it, None)
                if clip is None:
                    state["frame_done"] = True
                    return
                state["frames"] = (clip.video.numpy(), np.asarray(clip.meta["frame_times"]))
            frames, times = state["frames"]
            n = int(np.searchsorted(times, until_s))
            if n == 0:
                return
            for s, vw in zip(sources, vids):
                pic = frames[:n]
                if s.get("box_input") is not None:
                    pic = draw_boxes(pic, [b[None] for b in s["box_input"](times[:n])])
                if h % 2 or w % 2:
                    pic = np.pad(pic, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
                vw.write_video(pic, copy=False)  # a fresh array (boxes drawn on a copy)
            state["frames"] = (frames[n:], times[n:]) if n < len(times) else None

    def emit(tracks: Tensor) -> None:  # (S, m) at the model's rate, final
        y = resampler.push(tracks) if tracks.shape[1] else resampler.flush()
        if y.shape[1] == 0:
            return
        mix = native_until(y.shape[1])  # (C, m') the input's own samples of the same stretch
        if mix.shape[1] < y.shape[1]:  # the model's stream reached further (padding): cut to the input
            y = y[:, : mix.shape[1]]
        resid = mix - y.sum(0, keepdim=True)  # (C, m')
        for k, wv in enumerate(wavs):
            wv.write_audio(y[k : k + 1])
        for k, vw in enumerate(vids):
            vw.write_audio(y[k : k + 1])
        residual_w.write_audio(resid)
        state["energy"] += y.double().square().sum(1)
        state["written"] += y.shape[1]
        write_frames(state["written"] / rate)

    try:
        reader = StreamReader(path, window, window / 2, fps=d.fps, size=(d.size, d.size), sample_rate=d.sample_rate,
                              mono=True, last="shorten", threads=threads)
        origin = None
        pending: list[tuple[Any, bool]] = []

        def run(group: list[tuple[Any, bool]]) -> None:
            clips = [c for c, _ in group]
            dev = next(task.parameters(), torch.empty(0)).device  # the network's device (CPU or a GPU)
            batch = {k: v.to(dev) if isinstance(v, Tensor) else v for k, v in make_batch(clips, sources).items()}
            with torch.inference_mode():
                est = task.separate(batch)["estimates"].float().cpu()  # (B, S', n)
            for (clip, last), e in zip(group, est):
                e = e[:S, : clip.audio.shape[-1]]
                start = int(round((clip.start - origin) * d.sample_rate))
                k = clip.meta["index"]
                ola.add(start, e, ola_weights(e.shape[1], full, first=k == 0, last=last))
                stop = None if last else start + hop_samples
                emit(ola.pop(stop))

        for clip, last in _lookahead(iter(reader)):
            if origin is None:
                origin = clip.start
            if pending and (clip.audio.shape != pending[0][0].audio.shape or clip.video.shape != pending[0][0].video.shape):
                run(pending)
                pending = []
            pending.append((clip, last))
            if len(pending) == batch_size or last:
                run(pending)
                pending = []
        emit(torch.zeros(S, 0))  # the resampler's tail
        rest = native_until(10**12)  # input samples past the model's stream: they are residual
        if rest.shape[1]:
            for k, wv in enumerate(wavs):
                wv.write_audio(torch.zeros(1, rest.shape[1]))
            for vw in vids:
                vw.write_audio(torch.zeros(1, rest.shape[1]))
            residual_w.write_audio(rest)
            state["written"] += rest.shape[1]
        write_frames(math.inf)
    except BaseException:
        for wr in writers:
            wr.__exit__(RuntimeError, None, None)  # removes the partial file
        raise
    files = {s["id"]: (wv.close(), vids[k].close() if videos else None) for k, (s, wv) in enumerate(zip(sources, wavs))}
    return {"sample_rate": rate, "channels": channels, "samples": state["written"], "residual": residual_w.close(),
            "files": files, "energy": state["energy"].tolist()}
