"""Separate a media file: find its visible sources, run a trained separator, write one track each.

What ``avlearn separate FILE --weights CKPT --out DIR`` does:

1. **Find the visible sources.** If the file belongs to a synthetic world (its truth file
   ``<split>/truth/<id>.json`` sits beside ``<split>/clips/<id>.mp4``, or ``truth=`` names
   one), the truth boxes of every visible object are used (``"boxes": "truth"`` in the
   report). Otherwise a **salient-blob detector** finds them (``"boxes": "detector"``):
   per frame, pixels whose colour lies far from the frame's median colour (more than
   ``threshold`` robust deviations, the median absolute deviation) are foreground; their
   connected components (parts a few pixels apart joined) are boxes, linked over frames into tracks by nearest centre; the
   ``max_sources`` longest-lived tracks are the sources. It finds the sprites and faces of
   the synthetic world (saturated or bright on a dim, grey texture); it is not a general
   object or face detector. For faces, the mouth is the lower middle of the face box.
2. **Separate.** Each source's visual input is cut from its track as in training
   (:func:`avlearn.tasks.separation.data.visual_inputs`); Sound of Pixels models pool their
   frame features inside the source's box (the paper's pixel-level inference); the
   audio-only model ignores the boxes and writes one track per output slot. Long files are
   processed in windows of ``window`` seconds.
3. **Write** ``<stem>_<source>.wav`` and ``<stem>_<source>.mp4`` (the original frames with the
   source's box drawn, and its separated audio) per source, and return the report that
   ``--json`` prints.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage

from avlearn.tasks.separation.data import box_track, rescale_tracks, visual_inputs
from avlearn.tasks.separation.task import SeparationTask

__all__ = ["separation_task", "detect_sources", "truth_sources", "find_sources", "separate_file", "truth_path_for"]


def separation_task(run: Any) -> SeparationTask:
    """The trained separation task of a run loaded with :func:`avlearn.load_run` (eval mode).

    Raises:
        ValueError: the run's task is not a separation task (the message names its file).
    """
    if not isinstance(run.task, SeparationTask):
        raise ValueError(f"{run.path}: task {run.task_name!r} is not a separation task")
    return run.task.eval()


def detect_sources(frames: np.ndarray, *, max_sources: int = 4, threshold: float = 2.0, min_area: float = 0.002,
                   min_presence: float = 0.3, merge: int = 2) -> list[np.ndarray]:
    """Box tracks (T, 4) of salient blobs (see the module docstring), longest-lived first.

    Args:
        frames: uint8 (T, H, W, 3).
        max_sources: tracks to keep.
        threshold: robust deviations from the median colour that make a pixel foreground.
        min_area: smallest blob, as a fraction of the frame.
        min_presence: fraction of frames a track must be seen in.
        merge: foreground parts closer than ``2 * merge`` pixels form one blob (a face and its hair).
    """
    x = np.asarray(frames, dtype=np.float32) / 255.0  # (T, H, W, 3)
    t, h, w = x.shape[:3]
    med = np.median(x.reshape(t, -1, 3), axis=1)[:, None, None]  # (T, 1, 1, 3)
    mad = np.median(np.abs(x - med).reshape(t, -1, 3), axis=1)[:, None, None]  # (T, 1, 1, 3)
    score = (np.abs(x - med) / (1.4826 * mad + 0.02)).max(-1)  # (T, H, W)
    tracks: list[dict[str, Any]] = []
    for i in range(t):
        fg = ndimage.binary_opening(score[i] > threshold)
        labels, _ = ndimage.label(ndimage.binary_dilation(fg, iterations=merge))  # parts closer than 2*merge px join
        blobs = []
        for k, sl in enumerate(ndimage.find_objects(labels), start=1):
            ys, xs = np.nonzero((labels[sl] == k) & fg[sl])
            if ys.size == 0:
                continue
            box = np.array([sl[1].start + xs.min(), sl[0].start + ys.min(), sl[1].start + xs.max() + 1, sl[0].start + ys.max() + 1], dtype=np.float64)
            if (box[2] - box[0]) * (box[3] - box[1]) >= min_area * h * w:
                blobs.append(box)
        free = list(range(len(tracks)))
        for b in sorted(blobs, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
            c = (b[:2] + b[2:]) / 2
            best = min(free, key=lambda k: np.linalg.norm(tracks[k]["centre"] - c), default=None)
            if best is not None and np.linalg.norm(tracks[best]["centre"] - c) < 0.25 * max(h, w):
                tr = tracks[best]
                free.remove(best)
            else:
                tr = {"boxes": [None] * t}
                tracks.append(tr)
            tr["boxes"][i], tr["centre"] = b, c
    tracks.sort(key=lambda tr: -sum(b is not None for b in tr["boxes"]))
    out = []
    for tr in tracks[:max_sources]:
        if sum(b is not None for b in tr["boxes"]) >= min_presence * t:
            out.append(box_track({"boxes": [None if b is None else b.tolist() for b in tr["boxes"]]}, "boxes", t, max(h, w)))
    return out


def truth_path_for(path: str | os.PathLike) -> Path | None:
    """The synthetic world's truth file of a clip (``<split>/truth/<id>.json``), if it exists."""
    p = Path(path)
    cand = p.parent.parent / "truth" / (p.stem + ".json")
    return cand if p.parent.name == "clips" and cand.is_file() else None


