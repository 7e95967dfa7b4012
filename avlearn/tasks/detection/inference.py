"""Labelled actor boxes at the keyframes of a whole file, and a video that shows them.

AVA's inference (Gu et al., CVPR 2018, Sec. 5.1): at each keyframe (here every ``step``
seconds, 2 Hz by default; AVA annotates at 1 Hz) actor boxes come from a box source, and the
detector scores every action of every box from the clip centred on the keyframe. The box
sources (:mod:`avlearn.tasks.detection.boxes`): ``"detector"``, a trained person detector run
(AVA's setting, the default when one is given); ``"motion"``, moving regions over a
``context`` window (the baseline without training); ``"truth"``, a world clip's ground truth.

    >>> run = avlearn.load_run("runs/detect_actors")
    >>> res = detect_file(run, "clip.mp4", box_run=avlearn.load_run("runs/detect_persons"))
    >>> res["keyframes"][0]["actors"][0]["labels"]
    [{"label": 1, "name": "walk", "score": 0.93}, ...]
    >>> write_detection_video("clip.mp4", "boxes.mp4", res)
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from avlearn.tasks.detection.boxes import BOX_SOURCES, check_person_run, detector_boxes, motion_boxes, truth_boxes
from avlearn.tasks.detection.data import clip_start, to_input
from avlearn.tasks.detection.task import DetectionTask

__all__ = ["keyframe_times", "keyframe_boxes", "source_boxes", "score_boxes", "detect_file", "class_colours", "draw_detections",
           "write_detection_video"]


def _frame_times(clip: Any) -> np.ndarray:
    """(T,) presentation time of each frame of an AVClip."""
    times = clip.meta.get("frame_times")
    if times is not None and len(times) == len(clip.video):
        return np.asarray(times, dtype=np.float64)
    return clip.start + np.arange(len(clip.video)) / clip.fps


def keyframe_times(duration: float, step: float) -> list[float]:
    """Keyframes every ``step`` s from ``step`` to ``duration - step`` (the middle of a short file)."""
    if step <= 0:
        raise ValueError(f"keyframe step must be > 0, got {step}")
    times = np.arange(step, duration - step + 1e-9, step)
    return [round(float(t), 6) for t in times] or [round(duration / 2, 6)]


def keyframe_boxes(path: str, time: float, *, fps: float, size: int, context: float = 2.0, scores: bool = False,
                   **kwargs: Any) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Normalised ``(N, 4)`` actor boxes of the keyframe at ``time`` from the moving-region source.

    Args:
        path: the media file.
        time: the keyframe's time (s).
        fps, size: decoding frame rate and (square) size.
        context: seconds of frames the background median is taken over.
        scores: also return the ``(N,)`` box scores (foreground fill).
        **kwargs: passed to :func:`~avlearn.tasks.detection.boxes.motion_boxes`.
    """
    from avlearn.io import read_clip

    clip = read_clip(path, clip_start(time, context), context, fps=fps, size=(size, size), audio=False)
    frames = clip.video.numpy()  # (T, H, W, 3)
    key = int(np.argmin(np.abs(_frame_times(clip) - time)))
    boxes, fill = motion_boxes(frames, key, **kwargs)
    boxes = boxes / np.array([size, size, size, size], dtype=np.float64)
    return (boxes, fill) if scores else boxes


