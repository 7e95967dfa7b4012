"""Frames with actor boxes for training a person (actor) box detector: the ``data`` section.

The detector of AVA's pipeline is trained on single frames with person boxes (Gu et al.,
CVPR 2018, Sec. 5.1, a Faster R-CNN fine-tuned on AVA's keyframe boxes); here the network is a
CenterNet (:mod:`avlearn.models.detection.centernet`) and its training targets follow Zhou et
al., "Objects as Points" (2019), Sec. 3:

* each box's centre ``p / R`` (output stride ``R``) falls in the cell ``p~ = floor(p / R)``;
  the class heatmap gets a Gaussian ``exp(-((x - p~x)^2 + (y - p~y)^2) / (2 sigma^2))`` there,
  with ``sigma`` from the box size (the radius ``r`` in output cells at which a moved, shrunk
  or grown box keeps IoU >= 0.7, CornerNet's rule, Law & Deng ECCV 2018, Sec. 3.2;
  ``sigma = (2 r + 1) / 6``, Zhou et al.'s object-size-adaptive deviation); overlapping
  Gaussians keep the element-wise maximum;
* at ``p~`` the size target is the box's ``(w, h) / R`` and the offset target ``p / R - p~``.

Training reads every ``frame_step``-th frame of the world's train clips with the boxes of all
its actors (the truth files box every actor in every frame; silent distractor sprites are not
persons); val and test read the keyframes of the world's frozen ``lists/detection_<split>.jsonl``
(the same keyframes the action detector is scored on). A sample::

    {"image": (3, S, S) float, "heatmap": (1, S/R, S/R), "ind": (M,) cell index of each centre,
     "wh": (M, 2), "offset": (M, 2), "obj_mask": (M,) 1 for a real box, "boxes": (M, 4)
     normalised (x1, y1, x2, y2), "index": row number}
"""

from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from avlearn.tasks.detection.data import _world_json

__all__ = ["PersonData", "PersonFrames", "person_rows", "gaussian_radius", "center_targets", "build_person_datasets"]


@dataclass
class PersonData:
    """The ``data`` section.

    Attributes:
        world: an ``actors`` world folder (``avlearn make-world --kind actors``).
        val, test: frozen detection lists replacing the world's ``lists/detection_<split>.jsonl``.
        size: frame size the detector sees (square, resized in the decoder).
        fps: rate the clips are decoded at (the world's frame rate, so frame ``i`` is at ``i / fps``).
        frame_step: training uses every ``frame_step``-th frame of each train clip.
        max_objects: boxes per sample (padded; extra actors are dropped).
        stride: the network's output stride R.
        flip: random horizontal flips during training.
        mean, std: per-channel normalisation.
    """

    world: str | None = None
    val: str | None = None
    test: str | None = None
    size: int = 64
    fps: float = 16.0
    frame_step: int = 2
    max_objects: int = 8
    stride: int = 4
    flip: bool = True
    mean: list[float] = field(default_factory=lambda: [0.45, 0.45, 0.45])
    std: list[float] = field(default_factory=lambda: [0.225, 0.225, 0.225])

    def __post_init__(self) -> None:
        if self.size % self.stride:
            raise ValueError(f"size: {self.size} is not a multiple of the output stride {self.stride}")
        if self.frame_step < 1:
            raise ValueError(f"frame_step: must be >= 1, got {self.frame_step}")


def person_rows(d: PersonData, split: str) -> list[dict[str, Any]]:
    """Frames of a split with ``clip_path``, ``time``, ``size`` ``(H, W)`` and pixel ``boxes``.

    Raises:
        FileNotFoundError: no world, no train truth files, or no such list.
        ValueError: not an actors world.
    """
    from avlearn.tasks.detection.data import split_rows

    if split != "train":
        return split_rows(d, split)
    _world_json(d)
    rows = []
    for truth_path in sorted(glob.glob(os.path.join(d.world, "train", "truth", "*.json"))):
        with open(truth_path, encoding="utf-8") as f:
            truth = json.load(f)
        clip = f"train/clips/{truth['id']}.mp4"
        for frame in range(0, int(truth["num_frames"]), d.frame_step):
            rows.append({"clip": clip, "clip_path": os.path.join(d.world, clip), "frame": frame,
                         "time": frame / float(truth["fps"]), "size": truth["size"],
                         "boxes": [a["boxes"][frame] for a in truth["actors"]]})
    if not rows:
        raise FileNotFoundError(f"data.world: no train truth files under {os.path.join(d.world, 'train', 'truth')}")
    return rows


