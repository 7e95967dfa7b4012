"""1D-convolutional raw-waveform audio tower in the style of Owens & Efros (ECCV 2018).

"Audio-Visual Scene Analysis with Self-Supervised Multisensory Features", Sec. 3.2 and Fig. 3
(the sound subnetwork): a strided 1D convolution straight on the waveform, then residual
blocks of strided 1D convolutions. The layer shapes follow their released network:

=========  ==============================  ============
layer      shape                           stride
=========  ==============================  ============
conv1      64 ch, kernel 65                4
pool1      max-pool 4                      4
block2     residual, 128 ch, kernel 15     4
block3     residual, 128 ch, kernel 15     4
block4     residual, 256 ch, kernel 15     4
=========  ==============================  ============

so ``N`` samples come out as ``ceil(N / 1024)`` feature frames (``output_length``); at their
21 kHz, one frame is ~49 ms. ``forward_features`` returns ``(B, C', N')`` so later layers can
pool it to the video's frame count and fuse over time (their fusion layer). Their input is
stereo audio compressed with ``sign(x) log(1 + 255|x|) / log(256)``; ``compress=True`` applies that
inside the model (off by default, as avlearn's transforms may already do it).

The small variant keeps the strides with 16-64 channels for CPU training.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from avlearn.models._registry import register_model

__all__ = ["ResBlock1d", "WaveformNet", "mu_law_compress", "waveform_owens", "waveform_small"]


def mu_law_compress(x: Tensor, mu: float = 255.0) -> Tensor:
    """``sign(x) log(1 + mu |x|) / log(1 + mu)`` (Owens & Efros' waveform compression)."""
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


def _conv_out(n: int, kernel: int, stride: int, padding: int, ceil_mode: bool = False) -> int:
    num = n + 2 * padding - kernel
    return (-(-num // stride) if ceil_mode else num // stride) + 1


class ResBlock1d(nn.Module):
    """Residual block of two 1D convolutions; the first strides, the shortcut is a 1x1 projection.

    Args:
        in_chs: input channels.
        out_chs: output channels.
        kernel: kernel size of both convolutions (odd; padded to keep ``ceil(N / stride)``).
        stride: stride of the first convolution and of the shortcut.
        norm_layer: 1D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        kernel: int = 15,
        stride: int = 4,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm1d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.kernel, self.stride = kernel, stride
        self.conv1 = nn.Conv1d(in_chs, out_chs, kernel, stride=stride, padding=kernel // 2, bias=False)
        self.bn1 = norm_layer(out_chs)
        self.conv2 = nn.Conv1d(out_chs, out_chs, kernel, padding=kernel // 2, bias=False)
        self.bn2 = norm_layer(out_chs)
        self.act = act_layer()
        self.shortcut = nn.Identity()
        if stride != 1 or in_chs != out_chs:
            self.shortcut = nn.Sequential(nn.Conv1d(in_chs, out_chs, 1, stride=stride, bias=False), norm_layer(out_chs))

    def output_length(self, n: int) -> int:
        """Output frames for ``n`` input frames."""
        return _conv_out(n, self.kernel, self.stride, self.kernel // 2)

    def forward(self, x: Tensor) -> Tensor:
        s = self.shortcut(x)  # (B, C', ceil(N/s))
        x = self.act(self.bn1(self.conv1(x)))  # (B, C', ceil(N/s))
        x = self.bn2(self.conv2(x))  # (B, C', ceil(N/s))
        return self.act(x + s)


class WaveformNet(nn.Module):
    """Raw-waveform tower: ``(B, C, N)`` samples -> ``(B, C', ceil(N / 1024))`` -> classes.

    Args:
        num_classes: classifier outputs; 0 makes ``fc`` an identity.
        in_channels: audio channels (1 mono, 2 stereo as in Owens & Efros).
        stem_width: channels of ``conv1``.
        widths: channels of the residual blocks.
        stem_kernel: ``conv1`` kernel (65).
        stem_stride: ``conv1`` stride (4).
        pool: max-pool size and stride after ``conv1`` (4).
        kernel: residual-block kernel (15).
        stride: residual-block stride (4).
        compress: apply :func:`mu_law_compress` to the input first.
        drop_rate: dropout before ``fc``.
        norm_layer: 1D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(
        self,
        *,
        num_classes: int = 10,
        in_channels: int = 1,
        stem_width: int = 64,
        widths: tuple[int, ...] = (128, 128, 256),
        stem_kernel: int = 65,
        stem_stride: int = 4,
        pool: int = 4,
        kernel: int = 15,
        stride: int = 4,
        compress: bool = False,
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm1d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.compress = compress
        self.stem_kernel, self.stem_stride, self.pool_size = stem_kernel, stem_stride, pool
        self.conv1 = nn.Conv1d(
            in_channels, stem_width, stem_kernel, stride=stem_stride, padding=stem_kernel // 2, bias=False
        )
        self.bn1 = norm_layer(stem_width)
        self.act = act_layer()
        self.pool1 = nn.MaxPool1d(pool, stride=pool, ceil_mode=True)
        reduction = stem_stride * pool
        self.feature_info = [{"module": "pool1", "num_chs": stem_width, "reduction": reduction}]
        blocks, in_chs = [], stem_width
        for i, w in enumerate(widths):
            blocks.append(
                ResBlock1d(in_chs, w, kernel=kernel, stride=stride, norm_layer=norm_layer, act_layer=act_layer)
            )
            reduction *= stride
            self.feature_info.append({"module": f"blocks.{i}", "num_chs": w, "reduction": reduction})
            in_chs = w
        self.blocks = nn.Sequential(*blocks)
        self.num_features = in_chs
        self.reduction = reduction
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Conv1d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def output_length(self, n: int) -> int:
        """Feature frames ``N'`` that ``forward_features`` returns for ``n`` samples (``ceil(n / 1024)``
        with the reference strides)."""
        n = _conv_out(n, self.stem_kernel, self.stem_stride, self.stem_kernel // 2)
        n = _conv_out(n, self.pool_size, self.pool_size, 0, ceil_mode=True)
        for block in self.blocks:
            n = block.output_length(n)
        return n

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, N) -> (B, num_features, N')`` with ``N' = output_length(N)``."""
        if x.dim() == 2:  # (B, N) mono without a channel axis
            x = x.unsqueeze(1)  # (B, 1, N)
        if self.compress:
            x = mu_law_compress(x)
        x = self.act(self.bn1(self.conv1(x)))  # (B, stem, N/4)
        x = self.pool1(x)  # (B, stem, N/16)
        return self.blocks(x)  # (B, C', N/1024)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Mean over time, dropout, ``fc``; ``pre_logits`` returns ``(B, num_features)``."""
        x = self.drop(feats.mean(dim=-1))  # (B, C')
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, N) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


@register_model(modality="audio", input_size=(1, 16000), tiny_input=(1, 8000))
def waveform_small(*, num_classes: int = 10, in_channels: int = 1, **kwargs) -> WaveformNet:
    """Owens & Efros strides with 16 / 32-32-64 channels: 1 s at 16 kHz -> 16 frames."""
    return WaveformNet(num_classes=num_classes, in_channels=in_channels, stem_width=16, widths=(32, 32, 64), **kwargs)


@register_model(modality="audio", input_size=(2, 88200), tiny_input=(2, 8000))
def waveform_owens(*, num_classes: int = 10, in_channels: int = 2, **kwargs) -> WaveformNet:
    """The reference sound tower: 64 / 128-128-256 channels on 4.2 s of 21 kHz stereo."""
    return WaveformNet(num_classes=num_classes, in_channels=in_channels, **kwargs)
