"""R3D, MC3 and R(2+1)D: the residual video networks of Tran et al., CVPR 2018.

"A Closer Look at Spatiotemporal Convolutions for Action Recognition" (Tran, Wang, Torresani,
Ray, LeCun, Paluri), Table 1 and Sec. 3:

* **R3D** — every convolution is 3x3x3 (Sec. 3.2).
* **MCx** — mixed convolutions: 3D convolutions in the first ``x - 1`` groups, 2D (1x3x3)
  afterwards; MC3 is 3D in conv2_x (``layer1``) and 2D in ``layer2..4`` (Sec. 3.3).
* **R(2+1)D** — each 3x3x3 convolution factorised into a 1x3x3 spatial conv to ``M_i``
  channels, BN + ReLU, and a 3x1x1 temporal conv, with ``M_i = floor(t d^2 N_{i-1} N_i /
  (d^2 N_{i-1} + t N_i))`` (Eq. 1) so the parameter count matches R3D (Sec. 3.5).

Module names, the order of submodules and the ``M_i`` arithmetic (including the stem's 45
channels and the reuse of the first conv's ``M_i`` by the second conv of a block) are those of
``torchvision.models.video``, so a torchvision state dict saved to a local file loads with
``create_model("r2plus1d_18", weights="r2plus1d_18.pt")`` and gives the same outputs. The
3x1x1 temporal convolutions are :class:`~avlearn.models.video._timeconv.TemporalConv3d` (the
same parameters, run as a 2D convolution of a free view, several times faster on CPU).

Tiny variants (``*_tiny``: width 16, one block per stage) train in minutes on 64x64 clips on a
CPU; every builder takes ``width=`` and ``layers=`` to size a model between the two.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.contract import KINETICS400_VIDEO
from avlearn.models.video._blocks import ActLayer, NormLayer, VideoNet, default_act, finish, init_weights_
from avlearn.models.video._timeconv import TemporalConv3d

__all__ = [
    "VideoResNet",
    "BasicBlock",
    "conv3d_simple",
    "conv3d_no_temporal",
    "conv2plus1d",
    "r3d_18",
    "mc3_18",
    "r2plus1d_18",
    "r3d_tiny",
    "mc3_tiny",
    "r2plus1d_tiny",
]

ConvMaker = Callable[..., nn.Module]


def conv3d_simple(
    in_planes: int, out_planes: int, midplanes: int, stride: int, norm_layer: NormLayer, act_layer: ActLayer
) -> nn.Module:
    """3x3x3 convolution (R3D); ``midplanes``/``norm_layer``/``act_layer`` are unused."""
    return nn.Conv3d(in_planes, out_planes, (3, 3, 3), stride=stride, padding=1, bias=False)


def conv3d_no_temporal(
    in_planes: int, out_planes: int, midplanes: int, stride: int, norm_layer: NormLayer, act_layer: ActLayer
) -> nn.Module:
    """1x3x3 convolution (the 2D groups of MCx); strides only in space."""
    return nn.Conv3d(in_planes, out_planes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)


def conv2plus1d(
    in_planes: int, out_planes: int, midplanes: int, stride: int, norm_layer: NormLayer, act_layer: ActLayer
) -> nn.Module:
    """(2+1)D convolution: 1x3x3 to ``midplanes``, norm, act, then 3x1x1 (Tran et al. Sec. 3.5)."""
    return nn.Sequential(
        nn.Conv3d(in_planes, midplanes, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
        norm_layer(midplanes),
        act_layer(),
        TemporalConv3d(midplanes, out_planes, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
    )


def _downsample_stride(conv: ConvMaker, stride: int) -> tuple[int, int, int]:
    return (1, stride, stride) if conv is conv3d_no_temporal else (stride, stride, stride)


def _midplanes(inplanes: int, planes: int) -> int:
    # Tran et al. Eq. 1 with t = d = 3.
    return (inplanes * planes * 3 * 3 * 3) // (inplanes * 3 * 3 + 3 * planes)


class BasicBlock(nn.Module):
    """Two convolutions with a residual: ``act(conv2(conv1(x)) + shortcut(x))``.

    Args:
        inplanes: input channels.
        planes: output channels.
        conv: one of :func:`conv3d_simple`, :func:`conv3d_no_temporal`, :func:`conv2plus1d`.
        stride: stride of the first convolution (and of the shortcut).
        downsample: the projection shortcut, or ``None`` for identity.
        norm_layer: normalisation callable.
        act_layer: activation callable.
    """

    def __init__(
        self,
        inplanes: int,
        planes: int,
        *,
        conv: ConvMaker,
        stride: int = 1,
        downsample: nn.Module | None = None,
        norm_layer: NormLayer = nn.BatchNorm3d,
        act_layer: ActLayer = default_act,
    ):
        super().__init__()
        mid = _midplanes(inplanes, planes)
        self.conv1 = nn.Sequential(
            conv(inplanes, planes, mid, stride, norm_layer, act_layer), norm_layer(planes), act_layer()
        )
        self.conv2 = nn.Sequential(conv(planes, planes, mid, 1, norm_layer, act_layer), norm_layer(planes))
        self.relu = act_layer()
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)  # (B, planes, T', H', W')
        out = self.conv2(self.conv1(x))  # (B, planes, T', H', W')
        return self.relu(out + shortcut)


class VideoResNet(VideoNet):
    """A residual video network of Tran et al. 2018 (Table 1), torchvision-compatible.

    Args:
        conv_makers: the convolution of each of the four stages.
        layers: blocks per stage (``(2, 2, 2, 2)`` for the 18-layer nets).
        stem: ``"basic"`` (3x7x7 conv) or ``"r2plus1d"`` (1x7x7 to 45 channels, then 3x1x1).
        width: channels of the stem and ``layer1``; stages double it (64 in the paper).
        in_channels: input channels.
        num_classes: classifier outputs; 0 gives no classifier (``forward`` returns the
            pooled embedding).
        dropout: dropout before the classifier.
        norm_layer: normalisation callable (``nn.BatchNorm3d``).
        act_layer: activation callable (in-place ReLU).
    """

    def __init__(
        self,
        *,
        conv_makers: Sequence[ConvMaker],
        layers: Sequence[int] = (2, 2, 2, 2),
        stem: str = "basic",
        width: int = 64,
        in_channels: int = 3,
        num_classes: int = 400,
        dropout: float = 0.0,
        norm_layer: NormLayer = nn.BatchNorm3d,
        act_layer: ActLayer = default_act,
    ):
        super().__init__()
        if len(conv_makers) != 4 or len(layers) != 4:
            raise ValueError(f"VideoResNet needs 4 stages; got conv_makers={len(conv_makers)}, layers={len(layers)}")
        self.in_channels = in_channels
        if stem == "basic":
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, width, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                norm_layer(width),
                act_layer(),
            )
        elif stem == "r2plus1d":
            mid = 45 * width // 64  # torchvision's fixed 45 channels at width 64
            self.stem = nn.Sequential(
                nn.Conv3d(in_channels, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
                norm_layer(mid),
                act_layer(),
                TemporalConv3d(mid, width, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False),
                norm_layer(width),
                act_layer(),
            )
        else:
            raise ValueError(f"VideoResNet: unknown stem {stem!r} (expected 'basic' or 'r2plus1d')")
        self._inplanes = width
        widths = [width * 2**i for i in range(4)]
        for i, (conv, n, planes) in enumerate(zip(conv_makers, layers, widths, strict=True)):
            stage = self._make_layer(
                conv, planes, n, stride=1 if i == 0 else 2, norm_layer=norm_layer, act_layer=act_layer
            )
            self.add_module(f"layer{i + 1}", stage)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.num_features = widths[-1]
        self.fc = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.feature_info = [{"module": "stem", "num_chs": width, "reduction": 2}] + [
            {"module": f"layer{i + 1}", "num_chs": c, "reduction": 2 * 2**i} for i, c in enumerate(widths)
        ]
        init_weights_(self)

    def _make_layer(
        self, conv: ConvMaker, planes: int, blocks: int, *, stride: int, norm_layer: NormLayer, act_layer: ActLayer
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self._inplanes, planes, 1, stride=_downsample_stride(conv, stride), bias=False),
                norm_layer(planes),
            )
        kw = dict(conv=conv, norm_layer=norm_layer, act_layer=act_layer)
        out = [BasicBlock(self._inplanes, planes, stride=stride, downsample=downsample, **kw)]
        self._inplanes = planes
        out += [BasicBlock(planes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*out)

    def forward_features(self, x: Tensor) -> Tensor:
        """Last feature map ``(B, 8*width, T/8, H/16, W/16)`` of a clip ``(B, C, T, H, W)``."""
        x = self.prepare(x)
        x = self.stem(x)  # (B, w, T, H/2, W/2)
        x = self.layer1(x)  # (B, w, T, H/2, W/2)
        x = self.layer2(x)  # (B, 2w, T/2, H/4, W/4)  (MC3: T stays)
        x = self.layer3(x)  # (B, 4w, T/4, H/8, W/8)
        return self.layer4(x)  # (B, 8w, T/8, H/16, W/16)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Global average pool, dropout and the classifier (``pre_logits``: the pooled vector)."""
        x = self.avgpool(feats).flatten(1)  # (B, 8w)
        x = self.dropout(x)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


