"""Keyframe clips with actor boxes and label sets: the ``data`` section and the datasets.

The sampling of AVA (Gu et al., "AVA: A Video Dataset of Spatio-temporally Localized Atomic
Visual Actions", CVPR 2018, Sec. 5.1): one sample per annotated keyframe, the clip *centred* on
it (here ``clip_duration`` seconds at ``fps``), every actor box of that keyframe with its set of
atomic actions (multi-label). Training reads every keyframe of the world's train clips from
their truth files; val and test read the world's frozen ``lists/detection_<split>.jsonl`` (or
explicit lists), so evaluation always scores the same keyframes.

A sample::

    {"video": (3, T, H, W) float, "boxes": (M, 4) normalised (x1, y1, x2, y2),
     "box_mask": (M,) 1 for a real actor, 0 for padding, "targets": (M, K) multi-hot,
     "index": row number in the split}

``M = max_actors``; padded boxes are whole-frame boxes with mask 0 (they are scored but never
enter the loss or the metrics).
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["DetectionData", "KeyframeDataset", "build_detection_datasets", "detection_class_names",
           "split_rows", "label_priors", "mean_box_size", "clip_start", "to_input"]


@dataclass
class DetectionData:
    """The ``data`` section.

    Attributes:
        world: an ``actors`` world folder (``avlearn make-world --kind actors``).
        val, test: frozen detection lists replacing the world's ``lists/detection_<split>.jsonl``.
        labels: class names (default: the world's ``classes``).
        clip_duration: seconds of the clip centred on each keyframe.
        fps: frame rate frames are sampled at.
        size: frame size after decoding (square).
        max_actors: boxes per sample (padded); keyframes with more actors keep the first ones.
        flip: random horizontal flips (frames and boxes) during training.
        mean, std: per-channel video normalisation.
    """

    world: str | None = None
    val: str | None = None
    test: str | None = None
    labels: list[str] | None = None
    clip_duration: float = 1.0
    fps: float = 8.0
    size: int = 64
    max_actors: int = 4
    flip: bool = True
    mean: list[float] = field(default_factory=lambda: [0.45, 0.45, 0.45])
    std: list[float] = field(default_factory=lambda: [0.225, 0.225, 0.225])


def _world_json(d: DetectionData) -> dict[str, Any]:
    if not d.world:
        raise FileNotFoundError("data.world: an actors world folder is required (avlearn make-world --kind actors)")
    path = os.path.join(d.world, "world.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data.world: {path} not found (an incomplete or missing world)")
    with open(path, encoding="utf-8") as f:
        meta = json.load(f)
    if meta.get("kind") != "actors":
        raise ValueError(f"data.world: {path} is a {meta.get('kind')!r} world; detection needs kind 'actors'")
    return meta


def detection_class_names(d: DetectionData) -> list[str]:
    """The action names (``data.labels``, else the world's ``classes``)."""
    return list(d.labels) if d.labels else list(_world_json(d)["classes"])


def split_rows(d: DetectionData, split: str) -> list[dict[str, Any]]:
    """The keyframe rows of a split, each with an absolute ``clip_path``.

    ``train``: every keyframe of the world's train clips (from their truth files); ``val`` /
    ``test``: the frozen list (``data.<split>`` or the world's).

    Raises:
        FileNotFoundError: no world / no such list.
        avlearn.data.lists.FrozenListError: a malformed list line.
    """
    from avlearn.data.lists import read_frozen_list
    from avlearn.data.synthetic.lists import detection_rows

    if split == "train":
        _world_json(d)
        records = []
        for truth_path in sorted(glob.glob(os.path.join(d.world, "train", "truth", "*.json"))):
            with open(truth_path, encoding="utf-8") as f:
                truth = json.load(f)
            rel = os.path.relpath(truth_path, d.world)
            records.append({"id": truth["id"], "clip": f"train/clips/{truth['id']}.mp4", "truth": rel, "truth_data": truth})
        rows = detection_rows(records)
        for r in rows:
            r["clip_path"] = os.path.join(d.world, r["clip"])
        if not rows:
            raise FileNotFoundError(f"data.world: no train truth files under {os.path.join(d.world, 'train', 'truth')}")
        return rows
    explicit = getattr(d, split)
    if explicit is None:
        if not d.world:
            raise FileNotFoundError(f"data.{split}: no list (set data.world or data.{split})")
        explicit = os.path.join(d.world, "lists", f"detection_{split}.jsonl")
    if not os.path.isfile(explicit):
        raise FileNotFoundError(f"data.{split}: detection list {explicit} not found")
    root = d.world if getattr(d, split) is None else None
    return read_frozen_list(explicit, required=("clip", "frame", "time", "size", "boxes", "labels"),
                            floats=("time",), root=root)


def label_priors(rows: list[dict[str, Any]], num_classes: int) -> np.ndarray:
    """(K,) share of actor-keyframes carrying each action (the prior-only baseline's scores)."""
    counts, n = np.zeros(num_classes), 0
    for r in rows:
        for labels in r["labels"]:
            n += 1
            for k in labels:
                counts[int(k)] += 1
    return counts / max(n, 1)


def mean_box_size(rows: list[dict[str, Any]]) -> tuple[float, float]:
    """Mean actor box (width, height) as fractions of the frame (the centre-box baseline's size)."""
    ws, hs = [], []
    for r in rows:
        h, w = r["size"]
        for x0, y0, x1, y1 in r["boxes"]:
            ws.append((x1 - x0) / w)
            hs.append((y1 - y0) / h)
    return (float(np.mean(ws)), float(np.mean(hs))) if ws else (0.5, 0.5)


def clip_start(time: float, clip_duration: float) -> float:
    """Start of the clip centred on a keyframe at ``time`` (never before 0)."""
    return max(0.0, float(time) - clip_duration / 2)


def to_input(frames: torch.Tensor, d: DetectionData) -> torch.Tensor:
    """uint8 frames ``(T, H, W, 3)`` -> the normalised model input ``(3, T, H, W)``."""
    video = torch.as_tensor(frames).permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W)
    mean = torch.tensor(d.mean, dtype=torch.float32).view(3, 1, 1, 1)
    std = torch.tensor(d.std, dtype=torch.float32).view(3, 1, 1, 1)
    return (video - mean) / std


class KeyframeDataset(Dataset):
    """One sample per keyframe row (see the module docstring).

    Args:
        rows: keyframe rows (:func:`split_rows`).
        data: the data section (clip length, fps, size, normalisation, ``max_actors``).
        num_classes: K.
        train: random flips (if ``data.flip``).
        seed: seed of the flips (mixed with the index, so epochs repeat).

    A clip that cannot be decoded gives None (the collate drops it and counts it as skipped).
    """

    def __init__(self, rows: list[dict[str, Any]], data: DetectionData, num_classes: int, *, train: bool = False,
                 seed: int = 0):
        self.rows, self.d, self.k = rows, data, int(num_classes)
        self.train, self.seed, self.epoch = train, int(seed), 0

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Draw other flips in the next epoch."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        from avlearn.io import MediaError, read_clip

        r, d = self.rows[i], self.d
        try:
            clip = read_clip(r["clip_path"], clip_start(r["time"], d.clip_duration), d.clip_duration, fps=d.fps,
                             size=(d.size, d.size), audio=False)
        except MediaError:
            return None
        video = to_input(clip.video, d)  # (3, T, H, W)
        h, w = r["size"]
        m = d.max_actors
        boxes = torch.tensor([0.0, 0.0, 1.0, 1.0]).repeat(m, 1)  # (M, 4)
        mask, targets = torch.zeros(m), torch.zeros(m, self.k)
        for j, (box, labels) in enumerate(list(zip(r["boxes"], r["labels"]))[:m]):
            x0, y0, x1, y1 = box
            boxes[j] = torch.tensor([x0 / w, y0 / h, x1 / w, y1 / h]).clamp(0.0, 1.0)
            mask[j] = 1.0
            targets[j, [int(k) for k in labels]] = 1.0
        if self.train and d.flip and np.random.default_rng([self.seed, self.epoch, i]).random() < 0.5:
            video = video.flip(-1)
            boxes = torch.stack([1 - boxes[:, 2], boxes[:, 1], 1 - boxes[:, 0], boxes[:, 3]], 1)
        return {"video": video, "boxes": boxes, "box_mask": mask, "targets": targets, "index": torch.tensor(i)}


def build_detection_datasets(cfg: Any) -> dict[str, Any]:
    """Train (every train keyframe, flipped at random) and val/test (the frozen lists)."""
    d: DetectionData = cfg.data
    k = cfg.task.num_classes or len(detection_class_names(d))
    out: dict[str, Any] = {"train": KeyframeDataset(split_rows(d, "train"), d, k, train=True, seed=cfg.train.seed)}
    for split in ("val", "test"):
        try:
            out[split] = KeyframeDataset(split_rows(d, split), d, k)
        except FileNotFoundError:
            continue
    return out
