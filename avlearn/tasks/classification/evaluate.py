"""Accuracy of a trained classification run on a split of its recipe's data, per class too.

Clip top-k accuracy and the class-balanced accuracy (mean per-class recall) reported by the
task, plus each class's recall and the confusion matrix, computed in one process without the
training engine (the clip protocol of Karpathy et al., CVPR 2014, Sec. 4.1: every evaluation
clip is scored).

    >>> run = avlearn.load_run("runs/classify_world")
    >>> res = evaluate_classification(run, "test")
    >>> res["top1"], res["per_class"]["bounce"]
"""

from __future__ import annotations

from typing import Any

import torch

from avlearn.tasks.classification.data import build_classification_datasets
from avlearn.tasks.classification.task import ClassificationTask

__all__ = ["evaluate_classification"]


@torch.no_grad()
def evaluate_classification(run: Any, split: str = "test", *, batch_size: int = 8, limit: int | None = None) -> dict[str, Any]:
    """Score a run on ``split`` of its recipe's data.

    Args:
        run: a trained ``classification`` run (:func:`avlearn.load_run`).
        split: ``train``, ``val`` or ``test``.
        batch_size: clips per forward pass.
        limit: score only the first ``limit`` samples.

    Returns:
        the task's metrics (``top1``, ``topk``..., ``balanced_acc``) plus ``samples``,
        ``per_class`` (``{name: recall}``, classes without samples left out) and ``confusion``
        (rows: true class, columns: predicted).

    Raises:
        ValueError: not a classification run.
        KeyError: the recipe's data has no such split.
    """
    task = run.task
    if not isinstance(task, ClassificationTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a clip classifier")
    datasets = build_classification_datasets(run.config)
    if split not in datasets:
        raise KeyError(f"{run.path}: the recipe's data has no {split!r} split (has {sorted(datasets)})")
    ds = datasets[split]
    n = len(ds) if limit is None else min(limit, len(ds))
    task.eval()
    device = run.device
    sums: dict[str, torch.Tensor] = {}
    for i in range(0, n, batch_size):
        batch = task.collate([ds[j] for j in range(i, min(i + batch_size, n))])
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if not task.batch_size(batch):
            continue
        for k, v in task.metric_sums(task(batch), batch).items():
            sums[k] = sums[k] + v.cpu() if k in sums else v.cpu().clone()
    if not sums:
        raise ValueError(f"{run.path}: no readable {split} samples to score")
    out: dict[str, Any] = task.summarize(sums)
    conf = sums["confusion"]  # (true, predicted)
    support = conf.sum(1)
    out["samples"] = int(sums["count"])
    out["per_class"] = {task.class_names[c]: float(conf[c, c] / support[c]) for c in range(len(support)) if support[c] > 0}
    out["confusion"] = conf.long().tolist()
    return out
