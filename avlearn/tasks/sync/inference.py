"""Audio-visual offset estimation with a trained sync network, over whole files.

The search follows SyncNet (Chung & Zisserman, ACCV 2016 workshops, Sec. 4): score the video
against the audio at every candidate shift, average over the clip, and take the best shift;
the confidence is the best score minus the median score over shifts (SyncNet's "median -
min" of distances, with scores instead of distances). Any network with ``sync_score`` or an
aligned logit works: Owens & Efros' fused net (ECCV 2018) or an AVTS two-tower net.

Sign convention (:mod:`avlearn.tasks.sync.data`): a positive offset means the audio is late.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["sync_scores", "window_scores", "score_shifts", "estimate_offset", "sync_inputs"]




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


@torch.no_grad()
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
    batch_size: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of scores per shift over the video windows ``starts`` of one clip.

    Args:
        video: (3, T, H, W) uint8 or float frames starting at time 0 of ``audio``.
        audio: (1, N).
        shifts, starts: seconds. Pairs whose audio leaves the clip are skipped.
        batch_size: audio windows scored per forward pass.

    Returns:
        ``(sums, counts)``, each (len(shifts),).
    """
    device = next(model.parameters()).device
    nf, na = int(round(window * fps)), int(round(window * sample_rate))
    sums, counts = np.zeros(len(shifts)), np.zeros(len(shifts))
    for t in starts:
        f0 = int(round(t * fps))
        if f0 < 0 or f0 + nf > video.shape[1]:
            continue
        a0s = np.round((t + shifts) * sample_rate).astype(int)
        ks = np.flatnonzero((a0s >= 0) & (a0s + na <= audio.shape[-1]))
        v = video[None, :, f0 : f0 + nf].to(device)  # (1, 3, T', H, W)
        if not v.is_floating_point():
            v = v.float() / 255.0
        for i in range(0, len(ks), batch_size):
            chunk = ks[i : i + batch_size]
            a = torch.stack([audio[:, a0s[k] : a0s[k] + na] for k in chunk]).to(device)  # (b, 1, N')
            sums[chunk] += window_scores(model, v, a).float().cpu().numpy()
            counts[chunk] += 1
    return sums, counts


def estimate_offset(
    model: nn.Module,
    clip_or_path,
    max_offset: float = 1.0,
    step: float | None = None,
    *,
    window: float = 1.0,
    hop: float = 0.25,
    fps: float = 16.0,
    size: tuple[int, int] = (64, 64),
    sample_rate: int = 16000,
    chunk: float = 30.0,
    batch_size: int = 32,
) -> tuple[float, float, dict[float, float]]:
    """Estimate how late the audio is relative to the video, over a whole file.

    Every video window (length ``window``, every ``hop`` seconds) is scored against the audio
    window shifted by each candidate ``s`` in ``[-max_offset, max_offset]`` (every ``step``,
    default one frame); a shift's score is the mean over the windows where its audio lies
    inside the file. Long files are read in ``chunk``-second pieces, so any length works.

    Args:
        model: a sync network in eval mode (``sync_score`` or first logit).
        clip_or_path: a media file, or an :class:`avlearn.io.AVClip` already at ``fps``/``size``.
        max_offset: largest |offset| searched, seconds.
        step: shift grid step in seconds (default ``1 / fps``).
        window, hop: window length and video hop, seconds.
        fps, size, sample_rate: what the model was trained on (used to decode a path).
        chunk: seconds of video windows per read when decoding a path.
        batch_size: pairs per forward pass.

    Returns:
        ``(offset_seconds, confidence, scores_by_shift)``: the best shift refined by a parabola
        through its neighbours (positive: the audio is late), best minus median score, and
        ``{shift: mean score}`` (NaN where no window fits).

    Raises:
        ValueError: the clip is shorter than ``window``.
        avlearn.io.MediaError: the file cannot be read.
    """
    from avlearn import io as avio

    step = 1.0 / fps if step is None else float(step)
    n = int(math.floor(max_offset / step + 1e-9))
    shifts = np.arange(-n, n + 1) * step
    sums, counts = np.zeros(len(shifts)), np.zeros(len(shifts))
    was_training = model.training
    model.eval()
    try:
        if isinstance(clip_or_path, (str, os.PathLike)):
            path = os.fspath(clip_or_path)
            duration = avio.probe(path).duration
            if duration < window:
                raise ValueError(f"{path}: {duration:.3f} s is shorter than the {window} s sync window")
            last = duration - window
            for c0 in np.arange(0.0, last + 1e-9, chunk):
                starts = np.arange(c0, min(c0 + chunk, last + 1e-9), hop)
                r0 = math.floor(max(0.0, c0 - max_offset) * fps) / fps
                r1 = min(duration, c0 + chunk + window + max_offset)
                clip = avio.read_clip(path, r0, r1 - r0, fps=fps, size=tuple(size), sample_rate=sample_rate, mono=True)
                after = clip.meta.get("audio_pad", (0, 0))[1]
                audio = clip.audio[:, : clip.audio.shape[-1] - after]  # (1, N) without the padding past the end
                video = clip.video.permute(3, 0, 1, 2)  # (3, T, H, W) uint8
                s, c = score_shifts(
                    model, video, audio, fps=fps, sample_rate=sample_rate, window=window, shifts=shifts,
                    starts=starts - r0, batch_size=batch_size,
                )
                sums, counts = sums + s, counts + c
        else:
            clip = clip_or_path
            fps, sample_rate = float(clip.fps), int(clip.sample_rate)
            video = clip.video.permute(3, 0, 1, 2)  # (3, T, H, W)
            audio = clip.audio.mean(dim=0, keepdim=True)  # (1, N)
            length = min(video.shape[1] / fps, audio.shape[-1] / sample_rate)
            if length < window:
                raise ValueError(f"{clip.path or '<clip>'}: {length:.3f} s is shorter than the {window} s sync window")
            starts = np.arange(0.0, length - window + 1e-9, hop)
            sums, counts = score_shifts(
                model, video, audio, fps=fps, sample_rate=sample_rate, window=window, shifts=shifts,
                starts=starts, batch_size=batch_size,
            )
    finally:
        model.train(was_training)
    mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    k = int(np.nanargmax(mean))
    offset = float(shifts[k])
    if 0 < k < len(shifts) - 1 and np.isfinite(mean[k - 1 : k + 2]).all():
        y0, y1, y2 = mean[k - 1 : k + 2]
        curv = y0 - 2 * y1 + y2
        if curv < 0:
            offset += step * float(np.clip(0.5 * (y0 - y2) / curv, -0.5, 0.5))
    confidence = float(mean[k] - np.nanmedian(mean))
    return offset, confidence, {round(float(s), 6): float(v) for s, v in zip(shifts, mean)}


_DATA_DEFAULTS = {"fps": 16.0, "size": (64, 64), "sample_rate": 16000, "clip_duration": 1.0}


def sync_inputs(run: Any) -> dict[str, Any]:
    """The decoding options of a trained sync run (:func:`avlearn.load_run`), from its input
    contract: ``{"fps", "size", "sample_rate", "clip_duration"}``. A bare registered model
    (``load_run(path, model=name)``) without a fixed contract gets the synthetic world's
    defaults (16 fps, 64x64, 16 kHz, 1 s windows)."""
    c = run.contract
    got = {"fps": c.fps, "size": c.frame_size, "sample_rate": c.sample_rate, "clip_duration": c.clip_duration}
    return {k: (got[k] if got[k] is not None else v) for k, v in _DATA_DEFAULTS.items()}
