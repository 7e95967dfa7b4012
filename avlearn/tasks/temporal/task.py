"""Temporal action localization by proposals (TAL-Net) as a trainable task.

Chao, Vijayanarasimhan, Seybold, Ross, Deng & Sukthankar, "Rethinking the Faster R-CNN
Architecture for Temporal Action Localization" (CVPR 2018): a TAL-Net
(:class:`~avlearn.models.detection.tal_net.TALNet`) over a video's sequence of fixed clip
features (:mod:`avlearn.tasks.temporal.data`), trained with the four losses of its two stages
(Sec. 3: actionness and anchor regression of the proposal network, classification and
boundary refinement of the proposals; summed with ``task.loss_weights``) and scored as the
field does: detections of each whole video after per-class 1D NMS, ActivityNet-style mAP at
tIoU 0.3 ... 0.7 (Caba Heilbron et al., CVPR 2015; :func:`avlearn.metrics.detection_map`,
interpolated AP per class, averaged over the classes with ground truth).

The mAP ranks every detection of the split, so it is not a sum over batches; the task still
computes it inside the engine's evaluation: each video adds its own entries (``det/<index>``:
its detections in seconds, ``gt/<index>``: its ground truth, ``n/<index>``: 1) to the sums,
which then hold every video's detections once (divided by ``n`` where a distributed sampler
repeated a video), and :meth:`summarize` computes the exact mAP from them. ``avlearn train``'s
final metrics and ``avlearn evaluate`` therefore report ``map@0.3`` ... ``map@0.7`` and
``average_map`` of the frozen val/test lists.

A recipe (``avlearn/recipes/tal_net_world.yaml``)::

    task:  {name: temporal_proposals}
    model: {name: tal_net_tiny, kwargs: {in_channels: 9}}
    data:  {world: runs/world_tal, feature_run: runs/tal_teacher, window: 1.0, hop: 0.5}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.temporal.data import TemporalData, build_temporal_datasets, collate_sequences

__all__ = ["TemporalProposalConfig", "TemporalModelConfig", "TemporalProposalTask", "build_temporal_proposals"]

_LOSSES = ("actionness", "anchor_regression", "classification", "refinement")


@dataclass
class TemporalProposalConfig:
    """The ``task`` section.

    Attributes:
        name: ``temporal_proposals``.
        num_classes: actions K (default: the data's classes); the network has K + 1 outputs.
        loss_weights: weights of the actionness, anchor regression, classification and
            refinement losses.
        score_threshold: smallest class probability a detection keeps.
        nms_iou: tIoU of the per-class 1D NMS.
        max_detections: detections kept per video (ActivityNet's evaluation keeps 100).
        tiou_thresholds: the mAP thresholds.
    """

    name: str = "temporal_proposals"
    num_classes: int | None = None
    loss_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0])
    score_threshold: float = 0.001
    nms_iou: float = 0.5
    max_detections: int = 100
    tiou_thresholds: list[float] = field(default_factory=lambda: [0.3, 0.4, 0.5, 0.6, 0.7])

    def __post_init__(self) -> None:
        if len(self.loss_weights) != 4:
            raise ValueError(f"loss_weights: four weights ({', '.join(_LOSSES)}), got {len(self.loss_weights)}")


@dataclass
class TemporalModelConfig(ModelConfig):
    """The ``model`` section; ``tal_net_tiny`` by default. ``kwargs.in_channels`` is the feature
    width (default K + 1: a classifier's window log-probabilities)."""

    name: str = "tal_net_tiny"


class TemporalProposalTask(Task):
    """A TAL-Net with its two-stage loss and whole-video detections.

    Args:
        model: a :class:`~avlearn.models.detection.tal_net.TALNet` with K + 1 classes.
        hop: seconds per feature step.
        class_names: the K action names.
        window: seconds per feature window.
        feature_output: which features of the clip network the model reads (``data.feature_output``).
        loss_weights, score_threshold, nms_iou, max_detections, tiou_thresholds: as
            :class:`TemporalProposalConfig`.
    """

    def __init__(self, *, model: nn.Module, hop: float, window: float, class_names: list[str] | None = None,
                 loss_weights=(1.0, 1.0, 1.0, 1.0), score_threshold: float = 0.001, nms_iou: float = 0.5,
                 max_detections: int = 100, tiou_thresholds=(0.3, 0.4, 0.5, 0.6, 0.7),
                 feature_output: str = "log_probs"):
        super().__init__()
        self.feature_output = feature_output
        self.model = model
        self.hop, self.window = float(hop), float(window)
        k = model.num_classes - 1
        self.class_names = list(class_names) if class_names else [str(i) for i in range(k)]
        self.loss_weights = dict(zip(_LOSSES, (float(w) for w in loss_weights)))
        self.score_threshold, self.nms_iou = float(score_threshold), float(nms_iou)
        self.max_detections = int(max_detections)
        self.tiou_thresholds = tuple(float(t) for t in tiou_thresholds)

    def collate(self, samples: list[Any]) -> dict[str, Any] | None:
        return collate_sequences(samples)

    def batch_size(self, batch: dict[str, Any]) -> int:
        return int(batch["features"].shape[0])

    @torch.no_grad()
    def detect(self, features: Tensor, *, origin: float, duration: float) -> list[tuple[float, float, int, float]]:
        """Detections ``(start s, end s, action 0..K-1, score)`` of one video, best first.

        Args:
            features: ``(D, J)`` the video's whole feature sequence.
            origin: time of feature step 0.
            duration: the video's length (detections are clipped to ``[0, duration]``).
        """
        out = self.model.detect(features[None].float(), score_threshold=self.score_threshold,
                                nms_threshold=self.nms_iou, max_detections=self.max_detections)[0]
        secs = (out["segments"].double() * self.hop + origin).clamp(0.0, duration)  # (N, 2)
        return [(float(s), float(e), int(c) - 1, float(sc)) for (s, e), c, sc in
                zip(secs.tolist(), out["labels"].tolist(), out["scores"].tolist()) if e > s]

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        losses = self.model.loss(batch["features"].float(), batch["targets"])
        loss = sum(self.loss_weights[k] * losses[k] for k in _LOSSES)
        out: dict[str, Any] = {"loss": loss, **{k: v.detach() for k, v in losses.items()}}
        if not self.training:
            out["detections"] = [self.detect(batch["features"][i, :, : int(n)], origin=float(batch["origin"][i]),
                                             duration=float(batch["duration"][i]))
                                 for i, n in enumerate(batch["lengths"].tolist())]
        return out

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        b = self.batch_size(batch)
        sums = {f"loss_{k}": outputs[k].double() * b for k in _LOSSES}
        for i, dets in enumerate(outputs.get("detections") or []):
            v = int(batch["index"][i])
            sums[f"det/{v}"] = torch.tensor(dets, dtype=torch.float64).reshape(-1, 4)
            sums[f"gt/{v}"] = batch["gt"][i].double().cpu().reshape(-1, 3)
            sums[f"n/{v}"] = torch.ones((), dtype=torch.float64)
        return sums

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        from avlearn.metrics.detection import Segment, detection_map

        videos = sorted(int(k[2:]) for k in sums if k.startswith("n/"))
        n = sum(float(sums[f"n/{v}"]) for v in videos)
        out = {f"loss_{k}": float(sums[f"loss_{k}"]) / max(n, 1.0) for k in _LOSSES if f"loss_{k}" in sums}
        if not videos:
            return out
        preds, gts = [], []
        for v in videos:
            rep = float(sums[f"n/{v}"])
            preds += [Segment(v, s, e, int(round(c)), sc) for s, e, c, sc in (sums[f"det/{v}"] / rep).tolist()]
            gts += [Segment(v, s, e, int(round(c))) for s, e, c in (sums[f"gt/{v}"] / rep).tolist()]
        res = detection_map(preds, gts, tiou_thresholds=self.tiou_thresholds)
        out.update({f"map@{t:g}": m for t, m in res.map.items()})
        out["average_map"] = res.average_map
        out["videos"] = float(len(videos))
        return out

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """The four losses of the batch."""
        return {k: float(outputs[k]) for k in _LOSSES}

    def export_module(self) -> nn.Module:
        return self.model


@register_task("temporal_proposals", config=TemporalProposalConfig, data=TemporalData, model=TemporalModelConfig,
               datasets=build_temporal_datasets)
def build_temporal_proposals(cfg: Any) -> TemporalProposalTask:
    """A :class:`TemporalProposalTask` around ``create_model(cfg.model.name, num_classes=K + 1, ...)``.

    The class count comes from ``task.num_classes``, else the data (world, ``labels`` or the
    training manifest); the feature width from ``model.kwargs.in_channels``, else K + 1 when
    ``data.feature_output`` is ``log_probs``. Nothing else is read: a trained run loads without
    its feature source.

    Raises:
        ValueError: no class count can be found, or no feature width for ``pre_logits`` / ``both``.
    """
    from avlearn.models import create_model

    d: TemporalData = cfg.data
    try:
        names = class_names_of(d)
    except (FileNotFoundError, ValueError, OSError):
        names = None
    k = cfg.task.num_classes or (len(names) if names else None)
    if not k:
        raise ValueError("task.num_classes: not set and the data's classes cannot be read (world, data.labels or "
                         "the training manifest)")
    if names is not None and len(names) != k:
        names = None
    m = cfg.model
    kwargs = dict(m.kwargs)
    if "in_channels" not in kwargs:
        if d.feature_output != "log_probs" or d.feature_files is not None:
            raise ValueError("model.kwargs.in_channels: required unless the features are a classifier's window "
                             "log-probabilities (data.feature_run with feature_output: log_probs)")
        kwargs["in_channels"] = k + 1
    model = create_model(m.name, num_classes=k + 1, weights=m.weights, strict=m.strict, **kwargs)
    t = cfg.task
    return TemporalProposalTask(model=model, hop=d.hop, window=d.window, class_names=names,
                                loss_weights=t.loss_weights, score_threshold=t.score_threshold, nms_iou=t.nms_iou,
                                max_detections=t.max_detections, tiou_thresholds=t.tiou_thresholds,
                                feature_output=d.feature_output)


def class_names_of(d: TemporalData) -> list[str]:
    """The K action names of a data section (:func:`avlearn.tasks.preview.data.class_names`)."""
    from avlearn.tasks.preview.data import class_names

    return class_names(d)
