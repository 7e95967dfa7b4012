"""I3D: a torchvision 2D ResNet inflated to 3D (Carreira & Zisserman, CVPR 2017, Sec. 2.4).

The 2D network is inflated by :func:`avlearn.models._inflate.inflate` (weights repeated over
``Kt`` and divided by ``Kt``, BN2d -> BN3d). Which convolutions get a temporal extent follows the
ResNet-50 I3D of Wang et al., "Non-local Neural Networks", CVPR 2018, Table 1: a 5x7x7 stem and a
3-frame kernel in the first conv of every other residual block (``3x1x1`` for bottlenecks,
``3x3x3`` for basic blocks); all other convs stay ``1 x k x k``. Unlike that table, nothing
strides in time, so T is preserved to the global pool (subsample frames at the input instead).

Module names are torchvision's (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, ``fc``), so a 2D
ImageNet state dict saved to a local file can be inflated through the builders'
``weights_2d=`` argument:

    >>> m = create_model("i3d_resnet50", num_classes=10, weights_2d="resnet50_imagenet.pt")

With ``time_kernel=1`` the same class is the per-frame 2D ResNet used by the fusion models.
"""

from __future__ import annotations

import copy
import os
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from avlearn.models._inflate import TimeKernel, TimeSpec, inflate
from avlearn.models._registry import load_weights, register_model
from avlearn.models.video._blocks import VideoNet, finish

__all__ = [
    "I3DResNet",
    "i3d_time_kernels",
    "adapt_input_conv",
    "classifier_from_2d",
    "build_resnet2d",
    "i3d_resnet10",
    "i3d_resnet18",
    "i3d_resnet50",
]

if TYPE_CHECKING:  # torchvision is imported when a network is built: importing it costs seconds
    from torchvision.models import resnet as tv_resnet

_RESNETS_2D = {
    "resnet10": ("BasicBlock", [1, 1, 1, 1]),
    "resnet18": ("BasicBlock", [2, 2, 2, 2]),
    "resnet34": ("BasicBlock", [3, 4, 6, 3]),
    "resnet50": ("Bottleneck", [3, 4, 6, 3]),
}


def i3d_time_kernels(name: str, conv: nn.Conv2d) -> TimeSpec:
    """Temporal kernel of each conv (Wang et al. 2018, Table 1, without temporal strides).

    ``conv1`` (the stem) -> 5; ``layerS.B.conv1`` with even ``B`` -> 3; everything else -> 1.
    """
    if name == "conv1":
        return 5
    parts = name.split(".")
    if len(parts) == 3 and parts[0].startswith("layer") and parts[2] == "conv1" and int(parts[1]) % 2 == 0:
        return 3
    return 1


def adapt_input_conv(conv: nn.Conv2d, in_channels: int) -> nn.Conv2d:
    """A copy of an RGB Conv2d for ``in_channels`` inputs (timm's rule).

    The new filters are the mean over RGB repeated ``in_channels`` times and scaled by
    ``3 / in_channels`` so a grey input of the same intensity gives the same response.
    """
    if conv.in_channels == in_channels:
        return conv
    new = nn.Conv2d(
        in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=conv.padding,
        bias=conv.bias is not None,
    )
    with torch.no_grad():
        w = conv.weight.mean(1, keepdim=True).repeat(1, in_channels, 1, 1)  # (O, in_channels, kh, kw)
        new.weight.copy_(w * conv.in_channels / in_channels)
        if conv.bias is not None:
            new.bias.copy_(conv.bias)
    return new


def classifier_from_2d(fc2d: nn.Module, num_features: int, num_classes: int) -> nn.Module:
    """The inflated network's classifier: a copy of the 2D one when it has ``num_classes``
    outputs, else a new linear layer (N(0, 0.01) weights), or an identity for ``num_classes=0``."""
    if isinstance(fc2d, nn.Linear) and num_classes == fc2d.out_features:
        return copy.deepcopy(fc2d)
    if num_classes > 0:
        fc = nn.Linear(num_features, num_classes)
        nn.init.normal_(fc.weight, 0.0, 0.01)
        nn.init.zeros_(fc.bias)
        return fc
    return nn.Identity()


def build_resnet2d(arch: str, *, weights_2d: str | os.PathLike | None = None) -> "tv_resnet.ResNet":
    """A torchvision 2D ResNet (``resnet10/18/34/50``), optionally loaded from a local file.

    Raises:
        KeyError: unknown ``arch``.
        FileNotFoundError / ValueError: from :func:`load_weights` for a bad weights file.
    """
    if arch not in _RESNETS_2D:
        raise KeyError(f"unknown 2D ResNet {arch!r}; expected one of {sorted(_RESNETS_2D)}")
    from torchvision.models import resnet as tv_resnet

    block, layers = _RESNETS_2D[arch]
    net = tv_resnet.ResNet(getattr(tv_resnet, block), layers)
    if weights_2d is not None:
        load_weights(net, weights_2d)
    return net