def source_boxes(source: str, path: str, time: float, *, fps: float, size: int, context: float = 2.0,
                 box_run: Any = None, box_threshold: float | None = None) -> np.ndarray:
    """Normalised ``(N, 4)`` actor boxes of the keyframe at ``time`` from one box source.

    Args:
        source: ``"detector"`` (the person detector ``box_run``), ``"motion"`` (moving regions
            decoded at ``fps`` and ``size`` over ``context`` s) or ``"truth"`` (a world clip's truth).
        path: the media file.
        time: the keyframe's time (s).
        box_run: a ``person_detection`` run (for ``"detector"``).
        box_threshold: smallest detector box score (default: the box run's ``task.threshold``).

    Raises:
        ValueError: an unknown source, or ``"detector"`` without a person detector run.
        FileNotFoundError: ``"truth"`` for a file that is not a world clip.
    """
    if source == "motion":
        return keyframe_boxes(path, time, fps=fps, size=size, context=context)
    if source == "detector":
        if box_run is None:
            raise ValueError("box source 'detector' needs a person detector run (--box-weights)")
        return detector_boxes(box_run, path, time, threshold=box_threshold)[0]
    if source == "truth":
        return truth_boxes(path, time)
    raise ValueError(f"unknown box source {source!r}; use one of {', '.join(BOX_SOURCES)}")


@torch.no_grad()
def score_boxes(run: Any, path: str, time: float, boxes: np.ndarray) -> np.ndarray:
    """Action probabilities ``(N, K)`` of normalised boxes ``(N, 4)`` at the keyframe ``time``."""
    from avlearn.io import read_clip

    task: DetectionTask = run.task
    d = run.config.data
    if len(boxes) == 0:
        return np.zeros((0, task.num_classes))
    clip = read_clip(path, clip_start(time, d.clip_duration), d.clip_duration, fps=d.fps, size=(d.size, d.size),
                     audio=False)
    video = to_input(clip.video, d)[None].to(run.device)  # (1, 3, T, H, W)
    b = torch.as_tensor(np.clip(boxes, 0.0, 1.0), dtype=torch.float32)[None].to(run.device)  # (1, N, 4)
    return task.predict(video, b)[0].cpu().numpy()  # (N, K)


