"""2D Inception-v1 (GoogLeNet with batch normalisation, no auxiliary heads): the image network
that I3D inflates.

Szegedy et al., "Going Deeper with Convolutions" (CVPR 2015), Table 1 (the layer and channel
table: a 7x7/2 conv, 3x3/2 max-pool, 1x1 and 3x3 convs, 3x3/2 max-pool, Inception 3a-3b,
max-pool, 4a-4e, max-pool, 5a-5b, global average pooling, dropout, linear), with a BatchNorm
after every convolution as in Ioffe & Szegedy (ICML 2015) and in the Inception-v1 that
Carreira & Zisserman ("Quo Vadis, Action Recognition?", CVPR 2017, Fig. 3) inflate. Module
names are I3D's (``Conv2d_1a_7x7`` ... ``Mixed_3b`` ... ``Mixed_5c``: GoogLeNet's 3a is
``Mixed_3b``, its 4a ``Mixed_4b``, its 5a ``Mixed_5b``). As in the I3D and TF-slim Inception-v1
the third branch of each block uses a 3x3 convolution (GoogLeNet's table says 5x5).

``width`` scales every channel count (``0.25`` gives a CPU-sized network with the same layout).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["BasicConv2d", "InceptionBlock2d", "InceptionV1", "INCEPTION_V1_BLOCKS", "INCEPTION_V1_LAYOUT"]

#: Channels of each Inception block: (1x1, 3x3 reduce, 3x3, 3x3' reduce, 3x3', pool proj).
INCEPTION_V1_BLOCKS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

#: The trunk in order: conv / pool / Inception block names.
INCEPTION_V1_LAYOUT: tuple[str, ...] = (
    "Conv2d_1a_7x7",
    "MaxPool_2a_3x3",
    "Conv2d_2b_1x1",
    "Conv2d_2c_3x3",
    "MaxPool_3a_3x3",
    "Mixed_3b",
    "Mixed_3c",
    "MaxPool_4a_3x3",
    "Mixed_4b",
    "Mixed_4c",
    "Mixed_4d",
    "Mixed_4e",
    "Mixed_4f",
    "MaxPool_5a_2x2",
    "Mixed_5b",
    "Mixed_5c",
)


class BasicConv2d(nn.Sequential):
    """Conv (no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, *, stride: int = 1):
        super().__init__(
            nn.Conv2d(in_chs, out_chs, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(out_chs, eps=1e-3),
            nn.ReLU(inplace=True),
        )


class InceptionBlock2d(nn.Module):
    """Four parallel branches concatenated over channels (Szegedy et al., Fig. 2b).

    ``branch0``: 1x1; ``branch1``: 1x1 -> 3x3; ``branch2``: 1x1 -> 3x3; ``branch3``: 3x3/1
    max-pool -> 1x1.
    """

    def __init__(self, in_chs: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool_proj: int):
        super().__init__()
        self.branch0 = BasicConv2d(in_chs, c1, 1)
        self.branch1 = nn.Sequential(BasicConv2d(in_chs, c3r, 1), BasicConv2d(c3r, c3, 3))
        self.branch2 = nn.Sequential(BasicConv2d(in_chs, c5r, 1), BasicConv2d(c5r, c5, 3))
        self.branch3 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), BasicConv2d(in_chs, pool_proj, 1))
        self.out_chs = c1 + c3 + c5 + pool_proj

    def forward(self, x: Tensor) -> Tensor:
        branches = [self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)]  # each (B, c_i, H, W)
        return torch.cat(branches, dim=1)  # (B, out_chs, H, W); (B, out_chs, T, H, W) once inflated


class InceptionV1(nn.Module):
    """Inception-v1 with BatchNorm on ``(B, C, H, W)`` images.

    Args:
        num_classes: classifier outputs (0: no classifier).
        in_channels: input channels.
        width: channel multiplier for every layer (1.0 is the paper's network).
        dropout: dropout before the classifier (GoogLeNet uses 0.4).
    """

    def __init__(self, *, num_classes: int = 1000, in_channels: int = 3, width: float = 1.0, dropout: float = 0.0):
        super().__init__()

        def c(n: int) -> int:
            return max(1, round(n * width))

        self.Conv2d_1a_7x7 = BasicConv2d(in_channels, c(64), 7, stride=2)
        self.MaxPool_2a_3x3 = nn.MaxPool2d(3, stride=2, padding=1)
        self.Conv2d_2b_1x1 = BasicConv2d(c(64), c(64), 1)
        self.Conv2d_2c_3x3 = BasicConv2d(c(64), c(192), 3)
        self.MaxPool_3a_3x3 = nn.MaxPool2d(3, stride=2, padding=1)
        chs = c(192)
        self.feature_info = [{"module": "Conv2d_2c_3x3", "num_chs": chs, "reduction": 4}]
        reduction = 8
        for name, table in INCEPTION_V1_BLOCKS.items():
            if name == "Mixed_4b":
                self.MaxPool_4a_3x3 = nn.MaxPool2d(3, stride=2, padding=1)
                reduction = 16
            elif name == "Mixed_5b":
                self.MaxPool_5a_2x2 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
                reduction = 32
            block = InceptionBlock2d(chs, *(c(n) for n in table))
            setattr(self, name, block)
            chs = block.out_chs
            if name in ("Mixed_3c", "Mixed_4f", "Mixed_5c"):
                self.feature_info.append({"module": name, "num_chs": chs, "reduction": reduction})
        self.num_features = chs
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(chs, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, H, W) -> (B, 1024 w, H/32, W/32)``."""
        for name in INCEPTION_V1_LAYOUT:
            x = getattr(self, name)(x)  # stride 2 at 1a, 2a, 3a, 4a, 5a
        return x

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout, ``fc``; ``pre_logits`` returns ``(B, num_features)``."""
        x = self.dropout(feats.mean((2, 3)))  # (B, C)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, H, W) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))
