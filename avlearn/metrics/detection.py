"""Temporal action detection metrics: temporal IoU, 1D NMS, ActivityNet-style mAP.

Follows the ActivityNet temporal-localization evaluation (Caba Heilbron et al., "ActivityNet:
A large-scale video benchmark for human activity understanding", CVPR 2015, and the
challenge's ``compute_average_precision_detection``):

* tIoU of segments [s1, e1], [s2, e2] = |overlap| / |union| on the time axis.
* Per class, predictions are ranked by score; each is a true positive at threshold τ when
  its best still-unmatched ground-truth segment in the same video has tIoU >= τ (ground
  truths are tried in decreasing tIoU; each matches at most one prediction), else a false
  positive.
* AP is the area under the interpolated precision-recall curve (precision made monotone from
  the right, summed over recall steps, VOC 2010 style); mAP averages AP over the classes that
  have ground truth, reported at tIoU 0.3 / 0.5 / 0.7 (Listen to Look, Gao et al. CVPR 2020,
  reports the same thresholds) and averaged over them.

1D non-maximum suppression keeps the highest-scoring segment and drops the others that
overlap it by more than a tIoU threshold, repeatedly.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Hashable, NamedTuple, Sequence

import numpy as np
import torch

__all__ = [
    "Segment",
    "DetectionScores",
    "temporal_iou",
    "nms_1d",
    "interpolated_average_precision",
    "detection_map",
    "TIOU_THRESHOLDS",
]

TIOU_THRESHOLDS = (0.3, 0.5, 0.7)


class Segment(NamedTuple):
    """A labelled time span of one video; ``score`` is ignored for ground truth."""

    video: Hashable
    start: float
    end: float
    label: Hashable
    score: float = 1.0


class DetectionScores(NamedTuple):
    """Attributes:
    map: tIoU threshold -> mAP over classes with ground truth.
    average_map: the mean of ``map`` over the thresholds.
    per_class: tIoU threshold -> {label: AP}.
    """

    map: dict[float, float]
    average_map: float
    per_class: dict[float, dict[Hashable, float]]


def _segments(x) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return a.astype(np.float64).reshape(-1, 2)


def temporal_iou(a, b) -> np.ndarray:
    """Pairwise tIoU of segments.

    Args:
        a: (N, 2) ``[start, end]`` segments. b: (M, 2).

    Returns:
        (N, M) in [0, 1] (0 where the union is empty).
    """
    a, b = _segments(a), _segments(b)
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)  # (N, M)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter  # (N, M)
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def nms_1d(segments, scores, iou_threshold: float = 0.5, *, max_segments: int | None = None) -> np.ndarray:
    """Greedy 1D non-maximum suppression.

    Args:
        segments: (N, 2) ``[start, end]``.
        scores: (N,).
        iou_threshold: drop a segment whose tIoU with a kept, higher-scoring one is above this.
        max_segments: keep at most this many.

    Returns:
        int64 indices of the kept segments, highest score first.
    """
    seg = _segments(segments)
    sc = np.asarray(scores.detach().cpu() if isinstance(scores, torch.Tensor) else scores, dtype=np.float64).reshape(-1)
    order = np.argsort(-sc, kind="stable")
    iou = temporal_iou(seg, seg)  # (N, N)
    suppressed = np.zeros(len(seg), dtype=bool)
    keep: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        if max_segments is not None and len(keep) >= max_segments:
            break
        suppressed |= iou[i] > iou_threshold
    return np.asarray(keep, dtype=np.int64)


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made non-increasing (VOC 2010)."""
    mprec = np.r_[0.0, precision, 0.0]
    mrec = np.r_[0.0, recall, 1.0]
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    step = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1
    return float(np.sum((mrec[step] - mrec[step - 1]) * mprec[step]))


def _class_ap(preds: list[Segment], gts: list[Segment], thresholds: np.ndarray) -> np.ndarray:
    """AP of one class at every threshold, (T,)."""
    by_video: dict[Hashable, np.ndarray] = {}
    offset: dict[Hashable, int] = {}
    grouped: dict[Hashable, list[Segment]] = defaultdict(list)
    for g in gts:
        grouped[g.video].append(g)
    n = 0
    for v, segs in grouped.items():
        by_video[v] = np.array([[g.start, g.end] for g in segs], dtype=np.float64)
        offset[v] = n
        n += len(segs)
    matched = np.zeros((len(thresholds), n), dtype=bool)  # (T, G)
    tp = np.zeros((len(thresholds), len(preds)))  # (T, P)
    preds = sorted(preds, key=lambda p: -p.score)
    for i, p in enumerate(preds):
        if p.video not in by_video:
            continue
        iou = temporal_iou([[p.start, p.end]], by_video[p.video])[0]  # (G_v,)
        order = np.argsort(-iou, kind="stable")
        for t, thr in enumerate(thresholds):
            for j in order:
                if iou[j] < thr:
                    break
                g = offset[p.video] + j
                if not matched[t, g]:
                    matched[t, g] = True
                    tp[t, i] = 1
                    break
    ctp = np.cumsum(tp, axis=1)  # (T, P)
    recall = ctp / max(n, 1)
    precision = ctp / np.arange(1, len(preds) + 1)
    return np.array([interpolated_average_precision(precision[t], recall[t]) for t in range(len(thresholds))])


def group_by_label(items) -> dict[Hashable, list]:
    """``{label: [items with that .label]}`` in first-seen order of the labels."""
    out: dict[Hashable, list] = defaultdict(list)
    for it in items:
        out[it.label].append(it)
    return out


def detection_map(
    predictions: Sequence[Segment | tuple],
    ground_truth: Sequence[Segment | tuple],
    *,
    tiou_thresholds: Sequence[float] = TIOU_THRESHOLDS,
) -> DetectionScores:
    """ActivityNet-style detection mAP at several tIoU thresholds.

    Args:
        predictions: ``Segment(video, start, end, label, score)`` (or equal tuples), all
            videos and classes together.
        ground_truth: ``Segment(video, start, end, label)``.
        tiou_thresholds: the thresholds (default 0.3, 0.5, 0.7).

    Returns:
        :class:`DetectionScores`. Predictions of classes without ground truth count for
        nothing; a class with ground truth but no prediction has AP 0.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64)
    pred_by_label = group_by_label(Segment(*p) for p in predictions)
    gt_by_label = group_by_label(Segment(*g) for g in ground_truth)
    labels = list(gt_by_label)
    ap = np.array([_class_ap(pred_by_label.get(c, []), gt_by_label[c], thresholds) for c in labels])  # (C, T)
    per_t = ap.mean(0) if labels else np.full(len(thresholds), float("nan"))  # (T,)
    keys = [float(t) for t in thresholds]
    return DetectionScores(
        map=dict(zip(keys, per_t.tolist())),
        average_map=float(per_t.mean()),
        per_class={t: {c: float(ap[i, k]) for i, c in enumerate(labels)} for k, t in enumerate(keys)},
    )
