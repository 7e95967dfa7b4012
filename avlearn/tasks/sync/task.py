"""Self-supervised audio-visual synchronization: losses, collapse guard, the task, offsets.

Three objectives over the same batches (data in :mod:`avlearn.tasks.sync.data`):

* ``multisensory`` -- Owens & Efros, ECCV 2018, Sec. 3: every video is paired with its own
  audio (aligned, label 1) and with the same audio shifted in time (label 0); sigmoid
  cross-entropy on one logit. The paper reports that training can collapse to predicting
  one class for everything; :class:`PredictionBalanceMonitor` watches the share of
  "aligned" predictions and warns (or raises) when it stays near 0 or 1.
* ``avts`` -- Korbar et al., NeurIPS 2018, Eq. 1: the contrastive loss
  ``y d^2 + (1 - y) max(eta - d, 0)^2`` on the distance ``d`` of the video and audio
  embeddings, with *easy* negatives (another video's audio: the batch rolled by one) and
  *hard* negatives (the same video, shifted), and a curriculum: easy negatives only for
  ``curriculum_steps`` training steps, then ``hard_fraction`` of the negatives hard. The
  curriculum works with the ``multisensory`` objective too (all-hard from the start is the
  paper's setting, and the slowest to leave chance).
* ``l3`` -- Arandjelovic & Zisserman, ICCV 2017 (L3-Net): audio-visual correspondence,
  "same video or not", BCE on the fused head; negatives are other videos only.

Evaluation batches from a frozen list carry ``label`` (1 aligned, 0 shifted) and are scored
as given. Accuracy is reported with chance (the majority-class share).

:func:`estimate_offset` slides the audio against the video over a whole file of any length
and returns the shift with the best mean score (positive: the audio is late), a confidence
(SyncNet's rule: best score minus the median over shifts; Chung & Zisserman 2016) and the
score curve.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.data.cache import CACHE_LIMIT
from avlearn.tasks.base import ModelConfig, Task, register_task
from avlearn.tasks.sources import DataSource
from avlearn.tasks.sync.inference import estimate_offset, sync_scores

__all__ = [
    "SyncTask",
    "SyncConfig",
    "SyncData",
    "SyncCollapseError",
    "PredictionBalanceMonitor",
    "sync_bce_loss",
    "contrastive_loss",
    "sync_scores",
    "estimate_offset",
    "build_sync_task",
    "build_sync_datasets",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------- losses


def sync_bce_loss(logits: Tensor, labels: Tensor) -> Tensor:
    """Sigmoid cross-entropy of aligned (1) vs shifted (0) logits (Owens & Efros, Sec. 3)."""
    return F.binary_cross_entropy_with_logits(logits.float(), labels.float())


def contrastive_loss(distance: Tensor, labels: Tensor, margin: float) -> Tensor:
    """AVTS Eq. 1: mean of ``y d^2 + (1 - y) max(margin - d, 0)^2``.

    Args:
        distance: (B,) embedding distances.
        labels: (B,) 1 for synchronized pairs, 0 for negatives.
        margin: eta, the distance negatives are pushed beyond.
    """
    y = labels.float()
    d = distance.float()
    return (y * d.pow(2) + (1 - y) * F.relu(margin - d).pow(2)).mean()


# ----------------------------------------------------------------------------- collapse guard


class SyncCollapseError(RuntimeError):
    """Training collapsed to a constant prediction (all aligned or all shifted)."""


class PredictionBalanceMonitor(nn.Module):
    """Tracks the share of "aligned" predictions on balanced training batches.

    An exponential moving average over about ``window`` steps; the model counts as collapsed
    when the average stays outside ``[threshold, 1 - threshold]`` for ``patience`` steps in a
    row. State lives in buffers, so it is checkpointed and resumed with the task.

    Args:
        window: EMA span in steps.
        threshold: balance bound (0.05: fewer than 5% or more than 95% predicted aligned).
        patience: consecutive out-of-bounds steps before acting.
        action: ``"warn"`` (log once per collapse) or ``"raise"`` (:class:`SyncCollapseError`).
    """

    def __init__(self, *, window: int = 50, threshold: float = 0.05, patience: int = 100, action: str = "warn"):
        super().__init__()
        if action not in ("warn", "raise"):
            raise ValueError(f"PredictionBalanceMonitor: action must be 'warn' or 'raise', got {action!r}")
        self.alpha, self.threshold, self.patience, self.action = 2.0 / (window + 1), threshold, patience, action
        self.register_buffer("ema", torch.tensor(0.5, dtype=torch.float64))
        self.register_buffer("run", torch.tensor(0, dtype=torch.long))

    @property
    def collapsed(self) -> bool:
        return int(self.run) >= self.patience

    def update(self, aligned_rate: float) -> dict[str, float]:
        """Add one batch's predicted-aligned share; returns the numbers to log."""
        self.ema.mul_(1 - self.alpha).add_(self.alpha * float(aligned_rate))
        outside = not self.threshold <= float(self.ema) <= 1 - self.threshold
        self.run.copy_(self.run + 1 if outside else torch.zeros_like(self.run))
        if int(self.run) == self.patience:
            msg = (
                f"sync training collapsed: {float(self.ema):.1%} of pairs predicted aligned for {self.patience} steps "
                "(Owens & Efros report this failure; lower the learning rate or raise min_shift)"
            )
            if self.action == "raise":
                raise SyncCollapseError(msg)
            log.warning(msg)
        return {"pred_aligned": float(aligned_rate), "pred_aligned_ema": float(self.ema), "collapsed": float(self.collapsed)}


