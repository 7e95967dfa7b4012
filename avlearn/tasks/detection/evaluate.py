"""AVA frame-mAP of a trained detection run on a frozen keyframe list, beside two baselines.

The protocol of Gu et al. (CVPR 2018, Sec. 5): every (keyframe, box, action, score) is a
detection; per action, detections are ranked over the whole list and matched to the ground
truth of their keyframe at IoU >= 0.5 (:func:`avlearn.metrics.frame_map.frame_map`); the mean
over actions is the frame-mAP. The run is scored twice: on the ground-truth boxes (isolates
the action classifier, AVA's "GT boxes" setting), on the boxes of a trained person detector
(:func:`~avlearn.tasks.detection.boxes.detector_boxes`, AVA's setting), and on the boxes of the
moving-region source (:func:`~avlearn.tasks.detection.boxes.motion_boxes`). Two baselines
without a network:

* **prior-only**: the ground-truth boxes, each action scored by its share of actor-keyframes in
  the training split (every box gets the same ranking; AP equals the action's precision);
* **centre box**: one box per keyframe at the frame centre, of the mean training box size,
  scored with the same priors (what a detector that ignores the frame could reach).

    >>> res = evaluate_detection(avlearn.load_run("runs/detect_actors"), "test",
    ...                          box_run=avlearn.load_run("runs/detect_persons"))
    >>> res["frame_map_gt_boxes"], res["frame_map_detector_boxes"], res["baselines"]["prior_gt_boxes"]
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avlearn.metrics.frame_map import BoxDetection, frame_map
from avlearn.tasks.detection.data import KeyframeDataset, label_priors, mean_box_size, split_rows
from avlearn.tasks.detection.boxes import check_person_run
from avlearn.tasks.detection.inference import score_boxes, source_boxes
from avlearn.tasks.detection.task import DetectionTask

__all__ = ["ground_truth", "baseline_maps", "evaluate_detection"]


def _norm(box, size) -> tuple[float, float, float, float]:
    h, w = size
    x0, y0, x1, y1 = box
    return (x0 / w, y0 / h, x1 / w, y1 / h)


def _key(row: dict[str, Any]) -> tuple[str, int]:
    return (str(row["clip"]), int(row["frame"]))


def ground_truth(rows: list[dict[str, Any]]) -> list[BoxDetection]:
    """One :class:`BoxDetection` per (keyframe, actor, action), boxes normalised to [0, 1]."""
    return [BoxDetection(_key(r), _norm(b, r["size"]), int(k)) for r in rows
            for b, labels in zip(r["boxes"], r["labels"]) for k in labels]


def _scored(rows: list[dict[str, Any]], boxes_per_row: list[np.ndarray], scores_per_row: list[np.ndarray]) -> list[BoxDetection]:
    out = []
    for r, boxes, scores in zip(rows, boxes_per_row, scores_per_row):
        for b, s in zip(boxes, scores):
            out += [BoxDetection(_key(r), tuple(float(v) for v in b), k, float(s[k])) for k in range(len(s))]
    return out


def baseline_maps(rows: list[dict[str, Any]], priors: np.ndarray, box_size: tuple[float, float],
                  iou_threshold: float = 0.5) -> dict[str, float]:
    """frame-mAP of the prior-only (ground-truth boxes) and centre-box baselines on ``rows``.

    Args:
        rows: keyframe rows (``clip``, ``frame``, ``size``, ``boxes``, ``labels``).
        priors: (K,) action scores.
        box_size: (width, height) of the centre box, as fractions of the frame.
        iou_threshold: spatial IoU of a match.
    """
    gt = ground_truth(rows)
    gt_boxes = [np.array([_norm(b, r["size"]) for b in r["boxes"]]).reshape(-1, 4) for r in rows]
    bw, bh = box_size
    centre = np.array([[0.5 - bw / 2, 0.5 - bh / 2, 0.5 + bw / 2, 0.5 + bh / 2]]).clip(0, 1)
    prior = lambda n: np.repeat(np.asarray(priors, dtype=np.float64)[None], n, 0)  # noqa: E731
    return {
        "prior_gt_boxes": frame_map(_scored(rows, gt_boxes, [prior(len(b)) for b in gt_boxes]), gt,
                                    iou_threshold=iou_threshold).map,
        "centre_box": frame_map(_scored(rows, [centre] * len(rows), [prior(1)] * len(rows)), gt,
                                iou_threshold=iou_threshold).map,
    }


@torch.no_grad()
def evaluate_detection(run: Any, split: str = "test", *, boxes: tuple[str, ...] | None = None, box_run: Any = None,
                       box_threshold: float | None = None, batch_size: int = 8, limit: int | None = None,
                       context: float = 2.0) -> dict[str, Any]:
    """frame-mAP@0.5 of a run on ``split`` (its recipe's frozen list), with the baselines.

    Args:
        run: a trained ``detection`` run (:func:`avlearn.load_run`).
        split: ``val`` or ``test`` (``train`` works too: every train keyframe).
        boxes: which box sources to score: ``gt`` (ground truth), ``detector`` (the person
            detector ``box_run``) and/or ``motion`` (moving regions); default ``gt`` and
            ``motion``, plus ``detector`` when ``box_run`` is given.
        box_run: a ``person_detection`` run.
        box_threshold: smallest detector box score (default: the box run's ``task.threshold``).
        batch_size: keyframes per forward pass (ground-truth boxes).
        limit: score only the first ``limit`` keyframes.
        context: seconds the motion box source looks at.

    Returns:
        ``{"keyframes", "actors", "frame_map_gt_boxes", "per_class_gt_boxes" ({name: AP}),
        "frame_map_<source>_boxes", "per_class_<source>_boxes", "<source>_boxes_per_keyframe"
        (detector, motion), "baselines": {"prior_gt_boxes", "centre_box"}}`` (the keys of the
        box sources asked for).

    Raises:
        ValueError: not a detection run, an unknown box source, ``detector`` without a person
            detector run, or no readable keyframe.
        FileNotFoundError: the recipe's data has no such split.
    """
    task = run.task
    if not isinstance(task, DetectionTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not an action detector")
    boxes = tuple(boxes) if boxes is not None else ("gt", "motion") + (("detector",) if box_run is not None else ())
    unknown = set(boxes) - {"gt", "motion", "detector"}
    if unknown:
        raise ValueError(f"unknown box sources {sorted(unknown)}; use 'gt', 'detector' and/or 'motion'")
    if "detector" in boxes:
        if box_run is None:
            raise ValueError("box source 'detector' needs a person detector run (box_run)")
        check_person_run(box_run)
    d = run.config.data
    rows = split_rows(d, split)[: limit if limit is not None else None]
    train_rows = split_rows(d, "train")
    gt = ground_truth(rows)
    names = task.class_names
    out: dict[str, Any] = {"keyframes": len(rows), "actors": sum(len(r["boxes"]) for r in rows)}
    task.eval()
    if "gt" in boxes:
        ds = KeyframeDataset(rows, d, task.num_classes)
        kept, probs = [], []
        for i in range(0, len(ds), batch_size):
            batch = task.collate([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
            if not task.batch_size(batch):
                continue
            p = task.predict(batch["video"].to(run.device), batch["boxes"].to(run.device)).cpu().numpy()  # (B, M, K)
            for j, idx in enumerate(batch["index"].tolist()):
                n = int(batch["box_mask"][j].sum())
                kept.append(idx)
                probs.append(p[j, :n])
        if not kept:
            raise ValueError(f"{run.path}: no readable {split} keyframes to score")
        sub = [rows[i] for i in kept]
        gt_boxes = [np.array([_norm(b, r["size"]) for b in r["boxes"]]).reshape(-1, 4)[: d.max_actors] for r in sub]
        res = frame_map(_scored(sub, gt_boxes, probs), gt)
        out["frame_map_gt_boxes"] = res.map
        out["per_class_gt_boxes"] = {names[k]: v for k, v in sorted(res.per_class.items())}
    for source in ("detector", "motion"):
        if source not in boxes:
            continue
        found, probs = [], []
        for r in rows:
            b = source_boxes(source, r["clip_path"], r["time"], fps=d.fps, size=d.size, context=context,
                             box_run=box_run, box_threshold=box_threshold)
            found.append(b)
            probs.append(score_boxes(run, r["clip_path"], r["time"], b))
        res = frame_map(_scored(rows, found, probs), gt)
        out[f"frame_map_{source}_boxes"] = res.map
        out[f"per_class_{source}_boxes"] = {names[k]: v for k, v in sorted(res.per_class.items())}
        out[f"{source}_boxes_per_keyframe"] = float(np.mean([len(b) for b in found])) if found else 0.0
    out["baselines"] = baseline_maps(rows, label_priors(train_rows, task.num_classes), mean_box_size(train_rows))
    return out
