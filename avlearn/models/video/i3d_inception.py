"""I3D on Inception-v1: the inflated Inception network of Carreira & Zisserman (CVPR 2017).

"Quo Vadis, Action Recognition? A New Model and the Kinetics Dataset", Sec. 2.4 and Fig. 3:
the 2D Inception-v1 with BatchNorm (:class:`~avlearn.models._inception2d.InceptionV1`) is
inflated by :func:`avlearn.models._inflate.inflate` (every ``N x N`` filter becomes ``Kt x N x N``
with the 2D weights repeated over time and divided by ``Kt``). Fig. 3 fixes the temporal shape:

=================  =================  =====================
layer              kernel (t, h, w)   stride (t, h, w)
=================  =================  =====================
Conv3d_1a_7x7      7 x 7 x 7          2, 2, 2
MaxPool3d_2a_3x3   1 x 3 x 3          1, 2, 2
Conv3d_2b_1x1      1 x 1 x 1          1, 1, 1
Conv3d_2c_3x3      3 x 3 x 3          1, 1, 1
MaxPool3d_3a_3x3   1 x 3 x 3          1, 2, 2
Mixed_3b, 3c       Inc. (3x3x3 convs, 3x3x3/1 max-pool branch)
MaxPool3d_4a_3x3   3 x 3 x 3          2, 2, 2
Mixed_4b ... 4f    Inc.
MaxPool3d_5a_2x2   2 x 2 x 2          2, 2, 2
Mixed_5b, 5c       Inc.
=================  =================  =====================

The first two max-pooling layers do not pool in time (1 x 3 x 3); inside every Inception block the 3x3
convolutions become 3x3x3 and the 1x1 stay 1x1x1. The head averages over (T, H, W) and applies
one linear layer (the paper's 2x7x7 average pool + 1x1x1 conv, averaged over time, is the same
linear map of the globally pooled features up to the border weighting of the overlapping
windows). Temporal padding repeats the border frames (``_inflate``'s default), so on a
*boring* video — one image repeated — the network gives exactly the 2D network's output.

Registered as ``i3d_inception_v1`` (the paper's RGB I3D, ~12 M parameters) and
``i3d_inception_tiny`` (every channel count / 4, for CPU). Module names are the 2D network's
(``Conv2d_1a_7x7``...), so a 2D state dict inflates through ``weights_2d=``.
"""

from __future__ import annotations

import copy
import os

from torch import Tensor, nn

from avlearn.models._inception2d import INCEPTION_V1_LAYOUT, InceptionV1
from avlearn.models._inflate import TimeSpec, inflate
from avlearn.models._registry import load_weights, register_model
from avlearn.models.video._blocks import VideoNet, finish
from avlearn.models.video.i3d import adapt_input_conv, classifier_from_2d

__all__ = ["I3DInception", "inception_time_kernels", "i3d_inception_v1", "i3d_inception_tiny"]

#: Temporal (kernel, stride, padding) of the max-pools that pool in time (Fig. 3).
_TIME_POOLS = {"MaxPool_4a_3x3": (3, 2, 1), "MaxPool_5a_2x2": (2, 2, 0)}


def inception_time_kernels(name: str, conv: nn.Conv2d) -> TimeSpec:
    """Temporal shape of each convolution (Fig. 3): the 7x7 stem -> 7 with stride 2; every 3x3
    -> 3; every 1x1 -> 1."""
    if name.startswith("Conv2d_1a_7x7"):
        return (7, 2, 3)
    return conv.kernel_size[0] if conv.kernel_size[0] in (1, 3) else 1


def _pool_in_time(pool: nn.MaxPool3d, kt: int, st: int, pt: int) -> nn.MaxPool3d:
    """A copy of a ``1 x k x k`` inflated max-pool that also pools ``kt`` frames with stride ``st``."""
    return nn.MaxPool3d(
        (kt, *pool.kernel_size[1:]),
        stride=(st, *pool.stride[1:]),
        padding=(pt, *pool.padding[1:]),
        ceil_mode=pool.ceil_mode,
    )