def gaussian_radius(height: float, width: float, min_overlap: float = 0.7) -> float:
    """The largest ``r`` such that a box moved by ``r`` in x and y, shrunk by ``r`` on every
    side, or grown by ``r`` on every side still has IoU >= ``min_overlap`` with the original
    (the three cases of CornerNet, Law & Deng, ECCV 2018, Sec. 3.2, each solved exactly for
    its smallest positive root)."""
    h, w, o = float(height), float(width), float(min_overlap)
    # moved: (h - r)(w - r) / (2hw - (h - r)(w - r)) = o
    b1, c1 = h + w, h * w * (1 - o) / (1 + o)
    r1 = (b1 - math.sqrt(b1 ** 2 - 4 * c1)) / 2
    # shrunk: (h - 2r)(w - 2r) / (hw) = o
    b2, c2 = 2 * (h + w), (1 - o) * h * w
    r2 = (b2 - math.sqrt(b2 ** 2 - 16 * c2)) / 8
    # grown: hw / ((h + 2r)(w + 2r)) = o
    a3, b3, c3 = 4 * o, 2 * o * (h + w), (o - 1) * h * w
    r3 = (-b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / (2 * a3)
    return min(r1, r2, r3)


def center_targets(boxes: np.ndarray, out_size: int, stride: int, max_objects: int) -> dict[str, torch.Tensor]:
    """CenterNet targets of pixel boxes ``(N, 4)`` on a ``out_size * stride`` square image.

    Returns:
        ``heatmap (1, h, w)``, ``ind (M,)`` long, ``wh (M, 2)``, ``offset (M, 2)``, ``obj_mask (M,)``
        (``h = w = out_size``, ``M = max_objects``; boxes of zero area are skipped).
    """
    h = w = int(out_size)
    heat = np.zeros((h, w), dtype=np.float32)
    ind = np.zeros(max_objects, dtype=np.int64)
    wh = np.zeros((max_objects, 2), dtype=np.float32)
    off = np.zeros((max_objects, 2), dtype=np.float32)
    mask = np.zeros(max_objects, dtype=np.float32)
    yy, xx = np.mgrid[0:h, 0:w]
    j = 0
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4) / stride:
        bw, bh = x1 - x0, y1 - y0
        if bw <= 0 or bh <= 0 or j >= max_objects:
            continue
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        px, py = min(int(cx), w - 1), min(int(cy), h - 1)
        sigma = (2 * gaussian_radius(bh, bw) + 1) / 6
        heat = np.maximum(heat, np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma ** 2)))
        ind[j], wh[j], off[j], mask[j] = py * w + px, (bw, bh), (cx - px, cy - py), 1.0
        j += 1
    return {"heatmap": torch.from_numpy(heat.astype(np.float32))[None], "ind": torch.from_numpy(ind), "wh": torch.from_numpy(wh),
            "offset": torch.from_numpy(off), "obj_mask": torch.from_numpy(mask)}


def to_image(frame: np.ndarray | torch.Tensor, d: PersonData) -> torch.Tensor:
    """uint8 ``(H, W, 3)`` -> the normalised detector input ``(3, H, W)``."""
    x = torch.as_tensor(np.asarray(frame)).permute(2, 0, 1).float() / 255.0  # (3, H, W)
    mean = torch.tensor(d.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(d.std, dtype=torch.float32).view(3, 1, 1)
    return (x - mean) / std


class PersonFrames(Dataset):
    """One sample per frame row (see the module docstring); each clip is decoded once, at
    ``data.fps`` and ``data.size``, and kept (:class:`avlearn.data.cache.ClipCache`).

    Args:
        rows: frame rows (:func:`person_rows`).
        data: the data section.
        train: random flips (if ``data.flip``).
        seed: seed of the flips (mixed with the epoch and index).

    A clip that cannot be decoded gives None (the collate drops it and counts it as skipped).
    """

    def __init__(self, rows: list[dict[str, Any]], data: PersonData, *, train: bool = False, seed: int = 0):
        from avlearn.data.cache import ClipCache
        from avlearn.io import read_clip

        self.rows, self.d, self.train, self.seed, self.epoch = rows, data, train, int(seed), 0
        s = data.size
        self.cache = ClipCache(rows, key=lambda r: r["clip_path"], fps=data.fps, size=s, name="person frames",
                               decode=lambda r: read_clip(r["clip_path"], 0.0, None, fps=data.fps, size=(s, s),
                                                          audio=False).video.numpy())

    def __len__(self) -> int:
        return len(self.rows)

    def set_epoch(self, epoch: int) -> None:
        """Draw other flips in the next epoch."""
        self.epoch = int(epoch)

    def frame(self, i: int) -> np.ndarray | None:
        """The uint8 ``(S, S, 3)`` frame of row ``i`` (None if its clip cannot be read)."""
        r = self.rows[i]
        frames = self.cache.get(r["clip_path"])
        if frames is None or not len(frames):
            return None
        return frames[min(int(round(float(r["time"]) * self.d.fps)), len(frames) - 1)]

    def __getitem__(self, i: int) -> dict[str, Any] | None:
        r, d = self.rows[i], self.d
        frame = self.frame(i)
        if frame is None:
            return None
        h, w = r["size"]
        boxes = np.asarray(r["boxes"], dtype=np.float64).reshape(-1, 4) * np.array([d.size / w, d.size / h] * 2)
        boxes = boxes.clip(0, d.size)
        if self.train and d.flip and np.random.default_rng([self.seed, self.epoch, i]).random() < 0.5:
            frame = frame[:, ::-1]
            boxes = np.stack([d.size - boxes[:, 2], boxes[:, 1], d.size - boxes[:, 0], boxes[:, 3]], 1)
        out = center_targets(boxes, d.size // d.stride, d.stride, d.max_objects)
        norm = torch.zeros(d.max_objects, 4)
        keep = boxes[((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1]))][: d.max_objects] / d.size
        norm[: len(keep)] = torch.as_tensor(keep, dtype=torch.float32)
        return {"image": to_image(frame.copy(), d), **out, "boxes": norm, "index": torch.tensor(i)}


def build_person_datasets(cfg: Any) -> dict[str, Any]:
    """Train (every ``frame_step``-th train frame, flipped at random) and val/test (frozen keyframes)."""
    d: PersonData = cfg.data
    out: dict[str, Any] = {"train": PersonFrames(person_rows(d, "train"), d, train=True, seed=cfg.train.seed)}
    for split in ("val", "test"):
        try:
            out[split] = PersonFrames(person_rows(d, split), d)
        except FileNotFoundError:
            continue
    return out
