"""Classification metrics: top-k accuracy, confusion matrix, average precision and mAP.

* Top-k accuracy: the fraction of samples whose label is among the k highest scores (the
  clip / video accuracy of Karpathy et al. CVPR 2014 and every video-classification table).
* Average precision (non-interpolated, as in PASCAL VOC 2010+ / AudioSet / sklearn's
  ``average_precision_score``): with the samples ranked by score and precision P_n and recall
  R_n at each distinct score threshold, AP = Σ_n (R_n - R_{n-1}) P_n. Tied scores form one
  threshold, so the order of ties does not matter.
* mAP: the mean of AP over the classes that have at least one positive sample (the
  multi-label video metric of ActivityNet / Kinetics untrimmed evaluation and of
  Listen to Look, Gao et al. CVPR 2020, Table 1).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["topk_accuracy", "confusion_matrix", "precision_recall_curve", "average_precision", "mean_average_precision"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def topk_accuracy(scores, target, topk: Sequence[int] = (1,)) -> list[float]:
    """Top-k accuracies.

    Args:
        scores: (N, C) logits or probabilities.
        target: (N,) integer labels.
        topk: the k values.

    Returns:
        One fraction in [0, 1] per k.
    """
    s = torch.as_tensor(_np(scores))
    t = torch.as_tensor(_np(target)).long()
    if s.ndim != 2 or t.shape != s.shape[:1]:
        raise ValueError(f"scores must be (N, C) and target (N,), got {tuple(s.shape)} and {tuple(t.shape)}")
    kmax = min(max(topk), s.shape[1])
    top = s.topk(kmax, dim=1).indices  # (N, kmax)
    hit = top == t[:, None]  # (N, kmax)
    n = max(s.shape[0], 1)
    return [float(hit[:, : min(k, kmax)].any(1).sum()) / n for k in topk]


def confusion_matrix(pred, target, num_classes: int) -> Tensor:
    """Counts ``M[true, predicted]``.

    Args:
        pred: (N,) predicted labels, or (N, C) scores (their argmax is used).
        target: (N,) true labels.
        num_classes: C.

    Returns:
        int64 (C, C); rows are true classes, columns predictions.
    """
    p = torch.as_tensor(_np(pred))
    if p.ndim == 2:
        p = p.argmax(1)
    p = p.long()
    t = torch.as_tensor(_np(target)).long()
    if p.shape != t.shape:
        raise ValueError(f"pred {tuple(p.shape)} and target {tuple(t.shape)} differ in shape")
    flat = t * num_classes + p  # (N,)
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def precision_recall_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall at each distinct score threshold, highest threshold first.

    Args:
        scores: (N,) scores. labels: (N,) truthy for positives.

    Returns:
        ``(precision, recall)``, each (T,) for the T distinct scores.
    """
    s = _np(scores).astype(np.float64).reshape(-1)
    y = _np(labels).astype(bool).reshape(-1)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    last = np.r_[np.nonzero(np.diff(s))[0], s.size - 1]  # last index of each tie group
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / max(int(y.sum()), 1)
    return precision, recall


def average_precision(scores, labels) -> float:
    """Non-interpolated AP = Σ (R_n - R_{n-1}) P_n; NaN when there is no positive."""
    y = _np(labels).astype(bool)
    if not y.any():
        return float("nan")
    precision, recall = precision_recall_curve(scores, y)
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


def mean_average_precision(scores, target) -> tuple[float, np.ndarray]:
    """Mean over classes of :func:`average_precision`.

    Args:
        scores: (N, C) scores.
        target: (N,) integer labels (single-label) or (N, C) multi-hot labels.

    Returns:
        ``(mAP, per_class_ap)``: per-class AP is (C,), NaN for classes without positives;
        mAP averages the others (NaN if none has a positive).
    """
    s = _np(scores)
    t = _np(target)
    if t.ndim == 1:
        t = np.eye(s.shape[1], dtype=bool)[t.astype(int)]  # (N, C) one-hot
    if t.shape != s.shape:
        raise ValueError(f"scores {s.shape} and multi-hot target {t.shape} differ in shape")
    ap = np.array([average_precision(s[:, c], t[:, c]) for c in range(s.shape[1])])
    valid = ~np.isnan(ap)
    return (float(ap[valid].mean()) if valid.any() else float("nan")), ap
