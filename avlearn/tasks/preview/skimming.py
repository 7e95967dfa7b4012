"""IMGAUD-SKIMMING: learn which moments of an untrimmed video to look at.

Gao et al., "Listen to Look", CVPR 2020, Sec. 3.2 and Fig. 3. The trained IMGAUD2VID student
(:mod:`avlearn.tasks.preview.task`) turns every time step of a video into an image
feature and an audio feature; stacked over the video they are the **image feature bank** and
the **audio feature bank**. They are computed once per video and cached, and the skimming
network (:class:`~avlearn.models.av.preview.SkimmingNet`) is trained on them alone, as the
authors' released implementation does (Gao et al., CVPR 2020, Sec. 3.3): an LSTM whose query MLPs attend over both banks, a
2-way modality attention mixing the two, a differentiable selection of the next moment
(straight-through Gumbel-softmax or soft attention), and a classifier on the moments chosen.

Loss: cross-entropy of the video label. With ``task.step_loss`` (default) it is averaged over
the predictions made after each step (each from the moments chosen so far), so the same model
can stop after fewer moments; the paper's single loss on the final prediction is
``step_loss: false``.

Task ``imgaud_skimming``: ``task.student`` names the student's run; ``model`` sizes the LSTM.
Metrics: video top-1 accuracy, the mean weight of the image attention and the number of
distinct moments looked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models.av.preview import ImageAudioNet, SkimmingNet
from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.runs import load_run
from avlearn.tasks.preview.data import PreviewData, VideoWindows, cached_for_weights, class_names

__all__ = [
    "BankDataset",
    "SkimmingConfig",
    "SkimmingModel",
    "SkimmingTask",
    "build_skimming",
    "collate_banks",
    "compute_banks",
]


@dataclass
class SkimmingConfig:
    """The ``task`` section of ``imgaud_skimming``.

    Attributes:
        name: ``imgaud_skimming``.
        student: the IMGAUD2VID run folder (or its ``weights.pt``) whose towers fill the banks.
        steps: moments looked at per video.
        selection: differentiable indexing in training, ``gumbel`` or ``soft``.
        tau: Gumbel-softmax temperature.
        step_loss: average the loss over the predictions after every step.
    """

    name: str = "imgaud_skimming"
    student: str | None = None
    steps: int = 4
    selection: Literal["gumbel", "soft"] = "gumbel"
    tau: float = 1.0
    step_loss: bool = True


@dataclass
class SkimmingModel(ModelConfig):
    """The ``model`` section of ``imgaud_skimming``: a registered skimming network (default
    ``imgaud_skimming_small``) and its ``kwargs`` (``hidden``: LSTM hidden size, ``key_dim``:
    width of queries and keys, ``dropout``: before the classifier). The feature sizes come from
    the student and ``steps`` / ``selection`` / ``tau`` from the task section.

    Attributes:
        init_fusion: start the moment fusion from the student's fusion layer.
        weights: a skimming ``weights.pt`` to start from.
    """

    name: str = "imgaud_skimming_small"
    init_fusion: bool = True

    legacy_keys: ClassVar[tuple[str, ...]] = ("hidden", "key_dim", "dropout")


class SkimmingTask(Task):
    """The skimming network with its loss and video-level metrics.

    Args:
        net: the :class:`SkimmingNet`.
        step_loss: average the cross-entropy over the predictions after every step.
        class_names: the K video classes.

    Batches hold ``image_bank`` (B, T, Di), ``audio_bank`` (B, T, Da), ``mask`` (B, T) and
    ``label`` (B,).
    """

    def __init__(self, *, net: SkimmingNet, step_loss: bool = True, class_names: list[str] | None = None):
        super().__init__()
        self.net, self.step_loss = net, step_loss
        self.class_names = list(class_names) if class_names else [str(i) for i in range(net.num_classes)]

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        out = self.net(batch["image_bank"], batch["audio_bank"], batch.get("mask"))
        y = batch["label"]
        if self.step_loss:
            S = out["step_logits"].shape[1]
            loss = F.cross_entropy(out["step_logits"].flatten(0, 1).float(), y.repeat_interleave(S))
        else:
            loss = F.cross_entropy(out["logits"].float(), y)
        return {"loss": loss, **out}

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        y = batch["label"]
        idx = outputs["indices"]  # (B, S)
        distinct = sum(len(set(row)) for row in idx.tolist())
        return {
            "correct_top1": (outputs["logits"].argmax(1) == y).sum().double(),
            "image_weight": outputs["modality"][..., 0].mean(1).sum().double(),
            "distinct": torch.tensor(float(distinct), dtype=torch.float64),
            "count": torch.tensor(float(len(y)), dtype=torch.float64),
        }

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        n = float(sums["count"])
        return {"top1": float(sums["correct_top1"]) / n, "image_weight": float(sums["image_weight"]) / n,
                "distinct_moments": float(sums["distinct"]) / n}

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """Mean image-attention weight (0 or 1 flags a modality switched off)."""
        return {"image_weight": float(outputs["modality"][..., 0].detach().mean())}

    def collate(self, samples: list[Any]) -> dict[str, Any]:
        return collate_banks(samples)

    def export_module(self) -> nn.Module:
        return self.net


# ----------------------------------------------------------------------------- banks


@torch.no_grad()
def compute_banks(student: ImageAudioNet, store: VideoWindows, step: float, window: float, *, batch: int = 64) -> list[tuple[Tensor, Tensor]]:
    """The image and audio feature banks of every video: ``(T_v, Di)`` and ``(T_v, Da)``.

    Time step ``t`` is the window starting at ``t * step``.

    Raises:
        ValueError: the student lacks the image or the audio tower.
    """
    if student.image_net is None or student.audio_net is None:
        raise ValueError(f"compute_banks: the student must see images and audio, it has {student.modalities}")
    student.eval()
    banks = []
    for v in range(len(store)):
        starts = store.starts(v, step, window)
        img, aud = [], []
        for i in range(0, len(starts), batch):
            part = list(starts[i : i + batch])
            img.append(student.image_features(store.images(v, part, window)))  # (b, Di)
            aud.append(student.audio_features(store.audio(v, part, window)))  # (b, Da)
        banks.append((torch.cat(img), torch.cat(aud)))
    return banks


def _cached_banks(student_path: str, student: ImageAudioNet, store: VideoWindows, data: PreviewData) -> list[tuple[Tensor, Tensor]]:
    banks = cached_for_weights(data, "banks", student_path, f"{store.key}|{data.step}|{data.window}",
                               lambda: [list(b) for b in compute_banks(student, store, data.step, data.window)])
    return [tuple(b) for b in banks]


class BankDataset(torch.utils.data.Dataset):
    """One sample per video: ``{"image_bank": (T, Di), "audio_bank": (T, Da), "label"}``."""

    def __init__(self, banks: list[tuple[Tensor, Tensor]], labels: list[int]):
        if len(banks) != len(labels):
            raise ValueError(f"BankDataset: {len(banks)} banks but {len(labels)} labels")
        self.banks, self.labels = banks, labels

    def __len__(self) -> int:
        return len(self.banks)

    def __getitem__(self, i: int) -> dict[str, Any]:
        img, aud = self.banks[i]
        return {"image_bank": img, "audio_bank": aud, "label": int(self.labels[i])}


def collate_banks(samples: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Stack banks of different lengths, zero-padded to the longest, with ``mask`` (B, T)."""
    kept = [s for s in samples if s is not None]
    T = max(s["image_bank"].shape[0] for s in kept)
    B = len(kept)
    img = kept[0]["image_bank"].new_zeros(B, T, kept[0]["image_bank"].shape[1])  # (B, T, Di)
    aud = kept[0]["audio_bank"].new_zeros(B, T, kept[0]["audio_bank"].shape[1])  # (B, T, Da)
    mask = torch.zeros(B, T, dtype=torch.bool)
    for b, s in enumerate(kept):
        n = s["image_bank"].shape[0]
        img[b, :n], aud[b, :n], mask[b, :n] = s["image_bank"], s["audio_bank"], True
    return {"image_bank": img, "audio_bank": aud, "mask": mask,
            "label": torch.tensor([s["label"] for s in kept], dtype=torch.long), "skipped": len(samples) - B}