class I3DResNet(VideoNet):
    """A torchvision ResNet inflated to 3D, with the video-model contract.

    Args:
        resnet2d: a ``torchvision.models.ResNet`` (copied, not modified).
        time_kernel: temporal kernel per conv (see :func:`avlearn.models._inflate.inflate`);
            default :func:`i3d_time_kernels`; ``1`` gives a per-frame 2D ResNet.
        time_padding_mode: ``"replicate"`` (exact on static video) or ``"zeros"``.
        in_channels: input channels (the RGB stem is adapted by :func:`adapt_input_conv`).
        num_classes: classifier outputs (0: no classifier).
        dropout: dropout before the classifier.
    """

    def __init__(
        self,
        *,
        resnet2d: "tv_resnet.ResNet",
        time_kernel: TimeKernel = i3d_time_kernels,
        time_padding_mode: str = "replicate",
        in_channels: int = 3,
        num_classes: int = 400,
        dropout: float = 0.0,
    ):
        super().__init__()
        self.in_channels = in_channels
        stem = adapt_input_conv(resnet2d.conv1, in_channels)
        trunk = nn.Sequential()
        for n in ("bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            trunk.add_module(n, getattr(resnet2d, n))
        trunk.add_module("conv1", stem)
        net3d = inflate(trunk, time_kernel=time_kernel, time_padding_mode=time_padding_mode)
        for n in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(n, getattr(net3d, n))
        self.num_features = resnet2d.fc.in_features
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = classifier_from_2d(resnet2d.fc, self.num_features, num_classes)
        e = self.num_features // 512
        self.feature_info = [
            {"module": f"layer{i + 1}", "num_chs": 64 * 2**i * e, "reduction": 4 * 2**i} for i in range(4)
        ]

    def forward_features(self, x: Tensor) -> Tensor:
        """Last feature map ``(B, D, T', H/32, W/32)`` (``T' = T`` unless ``time_kernel`` strides)."""
        x = self.prepare(x)
        x = self.relu(self.bn1(self.conv1(x)))  # (B, 64, T, H/2, W/2)
        x = self.maxpool(x)  # (B, 64, T, H/4, W/4)
        x = self.layer1(x)  # (B, 64e, T, H/4, W/4)
        x = self.layer2(x)  # (B, 128e, T, H/8, W/8)
        x = self.layer3(x)  # (B, 256e, T, H/16, W/16)
        return self.layer4(x)  # (B, 512e, T, H/32, W/32)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Mean over (T, H, W), dropout, classifier; ``pre_logits`` returns ``(B, D)``."""
        x = feats.mean((2, 3, 4))  # (B, D)
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


def i3d_resnet(
    arch: str,
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    weights_2d: str | os.PathLike | None = None,
    time_kernel: TimeKernel = i3d_time_kernels,
    channels_last: bool = True,
    **kwargs,
) -> I3DResNet:
    """Build an :class:`I3DResNet` from torchvision's ``arch`` (``weights_2d``: a local 2D state dict)."""
    net2d = build_resnet2d(arch, weights_2d=weights_2d)
    model = I3DResNet(
        resnet2d=net2d, time_kernel=time_kernel, num_classes=num_classes, in_channels=in_channels, **kwargs
    )
    return finish(model, channels_last=channels_last)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def i3d_resnet10(
    *, num_classes: int = 400, in_channels: int = 3, weights_2d: str | os.PathLike | None = None, **kwargs
) -> I3DResNet:
    """I3D from a 2D ResNet-10 (one basic block per stage): the small I3D for CPU recipes."""
    return i3d_resnet("resnet10", num_classes=num_classes, in_channels=in_channels, weights_2d=weights_2d, **kwargs)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 2, 32, 32))
def i3d_resnet18(
    *, num_classes: int = 400, in_channels: int = 3, weights_2d: str | os.PathLike | None = None, **kwargs
) -> I3DResNet:
    """I3D from torchvision's ResNet-18 (``weights_2d``: its local ImageNet state dict)."""
    return i3d_resnet("resnet18", num_classes=num_classes, in_channels=in_channels, weights_2d=weights_2d, **kwargs)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 2, 32, 32))
def i3d_resnet50(
    *, num_classes: int = 400, in_channels: int = 3, weights_2d: str | os.PathLike | None = None, **kwargs
) -> I3DResNet:
    """I3D from torchvision's ResNet-50, the backbone of Wang et al. 2018 (Table 1)."""
    return i3d_resnet("resnet50", num_classes=num_classes, in_channels=in_channels, weights_2d=weights_2d, **kwargs)