class I3DInception(VideoNet):
    """Inception-v1 inflated to 3D, with the video-model contract.

    Args:
        net2d: the 2D :class:`~avlearn.models._inception2d.InceptionV1` (copied, not modified).
        in_channels: input channels (the RGB stem is adapted by
            :func:`~avlearn.models.video.i3d.adapt_input_conv`).
        num_classes: classifier outputs (0: none); the 2D classifier is kept when it matches.
        dropout: dropout before the classifier.
    """

    def __init__(self, *, net2d: InceptionV1, in_channels: int = 3, num_classes: int = 400, dropout: float = 0.0):
        super().__init__()
        self.in_channels = in_channels
        trunk = nn.Module()
        for name in INCEPTION_V1_LAYOUT:
            trunk.add_module(name, getattr(net2d, name))
        trunk = copy.deepcopy(trunk)
        trunk.Conv2d_1a_7x7[0] = adapt_input_conv(trunk.Conv2d_1a_7x7[0], in_channels)
        net3d = inflate(trunk, time_kernel=inception_time_kernels)
        for name in INCEPTION_V1_LAYOUT:
            module = getattr(net3d, name)
            if name in _TIME_POOLS:
                module = _pool_in_time(module, *_TIME_POOLS[name])
            elif name.startswith("Mixed_"):
                module.branch3[0] = _pool_in_time(module.branch3[0], 3, 1, 1)  # 3x3x3/1 max-pool branch
            self.add_module(name, module)
        self.num_features = net2d.num_features
        self.feature_info = [dict(d) for d in net2d.feature_info]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = classifier_from_2d(net2d.fc, self.num_features, num_classes)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, 1024 w, T/8, H/32, W/32)``."""
        x = self.prepare(x)
        for name in INCEPTION_V1_LAYOUT:
            x = getattr(self, name)(x)  # time strided at 1a, 4a, 5a; space at 1a, 2a, 3a, 4a, 5a
        return x

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Mean over (T, H, W), dropout, classifier; ``pre_logits`` returns ``(B, D)``."""
        x = self.dropout(feats.mean((2, 3, 4)))  # (B, D)
        return x if pre_logits else self.fc(x)


def i3d_inception(
    *,
    width: float = 1.0,
    num_classes: int = 400,
    in_channels: int = 3,
    weights_2d: str | os.PathLike | dict | None = None,
    num_classes_2d: int = 1000,
    channels_last: bool = True,
    **kwargs,
) -> I3DInception:
    """Build the 2D Inception-v1 (``weights_2d``: its local state dict, with a
    ``num_classes_2d``-way classifier), then inflate it."""
    net2d = InceptionV1(num_classes=num_classes_2d, width=width)
    if weights_2d is not None:
        load_weights(net2d, weights_2d)
    model = I3DInception(net2d=net2d, num_classes=num_classes, in_channels=in_channels, **kwargs)
    return finish(model, channels_last=channels_last)


@register_model(modality="video", input_size=(3, 64, 224, 224), tiny_input=(3, 8, 32, 32))
def i3d_inception_v1(
    *, num_classes: int = 400, in_channels: int = 3, weights_2d: str | os.PathLike | None = None, **kwargs
) -> I3DInception:
    """RGB I3D (Carreira & Zisserman 2017, Fig. 3) on 64 x 224 x 224 clips."""
    return i3d_inception(num_classes=num_classes, in_channels=in_channels, weights_2d=weights_2d, **kwargs)


@register_model(modality="video", input_size=(3, 16, 64, 64), tiny_input=(3, 8, 32, 32))
def i3d_inception_tiny(
    *, num_classes: int = 10, in_channels: int = 3, weights_2d: str | os.PathLike | None = None, **kwargs
) -> I3DInception:
    """The same layout with every channel count divided by 4 (~0.8 M parameters)."""
    return i3d_inception(
        width=0.25, num_classes=num_classes, in_channels=in_channels, weights_2d=weights_2d, **kwargs
    )
