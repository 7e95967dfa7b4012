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

Here the object regions are the world's truth boxes (``data.sources: objects``, ``data.visual:
object``); ``avlearn separate`` falls back to a moving-blob detector on other files.
Recipe: ``avlearn/recipes/separate_objects_cosep.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models.av.unet import unet_small
from avlearn.tasks.base import register_task
from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import LOG_EPS, SeparationConfig, SeparationTask, SeparatorModel, build_separator
from avlearn.tasks.separation.visual import FrameEncoder

__all__ = ["CoSeparationNet", "CoSeparationTask", "CoSeparationConfig", "group_matrix", "build_coseparation"]


def group_matrix(group: Tensor, clips: int) -> Tensor:
    """(B, S) clip index per source (-1: padding) -> (B, C, S) one-hot membership."""
    idx = torch.arange(clips, device=group.device)
    return (group[:, None, :] == idx[None, :, None]).float()  # (B, C, S)


class CoSeparationNet(nn.Module):
    """Object encoder, bottleneck-conditioned U-Net and the spectrogram classifier.

    Args:
        classes: object classes of the consistency classifier.
        unet_levels, unet_channels: U-Net size.
        visual_width: first-stage channels of the object encoder.
        visual_channels: the object vector's size (condition channels).
    """

    def __init__(self, *, classes: int, unet_levels: int = 5, unet_channels: int = 16, visual_width: int = 16,
                 visual_channels: int = 32):
        super().__init__()
        self.visual = FrameEncoder(width=visual_width, stages=3, out_channels=visual_channels)
        self.audio = unet_small(in_channels=1, out_channels=1, levels=unet_levels, base_channels=unet_channels,
                                cond_channels=visual_channels)
        self.classifier = nn.Sequential(
            FrameEncoder(in_channels=1, width=visual_width, stages=4, out_channels=4 * visual_width),
            nn.ReLU(), nn.Linear(4 * visual_width, classes),
        )

    def forward(self, log_mag: Tensor, crops: Tensor, valid: Tensor) -> Tensor:
        """Mask logits (M, R, T) of the M valid objects (in ``valid``'s row-major order).

        Args:
            log_mag: (B, 1, R, T) mixture input.
            crops: (B, S, 3, F, c, c) object crops.
            valid: (B, S) real objects.
        """
        rows = valid.nonzero()[:, 0]  # (M,) mixture of each object
        obj = self.visual(crops[valid])  # (M, C) max over space and frames
        return self.audio(log_mag, obj, index=rows)[:, 0]  # (M, R, T)


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


class CoSeparationTask(SeparationTask):
    """Co-Separation: per-object masks from object crops (batch key ``"crops"``)."""

    def __init__(self, cfg: CoSeparationConfig, model: SeparatorModel):
        super().__init__(cfg)
        self.net = CoSeparationNet(classes=cfg.classes, unet_levels=model.unet_levels, unet_channels=model.unet_channels,
                                   visual_width=model.visual_width, visual_channels=model.visual_channels)

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


@register_task("coseparation", config=CoSeparationConfig, model=SeparatorModel, data=SeparationData,
               datasets=build_separation_datasets)
def build_coseparation(cfg) -> CoSeparationTask:
    """Build :class:`CoSeparationTask` from a validated recipe (``weights`` loaded if given)."""
    return build_separator(CoSeparationTask, cfg, visual="object")
