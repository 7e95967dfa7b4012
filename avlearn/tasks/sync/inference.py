"""Audio-visual offset estimation with a trained sync network, streamed over whole files.

The search follows SyncNet (Chung & Zisserman, ACCV 2016 workshops, Sec. 4): score the video
against the audio at every candidate shift, average over the clip, and take the best shift.
Any network with ``sync_score`` or an aligned logit works: Owens & Efros' fused net (ECCV 2018)
or an AVTS two-tower net (Korbar et al., NeurIPS 2018).

Streaming: a file is decoded once, front to back, at the model's frame rate, size and sample
rate (:class:`avlearn.io.stream.StreamReader`: swscale and swresample, never full-resolution
frames in memory), in blocks appended to a rolling buffer that holds one block plus one window
plus twice the largest offset. Video windows every ``hop`` seconds are scored against the audio
shifted by every candidate, as soon as all their shifted audio has arrived, under
``torch.inference_mode``; the video tower runs once per window (``score_audio_windows``). The
same shifts are scored in every window, the curves are averaged over the file (a shift's score
is the mean over the windows whose shifted audio lies inside the file) and the offset is the
argmax of that mean. Memory is flat in the file's duration; a background thread decodes the
next block while the network scores the current one.

On the CPU, the windows of a block are scored by a small thread pool (``workers``, one window
per thread, torch's intra-op threads set to 1 meanwhile) rather than one window at a time on
all intra-op threads: each window is dozens of small 3D convolutions (one batch per candidate
shift), whose intra-op barriers stall whenever the decoder thread takes a core. Curves are
summed in window order, so the result does not depend on the pool (beyond float rounding of
one thread against several inside a convolution).

Per-window curves are kept (:class:`SyncResult` ``windows``), and the estimate's reliability is
measured from them (:mod:`avlearn.tasks.sync.reliability`): the margin between the best and the
second-best shift of the mean curve, in units of the curve's spread, times the agreement of
the windows (the share whose own best shift is within one frame of the file's).

Sign convention (:mod:`avlearn.tasks.sync.data`): a positive offset means the audio is late.
"""

from __future__ import annotations

import math
import os
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "SyncResult",
    "sync_scores",
    "window_scores",
    "score_shifts",
    "sync_file",
    "estimate_offset",
    "sync_inputs",
]


def sync_scores(model: nn.Module, video: Tensor, audio: Tensor) -> Tensor:
    """(B,) "in sync" scores: ``model.sync_score`` when defined, else the first logit."""
    x = {"video": video, "audio": audio}
    fn = getattr(model, "sync_score", None)
    return fn(x) if fn is not None else model(x)[:, 0]


def window_scores(model: nn.Module, video: Tensor, audio: Tensor) -> Tensor:
    """Scores of one video window (1, 3, T, H, W) against S audio windows (S, C, N) -> (S,).

    Uses ``model.score_audio_windows`` when the model has it (the sync networks run their
    video tower once per window there), else :func:`sync_scores` on the repeated video.
    """
    fn = getattr(model, "score_audio_windows", None)
    if fn is not None:
        return fn(video, audio)
    return sync_scores(model, video.expand(len(audio), *video.shape[1:]), audio)


@dataclass
class SyncResult:
    """What :func:`sync_file` finds in one file.

    Attributes:
        offset: seconds the audio is late (positive) or early (negative), parabola-refined.
        confidence: reliability score: ``margin * agreement`` (module doc).
        margin: best minus second-best mean score (shifts more than one frame from the best),
            divided by the standard deviation of the mean curve over shifts.
        agreement: share of the windows that score the file's best shift whose own best shift is
            within one frame of it.
        median_margin: SyncNet's confidence: best minus median of the mean curve.
        at_edge: the best shift is the first or last searched (the true offset may lie beyond).
        shifts: (S,) candidate shifts, seconds.
        mean: (S,) mean score per shift (NaN where no window fits).
        windows: ``[(start seconds, (S,) scores with NaN where the shifted audio leaves the file)]``.
        step: shift grid step, seconds.
        peak_frames: most video frames held at once while streaming.
        reliable: filled by :func:`avlearn.tasks.sync.reliability.judge` (None until then).
        threshold: the confidence threshold used for ``reliable``.
    """

    offset: float
    confidence: float
    margin: float
    agreement: float
    median_margin: float
    at_edge: bool
    shifts: np.ndarray
    mean: np.ndarray
    windows: list[tuple[float, np.ndarray]] = field(default_factory=list)
    step: float = 0.0
    peak_frames: int = 0
    reliable: bool | None = None
    threshold: float | None = None

    @property
    def scores(self) -> dict[float, float]:
        """``{shift: mean score}``."""
        return {round(float(s), 6): float(v) for s, v in zip(self.shifts, self.mean)}

    def window_offsets(self) -> list[tuple[float, float]]:
        """``[(window start, that window's own best shift)]``."""
        return [(t, float(self.shifts[int(np.nanargmax(c))])) for t, c in self.windows if np.isfinite(c).any()]


