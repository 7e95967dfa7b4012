"""Clip classification: any registered video (or audio) model + cross-entropy + top-k accuracy.

The supervised baseline of video classification and of the transfer experiments:
clips cut from labelled videos (Karpathy et al. CVPR'14, Sec. 3: random clips for training,
clips at fixed positions for testing; Tran et al. CVPR'15/'18 the same with 3D CNNs),
softmax cross-entropy with optional label smoothing (Szegedy et al. CVPR'16, Sec. 7), and
top-1 / top-k clip accuracy. Metric sums are correct-prediction counts per k plus a confusion
matrix, so they add across batches and processes; ``summarize`` also gives the class-balanced
accuracy (mean per-class recall).

A recipe (``avlearn/recipes/classify_world.yaml``)::

    task:  {name: classification, topk: [1, 3]}
    model: {name: r3d_tiny}
    data:  {world: runs/world_actions, manifest: segments.jsonl, clip_duration: 1.0, fps: 8, size: 64}

``data.world`` points at a synthetic world (``avlearn make-world``), whose
``<split>/<manifest>`` files are read; ``data.train`` / ``val`` / ``test`` name other
manifests instead. Class names come from ``data.labels``, else the world's ``world.json``,
else the training manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.classification.data import ClassificationData, build_classification_datasets, class_names

__all__ = ["ClassificationConfig", "ClassificationTask", "build_classification"]


@dataclass
class ClassificationConfig:
    """The ``task`` section.

    Attributes:
        name: ``classification``.
        num_classes: output classes (default: the number of class names, see the module doc).
        input: the sample key the model reads: ``video`` (B, 3, T, H, W) or ``audio``
            (a waveform (B, C, N), or a log-mel spectrogram (B, C, F, T) with ``data.audio: logmel``),
            or ``av``: both, as ``{"video": ..., "audio": ...}`` (audio-visual fusion models such
            as ``mbt_tiny``, ``tbn_tiny``, ``av_late_fusion_tiny``).
        label_smoothing: cross-entropy label smoothing.
        topk: the k of the top-k accuracies reported (k larger than the class count are capped).
    """

    name: str = "classification"
    num_classes: int | None = None
    input: Literal["video", "audio", "av"] = "video"
    label_smoothing: float = 0.0
    topk: list[int] = field(default_factory=lambda: [1, 5])


class ClassificationTask(Task):
    """A classifier with cross-entropy loss and top-k / confusion-matrix metric sums.

    Args:
        model: maps ``batch[input]`` to logits (B, K); many-to-many recurrent models returning
            (B, T, K) are averaged over T.
        num_classes: K.
        input: the batch key fed to the model (``av``: the dict of ``video`` and ``audio``).
        label_smoothing: cross-entropy label smoothing.
        topk: the k of the reported top-k accuracies.
        class_names: names of the K classes (for reports and predictions).
    """

    def __init__(
        self,
        *,
        model: nn.Module,
        num_classes: int,
        input: str = "video",
        label_smoothing: float = 0.0,
        topk: list[int] | tuple[int, ...] = (1, 5),
        class_names: list[str] | None = None,
    ):
        super().__init__()
        self.model = model
        self.num_classes = num_classes
        self.input = input
        self.label_smoothing = label_smoothing
        self.topk = sorted({min(int(k), num_classes) for k in topk})
        self.class_names = list(class_names) if class_names else [str(i) for i in range(num_classes)]

    def model_input(self, batch: dict[str, Any]) -> Tensor | dict[str, Tensor]:
        """What the model reads from a batch: ``batch[input]``, or ``{"video", "audio"}`` for ``av``."""
        if self.input == "av":
            return {"video": batch["video"], "audio": batch["audio"]}
        return batch[self.input]

    def logits(self, x: Tensor | dict[str, Tensor]) -> Tensor:
        """Class scores (B, K) for a model input."""
        out = self.model(x)
        return out.mean(1) if out.dim() == 3 else out  # (B, K)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        logits = self.logits(self.model_input(batch))  # (B, K)
        loss = F.cross_entropy(logits.float(), batch["label"], label_smoothing=self.label_smoothing)
        return {"loss": loss, "logits": logits}

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        logits, y = outputs["logits"].detach().float(), batch["label"]
        ranked = logits.topk(max(self.topk), dim=1).indices  # (B, kmax)
        hit = ranked == y[:, None]  # (B, kmax)
        sums = {f"correct_top{k}": hit[:, :k].any(1).sum().double() for k in self.topk}
        pairs = y * self.num_classes + ranked[:, 0]
        sums["confusion"] = torch.bincount(pairs, minlength=self.num_classes**2).reshape(self.num_classes, -1).double()
        sums["count"] = torch.tensor(float(len(y)), dtype=torch.float64)
        return sums

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        n = float(sums["count"])
        out = {f"top{k}": float(sums[f"correct_top{k}"]) / n for k in self.topk}
        conf = sums["confusion"]  # (true, predicted)
        support = conf.sum(1)
        seen = support > 0
        out["balanced_acc"] = float((conf.diagonal()[seen] / support[seen]).mean())
        return out

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """Share of the most predicted class in the batch (1.0 flags a collapsed classifier)."""
        pred = outputs["logits"].detach().argmax(1)
        return {"top_pred_share": float(torch.bincount(pred).max()) / max(1, len(pred))}

    @torch.no_grad()
    def predict(self, x: Tensor | dict[str, Tensor]) -> Tensor:
        """Class probabilities (B, K) for a model input, in eval mode."""
        was = self.training
        self.eval()
        probs = self.logits(x).float().softmax(1)
        self.train(was)
        return probs

    def export_module(self) -> nn.Module:
        return self.model


@register_task(
    "classification",
    config=ClassificationConfig,
    data=ClassificationData,
    model=ModelConfig,
    datasets=build_classification_datasets,
)
def build_classification(cfg: Any) -> ClassificationTask:
    """A :class:`ClassificationTask` around ``create_model(cfg.model.name, num_classes=K, ...)``."""
    from avlearn.models import create_model

    try:
        names = class_names(cfg.data)
    except FileNotFoundError:
        if cfg.task.num_classes is None:
            raise
        names = None
    k = cfg.task.num_classes or len(names)
    if names is not None and len(names) != k:
        names = None  # an explicit num_classes that the data's names do not describe
    m = cfg.model
    model = create_model(m.name, num_classes=k, weights=m.weights, strict=m.strict, **m.kwargs)
    return ClassificationTask(
        model=model,
        num_classes=k,
        input=cfg.task.input,
        label_smoothing=cfg.task.label_smoothing,
        topk=cfg.task.topk,
        class_names=names,
    )
