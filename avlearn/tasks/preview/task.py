"""IMGAUD2VID: a clip-level 3D teacher distilled into a one-frame-plus-audio student.

Gao et al., "Listen to Look: Action Recognition by Previewing Audio", CVPR 2020, Sec. 3.1:
a clip classifier (a 3D CNN over a short clip) is expensive; a single frame carries most of the
clip's appearance and the audio around it most of its dynamics, so an image-audio network
(:class:`~avlearn.models.av.preview.ImageAudioNet`) is trained to reproduce the clip
classifier's predictions. The student's loss is knowledge distillation (Hinton et al., "Distilling
the Knowledge in a Neural Network", 2015, Sec. 2) on softened logits plus cross-entropy on the
labels::

    L = alpha * T^2 * KL( softmax(z_teacher / T) || softmax(z_student / T) )
        + (1 - alpha) * CE(z_student, y)

(``T^2`` keeps the soft term's gradients on the scale of the hard term's as T changes).

Two tasks for the training engine, both on windows of untrimmed videos
(:mod:`avlearn.tasks.preview.data`) with K action classes plus ``background``:

* ``preview_teacher``: a registered 3D video model (``r3d_tiny`` in the recipes) as a clip
  classifier (cross-entropy, top-k accuracy; :class:`~avlearn.tasks.classification.ClassificationTask`).
* ``imgaud2vid``: the student, distilled from the teacher run named by ``task.teacher``; the
  teacher's logits on every training window are computed once and cached. With
  ``model.kwargs.modalities`` set to ``[image]`` or ``[audio]`` the same task trains the
  single-frame and audio-only baselines with the same objective.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.tasks.base import ModelConfig, register_task
from avlearn.tasks.classification import ClassificationTask
from avlearn.tasks.preview.data import (
    PreviewData,
    VideoWindows,
    GridWindowDataset,
    cached_for_weights,
    class_names,
)

__all__ = [
    "BACKGROUND",
    "ImgAud2VidConfig",
    "ImgAud2VidTask",
    "TeacherConfig",
    "build_imgaud2vid",
    "build_teacher",
    "distillation_loss",
    "window_logits",
]

BACKGROUND = "background"


def distillation_loss(student: Tensor, teacher: Tensor, target: Tensor | None = None, *, temperature: float = 4.0,
                      alpha: float = 0.5, label_smoothing: float = 0.0) -> tuple[Tensor, dict[str, Tensor]]:
    """Hinton-style distillation: ``alpha * T^2 * KL(p_t || p_s) + (1 - alpha) * CE(z_s, y)``.

    Args:
        student: student logits (B, K).
        teacher: teacher logits (B, K).
        target: labels (B,); required when ``alpha < 1``.
        temperature: T, the softening temperature of both distributions.
        alpha: weight of the soft (KL) term.
        label_smoothing: of the cross-entropy term.

    Returns:
        The loss (scalar) and its parts ``{"kl": KL at temperature T (batch mean), "ce": CE}``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"distillation_loss: alpha must lie in [0, 1], got {alpha}")
    log_s = F.log_softmax(student.float() / temperature, dim=1)  # (B, K)
    log_t = F.log_softmax(teacher.float() / temperature, dim=1)  # (B, K)
    kl = (log_t.exp() * (log_t - log_s)).sum(dim=1).mean()
    if alpha < 1.0 and target is None:
        raise ValueError("distillation_loss: labels are needed when alpha < 1")
    ce = F.cross_entropy(student.float(), target, label_smoothing=label_smoothing) if target is not None else kl.new_zeros(())
    loss = alpha * temperature**2 * kl + (1.0 - alpha) * ce
    return loss, {"kl": kl.detach(), "ce": ce.detach()}


@dataclass
class TeacherConfig:
    """The ``task`` section of ``preview_teacher``.

    Attributes:
        name: ``preview_teacher``.
        label_smoothing: cross-entropy label smoothing.
        topk: the k of the reported top-k window accuracies.
    """

    name: str = "preview_teacher"
    label_smoothing: float = 0.0
    topk: list[int] = field(default_factory=lambda: [1, 2])


@dataclass
class ImgAud2VidConfig:
    """The ``task`` section of ``imgaud2vid``.

    Attributes:
        name: ``imgaud2vid``.
        teacher: the teacher's run folder (or its ``weights.pt``, with ``config.yaml`` beside);
            None trains on the labels alone.
        temperature: distillation temperature T.
        alpha: weight of the distillation term (1 - alpha on the labels' cross-entropy).
        label_smoothing: of the cross-entropy term.
        topk: the k of the reported top-k window accuracies.
    """

    name: str = "imgaud2vid"
    teacher: str | None = None
    temperature: float = 4.0
    alpha: float = 0.5
    label_smoothing: float = 0.0
    topk: list[int] = field(default_factory=lambda: [1, 2])


