"""Frame-level mAP of spatio-temporal action detection (the AVA metric).

Gu et al., "AVA: A Video Dataset of Spatio-temporally Localized Atomic Visual Actions" (CVPR
2018), Sec. 5: "frame-mAP at spatial IoU >= 0.5", computed per keyframe with the PASCAL VOC
protocol (Everingham et al., IJCV 2010, Sec. 4.2):

* Detections are ``(frame, box, label, score)``; a person box carrying several actions is one
  detection per action, so each class is evaluated on its own.
* Per class, detections are ranked by score (ties keep their input order). Each one is compared
  with the ground-truth boxes of that class *in its frame*; the box of largest IoU is its
  candidate. It is a true positive if that IoU >= the threshold and the box is not matched yet;
  otherwise it is a false positive (a second detection of an already matched box is a false
  positive, even if another box overlaps it less).
* AP is the area under the precision-recall curve with precision made non-increasing (VOC
  2010+, all points; :func:`~avlearn.metrics.detection.interpolated_average_precision`).
* frame-mAP averages AP over the classes that have ground truth; detections of classes without
  ground truth are ignored (AVA's evaluation excludes such classes).

Boxes are ``(x1, y1, x2, y2)`` in any consistent unit (AVA uses coordinates normalised to
[0, 1]); IoU is computed without VOC's +1 pixel convention.
"""

from __future__ import annotations

from typing import Hashable, NamedTuple, Sequence

import numpy as np

from avlearn.metrics.detection import group_by_label, interpolated_average_precision

__all__ = ["BoxDetection", "FrameMapScores", "box_iou", "frame_map"]


class BoxDetection(NamedTuple):
    """One labelled box on one keyframe; ``score`` is ignored for ground truth."""

    frame: Hashable
    box: tuple[float, float, float, float]
    label: Hashable
    score: float = 1.0


class FrameMapScores(NamedTuple):
    """Attributes:
    map: mean AP over the classes with ground truth (nan when there are none).
    per_class: {label: AP}.
    """

    map: float
    per_class: dict[Hashable, float]


def _boxes(x) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).reshape(-1, 4)
    if np.any(a[:, 2] < a[:, 0]) or np.any(a[:, 3] < a[:, 1]):
        raise ValueError(f"boxes must be (x1, y1, x2, y2) with x2 >= x1 and y2 >= y1, got {a[(a[:, 2] < a[:, 0]) | (a[:, 3] < a[:, 1])][:3].tolist()}")
    return a


def box_iou(a, b) -> np.ndarray:
    """Pairwise IoU ``(N, M)`` of ``(N, 4)`` and ``(M, 4)`` ``(x1, y1, x2, y2)`` boxes (0 for empty unions).

    Raises:
        ValueError: a box with x2 < x1 or y2 < y1.
    """
    a, b = _boxes(a), _boxes(b)
    w = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = w * h  # (N, M)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def _class_ap(dets: list[BoxDetection], gts: list[BoxDetection], threshold: float) -> float:
    by_frame: dict[Hashable, np.ndarray] = {}
    for f in {g.frame for g in gts}:
        by_frame[f] = _boxes([g.box for g in gts if g.frame == f])
    matched = {f: np.zeros(len(b), dtype=bool) for f, b in by_frame.items()}
    order = sorted(range(len(dets)), key=lambda i: -dets[i].score)  # stable: ties keep input order
    tp = np.zeros(len(dets))
    for rank, i in enumerate(order):
        d = dets[i]
        if d.frame not in by_frame:
            continue
        iou = box_iou([d.box], by_frame[d.frame])[0]  # (G_f,)
        j = int(np.argmax(iou))
        if iou[j] >= threshold and not matched[d.frame][j]:
            matched[d.frame][j] = True
            tp[rank] = 1
    ctp = np.cumsum(tp)
    recall = ctp / len(gts)
    precision = ctp / np.arange(1, len(dets) + 1)
    return interpolated_average_precision(precision, recall) if len(dets) else 0.0


def frame_map(
    detections: Sequence[BoxDetection | tuple],
    ground_truth: Sequence[BoxDetection | tuple],
    *,
    iou_threshold: float = 0.5,
) -> FrameMapScores:
    """AVA frame-mAP: VOC AP per class at box IoU >= ``iou_threshold``, averaged over the classes
    with ground truth.

    Args:
        detections: ``BoxDetection(frame, box, label, score)`` (or equal tuples).
        ground_truth: ``BoxDetection(frame, box, label)``.
        iou_threshold: spatial IoU for a match (0.5 in AVA).

    Returns:
        :class:`FrameMapScores`; a class with ground truth but no detection has AP 0.

    Raises:
        ValueError: a malformed box.
    """
    det_by = group_by_label(BoxDetection(*d) for d in detections)
    gt_by = group_by_label(BoxDetection(*g) for g in ground_truth)
    per_class = {c: _class_ap(det_by.get(c, []), gt_by[c], iou_threshold) for c in gt_by}
    return FrameMapScores(float(np.mean(list(per_class.values()))) if per_class else float("nan"), per_class)
