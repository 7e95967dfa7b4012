"""Single-frame, late, early and slow fusion (Karpathy et al., "Large-scale Video Classification
with Convolutional Neural Networks", CVPR 2014, Sec. 2.1 and Fig. 2).

Where temporal information is merged:

* **single frame** — a 2D CNN on every frame; the per-frame class probabilities are averaged.
* **late fusion, FC** — per-frame features ``T x D x H' x W'`` flattened into one vector, MLP.
* **late fusion, pooling** — per-frame features averaged over space and time, linear.
* **early fusion** — the first convolution sees all ``3T`` input channels at once.
* **slow fusion** — 3D convolutions whose temporal extent grows layer by layer.

A 2D CNN applied to every frame is written here as 3D layers whose temporal kernel is 1, so
every model takes ``(B, C, T, H, W)`` and every stage output keeps the video layout. Early
fusion's first layer is a ``Kt = T`` convolution without temporal padding: the same linear map
as a Conv2d over the ``3T`` stacked channels (``W2d[:, 3t + c] = W3d[:, c, t]``; a test checks
it). The standard-size models use a per-frame torchvision ResNet-18 (optionally loaded from a
local 2D state dict with ``weights_2d=``); the small ones a 4-stage CNN of 16..128 channels.

Three two-layer networks show where each fusion grows its receptive field, the "Early Fusion
vs Late Fusion vs 3D CNN" comparison of Stanford CS231n (2024), Lecture 10 "Video
Understanding" (slides by Justin Johnson), input 3 x 20 x 64 x 64: ``late_fusion_pool_tiny``
(Conv2D 3x3 3->12, Pool2D 4x4, Conv2D 3x3 12->24 per frame, global average pool),
``early_fusion_tiny`` (the first convolution over all 20 frames) and ``cnn3d_tiny`` (3x3x3
convolutions, Pool3D 4x4x4). :func:`receptive_fields` recomputes the comparison's "Size" and
"Receptive Field" columns from any model, e.g. 6x6x6 after Pool3D(4x4x4).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._blocks import ActLayer, ConvBnAct3d, NormLayer, VideoNet, default_act, finish, init_weights_
from avlearn.models.video.i3d import I3DResNet, build_resnet2d

__all__ = [
    "ConvSpec",
    "PoolSpec",
    "SimpleCNN3d",
    "PoolFusionNet",
    "SingleFrameNet",
    "LateFusionFC",
    "receptive_fields",
]


@dataclass(frozen=True)
class ConvSpec:
    """A conv-norm-act layer of :class:`SimpleCNN3d` (padding defaults to ``k // 2``)."""

    out: int
    kernel: tuple[int, int, int] = (1, 3, 3)
    stride: tuple[int, int, int] = (1, 1, 1)
    padding: tuple[int, int, int] | None = None


@dataclass(frozen=True)
class PoolSpec:
    """A max-pooling layer of :class:`SimpleCNN3d` (stride = kernel)."""

    kernel: tuple[int, int, int]


LayerSpec = ConvSpec | PoolSpec


class SimpleCNN3d(VideoNet):
    """A plain stack of conv/pool stages, the trunk of the small fusion models.

    Args:
        stages: one list of :class:`ConvSpec` / :class:`PoolSpec` per stage; each stage is a
            ``feature_info`` entry.
        in_channels: input channels.
        norm_layer: normalisation after each conv (``None``: conv with bias, no norm).
        act_layer: activation after each conv.
    """

    def __init__(
        self,
        *,
        stages: Sequence[Sequence[LayerSpec]],
        in_channels: int = 3,
        norm_layer: NormLayer | None = nn.BatchNorm3d,
        act_layer: ActLayer = default_act,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.stages = nn.Sequential()
        self.feature_info = []
        c, reduction = in_channels, 1
        for i, stage in enumerate(stages):
            layers: list[nn.Module] = []
            for spec in stage:
                if isinstance(spec, ConvSpec):
                    layers.append(
                        ConvBnAct3d(
                            c,
                            spec.out,
                            kernel_size=spec.kernel,
                            stride=spec.stride,
                            padding=spec.padding,
                            norm_layer=norm_layer,
                            act_layer=act_layer,
                        )
                    )
                    c, reduction = spec.out, reduction * spec.stride[1]
                else:
                    layers.append(nn.MaxPool3d(spec.kernel, stride=spec.kernel))
                    reduction *= spec.kernel[1]
            self.stages.add_module(str(i), nn.Sequential(*layers))
            self.feature_info.append({"module": f"stages.{i}", "num_chs": c, "reduction": reduction})
        self.num_features = c
        init_weights_(self)

    def forward_features(self, x: Tensor) -> Tensor:
        """Output of the last stage ``(B, D, T', H', W')``."""
        return self.stages(self.prepare(x))


class PoolFusionNet(VideoNet):
    """A trunk followed by global average pooling over (T, H, W) and a linear classifier.

    With a per-frame trunk this is *late fusion with pooling*; with an early-fusion trunk it is
    *early fusion*; with a 3D trunk it is *slow fusion*.

    Args:
        trunk: a :class:`VideoNet` whose ``forward_features`` gives ``(B, D, T', H', W')``.
        num_classes: classifier outputs (0: none).
        num_frames: if set, the clip length the trunk requires (early fusion, late FC).
        dropout: dropout before the classifier.
    """

    def __init__(self, *, trunk: VideoNet, num_classes: int = 400, num_frames: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.trunk = trunk
        self.in_channels = trunk.in_channels
        self.num_frames = num_frames
        self.num_features = trunk.num_features
        self.feature_info = [{**d, "module": f"trunk.{d['module']}"} for d in trunk.feature_info]
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = self._classifier(self.num_features, num_classes)

    @staticmethod
    def _classifier(width: int, num_classes: int) -> nn.Module:
        if num_classes <= 0:
            return nn.Identity()
        fc = nn.Linear(width, num_classes)
        nn.init.normal_(fc.weight, 0.0, 0.01)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: Tensor) -> Tensor:
        """The trunk's last feature map ``(B, D, T', H', W')``.

        Raises:
            ValueError: the model needs ``num_frames`` frames and got another count.
        """
        x = self.prepare(x)
        if self.num_frames is not None and x.shape[2] != self.num_frames:
            raise ValueError(
                f"{type(self).__name__}: built for clips of {self.num_frames} frames, "
                f"got {x.shape[2]} (shape {tuple(x.shape)})"
            )
        return self.trunk.forward_features(x)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Average over space and time, then the classifier."""
        x = self.dropout(self.pool(feats).flatten(1))  # (B, D)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


class SingleFrameNet(PoolFusionNet):
    """Single-frame model: a 2D CNN classifies every frame; probabilities are averaged.

    ``forward`` returns ``log(mean_t softmax(logits_t))``: usable as logits (its softmax is the
    averaged probability), so cross-entropy trains the frame-averaged prediction.
    :meth:`forward_frames` gives the per-frame logits ``(B, T, num_classes)`` for training on
    frames independently.
    """

    def __init__(self, *, trunk: VideoNet, num_classes: int = 400, dropout: float = 0.0):
        if num_classes <= 0:
            raise ValueError("SingleFrameNet needs num_classes > 0 (its output averages per-frame probabilities)")
        super().__init__(trunk=trunk, num_classes=num_classes, dropout=dropout)
        self.pool = nn.AdaptiveAvgPool3d((None, 1, 1))

    def frame_logits(self, feats: Tensor) -> Tensor:
        """Per-frame logits ``(B, T, num_classes)`` from a feature map ``(B, D, T, H', W')``."""
        x = self.pool(feats).flatten(2).transpose(1, 2)  # (B, T, D)
        return self.fc(self.dropout(x))  # (B, T, num_classes)

    def forward_frames(self, x: Tensor) -> Tensor:
        """Per-frame logits ``(B, T, num_classes)`` of a clip ``(B, C, T, H, W)``."""
        return self.frame_logits(self.forward_features(x))

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Log of the frame-averaged probabilities; ``pre_logits``: features averaged over T, H, W."""
        if pre_logits:
            return feats.mean((2, 3, 4))  # (B, D)
        logp = self.frame_logits(feats).log_softmax(-1)  # (B, T, K)
        return torch.logsumexp(logp, dim=1) - math.log(logp.shape[1])  # (B, K)


class LateFusionFC(PoolFusionNet):
    """Late fusion with FC layers: per-frame features flattened together into an MLP.

    Each frame's map is average-pooled to ``grid`` (so any frame size works), the ``T`` maps are
    concatenated into one ``T * D * gh * gw`` vector, and ``Linear -> act -> dropout -> Linear``
    classifies it. The clip must have exactly ``num_frames`` frames.

    Args:
        trunk: a per-frame trunk.
        num_frames: frames per clip.
        grid: per-frame spatial grid ``(gh, gw)`` kept before flattening.
        hidden: width of the hidden FC layer (``num_features``).
        num_classes: classifier outputs (0: none; ``forward`` returns the hidden layer).
        dropout: dropout after the hidden layer.
        act_layer: activation of the hidden layer.
    """

    def __init__(
        self,
        *,
        trunk: VideoNet,
        num_frames: int,
        grid: tuple[int, int] = (2, 2),
        hidden: int = 512,
        num_classes: int = 400,
        dropout: float = 0.0,
        act_layer: ActLayer = default_act,
    ):
        super().__init__(trunk=trunk, num_classes=0, num_frames=num_frames)
        self.pool = nn.AdaptiveAvgPool3d((num_frames, *grid))
        self.fc1 = nn.Linear(num_frames * trunk.num_features * grid[0] * grid[1], hidden)
        self.act = act_layer()
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.num_features = hidden
        self.fc = self._classifier(hidden, num_classes)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Flatten ``T x D x gh x gw``, hidden FC layer, classifier."""
        x = self.pool(feats).transpose(1, 2).flatten(1)  # (B, T * D * gh * gw), frame-major
        x = self.dropout(self.act(self.fc1(x)))  # (B, hidden)
        return x if pre_logits else self.fc(x)  # (B, num_classes)


def receptive_fields(model: nn.Module, input_size: Sequence[int]) -> list[dict]:
    """The "Size" and "Receptive Field" (T x H x W) of every conv/pool of a model, in execution order.

    Runs ``model`` once on zeros of shape ``(1, *input_size)`` and follows, in execution order,
    each Conv3d / MaxPool3d / AvgPool3d / adaptive 3D pool. The receptive field of a layer
    with kernel ``k``, dilation ``d`` and stride ``s`` grows by ``(k - 1) d j`` where ``j`` is
    the product of the earlier strides; an adaptive pool to size 1 along a dimension (global
    pooling) sees the whole input along it.
    Fields are clipped to the input extent.

    Args:
        model: a video model (any module taking ``(B, C, T, H, W)``).
        input_size: ``(C, T, H, W)``.

    Returns:
        One dict per layer: ``{"module", "type", "size": (C, T, H, W), "rf": (T, H, W)}``.
    """
    extent = tuple(input_size[1:])
    rf, jump = [1, 1, 1], [1, 1, 1]
    rows: list[dict] = []

    def hook(name):
        def fn(m, _inp, out):
            if isinstance(m, (nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d)):
                for i, o in enumerate(_triple(m.output_size)):
                    rf[i] = extent[i] if o == 1 else rf[i]
            else:
                k, s = _triple(m.kernel_size), _triple(m.stride or m.kernel_size)
                d = _triple(getattr(m, "dilation", 1))
                for i in range(3):
                    rf[i] = min(rf[i] + (k[i] - 1) * d[i] * jump[i], extent[i])
                    jump[i] *= s[i]
            rows.append({"module": name, "type": type(m).__name__, "size": tuple(out.shape[1:]), "rf": tuple(rf)})

        return fn

    kinds = (nn.Conv3d, nn.MaxPool3d, nn.AvgPool3d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool3d)
    handles = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if isinstance(m, kinds)]
    try:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, *input_size))
        model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return rows


def _triple(v) -> tuple[int, int, int]:
    return (v, v, v) if isinstance(v, int) else tuple(v)


# --------------------------------------------------------------------------- trunks


def _small_frame_stages(first_kernel: tuple[int, int, int] = (1, 3, 3), first_padding=None) -> list[list[LayerSpec]]:
    # 4 stages of 16, 32, 64, 128 channels, each halving H and W (/16 overall).
    s2 = (1, 2, 2)
    return [
        [ConvSpec(16, first_kernel, s2, first_padding)],
        [ConvSpec(32, stride=s2), ConvSpec(32)],
        [ConvSpec(64, stride=s2), ConvSpec(64)],
        [ConvSpec(128, stride=s2), ConvSpec(128)],
    ]


def _small_trunk(in_channels: int, *, early_frames: int | None = None) -> SimpleCNN3d:
    if early_frames is None:
        return SimpleCNN3d(stages=_small_frame_stages(), in_channels=in_channels)
    return SimpleCNN3d(stages=_small_frame_stages((early_frames, 3, 3), (0, 1, 1)), in_channels=in_channels)


def _resnet18_trunk(
    in_channels: int, weights_2d: str | os.PathLike | None, *, early_frames: int | None = None
) -> I3DResNet:
    time_kernel = 1 if early_frames is None else {"conv1": (early_frames, 1, 0)}
    net2d = build_resnet2d("resnet18", weights_2d=weights_2d)
    return I3DResNet(
        resnet2d=net2d, time_kernel=time_kernel, time_padding_mode="zeros", in_channels=in_channels, num_classes=0
    )


def _tiny_trunk(kind: str, in_channels: int) -> SimpleCNN3d:
    # Conv(3x3, 3->12), Pool(4x4), Conv(3x3, 12->24); 2D = temporal kernel 1.
    first = {"late": ((1, 3, 3), (0, 1, 1)), "early": ((20, 3, 3), (0, 1, 1)), "3d": ((3, 3, 3), (1, 1, 1))}[kind]
    k2 = (3, 3, 3) if kind == "3d" else (1, 3, 3)
    pool = (4, 4, 4) if kind == "3d" else (1, 4, 4)
    stages = [[ConvSpec(12, first[0], padding=first[1])], [PoolSpec(pool)], [ConvSpec(24, k2)]]
    return SimpleCNN3d(stages=stages, in_channels=in_channels, norm_layer=None)


def _slow_fusion_stages(widths: Sequence[int]) -> list[list[LayerSpec]]:
    # 3x3x3 convs; time is halved from the second stage on, so its extent grows slowly.
    stages: list[list[LayerSpec]] = [[ConvSpec(widths[0], (3, 3, 3), (1, 2, 2))]]
    for w in widths[1:]:
        stages.append([ConvSpec(w, (3, 3, 3), (2, 2, 2)), ConvSpec(w, (3, 3, 3))])
    return stages


def _karpathy_slow_fusion_stages() -> list[list[LayerSpec]]:
    # Karpathy et al. Sec. 2.1: C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P,
    # slow fusion: temporal extents 4, 2, 2 with stride 2 (10 frames -> 4 -> 2 -> 1); BN for LRN.
    return [
        [ConvSpec(96, (4, 11, 11), (2, 3, 3), (0, 0, 0)), PoolSpec((1, 2, 2))],
        [ConvSpec(256, (2, 5, 5), (2, 1, 1), (0, 2, 2)), PoolSpec((1, 2, 2))],
        [ConvSpec(384, (2, 3, 3), (2, 1, 1), (0, 1, 1)), ConvSpec(384), ConvSpec(256), PoolSpec((1, 2, 2))],
    ]


# --------------------------------------------------------------------------- registered models

_SMALL = dict(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
_SMALL_FIXED_T = dict(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 8, 32, 32))
_R18 = dict(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 2, 32, 32))
_R18_FIXED_T = dict(modality="video", input_size=(3, 8, 112, 112), tiny_input=(3, 8, 32, 32))
_TINY_FUSION = dict(modality="video", input_size=(3, 20, 64, 64), tiny_input=(3, 20, 32, 32))
_WeightsPath = str | os.PathLike | None


def _done(model: VideoNet, channels_last: bool) -> VideoNet:
    return finish(model, channels_last=channels_last)


@register_model(**_SMALL)
def single_frame_small(
    *, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.0, channels_last: bool = True
) -> SingleFrameNet:
    """Single-frame model on the small per-frame CNN (16..128 channels)."""
    return _done(
        SingleFrameNet(trunk=_small_trunk(in_channels), num_classes=num_classes, dropout=dropout), channels_last
    )


@register_model(**_R18)
def single_frame_r18(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    dropout: float = 0.0,
    weights_2d: _WeightsPath = None,
    channels_last: bool = True,
) -> SingleFrameNet:
    """Single-frame model on a per-frame ResNet-18 (``weights_2d``: a local 2D state dict)."""
    trunk = _resnet18_trunk(in_channels, weights_2d)
    return _done(SingleFrameNet(trunk=trunk, num_classes=num_classes, dropout=dropout), channels_last)


@register_model(**_SMALL)
def late_fusion_pool_small(
    *, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.0, channels_last: bool = True
) -> PoolFusionNet:
    """Late fusion with pooling on the small per-frame CNN."""
    return _done(
        PoolFusionNet(trunk=_small_trunk(in_channels), num_classes=num_classes, dropout=dropout), channels_last
    )


@register_model(**_R18)
def late_fusion_pool_r18(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    dropout: float = 0.0,
    weights_2d: _WeightsPath = None,
    channels_last: bool = True,
) -> PoolFusionNet:
    """Late fusion with pooling on a per-frame ResNet-18."""
    trunk = _resnet18_trunk(in_channels, weights_2d)
    return _done(PoolFusionNet(trunk=trunk, num_classes=num_classes, dropout=dropout), channels_last)


@register_model(**_SMALL_FIXED_T)
def late_fusion_fc_small(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    num_frames: int = 8,
    hidden: int = 256,
    dropout: float = 0.0,
    channels_last: bool = True,
) -> LateFusionFC:
    """Late fusion with FC layers on the small per-frame CNN (8 frames x 128 x 2 x 2 -> 256)."""
    model = LateFusionFC(
        trunk=_small_trunk(in_channels), num_frames=num_frames, hidden=hidden, num_classes=num_classes, dropout=dropout
    )
    return _done(model, channels_last)


@register_model(**_R18_FIXED_T)
def late_fusion_fc_r18(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    num_frames: int = 8,
    hidden: int = 512,
    dropout: float = 0.0,
    weights_2d: _WeightsPath = None,
    channels_last: bool = True,
) -> LateFusionFC:
    """Late fusion with FC layers on a per-frame ResNet-18 (8 frames x 512 x 2 x 2 -> 512)."""
    trunk = _resnet18_trunk(in_channels, weights_2d)
    model = LateFusionFC(trunk=trunk, num_frames=num_frames, hidden=hidden, num_classes=num_classes, dropout=dropout)
    return _done(model, channels_last)


@register_model(**_SMALL_FIXED_T)
def early_fusion_small(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    num_frames: int = 8,
    dropout: float = 0.0,
    channels_last: bool = True,
) -> PoolFusionNet:
    """Early fusion: the small CNN whose first conv sees all 3T channels (8 frames)."""
    trunk = _small_trunk(in_channels, early_frames=num_frames)
    return _done(
        PoolFusionNet(trunk=trunk, num_classes=num_classes, num_frames=num_frames, dropout=dropout), channels_last
    )


@register_model(**_R18_FIXED_T)
def early_fusion_r18(
    *,
    num_classes: int = 400,
    in_channels: int = 3,
    num_frames: int = 8,
    dropout: float = 0.0,
    weights_2d: _WeightsPath = None,
    channels_last: bool = True,
) -> PoolFusionNet:
    """Early fusion on ResNet-18: conv1 spans all 8 frames (2D weights spread over T as in I3D)."""
    trunk = _resnet18_trunk(in_channels, weights_2d, early_frames=num_frames)
    return _done(
        PoolFusionNet(trunk=trunk, num_classes=num_classes, num_frames=num_frames, dropout=dropout), channels_last
    )


@register_model(**_SMALL)
def slow_fusion_small(
    *, num_classes: int = 400, in_channels: int = 3, dropout: float = 0.0, channels_last: bool = True
) -> PoolFusionNet:
    """Slow fusion: a 3D CNN of 16..128 channels, 3x3x3 convs, time halved from stage 2 on."""
    trunk = SimpleCNN3d(stages=_slow_fusion_stages((16, 32, 64, 128)), in_channels=in_channels)
    return _done(PoolFusionNet(trunk=trunk, num_classes=num_classes, dropout=dropout), channels_last)


@register_model(modality="video", input_size=(3, 10, 170, 170), tiny_input=(3, 10, 32, 32))
def slow_fusion_karpathy(
    *, num_classes: int = 487, in_channels: int = 3, dropout: float = 0.0, channels_last: bool = True
) -> PoolFusionNet:
    """Karpathy et al.'s slow-fusion conv layers on 10 frames (global-pool head instead of FC6/FC7)."""
    trunk = SimpleCNN3d(stages=_karpathy_slow_fusion_stages(), in_channels=in_channels)
    return _done(PoolFusionNet(trunk=trunk, num_classes=num_classes, num_frames=10, dropout=dropout), channels_last)


@register_model(**_TINY_FUSION)
def late_fusion_pool_tiny(*, num_classes: int = 10, in_channels: int = 3, channels_last: bool = True) -> PoolFusionNet:
    """Two-layer late fusion (pooling): Conv2D(3x3, 3->12), Pool2D(4x4), Conv2D(3x3, 12->24) per frame, GAP."""
    return _done(PoolFusionNet(trunk=_tiny_trunk("late", in_channels), num_classes=num_classes), channels_last)


@register_model(**_TINY_FUSION)
def early_fusion_tiny(*, num_classes: int = 10, in_channels: int = 3, channels_last: bool = True) -> PoolFusionNet:
    """Two-layer early fusion: Conv2D(3x3, 3*20->12), Pool2D(4x4), Conv2D(3x3, 12->24), GAP."""
    return _done(
        PoolFusionNet(trunk=_tiny_trunk("early", in_channels), num_classes=num_classes, num_frames=20), channels_last
    )


@register_model(**_TINY_FUSION)
def cnn3d_tiny(*, num_classes: int = 10, in_channels: int = 3, channels_last: bool = True) -> PoolFusionNet:
    """Two-layer 3D CNN: Conv3D(3x3x3, 3->12), Pool3D(4x4x4), Conv3D(3x3x3, 12->24), GAP."""
    return _done(PoolFusionNet(trunk=_tiny_trunk("3d", in_channels), num_classes=num_classes), channels_last)