_CONVS = {
    "r3d": ([conv3d_simple] * 4, "basic"),
    "mc3": ([conv3d_simple] + [conv3d_no_temporal] * 3, "basic"),
    "r2plus1d": ([conv2plus1d] * 4, "r2plus1d"),
}


def _video_resnet(kind: str, *, layers: Sequence[int], width: int, channels_last: bool = True, **kwargs) -> VideoResNet:
    convs, stem = _CONVS[kind]
    model = VideoResNet(conv_makers=convs, stem=stem, layers=tuple(layers), width=width, **kwargs)
    return finish(model, channels_last=channels_last)


# torchvision-compatible variants carry torchvision's Kinetics-400 preprocessing.
_STD = dict(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 2, 32, 32), contract=KINETICS400_VIDEO)
_TINY = dict(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))


@register_model(**_STD)
def r3d_18(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 64, layers: Sequence[int] = (2, 2, 2, 2), **kwargs
) -> VideoResNet:
    """R3D-18 (Tran et al. 2018, Table 1, all 3x3x3); torchvision ``r3d_18`` keys. 33.4M params."""
    return _video_resnet("r3d", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs)


@register_model(**_STD)
def mc3_18(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 64, layers: Sequence[int] = (2, 2, 2, 2), **kwargs
) -> VideoResNet:
    """MC3-18: 3D convs in ``layer1``, 1x3x3 after; torchvision ``mc3_18`` keys. 11.7M params."""
    return _video_resnet("mc3", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs)