# ----------------------------------------------------------------------------- config + task


@dataclass
class SyncConfig:
    """The ``task`` section of sync recipes.

    Attributes:
        name: ``sync``.
        objective: ``multisensory`` (BCE, shifted negatives), ``avts`` (contrastive, easy +
            hard negatives, curriculum) or ``l3`` (correspondence, other-video negatives).
        margin: AVTS margin eta on unit-embedding distances (which lie in [0, 2]).
        hard_fraction: share of hard negatives after the curriculum (1.0: Owens & Efros'
            shifted negatives only).
        curriculum_steps: training steps (micro-batches) with easy negatives only (AVTS'
            curriculum, Sec. 3.3; 0 disables it).
        collapse_window: EMA span of the balance monitor, in steps.
        collapse_threshold: balance bound (see :class:`PredictionBalanceMonitor`).
        collapse_patience: steps out of bounds before acting.
        on_collapse: ``warn`` or ``raise``.
    """

    name: str = "sync"
    objective: Literal["multisensory", "avts", "l3"] = "multisensory"
    margin: float = 1.0
    hard_fraction: float = 1.0
    curriculum_steps: int = 0
    collapse_window: int = 50
    collapse_threshold: float = 0.05
    collapse_patience: int = 100
    on_collapse: Literal["warn", "raise"] = "warn"


@dataclass
class SyncData(DataSource):
    """The ``data`` section of sync recipes: a world made by ``avlearn make-world``, or manifests
    (exactly one of ``world`` and ``train``; :mod:`avlearn.tasks.sources`).

    Attributes:
        world: the world's folder (``OUT`` of make_world).
        train_manifest: training clips of a world recipe (default ``<world>/train/manifest.jsonl``).
        val_list: frozen val pairs (default ``<world>/lists/sync_val.jsonl``).
        test_list: frozen test pairs (default ``<world>/lists/sync_test.jsonl``).
        train: a manifest or folder of (unlabelled) videos to train on, instead of a world:
            random windows, ``windows_per_epoch`` per epoch; clips too short for a window
            (``clip_duration + max_shift + 2 * jitter / fps``) are skipped and counted.
        val, test: frozen sync lists (``avlearn make-lists --task sync``), or manifests/folders
            frozen here with seed 0 (windows of ``clip_duration``, 2 per row, every second shifted).
        windows_per_epoch: training windows per epoch (with ``train``).
        audio_channels: audio channels the model sees with ``train`` (1: mono mix; 2: stereo,
            Owens & Efros' input; a mono file is duplicated).
        fps: frame rate the model sees.
        size: (H, W) frames.
        sample_rate: audio rate (mono).
        clip_duration: window length in seconds.
        min_shift: smallest |shift| of a shifted negative, seconds.
        max_shift: largest |shift|, seconds.
        jitter: largest move of the aligned audio window, in video frames (0.5: positives are
            in sync to the nearest frame, so the audio's sub-frame phase cannot tell them from
            negatives; see :class:`avlearn.tasks.sync.data.ShiftedPairDataset`).
        flip: mirror each training window's frames left-right with probability 0.5 (Owens &
            Efros' reference code does, ``augment_ims``); evaluation frames are never flipped.
        cache: keep decoded clips in memory (manifests: only up to 512 clips).
    """

    windows_per_epoch: int = 1024
    audio_channels: int = 1
    fps: float = 16.0
    size: list[int] = field(default_factory=lambda: [64, 64])
    sample_rate: int = 16000
    clip_duration: float = 1.0
    min_shift: float = 0.125
    max_shift: float = 1.0
    jitter: float = 0.5
    flip: bool = False
    cache: bool = True


