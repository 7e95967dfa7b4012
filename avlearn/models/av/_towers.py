"""Video-side building blocks shared by the audio-visual synchronization networks.

The layer shapes follow the multisensory network of Owens & Efros, "Audio-Visual Scene
Analysis with Self-Supervised Multisensory Features", ECCV 2018 (Fig. 2 and the released TF
code): a 3D-conv video tower (conv3d 64 [5,7,7] stride 2; max-pool [1,3,3] stride [1,2,2];
3D residual blocks) and the post-fusion 3D residual stages. The two-tower AVTS network
(Korbar et al., NeurIPS 2018) reuses the same video path. The audio towers come from the
zoo (:mod:`avlearn.models.audio`).
"""

from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

__all__ = [
    "ConvBNAct",
    "ResBlock",
    "VideoTower",
    "residual_stages",
]


def _conv(dims: int):
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]


def _bn(dims: int):
    return {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]


def _same_pad(kernel: int | Sequence[int]) -> int | tuple[int, ...]:
    return kernel // 2 if isinstance(kernel, int) else tuple(k // 2 for k in kernel)


class ConvBNAct(nn.Sequential):
    """Convolution (no bias) + BatchNorm + optional ReLU, 1D or 3D, "same"-style padding.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: kernel size (int or per-dimension tuple).
        stride: stride (int or tuple).
        dims: 1 for waveforms (B, C, N), 2 for spectrograms (B, C, F, T), 3 for video
            (B, C, T, H, W).
        act: whether to end with a ReLU.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel, stride=1, *, dims: int, act: bool = True):
        layers: list[nn.Module] = [
            _conv(dims)(in_ch, out_ch, kernel, stride=stride, padding=_same_pad(kernel), bias=False),
            _bn(dims)(out_ch),
        ]
        if act:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two-convolution residual block (the paper's ``block2`` / ``block3``).

    A 1x projection (conv + BN) on the shortcut whenever the stride or width changes.

    Args:
        in_ch: input channels.
        out_ch: output channels.
        kernel: kernel size of both convolutions.
        stride: stride of the first convolution.
        dims: 1, 2 or 3 (see :class:`ConvBNAct`).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel, stride=1, *, dims: int):
        super().__init__()
        self.conv1 = ConvBNAct(in_ch, out_ch, kernel, stride, dims=dims)
        self.conv2 = ConvBNAct(out_ch, out_ch, kernel, 1, dims=dims, act=False)
        strided = any(s != 1 for s in (stride if isinstance(stride, (tuple, list)) else (stride,)))
        self.shortcut = (
            ConvBNAct(in_ch, out_ch, 1, stride, dims=dims, act=False) if strided or in_ch != out_ch else nn.Identity()
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        y = self.conv2(self.conv1(x))  # (B, out, *reduced)
        return self.act(y + self.shortcut(x))


class VideoTower(nn.Module):
    """The multisensory video stem: conv3d [5,7,7] s2, max-pool [1,3,3] s[1,2,2], 3D res blocks.

    Args:
        width: channels of the stem and its residual blocks (64 in the paper).
        in_channels: input channels (3 for RGB).
        blocks: number of residual blocks after the pool (2).
        stem_stride: stride of the stem conv, (2, 2, 2) in the paper; small CPU variants keep
            the frame rate with (1, 2, 2) so offsets resolve to one frame.
        block_stride: stride of the last residual block ((2, 2, 2) in the released code).

    Shapes:
        input (B, C, T, H, W) -> output (B, width, T / (st0 * bt0), H / (4 * bs), W / (4 * bs)).
    """

    def __init__(
        self,
        *,
        width: int = 64,
        in_channels: int = 3,
        blocks: int = 2,
        stem_stride: tuple[int, int, int] = (2, 2, 2),
        block_stride: tuple[int, int, int] = (2, 2, 2),
    ):
        super().__init__()
        self.stem = ConvBNAct(in_channels, width, (5, 7, 7), tuple(stem_stride), dims=3)
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), padding=(0, 1, 1))
        self.blocks = nn.Sequential(
            *[ResBlock(width, width, 3, tuple(block_stride) if i == blocks - 1 else 1, dims=3) for i in range(blocks)]
        )
        self.out_channels = width

    def forward(self, x: Tensor) -> Tensor:
        x = self.stem(x)  # (B, w, T/st, H/2, W/2)
        x = self.pool(x)  # (B, w, T/st, H/4, W/4)
        return self.blocks(x)  # (B, w, T/(st*bt), H/(4*bs), W/(4*bs))


def residual_stages(widths: Sequence[int], strides: Sequence, in_ch: int) -> nn.Sequential:
    """Stages of two 3D residual blocks each; stage ``i`` has ``widths[i]`` channels and its
    first block has stride ``strides[i]`` (the post-fusion part of the multisensory net)."""
    stages = []
    for w, s in zip(widths, strides):
        stages.append(nn.Sequential(ResBlock(in_ch, w, 3, s, dims=3), ResBlock(w, w, 3, 1, dims=3)))
        in_ch = w
    return nn.Sequential(*stages)