@register_model(**_STD)
def r2plus1d_18(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 64, layers: Sequence[int] = (2, 2, 2, 2), **kwargs
) -> VideoResNet:
    """R(2+1)D-18 (Eq. 1 mid-channels); torchvision ``r2plus1d_18`` keys. 31.5M params."""
    return _video_resnet(
        "r2plus1d", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs
    )


@register_model(**_TINY)
def r3d_tiny(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 16, layers: Sequence[int] = (1, 1, 1, 1), **kwargs
) -> VideoResNet:
    """R3D with width 16 and one block per stage (R3D-10/4) for CPU recipes on 64x64 clips."""
    return _video_resnet("r3d", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs)


@register_model(**_TINY)
def mc3_tiny(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 16, layers: Sequence[int] = (1, 1, 1, 1), **kwargs
) -> VideoResNet:
    """MC3 with width 16 and one block per stage, for CPU recipes on 64x64 clips."""
    return _video_resnet("mc3", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs)


@register_model(**_TINY)
def r2plus1d_tiny(
    *, num_classes: int = 400, in_channels: int = 3, width: int = 16, layers: Sequence[int] = (1, 1, 1, 1), **kwargs
) -> VideoResNet:
    """R(2+1)D with width 16 and one block per stage, for CPU recipes on 64x64 clips."""
    return _video_resnet(
        "r2plus1d", num_classes=num_classes, in_channels=in_channels, width=width, layers=layers, **kwargs
    )
