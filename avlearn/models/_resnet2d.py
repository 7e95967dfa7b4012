"""2D ResNet with basic blocks: the trunk of the spectrogram tower and of the frame-level video models.

The network is He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016), Table 1
(the 18-layer column: a 7x7/2 conv and 3x3/2 max-pool stem, four stages of two 3x3 basic
blocks with 64, 128, 256, 512 channels, the first block of stages 2-4 striding by 2, global
average pooling and one fully connected layer); the basic block is their Fig. 2 (left).
Parameter and buffer names follow ``torchvision.models.resnet18`` (``conv1``, ``bn1``,
``layer1.0.conv1``, ..., ``fc``), so a torchvision ResNet-18 state dict saved to a local file
loads into :class:`ResNet2d` with ``in_channels=3, num_classes=1000``.

A "small" stem (3x3/1 conv, no max-pool) keeps the resolution of small inputs (log-mel
spectrograms, 32-64 px frames). Users: the log-mel audio tower
(:mod:`avlearn.models.audio.spectrogram`), the two-stream and CNN+LSTM video models
(:mod:`avlearn.models.video.two_stream`, :mod:`avlearn.models.video.recurrent`) and the
audio-visual towers (:mod:`avlearn.models.av.two_tower`, :mod:`avlearn.models.av.preview`,
:mod:`avlearn.models.av.attention_loc`).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

__all__ = ["BasicBlock2d", "ResNet2d"]


class BasicBlock2d(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut (He et al., Fig. 2).

    Args:
        in_chs: input channels.
        out_chs: output channels.
        stride: stride of the first convolution (and of the projection shortcut).
        norm_layer: normalisation constructor taking the channel count.
        act_layer: activation constructor.
    """

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        *,
        stride: int = 1,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        self.conv1 = nn.Conv2d(in_chs, out_chs, 3, stride=stride, padding=1, bias=False)
        self.bn1 = norm_layer(out_chs)
        self.relu = act_layer()
        self.conv2 = nn.Conv2d(out_chs, out_chs, 3, padding=1, bias=False)
        self.bn2 = norm_layer(out_chs)
        self.downsample = None
        if stride != 1 or in_chs != out_chs:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_chs, out_chs, 1, stride=stride, bias=False), norm_layer(out_chs)
            )

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, C', H/s, W/s)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, C', H/s, W/s)
        x = self.bn2(self.conv2(x))  # (B, C', H/s, W/s)
        return self.relu(x + shortcut)


class ResNet2d(nn.Module):
    """A 2D ResNet with basic blocks on ``(B, C, H, W)`` images or spectrograms.

    Args:
        num_classes: classifier outputs; 0 makes ``fc`` an identity (a pure feature trunk).
        in_channels: input channels (1 for a spectrogram, 3 for RGB, 2L for stacked flow).
        widths: channels of the four stages.
        depths: basic blocks per stage.
        stem: "imagenet" (7x7/2 conv + 3x3/2 max-pool, reduction 4) or "small" (3x3/1 conv).
        stem_width: stem channels (default ``widths[0]``).
        drop_rate: dropout before ``fc``.
        norm_layer: 2D normalisation constructor.
        act_layer: activation constructor.
        zero_init_residual: zero the last BN gamma of each block (Goyal et al. 2017), so each
            block starts as the identity.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1000,
        in_channels: int = 3,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        stem: str = "imagenet",
        stem_width: int | None = None,
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
        zero_init_residual: bool = False,
    ):
        super().__init__()
        if len(widths) != len(depths):
            raise ValueError(f"widths {widths} and depths {depths} must have the same length")
        if stem not in ("imagenet", "small"):
            raise ValueError(f"stem must be 'imagenet' or 'small'; got {stem!r}")
        stem_width = stem_width or widths[0]
        big = stem == "imagenet"
        self.conv1 = nn.Conv2d(
            in_channels, stem_width, 7 if big else 3, stride=2 if big else 1, padding=3 if big else 1, bias=False
        )
        self.bn1 = norm_layer(stem_width)
        self.relu = act_layer()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1) if big else nn.Identity()
        reduction = 4 if big else 1
        self.feature_info: list[dict] = []
        in_chs = stem_width
        for i, (w, d) in enumerate(zip(widths, depths)):
            stride = 1 if i == 0 else 2
            reduction *= stride
            blocks = [
                BasicBlock2d(
                    in_chs if j == 0 else w,
                    w,
                    stride=stride if j == 0 else 1,
                    norm_layer=norm_layer,
                    act_layer=act_layer,
                )
                for j in range(d)
            ]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
            self.feature_info.append({"module": f"layer{i + 1}", "num_chs": w, "reduction": reduction})
            in_chs = w
        self.num_stages = len(widths)
        self.num_features = in_chs
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_chs, num_classes) if num_classes > 0 else nn.Identity()
        self._init_weights(zero_init_residual)

    def _init_weights(self, zero_init_residual: bool) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, BasicBlock2d) and isinstance(m.bn2, nn.BatchNorm2d):
                    nn.init.zeros_(m.bn2.weight)

    def stages(self) -> list[nn.Module]:
        """The residual stages ``layer1 ... layerN``, shallow to deep."""
        return [getattr(self, f"layer{i + 1}") for i in range(self.num_stages)]

    def forward_stem(self, x: Tensor) -> Tensor:
        """Stem only: ``(B, C_in, H, W) -> (B, stem_width, H/r, W/r)``, r = 4 or 1."""
        x = self.relu(self.bn1(self.conv1(x)))  # (B, stem, H/2, W/2) or (B, stem, H, W)
        return self.maxpool(x)  # (B, stem, H/4, W/4) or (B, stem, H, W)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W) -> (B, num_features, H/32, W/32)`` (imagenet stem) or ``/8`` (small)."""
        x = self.forward_stem(x)
        for stage in self.stages():
            x = stage(x)  # (B, C_i, H/r_i, W/r_i)
        return x

    def temporal_features(self, x: Tensor) -> Tensor:
        """Spectrogram ``(B, C_in, F, T)`` to features over time ``(B, num_features, T')``."""
        return self.forward_features(x).mean(dim=2)  # (B, C, T')

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout, ``fc``; ``pre_logits`` returns ``(B, num_features)``."""
        x = self.avgpool(feats).flatten(1)  # (B, C)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))
