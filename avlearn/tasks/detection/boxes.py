"""Actor box sources for inference: moving regions, a trained person detector, the world's truth.

**Moving regions** (:func:`motion_boxes`), the classical baseline of moving-object detection
with a static camera: the background is the per-pixel temporal median of a window of frames
(Cucchiara et al., "Detecting Moving Objects, Ghosts, and Shadows in Video Streams", IEEE
TPAMI 2003, Sec. 3), a pixel of the keyframe is foreground where it differs from that
background by more than a threshold, the mask is closed morphologically so the parts of one
figure join, and each connected component of at least ``min_area`` of the frame becomes a box.
Its known failures on the actors world: an actor that does not move in the whole window melts
into the background, two touching actors merge into one box, and silent distractor sprites are
boxed too (their actions are then scored like an actor's).

**A trained person detector** (:func:`detector_boxes`): AVA's action detector takes person
boxes from a separately trained detector (Gu et al., CVPR 2018, Sec. 5.1); here a
``person_detection`` run (a CenterNet, Zhou et al., "Objects as Points", 2019) boxes the actors
on the frame shown at the keyframe's time, still or moving.

**Ground truth** (:func:`truth_boxes`): the actor boxes of a synthetic world clip's truth file
(``<split>/truth/<id>.json`` beside ``<split>/clips/<id>.mp4``), AVA's "GT boxes" setting.

The action detector's frame-mAP is reported with each source, so the cost of the box source
is visible.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avlearn.tasks.detection.person_data import to_image
from avlearn.tasks.detection.persons import PersonDetectionTask

__all__ = ["BOX_SOURCES", "motion_boxes", "check_person_run", "detector_boxes", "truth_boxes"]

#: The box sources of ``avlearn detect`` and the action detector's evaluation.
BOX_SOURCES = ("motion", "detector", "truth")


def motion_boxes(frames: np.ndarray, key: int, *, threshold: float = 0.1, min_area: float = 0.004,
                 close: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Boxes of the regions of frame ``key`` that differ from the window's median background.

    Args:
        frames: uint8 ``(T, H, W, 3)`` frames around the keyframe (a static camera).
        key: index of the keyframe in ``frames``.
        threshold: smallest per-pixel difference (max over channels, in [0, 1]) of foreground.
        min_area: smallest component, as a fraction of the frame's pixels.
        close: radius in pixels of the morphological closing that joins a figure's parts.

    Returns:
        ``(boxes (N, 4), scores (N,))``: pixel boxes ``(x1, y1, x2, y2)`` with exclusive ends,
        largest component first; the score is the component's foreground fill of its box.

    Raises:
        ValueError: ``frames`` is not ``(T, H, W, 3)`` or ``key`` is outside it.
    """
    from scipy import ndimage

    f = np.asarray(frames)
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"motion_boxes: expected (T, H, W, 3) frames, got shape {f.shape}")
    if not 0 <= key < len(f):
        raise ValueError(f"motion_boxes: keyframe {key} outside the {len(f)} frames")
    h, w = f.shape[1:3]
    background = np.median(f.astype(np.float32), axis=0)  # (H, W, 3)
    diff = np.abs(f[key].astype(np.float32) - background).max(-1) / 255.0  # (H, W)
    mask = diff > threshold
    if close > 0:
        st = np.ones((2 * close + 1, 2 * close + 1), bool)
        mask = ndimage.binary_closing(mask, structure=st, border_value=0)
    labels, n = ndimage.label(mask)
    boxes, scores, areas = [], [], []
    for k, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        area = int((labels[sl] == k).sum())
        if area < min_area * h * w:
            continue
        y0, y1, x0, x1 = sl[0].start, sl[0].stop, sl[1].start, sl[1].stop
        boxes.append([x0, y0, x1, y1])
        scores.append(area / max(1, (x1 - x0) * (y1 - y0)))
        areas.append(area)
    order = np.argsort(-np.asarray(areas, dtype=np.float64), kind="stable")
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)[order]
    return b, np.asarray(scores, dtype=np.float64)[order]


def check_person_run(run: Any) -> PersonDetectionTask:
    """The run's task, if it is a person detector.

    Raises:
        ValueError: a run of another task (naming the run's path and task).
    """
    if not isinstance(run.task, PersonDetectionTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a person detector (train detect_persons)")
    return run.task


@torch.no_grad()
def detector_boxes(run: Any, path: str | os.PathLike, time: float, *, threshold: float | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised ``(N, 4)`` boxes and ``(N,)`` scores of a person detector on the frame at ``time``.

    Args:
        run: a ``person_detection`` run (:func:`avlearn.load_run`).
        path: the media file.
        time: the keyframe's time (s); the frame shown then is read at the run's size.
        threshold: smallest box score (default: the run's ``task.threshold``).

    Raises:
        ValueError: not a person detector.
        avlearn.io.MediaError: the file cannot be read.
    """
    from avlearn.io import read_clip

    task = check_person_run(run)
    d = run.config.data
    clip = read_clip(os.fspath(path), float(time), 1.0 / d.fps, fps=d.fps, size=(d.size, d.size), audio=False)
    image = to_image(clip.video[0].numpy(), d)[None].to(run.device)  # (1, 3, S, S)
    det = task.detect(image, threshold)[0]
    return det["boxes"].cpu().double().numpy(), det["scores"].cpu().double().numpy()


def truth_boxes(path: str | os.PathLike, time: float) -> np.ndarray:
    """Normalised ``(N, 4)`` actor boxes of a world clip's truth file at the frame of ``time``.

    Raises:
        FileNotFoundError: no truth file beside the clip (not a world clip).
        ValueError: the truth file has no actors (not an ``actors`` world).
    """
    p = Path(path)
    truth_path = p.parent.parent / "truth" / (p.stem + ".json")
    if not truth_path.is_file():
        raise FileNotFoundError(f"{path}: no truth file {truth_path} (ground-truth boxes need an actors world clip)")
    with open(truth_path, encoding="utf-8") as f:
        truth = json.load(f)
    if "actors" not in truth:
        raise ValueError(f"{truth_path}: no actor boxes (a {truth.get('kind')!r} world, not 'actors')")
    frame = min(max(0, int(round(float(time) * truth["fps"]))), int(truth["num_frames"]) - 1)
    h, w = truth["size"]
    boxes = np.asarray([a["boxes"][frame] for a in truth["actors"]], dtype=np.float64).reshape(-1, 4)
    return (boxes / np.array([w, h, w, h], dtype=np.float64)).clip(0.0, 1.0)