def truth_sources(truth: dict[str, Any], frames: int, size: tuple[int, int], fps: float) -> list[dict[str, Any]]:
    """Visible sources of a truth dict with box (and mouth) tracks resampled to ``frames`` of ``size`` (H, W)."""
    scale = size[1] / float(truth["size"][1]), size[0] / float(truth["size"][0])
    out = []
    for src in truth["sources"]:
        if not src.get("onscreen"):
            continue
        s = rescale_tracks(src, scale, truth["fps"], fps, frames)
        out.append({"id": src["id"], "label": src.get("sound_class") or src.get("visual_class"),
                    "sounding": bool(src.get("sounding")), "box": box_track(s, "boxes", frames, max(size)),
                    "mouth": box_track(s, "mouth_boxes", frames, max(size)) if s.get("mouth_boxes") else None})
    return out


def find_sources(frames: np.ndarray, fps: float, *, truth: str | os.PathLike | dict | None = None,
                 max_sources: int = 4) -> tuple[list[dict[str, Any]], str]:
    """``(sources, "truth" | "detector")``: box tracks of the visible sources of ``frames``."""
    import json

    if truth is not None:
        if not isinstance(truth, dict):
            with open(truth, encoding="utf-8") as fh:
                truth = json.load(fh)
        return truth_sources(truth, frames.shape[0], frames.shape[1:3], fps), "truth"
    found = detect_sources(frames, max_sources=max_sources)
    return [{"id": f"blob{k}", "label": None, "sounding": None, "box": b, "mouth": None} for k, b in enumerate(found)], "detector"


def _window_batch(frames: torch.Tensor, audio: torch.Tensor, sources: list[dict[str, Any]], f0: int, f1: int,
                  task: SeparationTask, d: Any) -> dict[str, Any]:
    """A one-mixture batch of the frames ``[f0, f1)`` and their audio, one entry per source."""
    vis: dict[str, list[torch.Tensor]] = {}
    for s in sources:
        for k, v in visual_inputs(frames[f0:f1], s["box"][f0:f1], None if s["mouth"] is None else s["mouth"][f0:f1],
                                  d.visual, num_frames=d.num_frames, crop_size=d.crop_size, mouth_size=d.mouth_size).items():
            vis.setdefault(k, []).append(v)
        if d.visual == "frames":  # SoP's pixel-level inference: pool the features inside the box
            b = s["box"][f0:f1]
            region = torch.tensor([b[:, 0].min() / frames.shape[2], b[:, 1].min() / frames.shape[1],
                                   b[:, 2].max() / frames.shape[2], b[:, 3].max() / frames.shape[1]], dtype=torch.float32)
            vis.setdefault("regions", []).append(region)
    batch = {k: torch.stack(v)[None] for k, v in vis.items()}  # (1, S, ...)
    batch["mixture"] = audio[None]  # (1, N)
    batch["valid"] = torch.ones(1, len(sources), dtype=torch.bool)
    return batch