def detect_file(run: Any, path: str | os.PathLike, *, step: float = 0.5, threshold: float | None = None,
                context: float = 2.0, max_actors: int = 8, boxes: str | None = None, box_run: Any = None,
                box_threshold: float | None = None) -> dict[str, Any]:
    """Labelled actor boxes at every keyframe of a file.

    Args:
        run: a trained ``detection`` run (:func:`avlearn.load_run`).
        path: a media file with video.
        step: seconds between keyframes.
        threshold: smallest score of a listed action (default: the run's ``task.threshold``).
        context: seconds of frames the moving-region source looks at.
        max_actors: boxes kept per keyframe (the detector's best scores first, the largest
            moving regions first).
        boxes: the box source (:func:`source_boxes`); default ``"detector"`` when ``box_run``
            is given, else ``"motion"``.
        box_run: a ``person_detection`` run, the ``"detector"`` source.
        box_threshold: smallest detector box score (default: the box run's).

    Returns:
        ``{"file", "duration", "width", "height", "classes", "keyframes": [{"time", "actors":
        [{"box": [x1, y1, x2, y2] pixels of the file, "scores": [K floats], "labels": [{"label",
        "name", "score"}] (score >= threshold, best first)}]}], "boxes": the box source}``.

    Raises:
        ValueError: not a detection run, not a person detector ``box_run``, an unknown box
            source, or bad ``step``/``context``.
        FileNotFoundError: ``"truth"`` boxes for a file that is not a world clip.
        avlearn.io.MediaError: the file cannot be read or has no video.
    """
    from avlearn.io import MediaError, probe

    task = run.task
    if not isinstance(task, DetectionTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not an action detector")
    if context <= 0:
        raise ValueError(f"context must be > 0, got {context}")
    source = boxes if boxes is not None else ("detector" if box_run is not None else "motion")
    if source not in BOX_SOURCES:
        raise ValueError(f"unknown box source {source!r}; use one of {', '.join(BOX_SOURCES)}")
    if box_run is not None:
        check_person_run(box_run)
    path = os.fspath(path)
    info = probe(path)
    if info.video is None:
        raise MediaError(path, "no video stream to detect actors in")
    thr = task.threshold if threshold is None else float(threshold)
    d = run.config.data
    w, h = info.video.width, info.video.height
    scale = np.array([w, h, w, h], dtype=np.float64)
    frames = []
    for t in keyframe_times(info.duration, step):
        found = source_boxes(source, path, t, fps=d.fps, size=d.size, context=context, box_run=box_run,
                             box_threshold=box_threshold)[:max_actors]
        probs = score_boxes(run, path, t, found)  # (N, K)
        actors = []
        for box, p in zip(found, probs):
            order = np.argsort(-p, kind="stable")
            labels = [{"label": int(k), "name": task.class_names[k], "score": float(p[k])} for k in order if p[k] >= thr]
            actors.append({"box": [round(float(v), 2) for v in box * scale], "scores": [float(v) for v in p],
                           "labels": labels})
        frames.append({"time": t, "actors": actors})
    return {"file": path, "duration": float(info.duration), "width": w, "height": h,
            "classes": list(task.class_names), "keyframes": frames, "boxes": source}


def class_colours(num_classes: int) -> np.ndarray:
    """``(K, 3)`` uint8 colours, one per action, evenly spaced in hue."""
    import colorsys

    return np.array([[round(255 * c) for c in colorsys.hsv_to_rgb(k / max(1, num_classes), 0.85, 1.0)]
                     for k in range(num_classes)], dtype=np.uint8)


def draw_detections(frame: np.ndarray, actors: list[dict[str, Any]], num_classes: int, *,
                    thickness: int = 2) -> np.ndarray:
    """One frame with each actor's box outlined in the colour of its best action, and one
    colour chip per listed action along the box's top edge (the legend is ``class_colours``).

    Args:
        frame: uint8 ``(H, W, 3)``.
        actors: the ``actors`` of a keyframe of :func:`detect_file`.
        num_classes: K (fixes the colours).
        thickness: outline width in pixels.
    """
    from avlearn.viz.overlay import draw_boxes

    colours = class_colours(num_classes)
    out = np.asarray(frame, dtype=np.uint8).copy()
    h, w = out.shape[:2]
    chip = max(3, thickness * 2)
    for a in actors:
        best = a["labels"][0]["label"] if a["labels"] else int(np.argmax(a["scores"]))
        out = draw_boxes(out, np.asarray([a["box"]]), color=tuple(int(c) for c in colours[best]), thickness=thickness)
        x0, y0 = int(round(a["box"][0])), int(round(a["box"][1]))
        for n, lab in enumerate(a["labels"]):
            cx = x0 + n * (chip + 1)
            top = y0 - chip if y0 >= chip else max(0, y0)  # above the box, or inside it at the frame's top
            out[top : min(h, top + chip), max(0, cx) : min(w, cx + chip)] = colours[lab["label"]]
    return out


def write_detection_video(path: str | os.PathLike, out: str | os.PathLike, result: dict[str, Any]) -> str:
    """Write ``path`` with the labelled boxes of the nearest keyframe drawn on every frame (the
    file's audio is kept).

    Args:
        path: the media file that was detected on.
        out: the output video (e.g. ``boxes.mp4``).
        result: :func:`detect_file`'s result for ``path``.

    Returns:
        ``out``.
    """
    from avlearn.io import read_clip, write_av

    clip = read_clip(os.fspath(path))
    frames = clip.video.numpy()  # (T, H, W, 3)
    times = np.array([k["time"] for k in result["keyframes"]])
    k = len(result["classes"])
    drawn = np.empty_like(frames)
    for i, (f, t) in enumerate(zip(frames, _frame_times(clip))):
        near = int(np.argmin(np.abs(times - t))) if len(times) else None
        drawn[i] = draw_detections(f, result["keyframes"][near]["actors"], k) if near is not None else f
    audio = clip.audio.numpy() if clip.audio is not None and clip.audio.numel() else None
    return write_av(out, drawn, audio, fps=clip.fps, sample_rate=clip.sample_rate if audio is not None else None)
