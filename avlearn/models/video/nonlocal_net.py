"""Non-local blocks for 3D CNNs (Wang, Girshick, Gupta, He, "Non-local Neural Networks", CVPR 2018).

Embedded-Gaussian non-local operation (Eq. 1-3) with the residual form of Eq. 6:

    y_i = 1/C(x) sum_j exp(theta(x_i)^T phi(x_j)) g(x_j)     (softmax over j)
    z_i = W_z y_i + x_i

``theta``, ``phi``, ``g`` and ``W_z`` are 1x1x1 convolutions; ``theta/phi/g`` halve the channels
(Sec. 3.3 "a bottleneck"); ``phi`` and ``g`` are max-pooled 1x2x2 ("subsampling", Sec. 3.3).
``W_z`` is followed by BatchNorm whose scale is initialised to zero (Sec. 4 "the scale
parameter of this BN layer is initialized as zero"), so inserting a block leaves the host
network's output unchanged at initialisation. Without BN, ``W_z`` itself starts at zero.

:func:`insert_nonlocal` adds blocks after residual blocks of any 3D CNN whose stages are
``nn.Sequential``; the host's own state-dict keys do not change, so weights of the plain model
load into the non-local one with ``strict=False``. Wang et al. add 5 blocks to ResNet-50 I3D
(2 in res3, 3 in res4, every other block): ``insert_nonlocal(m, stages=("layer2", "layer3"),
every=2)``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._blocks import NormLayer, finish
from avlearn.models.video.i3d import I3DResNet, i3d_resnet
from avlearn.models.video.resnet3d import VideoResNet, r3d_18, r3d_tiny

__all__ = ["NonLocalBlock3d", "insert_nonlocal", "r3d_tiny_nl", "r3d_18_nl", "i3d_resnet50_nl"]


class NonLocalBlock3d(nn.Module):
    """Embedded-Gaussian non-local block with a zero-initialised residual branch.

    Args:
        channels: input (= output) channels.
        inter_channels: width of theta/phi/g (default ``channels // 2``).
        sub_sample: max-pool phi and g by 1x2x2 (when H and W are at least 2).
        norm_layer: normalisation after ``W_z`` (``None``: no norm, ``W_z`` is zeroed instead).
        scale: factor on ``theta^T phi`` before the softmax; the paper uses 1.
    """

    def __init__(
        self,
        channels: int,
        *,
        inter_channels: int | None = None,
        sub_sample: bool = True,
        norm_layer: NormLayer | None = nn.BatchNorm3d,
        scale: float = 1.0,
    ):
        super().__init__()
        inner = inter_channels or max(channels // 2, 1)
        self.theta = nn.Conv3d(channels, inner, 1)
        self.phi = nn.Conv3d(channels, inner, 1)
        self.g = nn.Conv3d(channels, inner, 1)
        self.out = nn.Conv3d(inner, channels, 1, bias=norm_layer is None)
        self.norm = norm_layer(channels) if norm_layer is not None else nn.Identity()
        self.sub_sample = sub_sample
        self.scale = scale
        for conv in (self.theta, self.phi, self.g):
            nn.init.normal_(conv.weight, 0.0, 0.01)
            nn.init.zeros_(conv.bias)
        nn.init.kaiming_normal_(self.out.weight, mode="fan_out", nonlinearity="relu")
        self.reset_residual_()

    def reset_residual_(self) -> None:
        """Zero the residual branch: the block becomes the identity (Wang et al. Sec. 4)."""
        target = self.norm if getattr(self.norm, "weight", None) is not None else self.out
        nn.init.zeros_(target.weight)
        if target.bias is not None:
            nn.init.zeros_(target.bias)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        q = self.theta(x).flatten(2).transpose(1, 2)  # (B, THW, C')
        kv_in = F.max_pool3d(x, (1, 2, 2)) if self.sub_sample and h >= 2 and w >= 2 else x  # (B, C, T, H/2, W/2)
        k = self.phi(kv_in).flatten(2).transpose(1, 2)  # (B, N', C')
        v = self.g(kv_in).flatten(2).transpose(1, 2)  # (B, N', C')
        y = F.scaled_dot_product_attention(
            q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), scale=self.scale
        )  # (B, 1, THW, C')
        y = y.squeeze(1).transpose(1, 2).reshape(b, -1, t, h, w)  # (B, C', T, H, W)
        return x + self.norm(self.out(y))  # (B, C, T, H, W)


def _out_channels(block: nn.Module) -> int:
    chans = None
    for m in block.modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)):
            chans = m.out_channels
        elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d)):
            chans = m.num_features
    if chans is None:
        raise ValueError(f"insert_nonlocal: cannot infer the output channels of {type(block).__name__}; pass channels=")
    return chans


def insert_nonlocal(
    model: nn.Module,
    *,
    stages: Sequence[str] = ("layer2", "layer3"),
    every: int = 2,
    offset: int = 0,
    channels: int | None = None,
    **block_kwargs,
) -> nn.Module:
    """Insert :class:`NonLocalBlock3d` after blocks ``offset, offset + every, ...`` of each stage.

    A stage ``layer2 = Sequential(0, 1)`` becomes ``Sequential(0, 0_nl, 1)``: existing keys keep
    their names, new ones are ``layer2.0_nl.*``. The model's output is unchanged at init.

    Args:
        model: any network whose ``stages`` are ``nn.Sequential`` submodules of residual blocks.
        stages: dotted names of those stages.
        every: a block after every ``every`` residual blocks.
        offset: index of the first block followed by a non-local block.
        channels: channels of the blocks (default: inferred from each block's last conv/BN).
        **block_kwargs: passed to :class:`NonLocalBlock3d`.

    Returns:
        ``model``, modified in place.

    Raises:
        ValueError: a stage is missing or is not an ``nn.Sequential``.
    """
    modules = dict(model.named_modules())
    for stage_name in stages:
        stage = modules.get(stage_name)
        if not isinstance(stage, nn.Sequential):
            raise ValueError(f"insert_nonlocal: {type(model).__name__} has no nn.Sequential stage {stage_name!r}")
        items: list[tuple[str, nn.Module]] = []
        for i, (name, block) in enumerate(stage.named_children()):
            items.append((name, block))
            if i >= offset and (i - offset) % every == 0:
                c = channels or _out_channels(block)
                nl = NonLocalBlock3d(c, **block_kwargs)
                ref = next(block.parameters(), None)
                if ref is not None:
                    nl.to(device=ref.device, dtype=ref.dtype)
                items.append((f"{name}_nl", nl))
        parent_name, _, attr = stage_name.rpartition(".")
        parent = modules[parent_name] if parent_name else model
        setattr(parent, attr, nn.Sequential(OrderedDict(items)))
    return model


def _with_nonlocal(model: nn.Module, stages: Sequence[str], every: int, channels_last: bool) -> nn.Module:
    return finish(insert_nonlocal(model, stages=stages, every=every), channels_last=channels_last)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def r3d_tiny_nl(*, num_classes: int = 400, in_channels: int = 3, channels_last: bool = True, **kwargs) -> VideoResNet:
    """:func:`r3d_tiny` with a non-local block after the block of ``layer2`` and ``layer3``."""
    model = r3d_tiny(num_classes=num_classes, in_channels=in_channels, channels_last=channels_last, **kwargs)
    return _with_nonlocal(model, ("layer2", "layer3"), 1, channels_last)


@register_model(modality="video", input_size=(3, 16, 112, 112), tiny_input=(3, 2, 32, 32))
def r3d_18_nl(*, num_classes: int = 400, in_channels: int = 3, channels_last: bool = True, **kwargs) -> VideoResNet:
    """R3D-18 with non-local blocks after the first block of ``layer2`` and ``layer3``."""
    model = r3d_18(num_classes=num_classes, in_channels=in_channels, channels_last=channels_last, **kwargs)
    return _with_nonlocal(model, ("layer2", "layer3"), 2, channels_last)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 2, 32, 32))
def i3d_resnet50_nl(*, num_classes: int = 400, in_channels: int = 3, channels_last: bool = True, **kwargs) -> I3DResNet:
    """ResNet-50 I3D with 5 non-local blocks (2 in res3, 3 in res4), Wang et al. Table 1 / Sec. 4."""
    model = i3d_resnet(
        "resnet50", num_classes=num_classes, in_channels=in_channels, channels_last=channels_last, **kwargs
    )
    return _with_nonlocal(model, ("layer2", "layer3"), 2, channels_last)