def separate_file(task: SeparationTask, cfg: Any, path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  truth: str | os.PathLike | None | bool = True, window: float = 10.0, max_sources: int = 4) -> dict[str, Any]:
    """Separate every visible source of a media file and write its WAV and video.

    Args:
        task: a trained separator (:func:`separation_task` of a loaded run).
        cfg: its recipe.
        path: the media file (video with audio).
        out_dir: where the files go (created).
        truth: True: use the world's truth file when there is one; a path: that truth file;
            False/None: always the detector.
        window: seconds per separation window.
        max_sources: most sources the detector returns.

    Returns:
        The report: ``{"file", "model", "combine", "boxes", "sample_rate", "duration", "sources": [{"id",
        "label", "wav", "video", "rms"}]}``.

    Raises:
        avlearn.io.MediaError: the file cannot be read.
    """
    from avlearn.io import read_clip, write_audio, write_av
    from avlearn.viz.overlay import draw_boxes

    d = cfg.data
    path = os.fspath(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    small = read_clip(path, 0.0, None, fps=d.fps, size=(d.size, d.size), sample_rate=d.sample_rate, mono=True)
    full = read_clip(path, 0.0, None, audio=False)
    frames, audio = small.video, small.audio[0]  # (T, H, W, 3), (N,)
    truth_file = truth_path_for(path) if truth is True else (truth or None)
    sources, found_by = find_sources(frames.numpy(), d.fps, truth=truth_file, max_sources=max_sources)
    if task.permutation_invariant:
        sources = [{"id": f"slot{k}", "label": None, "sounding": None, "box": np.tile([0.0, 0.0, d.size, d.size], (frames.shape[0], 1)),
                    "mouth": None} for k in range(getattr(task, "outputs", 1))]
    report: dict[str, Any] = {"file": path, "model": task.cfg.name, "combine": task.cfg.combine, "boxes": found_by,
                              "sample_rate": d.sample_rate,
                              "duration": small.duration, "sources": []}
    if not sources:
        return report
    step = max(1, int(round(window * d.fps)))
    parts = []
    for f0 in range(0, frames.shape[0], step):
        f1 = min(frames.shape[0], f0 + step)
        a0, a1 = int(round(f0 * d.sample_rate / d.fps)), int(round(f1 * d.sample_rate / d.fps))
        if f1 == frames.shape[0]:
            a1 = audio.shape[-1]
        batch = _window_batch(frames, audio[a0:a1], sources, f0, f1, task, d)
        parts.append(task.separate(batch)["estimates"][0])  # (S, n)
    estimates = torch.cat(parts, dim=-1)  # (S, N)
    stem = Path(path).stem
    big = full.video.numpy()
    sy, sx = big.shape[1] / d.size, big.shape[2] / d.size
    for s, est in zip(sources, estimates):
        wav = write_audio(out / f"{stem}_{s['id']}.wav", est[None].clamp(-1, 1), d.sample_rate)
        idx = np.minimum((np.arange(big.shape[0]) / (full.fps or d.fps) * d.fps).astype(int), len(s["box"]) - 1)
        boxes = [s["box"][i][None] * np.array([sx, sy, sx, sy]) for i in idx]
        video = write_av(out / f"{stem}_{s['id']}.mp4", draw_boxes(big, boxes) if not task.permutation_invariant else big,
                         est[None].clamp(-1, 1), fps=full.fps, sample_rate=d.sample_rate)
        report["sources"].append({"id": s["id"], "label": s["label"], "sounding": s["sounding"], "wav": wav, "video": video,
                                  "rms": float(est.square().mean().sqrt())})
    return report