class SyncTask(Task):
    """A sync network with one of the three objectives (see the module docstring).

    Args:
        model: a registered AV model (``multisensory_small``, ``avts_small``...).
        cfg: the task section.

    Training batches: ``{"video": (B, 3, T, H, W), "audio": (B, 1, N), "audio_shifted":
    (B, 1, N)}``; evaluation batches from frozen lists: ``{"video", "audio", "label"}``.
    Outputs: ``loss``, ``logits`` (> 0 means predicted aligned), ``labels``, ``hard`` (1 for a
    same-video shifted negative).
    """

    def __init__(self, model: nn.Module, cfg: SyncConfig | None = None):
        super().__init__()
        self.model, self.cfg = model, cfg or SyncConfig()
        self.monitor = PredictionBalanceMonitor(
            window=self.cfg.collapse_window, threshold=self.cfg.collapse_threshold,
            patience=self.cfg.collapse_patience, action=self.cfg.on_collapse,
        )
        self.register_buffer("steps", torch.tensor(0, dtype=torch.long))  # training micro-batches seen

    def hard_probability(self) -> float:
        """Share of hard (same video, shifted) negatives now: 0 during the curriculum's first
        ``curriculum_steps`` steps, then ``hard_fraction``; always 0 for ``l3``."""
        if self.cfg.objective == "l3":
            return 0.0
        return 0.0 if int(self.steps) < self.cfg.curriculum_steps else self.cfg.hard_fraction

    def make_pairs(self, batch: dict[str, Any]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(video, audio, labels, hard)``: B positives then B negatives (2B rows)."""
        video, audio = batch["video"], batch["audio"]
        b = video.shape[0]
        easy = audio.roll(1, dims=0)  # (B, 1, N) another video's audio
        p = self.hard_probability() if b > 1 else 1.0
        hard = (torch.rand(b) < p).to(video.device) if 0 < p < 1 else torch.full((b,), p >= 1, device=video.device)
        negative = torch.where(hard[:, None, None], batch["audio_shifted"], easy)  # (B, 1, N)
        labels = torch.cat([torch.ones(b), torch.zeros(b)]).to(video.device)
        hard_flags = torch.cat([torch.zeros(b, dtype=torch.bool, device=video.device), hard])
        return torch.cat([video, video]), torch.cat([audio, negative]), labels, hard_flags

    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        if "label" in batch:  # frozen pairs, scored as given
            video, audio = batch["video"], batch["audio"]
            labels = batch["label"].float()
            hard = labels == 0
        else:
            video, audio, labels, hard = self.make_pairs(batch)
            if self.training:
                self.steps += 1
        x = {"video": video, "audio": audio}
        if self.cfg.objective == "avts":
            d = self.model.distance(x)  # (2B,)
            loss = contrastive_loss(d, labels, self.cfg.margin)
            logits = self.cfg.margin / 2 - d  # > 0: closer than half the margin -> aligned
        else:
            logits = self.model(x)[:, 0] if self.cfg.objective == "l3" else sync_scores(self.model, video, audio)
            loss = sync_bce_loss(logits, labels)
        return {"loss": loss, "logits": logits.detach(), "labels": labels, "hard": hard}

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        pred = (outputs["logits"] > 0).double()
        y = outputs["labels"].double()
        correct = (pred == y).double()
        pos, hard = y, outputs["hard"].double()
        return {
            "correct": correct.sum(), "count": torch.tensor(float(y.numel()), dtype=torch.float64),
            "pred_aligned": pred.sum(), "positives": pos.sum(),
            "correct_aligned": (correct * pos).sum(),
            "correct_shifted": (correct * hard).sum(), "shifted": hard.sum(),
        }

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        n = max(float(sums["count"]), 1.0)
        pos = float(sums["positives"])
        out = {
            "accuracy": float(sums["correct"]) / n,
            "chance": max(pos, n - pos) / n,
            "pred_aligned_rate": float(sums["pred_aligned"]) / n,
            "acc_aligned": float(sums["correct_aligned"]) / max(pos, 1.0),
        }
        if float(sums["shifted"]):
            out["acc_shifted"] = float(sums["correct_shifted"]) / float(sums["shifted"])
        return out

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        rate = float((outputs["logits"] > 0).float().mean())
        out = self.monitor.update(rate)
        out["hard_fraction"] = self.hard_probability()
        return out

    def export_module(self) -> nn.Module:
        return self.model


def _world_path(cfg: SyncData, value: str | None, default: str) -> str:
    return value if value is not None else os.path.join(cfg.world, default)


def build_sync_datasets(cfg) -> dict[str, Any]:
    """Train: :class:`ShiftedPairDataset` on the world's clips, or random windows of
    ``data.train`` (:class:`~avlearn.tasks.sync.data.WindowPairs`); val/test: frozen pair lists."""
    from avlearn.tasks.sources import uses_manifests, window_samples
    from avlearn.tasks.sync.data import (ChannelView, FrozenPairDataset, ShiftedPairDataset, WindowPairs, av_clips,
                                         load_sync_list)

    d: SyncData = cfg.data
    read = dict(fps=d.fps, size=tuple(d.size), sample_rate=d.sample_rate)
    if uses_manifests(d):
        pairs = WindowPairs(clip_duration=d.clip_duration, min_shift=d.min_shift, max_shift=d.max_shift, jitter=d.jitter,
                            channels=d.audio_channels, flip=d.flip)
        out: dict[str, Any] = {"train": window_samples(d.train, window=pairs.span(d.fps), windows_per_epoch=d.windows_per_epoch,
                                                       transform=pairs, seed=cfg.train.seed, mono=d.audio_channels == 1,
                                                       **read)}
        for split in ("val", "test"):
            value = getattr(d, split)
            if value:
                rows = sync_eval_rows(value, window=d.clip_duration, fps=d.fps)
                pairs_ds = FrozenPairDataset(rows, clip_duration=d.clip_duration,
                                             cache=d.cache and len({r["path"] for r in rows}) <= CACHE_LIMIT, **read)
                out[split] = ChannelView(pairs_ds, d.audio_channels) if d.audio_channels > 1 else pairs_ds
        return out
    store = av_clips(_world_path(d, d.train_manifest, "train/manifest.jsonl"), cache=d.cache, **read)
    out = {
        "train": ShiftedPairDataset(
            store, clip_duration=d.clip_duration, min_shift=d.min_shift, max_shift=d.max_shift, seed=cfg.train.seed,
            jitter=d.jitter, flip=d.flip,
        )
    }
    for split, value in (("val", d.val_list), ("test", d.test_list)):
        path = _world_path(d, value, f"lists/sync_{split}.jsonl")
        if os.path.exists(path):
            out[split] = FrozenPairDataset(load_sync_list(path), clip_duration=d.clip_duration, cache=d.cache, **read)
    return out


def sync_eval_rows(path: str, *, window: float, fps: float | None = None, seed: int = 0) -> list[dict[str, Any]]:
    """The rows of a frozen sync list, or of a manifest/folder frozen now (``seed``, two
    ``window``-second windows per row, the second shifted; :func:`avlearn.data.eval_lists.sync_list`),
    in :func:`~avlearn.tasks.sync.data.load_sync_list`'s form."""
    from avlearn.data import load_manifest
    from avlearn.data.eval_lists import sync_list
    from avlearn.data.lists import read_json_lines
    from avlearn.tasks.sync.data import load_sync_list

    if os.path.isfile(path) and path.endswith(".jsonl"):
        first = next(iter(read_json_lines(path)), None)
        if first is not None and "offset" in first[1]:
            return load_sync_list(path)
    base = path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
    rows, counts = sync_list(load_manifest(path), seed=seed, base=base, window=window, fps=fps)
    log.info("%s: froze %d sync windows (%s)", path, len(rows), counts)
    for r in rows:
        r["path"] = os.path.abspath(os.path.join(base, r["clip"]))
    return rows


@register_task("sync", config=SyncConfig, data=SyncData, datasets=build_sync_datasets, model=ModelConfig)
def build_sync_task(cfg) -> SyncTask:
    """Build the model of ``cfg.model`` (local weights only) inside a :class:`SyncTask`."""
    from avlearn.models import create_model

    m = cfg.model
    model = create_model(m.name, weights=m.weights, strict=m.strict, **m.kwargs)
    return SyncTask(model, cfg.task)


