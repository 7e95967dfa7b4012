"""C3D, "the VGG of 3D CNNs" (Tran, Bourdev, Fergus, Torresani, Paluri, ICCV 2015, Fig. 3).

Layer table (Tran et al., Sec. 3.3 and Fig. 3: 8 convolutions, 5 poolings, 2 fully connected
layers; sizes as output C x T x H x W), input 3x16x112x112:

    conv1  3x3x3   64 x 16 x 112 x 112    pool1 1x2x2 -> 64 x 16 x 56 x 56
    conv2  3x3x3  128 x 16 x 56 x 56      pool2 2x2x2 -> 128 x 8 x 28 x 28
    conv3a/b      256 x 8 x 28 x 28       pool3 2x2x2 -> 256 x 4 x 14 x 14
    conv4a/b      512 x 4 x 14 x 14       pool4 2x2x2 -> 512 x 2 x 7 x 7
    conv5a/b      512 x 2 x 7 x 7         pool5 2x2x2 -> 512 x 1 x 3 x 3
    fc6 4096, fc7 4096, fc8 C   (ReLU after every conv and fc6/fc7, dropout 0.5 on fc6/fc7)

The released Caffe model pads pool5 spatially (``pool5_padding=(0, 1, 1)``: 512 x 1 x 4 x 4,
fc6 of 8192 inputs); layer names follow the PyTorch ports of that release (``conv1``,
``conv3a``, ``fc6``, ...) so converted weights load with that option. As in torchvision's VGG,
an adaptive average pool before fc6 (the identity at the reference input) lets the classifier
take clips of other sizes; clips need at least 16 frames and 32x32 pixels.

``c3d_small`` keeps the layer table with 1/8 of the channels, 512-wide fc6/fc7 and BatchNorm
after every conv (Ioffe & Szegedy 2015; the 2015 C3D predates it) so it trains from scratch fast.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._blocks import ActLayer, NormLayer, VideoNet, default_act, finish, init_weights_

__all__ = ["C3D", "c3d", "c3d_small"]

# (name, output channels index into widths) for the eight conv layers, with the pool after.
_LAYOUT = (
    ("conv1", 0, "pool1"),
    ("conv2", 1, "pool2"),
    ("conv3a", 2, None),
    ("conv3b", 2, "pool3"),
    ("conv4a", 3, None),
    ("conv4b", 3, "pool4"),
    ("conv5a", 4, None),
    ("conv5b", 4, "pool5"),
)


class C3D(VideoNet):
    """C3D with the exact layer table of Tran et al. 2015.

    Args:
        widths: channels of conv1, conv2, conv3x, conv4x, conv5x (``(64, 128, 256, 512, 512)``).
        fc_width: width of fc6 and fc7 (4096).
        in_channels: input channels.
        num_classes: fc8 outputs (0: no fc8; ``forward`` returns fc7 features).
        dropout: dropout after fc6 and fc7 (0.5).
        pool5_padding: ``(0, 0, 0)`` gives the table's 1x3x3; ``(0, 1, 1)`` the Caffe 1x4x4.
        reference_size: ``(T, H, W)`` at which the adaptive pool before fc6 is the identity.
        norm_layer: normalisation after each conv, named ``bn1`` ... ``bn5b`` (``None``: none, as
            in the paper; the convs then have biases).
        act_layer: activation callable.
    """

    def __init__(
        self,
        *,
        widths: Sequence[int] = (64, 128, 256, 512, 512),
        fc_width: int = 4096,
        in_channels: int = 3,
        num_classes: int = 487,
        dropout: float = 0.5,
        pool5_padding: tuple[int, int, int] = (0, 0, 0),
        reference_size: tuple[int, int, int] = (16, 112, 112),
        norm_layer: NormLayer | None = None,
        act_layer: ActLayer = default_act,
    ):
        super().__init__()
        if len(widths) != 5:
            raise ValueError(f"C3D needs 5 widths (conv1, conv2, conv3, conv4, conv5), got {tuple(widths)}")
        self.in_channels = in_channels
        cin = in_channels
        pools = {"pool1": ((1, 2, 2), (0, 0, 0)), "pool5": ((2, 2, 2), tuple(pool5_padding))}
        for conv_name, wi, pool_name in _LAYOUT:
            self.add_module(conv_name, nn.Conv3d(cin, widths[wi], 3, padding=1, bias=norm_layer is None))
            if norm_layer is not None:
                self.add_module("bn" + conv_name[4:], norm_layer(widths[wi]))
            cin = widths[wi]
            if pool_name:
                kernel, pad = pools.get(pool_name, ((2, 2, 2), (0, 0, 0)))
                self.add_module(pool_name, nn.MaxPool3d(kernel, stride=kernel, padding=pad))
        self.relu = act_layer()
        t, h, w = reference_size
        out5 = (t // 16, (h // 16 + 2 * pool5_padding[1]) // 2, (w // 16 + 2 * pool5_padding[2]) // 2)
        self.avgpool = nn.AdaptiveAvgPool3d(out5)
        self.fc6 = nn.Linear(cin * out5[0] * out5[1] * out5[2], fc_width)
        self.fc7 = nn.Linear(fc_width, fc_width)
        self.dropout = nn.Dropout(dropout)
        self.fc8 = nn.Linear(fc_width, num_classes) if num_classes > 0 else nn.Identity()
        self.num_features = fc_width
        self.feature_info = [
            {"module": p, "num_chs": widths[i], "reduction": 2 ** (i + 1)}
            for i, p in enumerate(("pool1", "pool2", "pool3", "pool4", "pool5"))
        ]
        init_weights_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """pool5 output ``(B, 512, T/16, H/32, W/32)`` (1x3x3 at 16x112x112)."""
        x = self.prepare(x)
        if x.shape[2] < 16 or x.shape[3] < 32 or x.shape[4] < 32:
            raise ValueError(
                f"C3D: clips need at least 16 frames of 32x32 (five 2x poolings), got shape {tuple(x.shape)}"
            )
        for conv_name, _, pool_name in _LAYOUT:
            x = getattr(self, conv_name)(x)  # conv1: (B, 64, 16, 112, 112) ... conv5b: (B, 512, 2, 7, 7)
            norm = getattr(self, "bn" + conv_name[4:], None)
            x = self.relu(x if norm is None else norm(x))
            if pool_name:
                x = getattr(self, pool_name)(x)  # pool1: (B, 64, 16, 56, 56) ... pool5: (B, 512, 1, 3, 3)
        return x

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """fc6 -> fc7 (ReLU, dropout) -> fc8; ``pre_logits`` returns the fc7 features."""
        x = self.avgpool(feats).flatten(1)  # (B, 512 * 1 * 3 * 3)
        x = self.dropout(self.relu(self.fc6(x)))  # (B, 4096)
        x = self.dropout(self.relu(self.fc7(x)))  # (B, 4096)
        return x if pre_logits else self.fc8(x)  # (B, num_classes)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 16, 32, 32))
def c3d(*, num_classes: int = 487, in_channels: int = 3, channels_last: bool = True, **kwargs) -> C3D:
    """C3D (Tran et al. 2015); 487 Sports-1M classes. 65.3M params (80.0M with the Caffe pool5)."""
    return finish(C3D(num_classes=num_classes, in_channels=in_channels, **kwargs), channels_last=channels_last)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 16, 32, 32))
def c3d_small(*, num_classes: int = 487, in_channels: int = 3, channels_last: bool = True, **kwargs) -> C3D:
    """C3D's layer table with 1/8 of the channels (8..64), BatchNorm after each conv, fc6/fc7 of 512."""
    kwargs.setdefault("widths", (8, 16, 32, 64, 64))
    kwargs.setdefault("fc_width", 512)
    kwargs.setdefault("norm_layer", nn.BatchNorm3d)
    return finish(C3D(num_classes=num_classes, in_channels=in_channels, **kwargs), channels_last=channels_last)
