"""Temporal action localization: window scores -> grouped proposals -> 1D NMS -> mAP.

On the same untrimmed videos as the preview recognizers (Gao et al., "Listen to Look", CVPR
2020, evaluate recognition there; the localization protocol is ActivityNet's, Caba Heilbron et
al. CVPR 2015: mAP at tIoU 0.3 / 0.5 / 0.7, :mod:`avlearn.metrics.detection`):

1. **Sliding-window scoring.** A clip classifier over K actions + background (the IMGAUD2VID
   teacher, or the student) scores windows of ``window`` seconds every ``hop`` seconds; a
   window stands for the ``hop`` seconds around its centre.
2. **Proposals by grouping.** For each action class, every maximal run of consecutive windows
   whose probability is at least a threshold becomes a candidate segment, for several
   thresholds (the multi-threshold grouping of temporal actionness, Zhao et al., "Temporal Action
   Detection with Structured Segment Networks", ICCV 2017, Sec. 3.3); its score is the mean
   class probability over the run.
3. **1D non-maximum suppression** per class (:func:`avlearn.metrics.detection.nms_1d`).

Naive baselines to measure against: one segment spanning the whole video with the video-level
label (:func:`whole_video_segments`), and fixed-length windows labelled by their mean class
probabilities (:func:`fixed_window_segments`).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
from torch import Tensor

from avlearn.metrics.detection import (
    TIOU_THRESHOLDS,
    DetectionScores,
    Segment,
    detection_map,
    nms_1d,
)

__all__ = [
    "fixed_window_segments",
    "group_proposals",
    "localization_map",
    "localize",
    "runs_above",
    "whole_video_segments",
]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def runs_above(scores: Sequence[float], threshold: float) -> list[tuple[int, int]]:
    """Maximal runs ``(first, last)`` (inclusive indices) where ``scores >= threshold``."""
    on = np.r_[False, _np(scores).astype(np.float64) >= threshold, False]
    edges = np.flatnonzero(on[1:] != on[:-1])  # rising and falling edges, alternating
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def group_proposals(probs, starts: Sequence[float], *, window: float, hop: float, duration: float,
                    thresholds: Sequence[float] = (0.3, 0.5, 0.7), num_actions: int | None = None) -> list[tuple[float, float, int, float]]:
    """Candidate segments ``(start, end, label, score)`` from per-window class probabilities.

    Args:
        probs: (J, C) probabilities of windows starting at ``starts``; classes ``>= num_actions``
            (the background) make no segments.
        starts: (J,) window starts, ``hop`` apart.
        window: window length; window j stands for ``[c_j - hop/2, c_j + hop/2]`` around its
            centre ``c_j = starts[j] + window / 2``.
        hop: window spacing.
        duration: video length (segments are clipped to ``[0, duration]``).
        thresholds: grouping thresholds.
        num_actions: action classes K (default: all columns but the last).
    """
    p = _np(probs).astype(np.float64)
    centres = _np(starts).astype(np.float64) + window / 2
    K = p.shape[1] - 1 if num_actions is None else num_actions
    out = {}
    for c in range(K):
        for thr in thresholds:
            for a, b in runs_above(p[:, c], thr):
                seg = (max(0.0, centres[a] - hop / 2), min(duration, centres[b] + hop / 2), c)
                out[seg] = max(out.get(seg, 0.0), float(p[a : b + 1, c].mean()))
    return [(s, e, c, sc) for (s, e, c), sc in out.items()]


def _nms_per_class(cands: list[tuple[float, float, int, float]], iou: float, max_segments: int | None) -> list[tuple[float, float, int, float]]:
    kept = []
    for c in sorted({x[2] for x in cands}):
        mine = [x for x in cands if x[2] == c]
        keep = nms_1d([[s, e] for s, e, _, _ in mine], [x[3] for x in mine], iou)
        kept += [mine[i] for i in keep]
    kept.sort(key=lambda x: -x[3])
    return kept[:max_segments] if max_segments else kept


def localize(probs, starts: Sequence[float], *, window: float, hop: float, duration: float,
             thresholds: Sequence[float] = (0.3, 0.5, 0.7), nms_iou: float = 0.5, num_actions: int | None = None,
             max_segments: int | None = None) -> list[tuple[float, float, int, float]]:
    """Detected segments ``(start, end, label, score)`` of one video, best first.

    Grouped proposals (:func:`group_proposals`) after per-class 1D NMS at ``nms_iou``.
    """
    cands = group_proposals(probs, starts, window=window, hop=hop, duration=duration, thresholds=thresholds,
                            num_actions=num_actions)
    return _nms_per_class(cands, nms_iou, max_segments)


def fixed_window_segments(probs, starts: Sequence[float], *, window: float, duration: float, length: float,
                          num_actions: int | None = None) -> list[tuple[float, float, int, float]]:
    """Naive baseline: the video tiled by ``length``-second windows, each labelled with the action
    of highest mean probability over the scored windows centred inside it (score: that mean)."""
    p = _np(probs).astype(np.float64)
    centres = _np(starts).astype(np.float64) + window / 2
    K = p.shape[1] - 1 if num_actions is None else num_actions
    out = []
    edges = np.arange(0.0, duration, length)
    for a in edges:
        b = min(a + length, duration)
        inside = (centres >= a) & (centres < b)
        if not inside.any():
            continue
        mean = p[inside, :K].mean(0)  # (K,)
        c = int(mean.argmax())
        out.append((float(a), float(b), c, float(mean[c])))
    return out


def whole_video_segments(label: int, score: float, duration: float) -> list[tuple[float, float, int, float]]:
    """Naive baseline: one segment spanning the whole video with the video-level label."""
    return [(0.0, float(duration), int(label), float(score))]


def localization_map(predictions: Mapping[Hashable, Sequence[tuple]], ground_truth: Mapping[Hashable, Sequence[tuple]],
                     *, tiou_thresholds: Sequence[float] = TIOU_THRESHOLDS) -> DetectionScores:
    """ActivityNet mAP of per-video ``(start, end, label, score)`` predictions against per-video
    ``(start, end, label)`` ground truth (:func:`avlearn.metrics.detection.detection_map`)."""
    preds = [Segment(v, s, e, c, sc) for v, segs in predictions.items() for s, e, c, sc in segs]
    gts = [Segment(v, s, e, c) for v, segs in ground_truth.items() for s, e, c in segs]
    return detection_map(preds, gts, tiou_thresholds=tiou_thresholds)

