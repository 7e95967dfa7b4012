"""Shared pieces of the video backbones: the base class, conv-BN-act units, weight init.

Every video model of the zoo takes ``(B, C, T, H, W)`` float input and follows the contract of
:mod:`avlearn.models._features`. The base class :class:`VideoNet` supplies ``forward`` and the
input check; it also puts the input in the ``channels_last_3d`` memory format, where oneDNN's
3D convolutions are fastest on CPU. Measured here (benchmarks/RESULTS.md, "Models", idle
machine): 1.12x / 0.98x per train step on R(2+1)D-18 / R3D-18 at 4 x 3x8x112x112 and
0.94-2.14x on the CPU-recipe variants at 64x64 (under load), against the contiguous layout. Builders call :func:`finish` so the weights
are in the same layout and no conversion happens at each call; ``channels_last=False`` in any
builder gives torchvision's layout.

Weight init follows torchvision's video ResNets (He et al., ICCV 2015 "Delving deep into
rectifiers": Kaiming normal, fan-out) so all families start from the same scale.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = [
    "VideoNet",
    "ConvBnAct3d",
    "as_channels_last_3d",
    "finish",
    "init_weights_",
    "NormLayer",
    "ActLayer",
]

NormLayer = Callable[[int], nn.Module]
ActLayer = Callable[[], nn.Module]


def as_channels_last_3d(x: Tensor) -> Tensor:
    """Return a 5-D tensor in ``torch.channels_last_3d`` layout (a no-op when it already is)."""
    if x.dim() == 5 and not x.is_contiguous(memory_format=torch.channels_last_3d):
        return x.contiguous(memory_format=torch.channels_last_3d)
    return x


def default_act() -> nn.Module:
    """ReLU applied in place, the activation of every CNN family here."""
    return nn.ReLU(inplace=True)


class ConvBnAct3d(nn.Sequential):
    """``Conv3d -> norm -> act`` with ``"same"``-style padding for odd kernels.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: ``(kt, kh, kw)``.
        stride: ``(st, sh, sw)``.
        padding: explicit padding; default ``k // 2`` per dimension.
        norm_layer: callable ``(channels) -> module`` (``None`` for no norm; the conv then
            gets a bias).
        act_layer: callable ``() -> module`` (``None`` for no activation).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        kernel_size: tuple[int, int, int] = (3, 3, 3),
        stride: tuple[int, int, int] = (1, 1, 1),
        padding: tuple[int, int, int] | None = None,
        norm_layer: NormLayer | None = nn.BatchNorm3d,
        act_layer: ActLayer | None = default_act,
    ):
        pad = tuple(k // 2 for k in kernel_size) if padding is None else padding
        layers: list[nn.Module] = [
            nn.Conv3d(in_channels, out_channels, kernel_size, stride=stride, padding=pad, bias=norm_layer is None)
        ]
        if norm_layer is not None:
            layers.append(norm_layer(out_channels))
        if act_layer is not None:
            layers.append(act_layer())
        super().__init__(*layers)


def init_weights_(module: nn.Module) -> nn.Module:
    """torchvision's video-ResNet init: Kaiming-normal (fan-out) convs, unit norms, N(0, 0.01) linears."""
    for m in module.modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d, nn.Conv1d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm3d, nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


def finish(model: nn.Module, *, channels_last: bool = True) -> nn.Module:
    """Put a freshly built model's 5-D weights in the ``channels_last_3d`` layout.

    Loading a state dict later keeps this layout (``load_state_dict`` copies into the
    existing tensors), so a checkpoint saved from torchvision loads into a fast model.
    """
    if channels_last:
        model.to(memory_format=torch.channels_last_3d)
    for m in model.modules():  # nested trunks convert their input the same way
        if isinstance(m, VideoNet):
            m.channels_last = channels_last
    return model


class VideoNet(nn.Module):
    """Base of the video models: ``forward = forward_head(forward_features(x))``.

    Subclasses set ``in_channels``, ``feature_info``, ``num_features`` and implement
    ``forward_features`` (starting with ``x = self.prepare(x)``) and ``forward_head``.
    """

    in_channels: int = 3
    num_features: int = 0
    channels_last: bool = True
    feature_info: list[dict]

    def prepare(self, x: Tensor) -> Tensor:
        """Check that ``x`` is ``(B, in_channels, T, H, W)`` and convert its memory format.

        Raises:
            ValueError: the input has the wrong rank or channel count.
        """
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: expected video input (B, {self.in_channels}, T, H, W), "
                f"got shape {tuple(x.shape)}"
            )
        return as_channels_last_3d(x) if self.channels_last else x

    def forward(self, x: Tensor) -> Tensor:
        """Class scores ``(B, num_classes)`` for a clip batch ``(B, C, T, H, W)``."""
        return self.forward_head(self.forward_features(x))
