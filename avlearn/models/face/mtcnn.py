"""MTCNN face detection: the three-stage cascade of Zhang et al., IEEE SPL 2016 (Section II.A).

1. **Image pyramid + P-Net.** The frame is resized by ``scale_k = (12 / min_face) * factor^k``
   until its short side is below 12 px; P-Net scores every 12x12 window (cells 2 px apart) of
   every level. Windows above ``thresholds[0]`` become boxes in input pixels, are thinned by
   non-maximum suppression per level (IoU 0.5) and over all levels (IoU 0.7), moved by P-Net's
   box regression and squared (the longer side kept, centred).
2. **R-Net** rescores each candidate on a 24x24 crop (zero outside the frame), keeps those above
   ``thresholds[1]``, NMS (IoU 0.7), regression, squaring.
3. **O-Net** rescores on 48x48 crops (``thresholds[2]``), regresses the box and five landmarks
   (eyes, nose, mouth corners); a last NMS uses intersection over the smaller box ("Min"), which
   removes boxes nested in a face.

Crops are resampled with ``torchvision.ops.roi_align`` (bilinear, averaging several samples per
output cell), NMS is ``torchvision.ops.batched_nms``. All images of a batch share one pyramid.
Weights: :func:`avlearn.models.face.nets.load_mtcnn_weights` (local files only).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avlearn.models.face.nets import ONet, PNet, RNet, load_mtcnn_weights

__all__ = ["MTCNN", "FaceDetections", "mtcnn"]


@dataclass
class FaceDetections:
    """The faces found in one image.

    Attributes:
        boxes: float32 (N, 4) ``[x1, y1, x2, y2]`` in input pixels, clipped to the image.
        scores: float32 (N,) O-Net face probability.
        landmarks: float32 (N, 5, 2) (x, y) of left eye, right eye, nose, left and right mouth corner.
    """

    boxes: np.ndarray
    scores: np.ndarray
    landmarks: np.ndarray

    def __len__(self) -> int:
        return len(self.boxes)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Boxes (N, 4) made square around their centres (side = the longer side)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    cx, cy = boxes[:, 0] + w / 2, boxes[:, 1] + h / 2
    return torch.stack([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], dim=1)  # (N, 4)


def _regress(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move box edges by offsets (N, 4) given in units of the box's width / height."""
    wh = (boxes[:, 2:] - boxes[:, :2]).repeat(1, 2)  # (N, 4): w, h, w, h
    return boxes + offsets * wh


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, image: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS with overlap = intersection / smaller area, per image; indices kept, best first."""
    order = scores.argsort(descending=True)
    area = (boxes[:, 2] - boxes[:, 0]).clamp(min=0) * (boxes[:, 3] - boxes[:, 1]).clamp(min=0)
    keep: list[int] = []
    alive = torch.ones(len(boxes), dtype=torch.bool)
    for i in order.tolist():
        if not alive[i]:
            continue
        keep.append(i)
        lt = torch.maximum(boxes[i, :2], boxes[:, :2])
        rb = torch.minimum(boxes[i, 2:], boxes[:, 2:])
        inter = (rb - lt).clamp(min=0).prod(dim=1)
        overlap = inter / torch.minimum(area[i], area).clamp(min=1e-6)
        alive &= ~((overlap > threshold) & (image == image[i]))
    return torch.as_tensor(keep, dtype=torch.long)


class MTCNN(nn.Module):
    """The MTCNN cascade around P-Net, R-Net and O-Net (weights loaded by :func:`mtcnn`).

    Args:
        min_face: smallest face side to find, in input pixels (sets the pyramid's first scale).
        factor: scale step between pyramid levels (0.709 = 1/sqrt(2), the paper's).
        thresholds: face-probability thresholds of the three stages.
        max_batch: crops per R-Net / O-Net forward (bounds memory on crowded frames).
    """

    def __init__(
        self,
        *,
        min_face: float = 20.0,
        factor: float = 0.709,
        thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7),
        max_batch: int = 512,
    ):
        super().__init__()
        if not min_face >= 12:
            raise ValueError(f"MTCNN: min_face must be >= 12 pixels (P-Net's window), got {min_face}")
        if not 0 < factor < 1:
            raise ValueError(f"MTCNN: factor must be in (0, 1), got {factor}")
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()
        self.min_face, self.factor = float(min_face), float(factor)
        self.thresholds = tuple(float(t) for t in thresholds)
        self.max_batch = int(max_batch)
        self.eval()

    def scales(self, height: int, width: int) -> list[float]:
        """The pyramid's scales for an image of this size."""
        scale, short, out = 12.0 / self.min_face, min(height, width), []
        while short * scale >= 12:
            out.append(scale)
            scale *= self.factor
        return out

    @torch.no_grad()
    def detect(self, images: torch.Tensor | np.ndarray) -> list[FaceDetections]:
        """Find faces in RGB images.

        Args:
            images: uint8 (B, H, W, 3) or one (H, W, 3) image, RGB.

        Returns:
            One :class:`FaceDetections` per image, best score first.
        """
        x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"MTCNN.detect: images must be (B, H, W, 3) RGB, got shape {tuple(x.shape)}")
        device = next(self.parameters()).device
        x = x.to(device).permute(0, 3, 1, 2).float()  # (B, 3, H, W) in [0, 255]
        b, _, h, w = x.shape
        boxes, image = self._propose(x)
        boxes, scores, image, _ = self._refine(self.rnet, x, boxes, image, 24, self.thresholds[1])
        boxes = _square(boxes)
        boxes, scores, image, marks = self._refine(self.onet, x, boxes, image, 48, self.thresholds[2])
        keep = _nms_min(boxes.cpu(), scores.cpu(), image.cpu(), 0.7).to(device)
        boxes, scores, image, marks = boxes[keep], scores[keep], image[keep], marks[keep]
        limit = torch.tensor([w, h, w, h], dtype=boxes.dtype, device=device)
        boxes = torch.minimum(boxes.clamp(min=0), limit)
        out = []
        for i in range(b):
            sel = image == i
            out.append(
                FaceDetections(
                    boxes=boxes[sel].cpu().numpy().astype(np.float32),
                    scores=scores[sel].cpu().numpy().astype(np.float32),
                    landmarks=marks[sel].cpu().numpy().astype(np.float32),
                )
            )
        return out

    def _propose(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: P-Net over the pyramid -> squared candidate boxes (N, 4) and their image index."""
        from torchvision.ops import batched_nms  # imported on first use: torchvision's import costs seconds
        b, _, h, w = x.shape
        found_boxes, found_scores, found_image = [], [], []
        for scale in self.scales(h, w):
            level = F.interpolate(x, size=(math.ceil(h * scale), math.ceil(w * scale)), mode="area")  # (B, 3, h_s, w_s)
            offsets, prob = self.pnet((level - 127.5) / 128.0)  # (B, 4, h', w'), (B, 2, h', w')
            idx = (prob[:, 1] >= self.thresholds[0]).nonzero()  # (N, 3): image, row, col
            if len(idx) == 0:
                continue
            img, row, col = idx.unbind(1)
            score = prob[img, 1, row, col]
            cells = torch.stack([col, row], dim=1).float() * 2  # (N, 2) window corner at this scale
            boxes = torch.cat([cells, cells + 12], dim=1) / scale  # (N, 4) in input pixels
            off = offsets[img, :, row, col]  # (N, 4)
            keep = batched_nms(boxes, score, img, 0.5)
            found_boxes.append(torch.cat([boxes[keep], _regress(boxes[keep], off[keep])], dim=1))  # (N, 8): raw, regressed
            found_scores.append(score[keep])
            found_image.append(img[keep])
        if not found_boxes:
            return x.new_zeros(0, 4), torch.zeros(0, dtype=torch.long, device=x.device)
        both = torch.cat(found_boxes)
        scores, image = torch.cat(found_scores), torch.cat(found_image)
        keep = batched_nms(both[:, :4], scores, image, 0.7)
        return _square(both[keep, 4:]), image[keep]

    def _refine(self, net: nn.Module, x: torch.Tensor, boxes: torch.Tensor, image: torch.Tensor, size: int, threshold: float):
        """Stages 2 and 3: rescore crops, keep, NMS, regress. Returns boxes, scores, image index, landmarks."""
        from torchvision.ops import batched_nms, roi_align  # imported on first use: torchvision's import costs seconds
        if len(boxes) == 0:
            return boxes, boxes.new_zeros(0), image, boxes.new_zeros(0, 5, 2)
        rois = torch.cat([image[:, None].to(boxes.dtype), boxes], dim=1)  # (N, 5): image, x1, y1, x2, y2
        crops = roi_align(x, rois, output_size=size, spatial_scale=1.0, sampling_ratio=-1, aligned=True)  # (N, 3, s, s)
        outs = [net((crops[i : i + self.max_batch] - 127.5) / 128.0) for i in range(0, len(crops), self.max_batch)]
        outs = [torch.cat(parts) for parts in zip(*outs)]
        offsets, prob = outs[0], outs[-1][:, 1]  # (N, 4), (N,)
        marks = outs[1] if len(outs) == 3 else boxes.new_zeros(len(boxes), 10)  # (N, 10)
        sel = prob > threshold
        boxes, prob, image, offsets, marks = boxes[sel], prob[sel], image[sel], offsets[sel], marks[sel]
        wh = boxes[:, 2:] - boxes[:, :2]  # (N, 2)
        landmarks = torch.stack([marks[:, :5], marks[:, 5:]], dim=2) * wh[:, None] + boxes[:, None, :2]  # (N, 5, 2)
        if len(outs) == 2:  # R-Net: NMS before regression
            keep = batched_nms(boxes, prob, image, 0.7)
            return _regress(boxes[keep], offsets[keep]), prob[keep], image[keep], landmarks[keep]
        return _regress(boxes, offsets), prob, image, landmarks


def mtcnn(weights: str | os.PathLike, **kwargs) -> MTCNN:
    """An MTCNN detector with the released weights from a local folder.

    Args:
        weights: folder holding ``pnet.pt``, ``rnet.pt``, ``onet.pt`` (the state dicts of the
            facenet-pytorch wheel, MIT licence; see :func:`load_mtcnn_weights`).
        **kwargs: :class:`MTCNN` options (min_face, factor, thresholds, max_batch).

    Raises:
        FileNotFoundError, ValueError: as :func:`load_mtcnn_weights`.
    """
    model = MTCNN(**kwargs)
    load_mtcnn_weights({"pnet": model.pnet, "rnet": model.rnet, "onet": model.onet}, weights)
    return model.eval()
