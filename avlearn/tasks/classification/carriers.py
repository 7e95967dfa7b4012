"""Accuracy per carrier of a trained classification run on a frozen ``classify`` list.

The comparison of Nagrani et al. ("Attention Bottlenecks for Multimodal Fusion", NeurIPS 2021,
Sec. 4, Table 1: audio-only, video-only, late and bottleneck fusion) made diagnostic: every row
of an ``av_classes`` world's ``lists/classify_<split>.jsonl`` says where its class is carried
(``both``: sound and motion, each ambiguous alone; ``audio``; ``video``; ``sync``: only the
timing between the two), so an audio-only model fails on ``video`` rows, a video-only one on
``audio`` rows, and only a model that compares the streams in time solves ``sync`` rows. Each
clip is classified like a whole file (:func:`~avlearn.tasks.classification.inference.predict_file`:
``data.eval_clips`` evenly spaced clips, probabilities averaged).

    >>> res = evaluate_carriers(avlearn.load_run("runs/fusion_mbt"), "test")
    >>> res["top1"], res["per_carrier"]["sync"]
"""

from __future__ import annotations

import os
from typing import Any

from avlearn.tasks.classification.inference import predict_file
from avlearn.tasks.classification.task import ClassificationTask

__all__ = ["evaluate_carriers", "carrier_accuracy"]


def carrier_accuracy(rows: list[dict[str, Any]], predictions: list[int]) -> dict[str, Any]:
    """Top-1 accuracy overall and per ``carrier`` of rows (``label``, ``carrier``) and predicted labels.

    Raises:
        ValueError: different numbers of rows and predictions, or no rows.
    """
    if len(rows) != len(predictions) or not rows:
        raise ValueError(f"carrier_accuracy: {len(rows)} rows for {len(predictions)} predictions")
    hits: dict[str, list[bool]] = {}
    for r, p in zip(rows, predictions):
        hits.setdefault(str(r.get("carrier", "all")), []).append(int(p) == int(r["label"]))
    every = [h for v in hits.values() for h in v]
    return {"top1": sum(every) / len(every), "clips": len(every),
            "per_carrier": {c: sum(v) / len(v) for c, v in sorted(hits.items())},
            "carrier_clips": {c: len(v) for c, v in sorted(hits.items())}}


def evaluate_carriers(run: Any, split: str = "test", *, list_path: str | os.PathLike | None = None,
                      limit: int | None = None) -> dict[str, Any]:
    """Top-1 accuracy of a run on a frozen classify list, overall and per carrier.

    Args:
        run: a trained ``classification`` run (:func:`avlearn.load_run`).
        split: ``val`` or ``test``: the list ``<data.world>/lists/classify_<split>.jsonl``.
        list_path: another frozen classify list instead.
        limit: score only the first ``limit`` rows.

    Returns:
        ``{"top1", "clips", "per_carrier": {carrier: accuracy}, "carrier_clips": {carrier: n}}``.

    Raises:
        ValueError: not a classification run, or no list (no ``data.world`` and no ``list_path``).
        avlearn.data.lists.FrozenListError: a missing list or a malformed line.
    """
    from avlearn.data.lists import read_frozen_list

    if not isinstance(run.task, ClassificationTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a clip classifier")
    d = run.config.data
    if list_path is None:
        if not d.world:
            raise ValueError(f"{run.path}: the recipe has no data.world; pass list_path")
        list_path = os.path.join(d.world, "lists", f"classify_{split}.jsonl")
    rows = read_frozen_list(list_path, required=("clip", "label"))[:limit]
    preds = [predict_file(run, r["clip_path"], clips=max(1, d.eval_clips), top_k=1)["top_k"][0]["label"] for r in rows]
    return carrier_accuracy(rows, preds)
