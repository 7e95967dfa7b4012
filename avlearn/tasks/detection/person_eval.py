"""Box AP@0.5 of a trained person (actor) detector on frozen keyframes, beside two baselines.

AVA's action detector classifies the boxes of a separately trained person detector (Gu et
al., CVPR 2018, Sec. 5.1); here that is a ``person_detection`` run (a CenterNet, Zhou et al.,
"Objects as Points", 2019), whose boxes :func:`~avlearn.tasks.detection.boxes.detector_boxes`
gives to the action detector's evaluation and to ``avlearn detect``.

:func:`evaluate_person_detector` scores the run as a detector: every decoded box (score >=
``min_score``) of every keyframe of the frozen list, ranked over the whole list, matched to the
actor boxes of its keyframe at IoU >= 0.5; AP is the PASCAL VOC all-point area (Everingham et
al., IJCV 2010, Sec. 4.2), the single-class case of
:func:`avlearn.metrics.frame_map.frame_map`. Beside it, two detectors without training:

* **moving regions**: the boxes of :func:`~avlearn.tasks.detection.boxes.motion_boxes`
  (median background over ``context`` s), scored by their foreground fill;
* **centre box**: one box of the mean training actor size at the frame centre.

    >>> res = evaluate_person_detector(avlearn.load_run("runs/detect_persons"), "test")
    >>> res["ap50"], res["baselines"]["motion_boxes"]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avlearn.metrics.frame_map import BoxDetection, box_iou, frame_map
from avlearn.tasks.detection.data import mean_box_size
from avlearn.tasks.detection.boxes import check_person_run
from avlearn.tasks.detection.evaluate import _key
from avlearn.tasks.detection.evaluate import _norm as _norm_box
from avlearn.tasks.detection.inference import keyframe_boxes
from avlearn.tasks.detection.person_data import PersonFrames, person_rows

__all__ = ["person_ground_truth", "evaluate_person_detector"]


def _norm(boxes, size) -> np.ndarray:
    return np.array([_norm_box(b, size) for b in boxes], dtype=np.float64).reshape(-1, 4)


def person_ground_truth(rows: list[dict[str, Any]]) -> list[BoxDetection]:
    """One single-class :class:`BoxDetection` per actor box of each keyframe (normalised)."""
    return [BoxDetection(_key(r), tuple(b), 0) for r in rows for b in _norm(r["boxes"], r["size"])]


def _detections(rows: list[dict[str, Any]], boxes: list[np.ndarray], scores: list[np.ndarray]) -> list[BoxDetection]:
    return [BoxDetection(_key(r), tuple(float(v) for v in b), 0, float(s))
            for r, bs, ss in zip(rows, boxes, scores) for b, s in zip(bs, ss)]


def _recall(rows: list[dict[str, Any]], boxes: list[np.ndarray], iou_threshold: float) -> float:
    """Share of actor boxes matched one-to-one (boxes in score order) at IoU >= the threshold."""
    found = total = 0
    for r, bs in zip(rows, boxes):
        gt = _norm(r["boxes"], r["size"])
        total += len(gt)
        free = np.ones(len(gt), dtype=bool)
        for b in bs:
            iou = np.where(free, box_iou([b], gt)[0], -1.0) if len(gt) else np.zeros(0)
            if len(iou) and iou.max() >= iou_threshold:
                free[int(iou.argmax())] = False
                found += 1
    return found / max(total, 1)


@torch.no_grad()
def evaluate_person_detector(run: Any, split: str = "test", *, min_score: float = 0.01, batch_size: int = 16,
                             limit: int | None = None, context: float = 2.0, motion_fps: float = 8.0,
                             iou_threshold: float = 0.5) -> dict[str, Any]:
    """Box AP@``iou_threshold`` of a person detector on a split's keyframes, with two baselines.

    Args:
        run: a ``person_detection`` run.
        split: ``val`` or ``test`` (the frozen detection list of the recipe's world).
        min_score: smallest score of a ranked box (the AP curve's tail).
        batch_size: frames per forward pass.
        limit: score only the first ``limit`` keyframes.
        context, motion_fps: window and rate of the moving-region baseline (those of ``avlearn detect``).
        iou_threshold: IoU of a match.

    Returns:
        ``{"keyframes", "actors", "ap50", "boxes_per_keyframe" (at the run's threshold),
        "recall_at_threshold", "baselines": {"motion_boxes", "centre_box"}}``.

    Raises:
        ValueError: not a person detector, or no readable keyframe.
        FileNotFoundError: the recipe's data has no such split.
    """
    task = check_person_run(run)
    d = run.config.data
    rows = person_rows(d, split)[: limit if limit is not None else None]
    ds = PersonFrames(rows, d)
    kept, boxes, scores = [], [], []
    task.eval()
    for i in range(0, len(ds), batch_size):
        batch = task.collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        if not task.batch_size(batch):
            continue
        for idx, det in zip(batch["index"].tolist(), task.detect(batch["image"].to(run.device), min_score)):
            kept.append(idx)
            boxes.append(det["boxes"].cpu().double().numpy())
            scores.append(det["scores"].cpu().double().numpy())
    if not kept:
        raise ValueError(f"{run.path}: no readable {split} keyframes to score")
    sub = [rows[i] for i in kept]
    gt = person_ground_truth(sub)
    ap = frame_map(_detections(sub, boxes, scores), gt, iou_threshold=iou_threshold).map
    at_thr = [s >= task.threshold for s in scores]
    motion = []
    for r in sub:
        b, s = keyframe_boxes(r["clip_path"], r["time"], fps=motion_fps, size=d.size, context=context, scores=True)
        motion.append((b, s))
    bw, bh = mean_box_size(person_rows(d, "train"))
    centre = np.array([[0.5 - bw / 2, 0.5 - bh / 2, 0.5 + bw / 2, 0.5 + bh / 2]]).clip(0, 1)
    return {
        "keyframes": len(sub), "actors": len(gt), "ap50": ap,
        "boxes_per_keyframe": float(np.mean([m.sum() for m in at_thr])),
        "recall_at_threshold": _recall(sub, [b[m] for b, m in zip(boxes, at_thr)], iou_threshold),
        "baselines": {
            "motion_boxes": frame_map(_detections(sub, [m[0] for m in motion], [m[1] for m in motion]), gt,
                                      iou_threshold=iou_threshold).map,
            "centre_box": frame_map(_detections(sub, [centre] * len(sub), [np.ones(1)] * len(sub)), gt,
                                    iou_threshold=iou_threshold).map,
        },
    }
