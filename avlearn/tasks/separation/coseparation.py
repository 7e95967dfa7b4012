"""Co-Separation (Gao & Grauman, ICCV 2019): every visible object is a source.

Sec. 3 of the paper:

* each detected **object region** is a source: its crop is encoded into a visual vector that
  conditions the U-Net at its bottleneck (tiled and concatenated), and the U-Net predicts
  that object's ratio mask (clamped to 5 as in SoP); the audio encoder runs once per mixture
  and the decoder once per object (:class:`avlearn.models.av.unet.UNet` with ``index``);
* training mixes the audio of two (or more) videos and supervises at the **video level**: the
  masks of a video's objects must add up to that video's mask (the *co-separation loss*,
  Eq. 2; the objects of one video are never heard alone);
* the **object-consistency loss** (Eq. 3): a classifier on each object's separated
  spectrogram must recognise the object's class, so each separated track sounds like its
  object (cross-entropy, weight 0.05 in the released code);
* optionally (``object_weight > 0``) a per-object mask loss where per-object stems exist,
  which the paper's data lacks but the synthetic world has.

The network is :class:`~avlearn.models.av.coseparation.CoSeparationNet` (registered as
``coseparation_small``; ``model.kwargs`` sizes it, ``task.classes`` sets its classifier's classes).
Here the object regions are the world's truth boxes (``data.sources: objects``, ``data.visual:
object``); ``avlearn separate`` falls back to a moving-blob detector on other files.
Recipe: ``avlearn/recipes/separate_objects_cosep.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from avlearn.models.av.coseparation import CoSeparationNet
from avlearn.tasks.base import register_task
from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import LOG_EPS, SeparationConfig, SeparationTask, SeparatorModel, build_separator

__all__ = ["CoSeparationTask", "CoSeparationConfig", "CoSeparationModel", "group_matrix", "build_coseparation"]


def group_matrix(group: Tensor, clips: int) -> Tensor:
    """(B, S) clip index per source (-1: padding) -> (B, C, S) one-hot membership."""
    idx = torch.arange(clips, device=group.device)
    return (group[:, None, :] == idx[None, :, None]).float()  # (B, C, S)




@dataclass
class CoSeparationConfig(SeparationConfig):
    """Task section of ``coseparation``.

    Attributes:
        classes: object classes (the world's ``classes``; 12 in objects worlds).
        consistency_weight: weight of the object-consistency loss (0.05 in the released code).
        object_weight: weight of a per-object mask loss (0: the paper's video-level supervision only).
    """

    name: str = "coseparation"
    classes: int = 12
    consistency_weight: float = 0.05
    object_weight: float = 0.0


@dataclass
class CoSeparationModel(SeparatorModel):
    """Model section of ``coseparation`` (see :class:`SeparatorModel`)."""

    name: str = "coseparation_small"


class CoSeparationTask(SeparationTask):
    """Co-Separation: per-object masks from object crops (batch key ``"crops"``).

    Args:
        cfg: the task section.
        net: the network (``create_model("coseparation_small", classes=cfg.classes, ...)``).
    """

    def __init__(self, cfg: CoSeparationConfig, net: CoSeparationNet):
        super().__init__(cfg)
        self.net = net

    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        valid = batch["valid"]
        logits = self.net(net_input, batch["crops"], valid)  # (M, R, T)
        out = logits.new_zeros(*valid.shape, *logits.shape[-2:])
        out[valid] = torch.sigmoid(logits)
        return out  # (B, S, R, T); padded objects get an all-zero mask

    def compute_loss(self, pred: Tensor, mix_spec: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        cfg: CoSeparationConfig = self.cfg
        sources, valid, group = batch["sources"], batch["valid"], batch["group"]
        clips = int(group.max()) + 1
        g = group_matrix(group, clips)  # (B, C, S)
        video_audio = torch.einsum("bcs,bsn->bcn", g, sources)  # (B, C, N) each video's audio
        video_target, weight = self.targets(mix_spec, video_audio)  # (B, C, R, T)
        video_pred = torch.einsum("bcs,bsrt->bcrt", g, pred)  # masks of a video's objects, summed
        if cfg.mask == "ratio":
            video_pred = video_pred.clamp(max=M.RATIO_CLAMP)
        else:
            video_pred = video_pred.clamp(max=1.0)
        loss = self.mask_loss(video_pred, video_target, weight, g.sum(-1) > 0)
        extra: dict[str, Tensor] = {}
        if cfg.object_weight > 0:
            target, _ = self.targets(mix_spec, sources)
            loss = loss + cfg.object_weight * self.mask_loss(pred, target, weight, valid)
        if cfg.consistency_weight > 0:
            mix_mag = self.spec.warp(mix_spec.abs().unsqueeze(1))  # (B, 1, R, T)
            separated = torch.log((pred * mix_mag)[valid] + LOG_EPS).unsqueeze(1)  # (M, 1, R, T)
            logits = self.net.classifier(separated)  # (M, classes)
            labels = batch["label"][valid]
            known = labels >= 0
            if known.any():
                ce = F.cross_entropy(logits[known], labels[known])
                loss = loss + cfg.consistency_weight * ce
                extra["consistency_acc"] = (logits[known].argmax(1) == labels[known]).float().mean().detach()
        return loss, extra

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        return {"consistency_acc": float(outputs["consistency_acc"])} if "consistency_acc" in outputs else {}


@register_task("coseparation", config=CoSeparationConfig, model=CoSeparationModel, data=SeparationData,
               datasets=build_separation_datasets)
def build_coseparation(cfg) -> CoSeparationTask:
    """Build :class:`CoSeparationTask` from a validated recipe (``weights`` loaded if given)."""
    return build_separator(CoSeparationTask, cfg, visual="object", network=CoSeparationNet, classes=cfg.task.classes)
