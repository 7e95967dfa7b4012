"""Tracking detected boxes (faces) across frames: one track per person, tolerant of missed frames.

Tracking by detection, as in SORT (Bewley et al., "Simple Online and Realtime Tracking", ICIP
2016, Section 3): each track predicts its box at the new frame with a constant-velocity model,
detections are associated to the predictions by intersection over union (greedy, best pair
first; a pair is allowed when its IoU reaches ``iou_threshold`` or, for fast motion, when the
detection's centre lies within ``center_gate`` box sides of the prediction), unmatched
detections start new tracks, and a track that misses more than ``max_missed`` consecutive
frames ends. At the end, tracks shorter than ``min_hits`` detections are dropped (isolated
false positives) and a track that ends is joined with one that starts later where the first's
last box and the second's first box overlap (``merge_iou``), so a person lost for a while keeps
one track.

Pure numpy, no detector inside: feed it the boxes of any detector
(:class:`avlearn.models.face.MTCNN` for faces) frame by frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Track", "BoxTracker", "box_iou", "track_boxes"]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (N, 4) with every box in ``b`` (M, 4), ``[x1, y1, x2, y2]`` -> (N, M)."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)  # (N, M)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class Track:
    """One tracked object (a person's face).

    Attributes:
        id: the track's number (order of appearance).
        frames: indices of the frames where it was detected.
        times: their times in seconds.
        boxes: float (n, 4) detected ``[x1, y1, x2, y2]`` per detection, in input pixels.
        scores: float (n,) detector scores.
    """

    id: int
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    def add(self, frame: int, t: float, box: np.ndarray, score: float) -> None:
        self.frames.append(frame)
        self.times.append(float(t))
        self.boxes.append(np.asarray(box, np.float64))
        self.scores.append(float(score))

    @property
    def box(self) -> list[float]:
        """The median box ``[x1, y1, x2, y2]`` over the track, in input pixels."""
        return [float(v) for v in np.median(np.stack(self.boxes), axis=0)]

    @property
    def span(self) -> tuple[float, float]:
        """(first, last) detection time in seconds."""
        return self.times[0], self.times[-1]

    def box_at(self, t: float) -> np.ndarray:
        """The box at time ``t``: interpolated between detections, held before / after them."""
        times = np.asarray(self.times)
        boxes = np.stack(self.boxes)  # (n, 4)
        return np.array([np.interp(t, times, boxes[:, j]) for j in range(4)])

    def to_dict(self) -> dict:
        """JSON-ready summary: id, median box, time span, number of detections."""
        return {"id": self.id, "box": self.box, "start": self.span[0], "end": self.span[1], "detections": len(self.frames)}


class BoxTracker:
    """Online tracker: call :meth:`update` once per frame (in time order), then :meth:`tracks`.

    Args:
        iou_threshold: least IoU between a prediction and a detection to associate them.
        center_gate: or, a detection whose centre lies within this many box sides of the
            prediction's centre (and whose size is within a factor 2) may be associated.
        max_missed: frames a track may go undetected before it ends.
        min_hits: tracks with fewer detections are dropped at the end.
        merge_iou: least IoU to join an ended track with a later one (0 disables joining).
    """

    def __init__(
        self,
        *,
        iou_threshold: float = 0.3,
        center_gate: float = 1.0,
        max_missed: int = 5,
        min_hits: int = 2,
        merge_iou: float = 0.3,
    ):
        if max_missed < 0 or min_hits < 1:
            raise ValueError(f"BoxTracker: max_missed >= 0 and min_hits >= 1 needed, got {max_missed}, {min_hits}")
        self.iou_threshold, self.center_gate = iou_threshold, center_gate
        self.max_missed, self.min_hits, self.merge_iou = max_missed, min_hits, merge_iou
        self.active: list[tuple[Track, int]] = []  # (track, frames missed)
        self.ended: list[Track] = []
        self.frame = -1
        self.next_id = 0

    def _predict(self, track: Track, t: float) -> np.ndarray:
        last = track.boxes[-1]
        if len(track.boxes) < 2 or track.times[-1] == track.times[-2]:
            return last
        velocity = (last - track.boxes[-2]) / (track.times[-1] - track.times[-2])  # (4,) px / s
        return last + velocity * (t - track.times[-1])

    def _affinity(self, pred: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """(T, N) association score: IoU where allowed, -1 where the pair is gated out."""
        iou = box_iou(pred, boxes)  # (T, N)
        side_p = np.sqrt(np.clip(pred[:, 2:] - pred[:, :2], 1e-9, None).prod(axis=1))  # (T,)
        side_d = np.sqrt(np.clip(boxes[:, 2:] - boxes[:, :2], 1e-9, None).prod(axis=1))  # (N,)
        cp, cd = (pred[:, :2] + pred[:, 2:]) / 2, (boxes[:, :2] + boxes[:, 2:]) / 2
        dist = np.linalg.norm(cp[:, None] - cd[None], axis=2) / side_p[:, None]  # (T, N) in box sides
        ratio = side_d[None] / side_p[:, None]
        near = (dist <= self.center_gate) & (ratio > 0.5) & (ratio < 2.0)
        ok = (iou >= self.iou_threshold) | near
        return np.where(ok, iou + 1e-3 * (1 - np.minimum(dist, 1)), -1.0)

    def update(self, boxes: np.ndarray, t: float, scores: np.ndarray | None = None) -> list[int]:
        """Add one frame's detections (N, 4) at time ``t``; returns the track id of each detection."""
        self.frame += 1
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        scores = np.ones(len(boxes)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        ids = [-1] * len(boxes)
        taken_t, taken_d = set(), set()
        if self.active and len(boxes):
            pred = np.stack([self._predict(tr, t) for tr, _ in self.active])  # (T, 4)
            score = self._affinity(pred, boxes)
            for flat in np.argsort(-score, axis=None):
                i, j = np.unravel_index(flat, score.shape)
                if score[i, j] < 0:
                    break
                if i in taken_t or j in taken_d:
                    continue
                taken_t.add(i)
                taken_d.add(j)
                self.active[i][0].add(self.frame, t, boxes[j], scores[j])
                ids[j] = self.active[i][0].id
        still = []
        for i, (tr, missed) in enumerate(self.active):
            missed = 0 if i in taken_t else missed + 1
            (still.append((tr, missed)) if missed <= self.max_missed else self.ended.append(tr))
        for j in range(len(boxes)):
            if j not in taken_d:
                tr = Track(self.next_id)
                self.next_id += 1
                tr.add(self.frame, t, boxes[j], scores[j])
                still.append((tr, 0))
                ids[j] = tr.id
        self.active = still
        return ids

    def tracks(self) -> list[Track]:
        """Every track so far, fragments joined, short ones dropped, renumbered by first appearance."""
        tracks = sorted(self.ended + [tr for tr, _ in self.active], key=lambda tr: (tr.times[0], tr.id))
        tracks = [tr for tr in tracks if len(tr.frames) >= self.min_hits]
        merged: list[Track] = []
        for tr in tracks:
            host = None
            if self.merge_iou > 0:
                best = self.merge_iou
                for m in merged:
                    if m.times[-1] < tr.times[0]:
                        iou = float(box_iou(m.boxes[-1], tr.boxes[0])[0, 0])
                        if iou >= best:
                            host, best = m, iou
            if host is None:
                merged.append(tr)
            else:
                for f, t, b, s in zip(tr.frames, tr.times, tr.boxes, tr.scores):
                    host.add(f, t, b, s)
        for i, tr in enumerate(merged):
            tr.id = i
        return merged


def track_boxes(detections, **kwargs) -> list[Track]:
    """Track a sequence of ``(t, boxes)`` or ``(t, boxes, scores)`` per frame; see :class:`BoxTracker`."""
    tracker = BoxTracker(**kwargs)
    for item in detections:
        tracker.update(item[1], item[0], item[2] if len(item) > 2 else None)
    return tracker.tracks()
