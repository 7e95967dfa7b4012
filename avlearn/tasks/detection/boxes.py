"""A simple actor box source for inference: moving regions against a median background.

The classical baseline of moving-object detection with a static camera: the background is
the per-pixel temporal median of a window of frames (Cucchiara et al., "Detecting Moving
Objects, Ghosts, and Shadows in Video Streams", IEEE TPAMI 2003, Sec. 3), a pixel of the
keyframe is foreground where it differs from that background by more than a threshold, the
mask is closed morphologically so the parts of one figure join, and each connected component
of at least ``min_area`` of the frame becomes a box.

This is the documented box source of ``avlearn detect`` (AVA's detector takes person boxes
from a separately trained detector, Gu et al., CVPR 2018, Sec. 5.1). Its known failures on
the actors world: an actor that does not move in the whole window melts into the background,
two touching actors merge into one box, and silent distractor sprites are boxed too (their
actions are then scored like an actor's). The frame-mAP with these boxes is reported beside
the frame-mAP with ground-truth boxes, so the cost of the box source is visible.
"""

from __future__ import annotations

import numpy as np

__all__ = ["motion_boxes"]


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
