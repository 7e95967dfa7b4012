"""A person (actor) box detector: the ``person_detection`` task, its loss and running metrics.

The box source of AVA's pipeline is a person detector trained on keyframe boxes (Gu et al.,
CVPR 2018, Sec. 5.1); here it is a CenterNet (Zhou, Wang & Krähenbühl, "Objects as Points",
2019; network in :mod:`avlearn.models.detection.centernet`, targets in
:mod:`avlearn.tasks.detection.person_data`) with the paper's loss (Sec. 3):

* heatmap: the penalty-reduced pixel-wise focal loss (Eq. 1; Lin et al., ICCV 2017)
  ``-1/N sum (1 - Y^)^a log Y^`` at the centres (``Y = 1``) and
  ``-1/N sum (1 - Y)^b Y^^a log(1 - Y^)`` elsewhere, ``a = 2``, ``b = 4``, ``N`` the objects;
* size: L1 between the predicted and true ``(w, h)`` at each centre cell (Eq. 3), weight 0.1;
* offset: L1 of the sub-cell centre offset (Eq. 2), weight 1.

The engine's running metrics are additive counts at a score threshold: the decoded boxes
(:func:`~avlearn.models.detection.centernet.decode_centers`) are matched greedily, best score
first, to the ground truth at IoU >= 0.5 -> true positives, false positives, misses (precision,
recall, F1). The ranking metric, box AP@0.5 on the frozen keyframes, is
:func:`avlearn.tasks.detection.person_eval.evaluate_person_detector`.

A recipe (``avlearn/recipes/detect_persons.yaml``)::

    task:  {name: person_detection}
    model: {name: centernet_tiny}
    data:  {world: runs/world_actors, size: 64}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.detection.person_data import PersonData, build_person_datasets

__all__ = ["PersonConfig", "PersonModelConfig", "PersonDetectionTask", "focal_loss", "build_person_detection"]


@dataclass
class PersonConfig:
    """The ``task`` section.

    Attributes:
        name: ``person_detection``.
        threshold: box score from which a detection counts in the running metrics and is
            returned by :meth:`PersonDetectionTask.detect` (the box source's default).
        top_k: most boxes decoded per frame.
        size_weight, offset_weight: the loss weights of Zhou et al. (0.1 and 1).
    """

    name: str = "person_detection"
    threshold: float = 0.3
    top_k: int = 16
    size_weight: float = 0.1
    offset_weight: float = 1.0


@dataclass
class PersonModelConfig(ModelConfig):
    """The ``model`` section; a CenterNet by default."""

    name: str = "centernet_tiny"


def focal_loss(logits: Tensor, target: Tensor, alpha: float = 2.0, beta: float = 4.0) -> Tensor:
    """CenterNet's penalty-reduced focal loss (Zhou et al., Eq. 1), summed and divided by the
    number of centres (cells with target 1; at least 1).

    Args:
        logits: heatmap logits ``(B, C, h, w)``.
        target: Gaussian-splatted heatmap ``(B, C, h, w)`` in [0, 1], exactly 1 at centres.
    """
    logp = nn.functional.logsigmoid(logits.float())  # log Y^
    log1mp = nn.functional.logsigmoid(-logits.float())  # log (1 - Y^)
    p = logp.exp()
    pos = target.eq(1).float()
    pos_loss = -(((1 - p) ** alpha) * logp * pos).sum()
    neg_loss = -(((1 - target) ** beta) * (p ** alpha) * log1mp * (1 - pos)).sum()
    return (pos_loss + neg_loss) / pos.sum().clamp_min(1.0)


def _at(maps: Tensor, ind: Tensor) -> Tensor:
    """Values ``(B, M, C)`` of ``maps (B, C, h, w)`` at flat cell indices ``ind (B, M)``."""
    flat = maps.flatten(2)  # (B, C, h*w)
    return flat.gather(2, ind[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)  # (B, M, C)


class PersonDetectionTask(Task):
    """A CenterNet with its loss, count metrics and box decoding.

    Args:
        model: maps images ``(B, 3, H, W)`` to ``{"heatmap", "size", "offset"}``.
        threshold: score of a counted / returned box.
        top_k: most boxes per frame.
        size_weight, offset_weight: loss weights.
    """

    def __init__(self, *, model: nn.Module, threshold: float = 0.3, top_k: int = 16, size_weight: float = 0.1,
                 offset_weight: float = 1.0):
        super().__init__()
        self.model = model
        self.threshold, self.top_k = float(threshold), int(top_k)
        self.size_weight, self.offset_weight = float(size_weight), float(offset_weight)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = self.model(batch["image"])  # {"heatmap": (B, 1, h, w), "size": (B, 2, h, w), "offset": (B, 2, h, w)}
        mask = batch["obj_mask"].float()[..., None]  # (B, M, 1)
        n = mask.sum().clamp_min(1.0)
        heat = focal_loss(out["heatmap"], batch["heatmap"])
        size = ((_at(out["size"].float(), batch["ind"]) - batch["wh"]).abs() * mask).sum() / n
        off = ((_at(out["offset"].float(), batch["ind"]) - batch["offset"]).abs() * mask).sum() / n
        loss = heat + self.size_weight * size + self.offset_weight * off
        return {"loss": loss, **out, "heat_loss": heat.detach(), "size_loss": size.detach(), "offset_loss": off.detach()}

    def decode(self, out: dict[str, Tensor], image_size: tuple[int, int], threshold: float | None = None
               ) -> list[dict[str, Tensor]]:
        """Boxes (normalised), scores and labels per image (:func:`decode_centers`)."""
        from avlearn.models.detection.centernet import decode_centers

        thr = self.threshold if threshold is None else float(threshold)
        return decode_centers(out, k=self.top_k, threshold=thr, image_size=image_size)

    @torch.no_grad()
    def detect(self, images: Tensor, threshold: float | None = None) -> list[dict[str, Tensor]]:
        """Boxes of images ``(B, 3, H, W)`` in eval mode (score >= ``threshold``, default the task's)."""
        was = self.training
        self.eval()
        res = self.decode(self.model(images), tuple(images.shape[-2:]), threshold)
        self.train(was)
        return res

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        dets = self.decode({k: outputs[k].detach() for k in ("heatmap", "size", "offset")},
                           tuple(batch["image"].shape[-2:]))
        from torchvision.ops import box_iou  # imported here: torchvision pulls torch._dynamo (seconds)

        tp = fp = fn = 0
        for det, gt, m in zip(dets, batch["boxes"], batch["obj_mask"]):
            gt = gt[m.bool()].float()
            matched = torch.zeros(len(gt), dtype=torch.bool)
            iou = box_iou(det["boxes"].float(), gt) if len(gt) and len(det["boxes"]) else None
            for i in range(len(det["boxes"])):  # best score first
                j = int(iou[i].argmax()) if iou is not None else -1
                if j >= 0 and iou[i, j] >= 0.5 and not matched[j]:
                    matched[j], tp = True, tp + 1
                else:
                    fp += 1
            fn += int((~matched).sum())
        f64 = lambda v: torch.tensor(float(v), dtype=torch.float64)  # noqa: E731
        return {"tp": f64(tp), "fp": f64(fp), "fn": f64(fn), "heat_loss": f64(outputs["heat_loss"]) * len(dets),
                "frames": f64(len(dets))}

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        tp, fp, fn = (float(sums[k]) for k in ("tp", "fp", "fn"))
        return {"precision": tp / max(tp + fp, 1.0), "recall": tp / max(tp + fn, 1.0),
                "f1": 2 * tp / max(2 * tp + fp + fn, 1.0),
                "heat_loss": float(sums["heat_loss"] / sums["frames"].clamp_min(1))}

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """The three loss terms (a size loss that stalls flags boxes of the wrong scale)."""
        return {"heat": float(outputs["heat_loss"]), "size": float(outputs["size_loss"]),
                "offset": float(outputs["offset_loss"])}

    def export_module(self) -> nn.Module:
        return self.model


@register_task("person_detection", config=PersonConfig, data=PersonData, model=PersonModelConfig,
               datasets=build_person_datasets)
def build_person_detection(cfg: Any) -> PersonDetectionTask:
    """A :class:`PersonDetectionTask` around ``create_model(cfg.model.name, num_classes=1, ...)``."""
    from avlearn.models import create_model

    m, t = cfg.model, cfg.task
    model = create_model(m.name, weights=m.weights, strict=m.strict, **{"num_classes": 1, **m.kwargs})
    return PersonDetectionTask(model=model, threshold=t.threshold, top_k=t.top_k, size_weight=t.size_weight,
                               offset_weight=t.offset_weight)