class ImgAud2VidTask(ClassificationTask):
    """The student with the distillation loss; metrics as :class:`ClassificationTask`.

    Args:
        model: an :class:`~avlearn.models.av.preview.ImageAudioNet`.
        num_classes: K + 1 (actions and background).
        temperature, alpha, label_smoothing: of :func:`distillation_loss`.
        topk: reported top-k accuracies.
        class_names: names of the K + 1 classes.

    Batches hold ``image`` (B, 3, H, W), ``audio`` (B, 1, N), ``label`` (B,) and, in training,
    ``teacher`` (B, K + 1) logits.
    """

    def __init__(self, *, model: nn.Module, num_classes: int, temperature: float = 4.0, alpha: float = 0.5,
                 label_smoothing: float = 0.0, topk=(1, 2), class_names: list[str] | None = None):
        super().__init__(model=model, num_classes=num_classes, input="image", label_smoothing=label_smoothing,
                         topk=topk, class_names=class_names)
        self.temperature, self.alpha = float(temperature), float(alpha)

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        logits = self.model({k: batch[k] for k in ("image", "audio") if k in batch})  # (B, K+1)
        if "teacher" in batch:
            loss, parts = distillation_loss(logits, batch["teacher"], batch["label"], temperature=self.temperature,
                                            alpha=self.alpha, label_smoothing=self.label_smoothing)
            return {"loss": loss, "logits": logits, **parts}
        loss = F.cross_entropy(logits.float(), batch["label"], label_smoothing=self.label_smoothing)
        return {"loss": loss, "logits": logits}

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        out = super().train_monitor(outputs, batch)
        if "kl" in outputs:
            out.update(kl=float(outputs["kl"]), ce=float(outputs["ce"]))
        return out


# ----------------------------------------------------------------------------- runs and data


@torch.no_grad()
def window_logits(model: nn.Module, store: VideoWindows, v: int, starts, window: float, *, inputs: str = "clip",
                  batch: int = 64) -> Tensor:
    """Logits (J, C) of ``model`` on the windows of video ``v`` starting at ``starts``.

    ``inputs``: ``"clip"`` feeds clips (3D models), ``"pair"`` image-audio pairs.
    """
    model.eval()
    out = []
    for i in range(0, len(starts), batch):
        part = list(starts[i : i + batch])
        if inputs == "clip":
            out.append(model(store.clips(v, part, window)))  # (b, C)
        else:
            out.append(model({"image": store.images(v, part, window), "audio": store.audio(v, part, window)}))
    return torch.cat(out).float()  # (J, C)


def _teacher_targets(teacher_path: str, store: VideoWindows, data: PreviewData, key: str) -> list[Tensor]:
    """The teacher's logits on every training window (cached next to the decoded videos)."""

    def compute() -> list[Tensor]:
        from avlearn.tasks.runs import load_run

        teacher = load_run(teacher_path).network
        return [window_logits(teacher, store, v, store.starts(v, data.hop, data.window), data.window)
                for v in range(len(store))]

    return cached_for_weights(data, "teacher", teacher_path, f"{key}|{data.hop}|{data.window}", compute)


def _window_datasets(cfg: Any, inputs: str, teacher: str | None = None) -> dict[str, GridWindowDataset]:
    from avlearn.data.synthetic import WorldFormatError

    d: PreviewData = cfg.data
    out = {}
    for split in ("train", "val", "test"):
        try:
            store = VideoWindows.load(d, split, progress=cfg.train.progress)
        except WorldFormatError:
            if split == "train":
                raise
            continue
        targets = None
        if split == "train" and teacher:
            targets = _teacher_targets(teacher, store, d, store.key)
        out[split] = GridWindowDataset(store, hop=d.hop, window=d.window, inputs=inputs, flip=d.flip and split == "train",
                                   teacher=targets)
    return out


def build_teacher_datasets(cfg: Any) -> dict[str, GridWindowDataset]:
    """Clip windows of the world's train / val / test videos."""
    return _window_datasets(cfg, "clip")


def build_imgaud2vid_datasets(cfg: Any) -> dict[str, GridWindowDataset]:
    """Image-audio windows; the training ones carry the teacher's logits."""
    return _window_datasets(cfg, "pair", cfg.task.teacher)


def _names(cfg: Any) -> list[str]:
    return class_names(cfg.data) + [BACKGROUND]


@register_task("preview_teacher", config=TeacherConfig, data=PreviewData, model=ModelConfig, datasets=build_teacher_datasets)
def build_teacher(cfg: Any) -> ClassificationTask:
    """A clip classifier over K actions + background around ``create_model(cfg.model.name)``."""
    from avlearn.models import create_model

    names, m = _names(cfg), cfg.model
    model = create_model(m.name, num_classes=len(names), weights=m.weights, strict=m.strict, **m.kwargs)
    return ClassificationTask(model=model, num_classes=len(names), input="video", label_smoothing=cfg.task.label_smoothing,
                              topk=cfg.task.topk, class_names=names)


@register_task("imgaud2vid", config=ImgAud2VidConfig, data=PreviewData, model=ModelConfig, datasets=build_imgaud2vid_datasets)
def build_imgaud2vid(cfg: Any) -> ImgAud2VidTask:
    """The IMGAUD2VID student (``model.name``, e.g. ``imgaud2vid_small``) with its distillation loss."""
    from avlearn.models import create_model

    names, m, t = _names(cfg), cfg.model, cfg.task
    kwargs = {"sample_rate": cfg.data.sample_rate, **m.kwargs}
    model = create_model(m.name, num_classes=len(names), weights=m.weights, strict=m.strict, **kwargs)
    return ImgAud2VidTask(model=model, num_classes=len(names), temperature=t.temperature, alpha=t.alpha,
                          label_smoothing=t.label_smoothing, topk=t.topk, class_names=names)