def _student(cfg: Any) -> ImageAudioNet:
    if not cfg.task.student:
        raise ValueError("task.student: imgaud_skimming needs the IMGAUD2VID student's run folder")
    student = load_run(cfg.task.student).network
    return student


def build_skimming_datasets(cfg: Any) -> dict[str, BankDataset]:
    """Feature banks of the world's train / val / test videos (cached next to the decoded videos)."""
    from avlearn.data.synthetic import WorldFormatError

    student = _student(cfg)
    out = {}
    for split in ("train", "val", "test"):
        try:
            store = VideoWindows.load(cfg.data, split, progress=cfg.train.progress)
        except WorldFormatError:
            if split == "train":
                raise
            continue
        banks = _cached_banks(cfg.task.student, student, store, cfg.data)
        out[split] = BankDataset(banks, [r.label for r in store.records])
    return out


@register_task("imgaud_skimming", config=SkimmingConfig, data=PreviewData, model=SkimmingModel, datasets=build_skimming_datasets)
def build_skimming(cfg: Any) -> SkimmingTask:
    """A :class:`SkimmingTask` sized to the student of ``task.student``."""
    from avlearn.models import load_weights

    from avlearn.models import create_model
    from avlearn.models._registry import model_class
    from avlearn.tasks.config import ConfigError

    student, names, t, m = _student(cfg), class_names(cfg.data), cfg.task, cfg.model
    fixed = dict(num_classes=len(names), image_dim=student.image_dim, audio_dim=student.audio_dim,
                 feature_dim=student.num_features, steps=t.steps, selection=t.selection, tau=t.tau)
    for k in sorted(set(fixed) & set(m.kwargs)):
        raise ConfigError("task imgaud_skimming", f"model.kwargs.{k}", "is set by the student and the task section; remove it")
    built = model_class(m.name)
    if built is None or not issubclass(built, SkimmingNet):
        raise ConfigError("task imgaud_skimming", "model.name", f"{m.name!r} does not build a SkimmingNet")
    net = create_model(m.name, **fixed, **m.kwargs)
    if m.init_fusion:
        net.init_fusion(student)
    if m.weights:
        load_weights(net, m.weights, strict=m.strict)
    return SkimmingTask(net=net, step_loss=t.step_loss, class_names=names)
