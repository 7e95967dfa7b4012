"""Data for self-supervised synchronization: shifted-audio negatives and frozen test pairs.

Owens & Efros (ECCV 2018, Sec. 3.1) train on "the same video with its audio shifted in time";
Korbar et al. (AVTS, NeurIPS 2018, Sec. 3.2) call these *hard* negatives, next to *easy*
negatives taken from other videos (formed in the batch by :mod:`avlearn.tasks.sync`).

Sign convention, used throughout avlearn: a pair is cut as video frames ``[t, t + w)`` and
audio samples ``[t + s, t + s + w)``. A file whose audio is **late** by ``d`` seconds (each
sound plays ``d`` after the frame that makes it) is in sync at ``s = d``; so offsets are
positive when the audio is late, and :func:`shift_audio` with ``offset = d`` makes a file's
audio late by ``d``.

Whole clips are decoded once with :class:`avlearn.data.AVDataset` (bad files come back None
and are skipped by the collate) and kept in memory as uint8 frames, so each training step
only slices tensors.
"""

from __future__ import annotations

import math
import os
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from avlearn.data import AVDataset, ManifestRow, load_manifest
from avlearn.data.cache import ClipCache

__all__ = [
    "sample_shift",
    "cut_pair",
    "shift_audio",
    "av_clips",
    "ShiftedPairDataset",
    "shifted_pair",
    "WindowPairs",
    "ChannelView",
    "FrozenPairDataset",
    "load_sync_list",
]


def sample_shift(rng: np.random.Generator, *, min_shift: float, max_shift: float, available: float) -> float:
    """Draw an audio shift ``s`` with ``min_shift <= |s| <= max_shift`` and either sign.

    Args:
        rng: numpy generator.
        min_shift: smallest magnitude in seconds (> 0 keeps negatives distinguishable).
        max_shift: largest magnitude in seconds.
        available: the most a window can move inside its clip (clip length - window length);
            magnitudes are capped to it.

    Returns:
        the shift in seconds (audio window start minus video window start).

    Raises:
        ValueError: the clip leaves no room for a shift of at least ``min_shift``.
    """
    if not 0 <= min_shift <= max_shift:
        raise ValueError(f"sample_shift: need 0 <= min_shift <= max_shift, got {min_shift}, {max_shift}")
    hi = min(max_shift, available)
    if hi < min_shift:
        raise ValueError(
            f"sample_shift: a clip with {available:.3f} s to spare cannot hold a shift of at least {min_shift} s"
        )
    magnitude = rng.uniform(min_shift, hi)
    return float(magnitude if rng.random() < 0.5 else -magnitude)