class _Scorer:
    """Scores video windows against shifted audio from a rolling buffer of decoded media.

    The buffer holds video frames ``[f_base, f_base + T)`` of the model's frame grid (frame ``i``
    at ``i / fps`` on the file's clock) and audio samples ``[a_base, a_base + N)``.
    """

    def __init__(self, model: nn.Module, *, fps: float, sample_rate: int, window: float, hop: float,
                 shifts: np.ndarray, batch_size: int, pool: ThreadPoolExecutor | None = None):
        self.model, self.fps, self.sr = model, float(fps), int(sample_rate)
        self.device = next(model.parameters()).device
        self.window, self.hop, self.shifts, self.batch_size = window, hop, shifts, batch_size
        self.nf, self.na = int(round(window * fps)), int(round(window * sample_rate))
        self.video: Tensor | None = None  # (3, T, H, W)
        self.audio: Tensor | None = None  # (1, N)
        self.f_base = self.a_base = 0
        self.j = 0  # next video window
        self.sums, self.counts = np.zeros(len(shifts)), np.zeros(len(shifts))
        self.windows: list[tuple[float, np.ndarray]] = []
        self.peak_frames = 0  # most video frames buffered at once (memory check)
        # audio features reused across video windows, by first sample (models that expose them)
        self.cached = hasattr(model, "audio_window_features") and hasattr(model, "score_audio_features")
        self.feats: dict[int, Tensor] = {}
        self.pool = pool  # scores video windows concurrently (module doc); None: one at a time

    def feed(self, video: Tensor | None, audio: Tensor | None) -> None:
        """Append (3, T, H, W) frames and (1, N) samples that follow the buffer's."""
        if video is not None and video.shape[1]:
            self.video = video if self.video is None else torch.cat([self.video, video], dim=1)
        if audio is not None and audio.shape[-1]:
            self.audio = audio if self.audio is None else torch.cat([self.audio, audio], dim=-1)
        self.peak_frames = max(self.peak_frames, 0 if self.video is None else self.video.shape[1])

    def _ends(self) -> tuple[int, int]:
        fe = self.f_base + (0 if self.video is None else self.video.shape[1])
        ae = self.a_base + (0 if self.audio is None else self.audio.shape[-1])
        return fe, ae

    def score_ready(self, final: bool = False, limit: float = math.inf) -> None:
        """Score every window whose frames and shifted audio are all buffered (all that fit the
        media when ``final``; windows must end by ``limit`` seconds), then drop what no later
        window needs."""
        fe, ae = self._ends()
        ready = []
        while True:
            t = self.j * self.hop
            f0 = int(round(t * self.fps))
            if f0 + self.nf > fe or t + self.window > limit + 1e-9:
                break
            if not final and int(round((t + self.shifts[-1]) * self.sr)) + self.na > ae:
                break
            ready.append(t)
            self.j += 1
        self._score(ready, ae)
        t = self.j * self.hop
        keep_f = int(round(t * self.fps)) - self.f_base
        keep_a = int(round((t + self.shifts[0]) * self.sr)) - self.a_base
        if self.video is not None and keep_f > 0:
            self.video, self.f_base = self.video[:, keep_f:], self.f_base + min(keep_f, self.video.shape[1])
        if self.audio is not None and keep_a > 0:
            self.audio, self.a_base = self.audio[:, keep_a:], self.a_base + min(keep_a, self.audio.shape[-1])

    def _audio_features(self, a0s: np.ndarray) -> Tensor:
        """The audio tower's features (S, ...) of the audio windows starting at samples ``a0s``;
        each window's are computed once and reused by later video windows (consecutive windows
        share shifted audio windows whenever the hop is a whole number of steps)."""
        todo = [int(a) for a in a0s if int(a) not in self.feats]
        for i in range(0, len(todo), self.batch_size):
            part = todo[i : i + self.batch_size]
            a = torch.stack([self.audio[:, a - self.a_base : a - self.a_base + self.na] for a in part])  # (b, 1, N')
            for a0, f in zip(part, self.model.audio_window_features(a.to(self.device))):
                self.feats[a0] = f
        low = int(a0s.min())
        for key in [k for k in self.feats if k < low]:  # no later window starts its audio before this one
            del self.feats[key]
        return torch.stack([self.feats[int(a)] for a in a0s])  # (S, ...)

    def _job(self, v: Tensor, a0s: np.ndarray) -> Callable[[], np.ndarray]:
        """The scores of video window ``v`` (1, 3, T', H, W) against the audio windows starting
        at samples ``a0s``, as a call that needs nothing the buffer may drop later."""
        if self.cached:
            feats = self._audio_features(a0s)  # (S, ...)

            def run() -> np.ndarray:
                with torch.inference_mode():  # grad mode is per thread: a pool thread starts with it on
                    return self.model.score_audio_features(v, feats).float().cpu().numpy()

            return run
        parts = [torch.stack([self.audio[:, a - self.a_base : a - self.a_base + self.na] for a in a0s[i : i + self.batch_size]])
                 for i in range(0, len(a0s), self.batch_size)]  # [(b, 1, N')]

        def run_parts() -> np.ndarray:
            with torch.inference_mode():
                return np.concatenate([window_scores(self.model, v, a.to(self.device)).float().cpu().numpy() for a in parts])

        return run_parts

    def _score(self, starts: list[float], ae: int) -> None:
        todo = []
        for t in starts:
            f0 = int(round(t * self.fps)) - self.f_base
            a0s = np.round((t + self.shifts) * self.sr).astype(int)
            ks = np.flatnonzero((a0s >= 0) & (a0s + self.na <= ae))
            result = None
            if len(ks):
                v = self.video[None, :, f0 : f0 + self.nf].to(self.device)  # (1, 3, T', H, W)
                v = v.float() / 255.0 if not v.is_floating_point() else v.float()
                job = self._job(v, a0s[ks])
                result = job if self.pool is None else self.pool.submit(job)
            todo.append((t, ks, result))
        for t, ks, result in todo:  # summed in window order: the same numbers with or without the pool
            curve = np.full(len(self.shifts), np.nan)
            if result is not None:
                curve[ks] = result() if self.pool is None else result.result()
                self.sums[ks] += curve[ks]
                self.counts[ks] += 1
            self.windows.append((float(t), curve))


