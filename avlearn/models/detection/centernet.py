"""An anchor-free box detector of the CenterNet kind: objects as the peaks of a heatmap.

Zhou, Wang & Krähenbühl, "Objects as Points" (arXiv 1904.07850, 2019), Sec. 3-4: a fully
convolutional network maps an image ``(3, H, W)`` to maps at output stride ``R = 4``:

* a keypoint heatmap ``Y^ in [0, 1]^(C x H/R x W/R)`` (one channel per object class; its
  logit bias starts at ``-2.19`` so every cell starts near probability 0.1, Sec. 4);
* a size map ``S^ (2 x H/R x W/R)``: the box's width and height in output cells, read at the
  centre (Eq. 3);
* an offset map ``O^ (2 x H/R x W/R)``: the sub-cell position of the centre lost to the
  stride (Eq. 2).

Inference (Sec. 4, "From points to bounding boxes") keeps the cells that are the maximum of
their 3 x 3 neighbourhood (a max-pool replaces box NMS) and reads a box at each of the top
``k``: ``(x + dx - w / 2, y + dy - h / 2, x + dx + w / 2, y + dy + h / 2)`` times ``R``. The
loss lives with the task (:mod:`avlearn.tasks.detection.persons`).

The backbone here is a small residual 2D network with an upsampling path to stride 4 and
lateral additions (the paper's ResNet variant upsamples with three up-convolutions; the
lateral connections are Lin et al.'s FPN, CVPR 2017), sized for CPU training on 64-128 px
frames. Registered as ``centernet_tiny`` (width 16) and ``centernet_small`` (width 32), task
networks returning ``{"heatmap", "size", "offset"}`` logits/maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model

__all__ = ["CenterNet", "decode_centers", "centernet_tiny", "centernet_small"]

#: log(0.1 / 0.9): the heatmap logit bias at initialisation (Zhou et al., Sec. 4).
HEATMAP_PRIOR_BIAS = -2.19


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class _Block(nn.Module):
    """A basic residual block (He et al., CVPR 2016) that may halve the resolution."""

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if stride == 1 and cin == cout else
                     nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.skip(x))


def _head(cin: int, hidden: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, hidden, 3, padding=1), nn.ReLU(inplace=True), nn.Conv2d(hidden, cout, 1))


class CenterNet(nn.Module):
    """Residual encoder (stride 16) -> upsampling path with laterals (stride 4) -> three heads.

    Args:
        num_classes: heatmap channels (1 for a person detector).
        in_channels: image channels.
        width: channels of the stride-2 stem; stages double it (w, 2w, 4w, 8w).
        head_channels: hidden channels of each head.
    """

    stride = 4

    def __init__(self, *, num_classes: int = 1, in_channels: int = 3, width: int = 16, head_channels: int = 32):
        super().__init__()
        w = int(width)
        self.num_classes = int(num_classes)
        self.stem = _conv_bn(in_channels, w, 2)
        self.stage1 = _Block(w, 2 * w, 2)
        self.stage2 = _Block(2 * w, 4 * w, 2)
        self.stage3 = _Block(4 * w, 8 * w, 2)
        self.lateral2 = nn.Conv2d(4 * w, 8 * w, 1)
        self.lateral1 = nn.Conv2d(2 * w, 8 * w, 1)
        self.smooth = _conv_bn(8 * w, 4 * w)
        self.num_features = 4 * w
        self.feature_info = [
            {"module": "stage1", "num_chs": 2 * w, "reduction": 4},
            {"module": "stage2", "num_chs": 4 * w, "reduction": 8},
            {"module": "stage3", "num_chs": 8 * w, "reduction": 16},
            {"module": "smooth", "num_chs": 4 * w, "reduction": 4},
        ]
        self.heatmap = _head(4 * w, head_channels, self.num_classes)
        self.size = _head(4 * w, head_channels, 2)
        self.offset = _head(4 * w, head_channels, 2)
        nn.init.constant_(self.heatmap[-1].bias, HEATMAP_PRIOR_BIAS)

    def forward_features(self, x: Tensor) -> Tensor:
        """The stride-4 feature map ``(B, 4w, H/4, W/4)`` of images ``(B, 3, H, W)``."""
        if x.dim() != 4:
            raise ValueError(f"CenterNet: expected images (B, C, H, W), got shape {tuple(x.shape)}")
        c1 = self.stage1(self.stem(x))  # (B, 2w, H/4, W/4)
        c2 = self.stage2(c1)  # (B, 4w, H/8, W/8)
        c3 = self.stage3(c2)  # (B, 8w, H/16, W/16)
        p2 = F.interpolate(c3, size=c2.shape[-2:], mode="nearest") + self.lateral2(c2)  # (B, 8w, H/8, W/8)
        p1 = F.interpolate(p2, size=c1.shape[-2:], mode="nearest") + self.lateral1(c1)  # (B, 8w, H/4, W/4)
        return self.smooth(p1)  # (B, 4w, H/4, W/4)

    def forward_head(self, feats: Tensor) -> dict[str, Tensor]:
        """``{"heatmap": logits (B, C, h, w), "size": (B, 2, h, w) cells, "offset": (B, 2, h, w)}``."""
        return {"heatmap": self.heatmap(feats), "size": self.size(feats), "offset": self.offset(feats)}

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """Maps at stride 4 of images ``(B, 3, H, W)`` (see :meth:`forward_head`)."""
        return self.forward_head(self.forward_features(x))


@torch.no_grad()
def decode_centers(out: dict[str, Tensor], *, k: int = 16, threshold: float = 0.05,
                   stride: int = CenterNet.stride, image_size: tuple[int, int] | None = None,
                   ) -> list[dict[str, Tensor]]:
    """Boxes at the heatmap's local maxima (Zhou et al., Sec. 4).

    Args:
        out: the network's output (heatmap *logits*).
        k: most peaks kept per image (over all classes).
        threshold: smallest peak probability kept (cells that are not a local maximum never are).
        stride: output stride R.
        image_size: ``(H, W)`` of the input; boxes are normalised by it and clipped to
            [0, 1] (default: the heatmap's size times ``stride``).

    Returns:
        one dict per image: ``boxes`` ``(N, 4)`` normalised ``(x1, y1, x2, y2)``, ``scores``
        ``(N,)`` and ``labels`` ``(N,)``, best first.
    """
    heat = out["heatmap"].float().sigmoid()  # (B, C, h, w)
    b, c, h, w = heat.shape
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)  # (B, C, h, w)
    scores, idx = peaks.flatten(1).topk(min(k, c * h * w), dim=1)  # (B, k)
    cls, cell = idx // (h * w), idx % (h * w)
    ys, xs = (cell // w).float(), (cell % w).float()
    size = out["size"].float().flatten(2)  # (B, 2, h*w)
    off = out["offset"].float().flatten(2)  # (B, 2, h*w)
    gather = lambda m, i: m[:, i].gather(1, cell)  # noqa: E731  (B, k)
    cx, cy = xs + gather(off, 0), ys + gather(off, 1)
    bw, bh = gather(size, 0).clamp_min(0), gather(size, 1).clamp_min(0)
    ih, iw = image_size if image_size is not None else (h * stride, w * stride)
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], -1) * stride  # (B, k, 4) pixels
    boxes = (boxes / boxes.new_tensor([iw, ih, iw, ih])).clamp(0.0, 1.0)
    res = []
    for i in range(b):
        keep = (scores[i] >= threshold) & (scores[i] > 0)  # suppressed cells score 0
        res.append({"boxes": boxes[i][keep], "scores": scores[i][keep], "labels": cls[i][keep]})
    return res


@register_model(modality="video", input_size=(3, 64, 64), tiny_input=(3, 32, 32), output="dict")
def centernet_tiny(*, num_classes: int = 1, in_channels: int = 3, **kwargs) -> CenterNet:
    """CenterNet on a width-16 residual encoder (0.44 M parameters), one class by default."""
    return CenterNet(num_classes=num_classes, in_channels=in_channels, **{"width": 16, **kwargs})


@register_model(modality="video", input_size=(3, 128, 128), tiny_input=(3, 32, 32), output="dict")
def centernet_small(*, num_classes: int = 1, in_channels: int = 3, **kwargs) -> CenterNet:
    """CenterNet on a width-32 residual encoder (1.77 M parameters)."""
    return CenterNet(num_classes=num_classes, in_channels=in_channels, **{"width": 32, "head_channels": 64, **kwargs})
