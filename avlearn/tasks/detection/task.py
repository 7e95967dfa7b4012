"""Spatio-temporal action detection: actor boxes at keyframes classified multi-label.

Gu et al., "AVA: A Video Dataset of Spatio-temporally Localized Atomic Visual Actions" (CVPR
2018), Sec. 5.1: a 3D network over the clip centred on a keyframe, RoI features of each actor
box, and one independent sigmoid per atomic action trained with binary cross-entropy (an actor
walks *and* waves). The network is a registered AVA detector (``ava_r3d_tiny``,
``ava_r3d_18``, :mod:`avlearn.models.detection.ava`); training uses the ground-truth boxes.

The engine's running metrics are additive per-class counts at score >= ``threshold`` on the
ground-truth boxes (micro and macro F1, exact label-set match); the AVA metric, frame-mAP at
IoU 0.5, ranks detections across the whole split and is computed by
:func:`avlearn.tasks.detection.evaluate.evaluate_detection`.

A recipe (``avlearn/recipes/detect_actors.yaml``)::

    task:  {name: detection}
    model: {name: ava_r3d_tiny}
    data:  {world: runs/world_actors, clip_duration: 1.0, fps: 8, size: 64}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.detection.data import DetectionData, build_detection_datasets, detection_class_names

__all__ = ["DetectionConfig", "DetectionModelConfig", "DetectionTask", "build_detection"]


@dataclass
class DetectionConfig:
    """The ``task`` section.

    Attributes:
        name: ``detection``.
        num_classes: actions (default: the world's class count).
        threshold: score from which an action counts as predicted (running metrics, inference).
    """

    name: str = "detection"
    num_classes: int | None = None
    threshold: float = 0.5


@dataclass
class DetectionModelConfig(ModelConfig):
    """The ``model`` section; an AVA detector by default."""

    name: str = "ava_r3d_tiny"


class DetectionTask(Task):
    """An AVA detector with masked multi-label BCE and per-class count sums.

    Args:
        model: maps ``{"video": (B, 3, T, H, W), "boxes": (B, M, 4)}`` to logits ``(B, M, K)``.
        num_classes: K.
        class_names: names of the K actions.
        threshold: score of a predicted action.
    """

    def __init__(self, *, model: nn.Module, num_classes: int, class_names: list[str] | None = None,
                 threshold: float = 0.5):
        super().__init__()
        self.model = model
        self.num_classes = int(num_classes)
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]
        self.threshold = float(threshold)

    def logits(self, video: Tensor, boxes: Tensor) -> Tensor:
        """Action logits ``(B, M, K)`` of boxes ``(B, M, 4)`` on clips ``(B, 3, T, H, W)``."""
        return self.model({"video": video, "boxes": boxes})  # (B, M, K)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        logits = self.logits(batch["video"], batch["boxes"])  # (B, M, K)
        mask = batch["box_mask"].to(logits.dtype)  # (B, M)
        bce = F.binary_cross_entropy_with_logits(logits.float(), batch["targets"].float(), reduction="none")  # (B, M, K)
        loss = (bce.mean(-1) * mask).sum() / mask.sum().clamp_min(1.0)
        return {"loss": loss, "logits": logits}

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        valid = batch["box_mask"].bool()  # (B, M)
        pred = (outputs["logits"].detach().float().sigmoid() >= self.threshold)[valid]  # (N, K)
        true = batch["targets"][valid].bool()  # (N, K)
        return {
            "tp": (pred & true).sum(0).double(), "fp": (pred & ~true).sum(0).double(),
            "fn": (~pred & true).sum(0).double(), "exact": (pred == true).all(1).sum().double(),
            "boxes": torch.tensor(float(len(true)), dtype=torch.float64),
        }

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        tp, fp, fn = sums["tp"], sums["fp"], sums["fn"]
        micro = float(2 * tp.sum() / (2 * tp.sum() + fp.sum() + fn.sum()).clamp_min(1))
        seen = (tp + fn) > 0
        per_class = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
        return {"micro_f1": micro, "macro_f1": float(per_class[seen].mean()) if seen.any() else 0.0,
                "exact_match": float(sums["exact"] / sums["boxes"].clamp_min(1))}

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """Mean number of actions predicted per real box (0 flags a head that predicts nothing)."""
        valid = batch["box_mask"].bool()
        pred = outputs["logits"].detach().float().sigmoid()[valid] >= self.threshold
        return {"labels_per_box": float(pred.sum(1).float().mean()) if len(pred) else 0.0}

    @torch.no_grad()
    def predict(self, video: Tensor, boxes: Tensor) -> Tensor:
        """Action probabilities ``(B, M, K)`` in eval mode."""
        was = self.training
        self.eval()
        probs = self.logits(video, boxes).float().sigmoid()
        self.train(was)
        return probs

    def export_module(self) -> nn.Module:
        return self.model


@register_task("detection", config=DetectionConfig, data=DetectionData, model=DetectionModelConfig,
               datasets=build_detection_datasets)
def build_detection(cfg: Any) -> DetectionTask:
    """A :class:`DetectionTask` around ``create_model(cfg.model.name, num_classes=K, ...)``."""
    from avlearn.models import create_model

    names = detection_class_names(cfg.data) if cfg.task.num_classes is None else None
    k = cfg.task.num_classes or len(names)
    m = cfg.model
    model = create_model(m.name, num_classes=k, weights=m.weights, strict=m.strict, **m.kwargs)
    if names is None:
        try:
            names = detection_class_names(cfg.data)
        except (FileNotFoundError, ValueError):
            names = None
        names = names if names is not None and len(names) == k else None
    return DetectionTask(model=model, num_classes=k, class_names=names, threshold=cfg.task.threshold)