def cut_pair(
    video: Tensor,
    audio: Tensor,
    *,
    fps: float,
    sample_rate: int,
    start: float,
    duration: float,
    shift: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """Cut frames ``[start, start + duration)`` and audio ``[start + shift, ... + duration)``.

    Args:
        video: (C, T, H, W) frames of a whole clip.
        audio: (C, N) samples of the same clip (sample 0 plays with frame 0).
        fps: frame rate.
        sample_rate: audio rate.
        start: window start in seconds (rounded to a frame).
        duration: window length in seconds.
        shift: audio offset in seconds (rounded to a sample); positive reads later audio.

    Returns:
        ``(video_window (C, round(duration * fps), H, W), audio_window (C, round(duration * sr)))``.

    Raises:
        ValueError: a window falls outside the clip.
    """
    f0, nf = int(round(start * fps)), int(round(duration * fps))
    a0, na = int(round((start + shift) * sample_rate)), int(round(duration * sample_rate))
    if f0 < 0 or f0 + nf > video.shape[1] or a0 < 0 or a0 + na > audio.shape[-1]:
        raise ValueError(
            f"cut_pair: window start {start:.3f} s, shift {shift:+.3f} s, length {duration} s is outside a clip of "
            f"{video.shape[1]} frames / {audio.shape[-1]} samples"
        )
    return video[:, f0 : f0 + nf], audio[:, a0 : a0 + na]


def shift_audio(audio: Tensor, offset: float, sample_rate: int) -> Tensor:
    """Delay (``offset > 0``) or advance (``< 0``) audio by ``offset`` seconds, zero-filled.

    ``shift_audio(a, d, sr)[..., n] == a[..., n - round(d * sr)]``: the audio becomes late by
    ``d``, which :func:`avlearn.tasks.sync.estimate_offset` reports as ``+d``.
    """
    k = int(round(offset * sample_rate))
    out = torch.zeros_like(audio)
    if k >= 0:
        out[..., k:] = audio[..., : audio.shape[-1] - k]
    else:
        out[..., :k] = audio[..., -k:]
    return out


def _keep_sample(sample: dict[str, Any]) -> dict[str, Any]:
    return sample  # AVDataset transform: keep uint8 (T, H, W, 3) frames for the cache


def av_clips(rows, *, fps: float, size: Sequence[int], sample_rate: int, cache: bool = True) -> ClipCache:
    """Whole clips of a manifest in the decode cache (:class:`avlearn.data.cache.ClipCache`),
    each read once through :class:`AVDataset`: ``get(i)`` gives ``(video uint8 (3, T, H, W),
    audio (1, N), path)`` of clip ``i``, or None if unreadable.

    Args:
        rows: manifest rows (or a manifest path).
        fps: frame rate to decode at.
        size: (H, W) frames.
        sample_rate: audio rate (audio is mixed to mono).
        cache: keep decoded clips in memory (uint8 frames).
    """
    rows = load_manifest(rows) if isinstance(rows, (str, os.PathLike)) else list(rows)
    base = AVDataset(rows, sampler=None, fps=fps, size=tuple(size), sample_rate=sample_rate, mono=True,
                     transform=_keep_sample)

    def decode(i: int) -> tuple[Tensor, Tensor, str] | None:
        s = base[i]  # None: AVDataset skipped (and counted) an unreadable file
        return None if s is None else (s["video"].permute(3, 0, 1, 2).contiguous(), s["audio"], s["path"])

    return ClipCache(range(len(rows)), decode=decode, cache=cache, fps=fps, size=tuple(size), sample_rate=sample_rate,
                     name="sync data")


def _to_float(video: Tensor) -> Tensor:
    return video.float().div_(255.0)  # (3, T, H, W) in [0, 1]


class ShiftedPairDataset(Dataset):
    """One video window per clip with its aligned audio and a shifted copy (a hard negative).

    The video window starts on a frame; the shift is drawn by :func:`sample_shift` and the
    window start is then drawn so both audio windows lie inside the clip. Draws depend only on
    ``(seed, epoch, index)``.

    ``jitter`` (in video frames) moves the *aligned* audio window by a uniform amount in
    ``[-jitter, jitter]`` frames (less at a clip's ends, where the window cannot move out).
    Without it, every positive's audio starts on a frame boundary while negatives start
    anywhere, and a world whose sounds are tied to frames (impacts at contact frames, envelopes
    at frame rate) lets a network tell them apart by the sub-frame phase of the audio alone,
    without looking at the video; half a frame makes that phase uniform for both classes
    (positives are then "in sync to the nearest frame").

    Args:
        store: the decoded clips.
        clip_duration: window length in seconds.
        min_shift: smallest |shift| of a negative in seconds.
        max_shift: largest |shift| in seconds.
        seed: sampling seed.
        jitter: largest |move| of the aligned audio window, in video frames (0: exact).
        negatives: also cut the shifted audio (``audio_shifted``, ``shift``); False gives the
            aligned windows only (the training windows of sound-source localization).
        flip: mirror the frames left-right with probability 0.5 (drawn from ``(seed, epoch,
            index)``; the mono audio is unchanged).

    A sample is ``{"video": (3, T, H, W) float in [0, 1], "audio": (1, N), "audio_shifted":
    (1, N), "shift": s (seconds), "jitter": j (seconds, the aligned window's move), "start": t,
    "index": i, "path": str}`` (no ``audio_shifted``/``shift`` without ``negatives``), or None
    for an unreadable clip.
    """

    def __init__(self, store: ClipCache, *, clip_duration: float, min_shift: float = 0.0, max_shift: float = 0.0,
                 seed: int = 0, jitter: float = 0.0, negatives: bool = True, flip: bool = False):
        if jitter < 0:
            raise ValueError(f"ShiftedPairDataset: jitter must be >= 0 frames, got {jitter}")
        self.store, self.seed, self.epoch = store, int(seed), 0
        self.clip_duration, self.min_shift, self.max_shift = float(clip_duration), float(min_shift), float(max_shift)
        self.jitter, self.negatives, self.flip = float(jitter), bool(negatives), bool(flip)

    def set_epoch(self, epoch: int) -> None:
        """Draw new windows and shifts for ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.store)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        clip = self.store.get(index)
        if clip is None:
            return None
        video, audio, path = clip
        out = shifted_pair(video, audio, fps=self.store.fps, sample_rate=self.store.sample_rate,
                           rng=np.random.default_rng([self.seed, self.epoch, index]), clip_duration=self.clip_duration,
                           min_shift=self.min_shift, max_shift=self.max_shift, jitter=self.jitter,
                           negatives=self.negatives)
        out.update(index=index, path=path)
        if self.flip and np.random.default_rng([self.seed, self.epoch, index, 1]).random() < 0.5:
            out["video"] = out["video"].flip(-1)  # (3, T, H, W) mirrored
        return out


def shifted_pair(video: Tensor, audio: Tensor, *, fps: float, sample_rate: int, rng: np.random.Generator,
                 clip_duration: float, min_shift: float = 0.0, max_shift: float = 0.0, jitter: float = 0.0,
                 negatives: bool = True) -> dict[str, Any]:
    """A video window of ``clip_duration`` with its (jittered) aligned audio and a shifted copy.

    The rule of :class:`ShiftedPairDataset` (its docstring), on one decoded span.

    Args:
        video: uint8 (3, T, H, W) frames of the span.
        audio: (1, N) samples of the same span.
        fps, sample_rate: the span's rates.
        rng: the draw's generator.
        clip_duration, min_shift, max_shift, jitter, negatives: as in :class:`ShiftedPairDataset`.

    Returns:
        ``{"video": (3, T', H, W) float, "audio": (1, N'), "jitter", "start"}`` plus
        ``"audio_shifted"``, ``"shift"`` with ``negatives``.

    Raises:
        ValueError: the span cannot hold the window and a shift of at least ``min_shift``.
    """
    length = min(video.shape[1] / fps, audio.shape[-1] / sample_rate)
    jmax = jitter / fps  # seconds
    available = length - clip_duration
    room = available - 2 * jmax if available - 2 * jmax >= min_shift else available
    shift = sample_shift(rng, min_shift=min_shift, max_shift=max_shift, available=room)
    lo, hi = max(0.0, -shift), available - max(0.0, shift)  # keeps both audio windows inside
    k0, k1 = math.ceil((lo + jmax) * fps - 1e-6), math.floor((hi - jmax) * fps + 1e-6)  # room for any jitter
    if k0 > k1:  # a tight clip: any frame that fits, and the jitter the room there allows
        k0, k1 = math.ceil(lo * fps - 1e-6), math.floor(hi * fps + 1e-6)
    start = int(rng.integers(k0, k1 + 1)) / fps
    jit = float(rng.uniform(max(-jmax, -start), min(jmax, available - start))) if jmax > 0 else 0.0
    v, a = cut_pair(video, audio, fps=fps, sample_rate=sample_rate, start=start, duration=clip_duration, shift=jit)
    out = {"video": _to_float(v), "audio": a, "jitter": jit, "start": start}
    if negatives:
        _, a_shift = cut_pair(video, audio, fps=fps, sample_rate=sample_rate, start=start, duration=clip_duration,
                              shift=shift)
        out.update(audio_shifted=a_shift, shift=shift)
    return out


class WindowPairs:
    """The transform that turns a :class:`~avlearn.data.WindowDataset` window (decoded with
    room for the shifts: ``clip_duration + max_shift + 2 * jitter / fps`` seconds) into a
    training sample of :class:`ShiftedPairDataset`'s form; the draw's randomness comes from the
    generators WindowDataset seeds by ``(seed, epoch, draw)``.

    Args:
        clip_duration, min_shift, max_shift, jitter, negatives, flip: as in
            :class:`ShiftedPairDataset`.
        channels: audio channels of the sample (the first ``channels`` of the decoded audio).
    """

    def __init__(self, *, clip_duration: float, min_shift: float = 0.0, max_shift: float = 0.0, jitter: float = 0.0,
                 negatives: bool = True, flip: bool = False, channels: int = 1):
        self.channels = int(channels)
        self.kw = dict(clip_duration=float(clip_duration), min_shift=float(min_shift), max_shift=float(max_shift),
                       jitter=float(jitter), negatives=bool(negatives))
        self.flip = bool(flip)

    def span(self, fps: float) -> float:
        """Seconds of each decoded window: the pair plus room for the largest shift and jitter."""
        k = self.kw
        return k["clip_duration"] + (k["max_shift"] if k["negatives"] else 0.0) + 2 * k["jitter"] / fps

    def __call__(self, sample: dict[str, Any]) -> dict[str, Any]:
        video = sample["video"].permute(3, 0, 1, 2)  # (T, H, W, 3) -> (3, T, H, W) uint8
        audio = sample["audio"]  # (C, N)
        if audio.shape[0] < self.channels:  # a mono file for a stereo model: the same signal on both sides
            audio = audio[:1].expand(self.channels, -1)
        audio = audio[: self.channels].contiguous()  # (channels, N)
        rng = np.random.default_rng(int(np.random.randint(2**31)))  # seeded by WindowDataset per draw
        out = shifted_pair(video, audio, fps=sample["fps"], sample_rate=sample["sample_rate"], rng=rng, **self.kw)
        out.update(index=sample["window_index"], path=sample["path"], start=sample["start"] + out["start"])
        if self.flip and rng.random() < 0.5:
            out["video"] = out["video"].flip(-1)  # (3, T, H, W) mirrored
        return out


def load_sync_list(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a frozen sync list (JSONL: ``clip`` relative to the list's world, ``start``,
    ``offset`` in seconds, optionally ``audio_start``); ``clip`` becomes an absolute ``path``.

    Raises:
        avlearn.data.lists.FrozenListError: no such list, or a line that is not JSON or lacks
            ``clip``/``offset`` (the message names the file and the line).
    """
    from avlearn.data.lists import read_frozen_list

    rows = read_frozen_list(path, required=("clip", "offset"), floats=("offset", "start", "audio_start"))
    for rec in rows:
        rec["path"] = rec["clip_path"]
        rec["start"] = float(rec.get("start", 0.0))
    return rows


class FrozenPairDataset(Dataset):
    """The pairs of a frozen sync list: video at ``start``, audio at ``audio_start = start - offset``
    (the world's lists: a positive offset makes the pair's audio late).

    Offset 0 is an aligned pair (label 1), any other offset a shifted one (label 0).

    Args:
        rows: from :func:`load_sync_list`.
        fps, size, sample_rate: decoding options (as the model was trained).
        clip_duration: window length in seconds.
        cache: keep decoded clips in memory.
    """

    def __init__(self, rows: list[dict[str, Any]], *, fps: float, size, sample_rate: int, clip_duration: float, cache=True):
        self.rows = rows
        paths = sorted({r["path"] for r in rows})
        self._clip_index = {p: i for i, p in enumerate(paths)}
        self.store = av_clips([ManifestRow(path=p) for p in paths], fps=fps, size=size, sample_rate=sample_rate, cache=cache)
        self.clip_duration = float(clip_duration)

    def __len__(self) -> int:
        return len(self.rows)

    def row_clip(self, index: int) -> tuple[dict[str, Any], tuple[Tensor, Tensor, str] | None]:
        """Row ``index`` and its decoded clip ``(video, audio, path)`` (None when unreadable)."""
        row = self.rows[index]
        return row, self.store.get(self._clip_index[row["path"]])

    def window_start(self, row: dict[str, Any], shift: float, length: float) -> float | None:
        """Start of the model's window for a row: the row's own start when the lengths agree, else
        the ``clip_duration`` window centred on the row's window, moved (by whole frames) to keep
        the video and the shifted audio inside the clip (a model trained on 2 s windows scored on
        a list of 1 s pairs sees each pair with its context); None when no such window fits (the
        evaluation skips and counts the row)."""
        start, fps = row["start"], self.store.fps
        if abs(row.get("duration", self.clip_duration) - self.clip_duration) < 1e-6:
            return start
        centred = start + (row["duration"] - self.clip_duration) / 2
        lo, hi = max(0.0, -shift), length - self.clip_duration - max(0.0, shift)
        frames = math.ceil(lo * fps - 1e-6), math.floor(hi * fps + 1e-6)
        return min(max(round(centred * fps), frames[0]), frames[1]) / fps if frames[0] <= frames[1] else None

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        row, clip = self.row_clip(index)
        if clip is None:
            return None
        video, audio, path = clip
        shift = row.get("audio_start", row["start"] - row["offset"]) - row["start"]  # = -offset
        fps, sr = self.store.fps, self.store.sample_rate
        start = self.window_start(row, shift, min(video.shape[1] / fps, audio.shape[-1] / sr))
        if start is None:
            return None
        v, a = cut_pair(video, audio, fps=fps, sample_rate=sr, start=start, duration=self.clip_duration, shift=shift)
        return {"video": _to_float(v), "audio": a, "label": int(row["offset"] == 0.0), "offset": row["offset"], "index": index, "path": path}


class ChannelView(Dataset):
    """A pair dataset whose (1, N) audio is repeated to ``channels`` channels: frozen pairs
    are decoded mono, and a stereo model (Owens & Efros) scores them with the mono signal on
    both sides."""

    def __init__(self, dataset: Dataset, channels: int):
        self.dataset, self.channels = dataset, int(channels)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        sample = self.dataset[index]
        if sample is not None and self.channels > 1:
            sample["audio"] = sample["audio"][:1].expand(self.channels, -1).contiguous()  # (channels, N)
        return sample