def score_shifts(
    model: nn.Module,
    video: Tensor,
    audio: Tensor,
    *,
    fps: float,
    sample_rate: int,
    window: float,
    shifts: np.ndarray,
    starts: np.ndarray,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of scores per shift over the video windows ``starts`` of one clip in memory.

    Args:
        video: (3, T, H, W) uint8 or float frames starting at time 0 of ``audio``.
        audio: (1, N).
        shifts, starts: seconds. Pairs whose audio leaves the clip are skipped.
        batch_size: audio windows scored per forward pass.

    Returns:
        ``(sums, counts)``, each (len(shifts),).
    """
    sums, counts = np.zeros(len(shifts)), np.zeros(len(shifts))
    for t in starts:
        s = _Scorer(model, fps=fps, sample_rate=sample_rate, window=window, hop=1.0, shifts=np.asarray(shifts), batch_size=batch_size)
        s.video, s.audio = video, audio
        with torch.inference_mode():
            s._score([float(t)], audio.shape[-1])
        sums, counts = sums + s.sums, counts + s.counts
    return sums, counts


def _block_seconds(chunk: float, fps: float, sample_rate: int) -> float:
    """``chunk`` rounded up to whole frames and whole samples (so blocks tile both grids)."""
    per = Fraction(1) / Fraction(fps).limit_denominator(1001)  # one frame, seconds
    m = 1
    while (per * m * sample_rate).denominator != 1 and m < 100000:
        m += 1
    unit = per * m
    return float(unit * max(1, math.ceil(chunk / float(unit))))


def _prefetch(it: Iterable, depth: int = 2) -> Iterator:
    """Iterate ``it`` in a background thread (decoding overlaps the network), ``depth`` ahead."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def work():
        try:
            for item in it:
                while not stop.is_set():
                    try:
                        q.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put((done, None))
        except BaseException as exc:  # handed to the consumer
            q.put((done, exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = q.get()
            if exc is not None:
                raise exc
            if item is done:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _summarize(scorer: _Scorer, step: float) -> SyncResult:
    shifts = scorer.shifts
    mean = np.where(scorer.counts > 0, scorer.sums / np.maximum(scorer.counts, 1), np.nan)
    k = int(np.nanargmax(mean))
    offset = float(shifts[k])
    if 0 < k < len(shifts) - 1 and np.isfinite(mean[k - 1 : k + 2]).all():
        y0, y1, y2 = mean[k - 1 : k + 2]
        curv = y0 - 2 * y1 + y2
        if curv < 0:
            offset += step * float(np.clip(0.5 * (y0 - y2) / curv, -0.5, 0.5))
    near = np.abs(shifts - shifts[k]) <= step * 1.01  # the best shift and its neighbours
    others = mean[~near & np.isfinite(mean)]
    spread = float(np.nanstd(mean))
    margin = float((mean[k] - others.max()) / spread) if len(others) and spread > 1e-12 else 0.0
    # windows that could find the file's best shift (their shifted audio lies inside the file there)
    best = [shifts[int(np.nanargmax(c))] for _, c in scorer.windows if np.isfinite(c[k])]
    agreement = float(np.mean(np.abs(np.asarray(best) - shifts[k]) <= step * 1.01)) if best else 0.0
    finite = np.isfinite(mean)
    at_edge = bool(k == np.flatnonzero(finite)[0] or k == np.flatnonzero(finite)[-1]) if finite.sum() > 1 else True
    return SyncResult(
        offset=offset, confidence=margin * agreement, margin=margin, agreement=agreement,
        median_margin=float(mean[k] - np.nanmedian(mean)), at_edge=at_edge, shifts=shifts, mean=mean,
        windows=scorer.windows, step=step, peak_frames=scorer.peak_frames,
    )


def sync_file(
    model: nn.Module,
    clip_or_path,
    max_offset: float = 1.0,
    step: float | None = None,
    *,
    window: float = 1.0,
    hop: float | None = None,
    fps: float = 16.0,
    size: tuple[int, int] = (64, 64),
    sample_rate: int = 16000,
    chunk: float = 8.0,
    batch_size: int = 64,
    threads: int = 1,
    workers: int | None = None,
    progress: Callable[[float], None] | None = None,
) -> SyncResult:
    """Estimate how late the audio is relative to the video, over a whole file, streamed.

    Every video window (length ``window``, every ``hop`` seconds) is scored against the audio
    window shifted by each candidate ``s`` in ``[-max_offset, max_offset]`` (every ``step``,
    default one frame); a shift's score is the mean over the windows where its audio lies inside
    the file. A path is decoded once in ``chunk``-second blocks (module doc), so any length works
    in flat memory.

    Args:
        model: a sync network in eval mode (``sync_score`` or first logit).
        clip_or_path: a media file, or an :class:`avlearn.io.AVClip` already at ``fps``/``size``.
        max_offset: largest |offset| searched, seconds.
        step: shift grid step in seconds (default ``1 / fps``).
        window: window length, seconds.
        hop: seconds between video windows (default ``window``: back to back).
        fps, size, sample_rate: what the model was trained on (used to decode a path).
        chunk: seconds per decoded block (rounded to whole frames and samples).
        batch_size: audio windows per forward pass.
        threads: decoder threads.
        workers: on the CPU, video windows scored at once, each in its own thread with torch's
            intra-op threads set to 1 for the call (default: torch's intra-op thread count; 1:
            one window at a time on all of torch's threads). The decoder thread runs beside
            them; the scores are the same for every value (to float rounding). Ignored on
            other devices.
        progress: called with the seconds of media decoded so far, after each block.

    Returns:
        a :class:`SyncResult`.

    Raises:
        ValueError: the media is shorter than ``window``.
        avlearn.io.MediaError: the file cannot be read.
    """
    from avlearn.io import probe
    from avlearn.io.stream import StreamReader

    hop = float(window if hop is None else hop)
    if not isinstance(clip_or_path, (str, os.PathLike)):
        fps, sample_rate = float(clip_or_path.fps), int(clip_or_path.sample_rate)
    step = 1.0 / fps if step is None else float(step)
    n = int(math.floor(max_offset / step + 1e-9))
    shifts = np.arange(-n, n + 1) * step
    was_training = model.training
    model.eval()
    cpu = next(model.parameters()).device.type == "cpu"
    workers = (torch.get_num_threads() if workers is None else int(workers)) if cpu else 1
    threads_before = torch.get_num_threads()
    pool = ThreadPoolExecutor(workers, thread_name_prefix="sync-window") if workers > 1 else None
    if pool is not None:
        torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            if isinstance(clip_or_path, (str, os.PathLike)):
                path = os.fspath(clip_or_path)
                duration = probe(path).duration
                if duration < window:
                    raise ValueError(f"{path}: {duration:.3f} s is shorter than the {window} s sync window")
                scorer = _Scorer(model, fps=fps, sample_rate=sample_rate, window=window, hop=hop, shifts=shifts,
                                 batch_size=batch_size, pool=pool)
                block = _block_seconds(chunk, fps, sample_rate)
                reader = StreamReader(path, block, fps=fps, size=tuple(size), sample_rate=sample_rate, mono=True,
                                      threads=threads, last="shorten")
                for clip in _prefetch(reader):
                    video = clip.video.permute(3, 0, 1, 2)  # (3, T, H, W) uint8
                    audio = clip.audio  # (1, N)
                    vpad, apad = clip.meta.get("video_pad", (0, 0))[1], clip.meta.get("audio_pad", (0, 0))[1]
                    scorer.feed(video[:, : video.shape[1] - vpad], audio[:, : audio.shape[-1] - apad])
                    scorer.score_ready()
                    if progress is not None:
                        progress(clip.start + clip.duration)
                scorer.score_ready(final=True, limit=duration)
            else:
                clip = clip_or_path
                video = clip.video.permute(3, 0, 1, 2)  # (3, T, H, W)
                audio = clip.audio.mean(dim=0, keepdim=True)  # (1, N)
                length = min(video.shape[1] / fps, audio.shape[-1] / sample_rate)
                if length < window:
                    raise ValueError(f"{clip.path or '<clip>'}: {length:.3f} s is shorter than the {window} s sync window")
                scorer = _Scorer(model, fps=fps, sample_rate=sample_rate, window=window, hop=hop, shifts=shifts,
                                 batch_size=batch_size, pool=pool)
                scorer.feed(video, audio)
                scorer.score_ready(final=True, limit=length)
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
            torch.set_num_threads(threads_before)
        model.train(was_training)
    if not np.any(scorer.counts):
        raise ValueError(f"{getattr(clip_or_path, 'path', clip_or_path)}: no window could be scored")
    return _summarize(scorer, step)


def estimate_offset(
    model: nn.Module,
    clip_or_path,
    max_offset: float = 1.0,
    step: float | None = None,
    **kwargs: Any,
) -> tuple[float, float, dict[float, float]]:
    """``(offset_seconds, confidence, scores_by_shift)`` of :func:`sync_file` (same arguments).

    The offset is positive when the audio is late; the confidence is :attr:`SyncResult.confidence`
    (margin times agreement); the scores map each shift to its mean score (NaN where no window fits).
    """
    res = sync_file(model, clip_or_path, max_offset, step, **kwargs)
    return res.offset, res.confidence, res.scores


_DATA_DEFAULTS = {"fps": 16.0, "size": (64, 64), "sample_rate": 16000, "clip_duration": 1.0}


def sync_inputs(run: Any) -> dict[str, Any]:
    """The decoding options of a trained sync run (:func:`avlearn.load_run`), from its input
    contract: ``{"fps", "size", "sample_rate", "clip_duration"}``. A bare registered model
    (``load_run(path, model=name)``) without a fixed contract gets the synthetic world's
    defaults (16 fps, 64x64, 16 kHz, 1 s windows)."""
    c = run.contract
    got = {"fps": c.fps, "size": c.frame_size, "sample_rate": c.sample_rate, "clip_duration": c.clip_duration}
    return {k: (got[k] if got[k] is not None else v) for k, v in _DATA_DEFAULTS.items()}
