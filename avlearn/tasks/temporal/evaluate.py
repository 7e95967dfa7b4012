"""TAL-Net beside the window-grouping method and trivial baselines on one frozen segment list.

Every row is scored by the same ActivityNet-style mAP at tIoU 0.3 ... 0.7 (Caba Heilbron et al.,
CVPR 2015; :func:`avlearn.tasks.preview.temporal_localization.localization_map`) on the same
videos of a frozen list, from the same window features:

* ``tal_net``: the trained run's detections (Chao et al., CVPR 2018);
* ``windows``: the window-grouping method (multi-threshold grouping of the window class
  probabilities + per-class 1D NMS, Zhao et al., ICCV 2017, Sec. 3.3), on the exponentiated
  log-probabilities when the features carry them (``feature_output`` ``log_probs`` or ``both``);
* ``whole_video_majority``: one segment spanning each video, labelled with the action that has
  the most training segments;
* ``random_segments``: per video, as many segments as the training videos have on average,
  starts uniform over the video, lengths uniform between the shortest and longest training
  segment, actions uniform, scores uniform (seeded).

    >>> rows = evaluate_temporal(avlearn.load_run("runs/tal_net_world"), "test")
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avlearn.tasks.temporal.data import TemporalData, origin, split_sequences

__all__ = ["evaluate_temporal", "whole_video_majority", "random_segments"]


def whole_video_majority(durations: dict[Any, float], label: int) -> dict[Any, list[tuple[float, float, int, float]]]:
    """One ``(0, duration, label, 1.0)`` segment per video."""
    return {v: [(0.0, float(d), int(label), 1.0)] for v, d in durations.items()}


def random_segments(durations: dict[Any, float], *, count: int, min_length: float, max_length: float,
                    num_classes: int, seed: int = 0) -> dict[Any, list[tuple[float, float, int, float]]]:
    """``count`` uniform random segments per video (see the module docstring), clipped to the video."""
    rng = np.random.default_rng(seed)
    out = {}
    for v, d in durations.items():
        segs = []
        for _ in range(max(count, 1)):
            length = rng.uniform(min_length, max_length)
            s = rng.uniform(0.0, max(d - min_length, 0.0))
            segs.append((float(s), float(min(s + length, d)), int(rng.integers(num_classes)), float(rng.random())))
        out[v] = segs
    return out


def evaluate_temporal(run: Any, split: str = "test", *, seed: int = 0, data: TemporalData | None = None,
                      progress: bool = False) -> list[dict[str, Any]]:
    """The mAP table of a trained ``temporal_proposals`` run (rows as in the module docstring).

    Args:
        run: :func:`avlearn.load_run` of the run.
        split: the frozen list to score (``val`` or ``test``).
        seed: seed of the random baseline.
        data: a data section to use instead of the run's (other lists, moved files).
        progress: progress bars while features are computed.

    Returns:
        ``[{"method", "map@0.3", ..., "map@0.7", "average", "videos"}]``.

    Raises:
        ValueError: ``run`` is not a ``temporal_proposals`` run.
    """
    from avlearn.tasks.preview.temporal_localization import localization_map, localize

    if run.task_name != "temporal_proposals":
        raise ValueError(f"{run.path}: a {run.task_name!r} run, not a temporal_proposals (TAL-Net) run")
    task, d = run.task, data or run.config.data
    k = task.model.num_classes - 1
    seqs = split_sequences(d, split, progress=progress)
    train = split_sequences(d, "train", progress=progress)
    counts = np.bincount([c for f in train for _, _, c in f.record.segments], minlength=k)
    lengths = [e - s for f in train for s, e, _ in f.record.segments] or [d.window]
    gts = {i: list(f.record.segments) for i, f in enumerate(seqs)}
    durations = {i: float(f.record.duration) for i, f in enumerate(seqs)}
    preds: dict[str, dict] = {"tal_net": {}}
    with torch.inference_mode():
        for i, f in enumerate(seqs):
            preds["tal_net"][i] = task.detect(f.features.t(), origin=origin(f.starts, d.window, d.hop),
                                              duration=durations[i])
    if d.feature_output in ("log_probs", "both") and d.feature_files is None:
        preds["windows"] = {i: localize(f.features[:, : k + 1].exp(), f.starts, window=d.window, hop=d.hop,
                                        duration=durations[i], nms_iou=task.nms_iou, num_actions=k)
                            for i, f in enumerate(seqs)}
    preds["whole_video_majority"] = whole_video_majority(durations, int(counts.argmax()))
    per_video = max(1, round(sum(len(f.record.segments) for f in train) / max(len(train), 1)))
    preds["random_segments"] = random_segments(durations, count=per_video, min_length=float(min(lengths)),
                                               max_length=float(max(lengths)), num_classes=k, seed=seed)
    rows = []
    for name, p in preds.items():
        res = localization_map(p, gts, tiou_thresholds=task.tiou_thresholds)
        rows.append({"method": name, **{f"map@{t:g}": m for t, m in res.map.items()}, "average": res.average_map,
                     "videos": len(seqs)})
    return rows
