"""Small visual encoders of the separators: frames, object crops and faces to features.

Sound of Pixels (Zhao et al., ECCV 2018, Sec. 3.2) uses a dilated ResNet-18 on each of 3
frames, a 3x3 convolution to K channels, max-pooling over space (at training time) and over
the frames (temporal max pooling). Co-Separation (Gao & Grauman, ICCV 2019, Sec. 3.2) encodes
each detected object's crop with a ResNet-18 into one vector; VisualVoice (Gao et al., CVPR
2021, Sec. 3.2) encodes a face crop into an identity vector.

Trained from scratch on CPU here, the ResNet-18 is replaced by :class:`FrameEncoder`, a
stack of 3x3 stride-2 convolutions (BatchNorm, ReLU) ending in a 1x1 projection, with the same
pooling rules: max over space, then max over frames. :func:`encode_sources` runs an encoder
on the valid sources of a padded batch only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["FrameEncoder", "encode_sources"]


class FrameEncoder(nn.Module):
    """Frames (or crops) to a feature map, and max-pooled to one vector per clip.

    Args:
        in_channels: image planes (3 colour, 1 grey).
        width: channels of the first convolution (doubling per stage).
        stages: stride-2 stages (a 64-pixel frame gives a 4x4 map with 4).
        out_channels: channels of the output map (SoP: K).
    """

    def __init__(self, *, in_channels: int = 3, width: int = 16, stages: int = 4, out_channels: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(stages):
            cout = width * 2 ** min(i, 2)
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, out_channels, 1)
        self.out_channels = out_channels

    def forward_map(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, out_channels, H / 2^stages, W / 2^stages)."""
        return self.proj(self.body(x))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) or (B, C, F, H, W) frames -> (B, out_channels): max over space, then frames."""
        if x.dim() == 4:
            return self.forward_map(x).amax(dim=(-2, -1))  # (B, K)
        b, c, f, h, w = x.shape
        frames = x.transpose(1, 2).reshape(b * f, c, h, w)  # (B*F, C, H, W)
        feats = self.forward_map(frames).amax(dim=(-2, -1))  # (B*F, K) spatial max pool
        return feats.view(b, f, -1).amax(dim=1)  # (B, K) temporal max pool


def encode_sources(encoder: nn.Module, x: Tensor, valid: Tensor) -> Tensor:
    """Run ``encoder`` on the valid sources of a padded batch.

    Args:
        encoder: maps (M, ...) to (M, C) (or (M, C, T)).
        x: (B, S, ...) per-source inputs.
        valid: (B, S) booleans.

    Returns:
        (B, S, C[, T]) features, zero for padded sources.
    """
    feats = encoder(x[valid])  # (M, C[, T])
    out = torch.zeros((*valid.shape, *feats.shape[1:]), dtype=feats.dtype, device=feats.device)
    out[valid] = feats
    return out
