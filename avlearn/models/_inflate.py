"""Inflate a 2D network into a 3D one (I3D, Carreira & Zisserman, CVPR 2017, Sec. 2.4).

"Inflating 2D ConvNets into 3D": every ``N x N`` filter becomes ``Kt x N x N``; the 2D weights
are repeated ``Kt`` times along time and divided by ``Kt`` ("bootstrapping 3D filters from 2D
filters"), so that on a *boring* video — one image repeated over time — every convolution,
and hence the whole network, gives the 2D network's response to that image. BatchNorm2d
becomes BatchNorm3d with the same statistics; 2D pooling becomes ``1 x k x k`` 3D pooling.

The boring-video property holds exactly only if the temporal padding repeats the border frames
(zeros would dim the first and last frames), so inflated convolutions pad time by replication
by default (``time_padding_mode="replicate"``); spatial padding stays as in the 2D network.

    >>> import torchvision
    >>> net3d = inflate(torchvision.models.resnet18(), time_kernel=lambda name, conv: 3 if name == "conv1" else 1)

Module names are unchanged, so the inflated model's state-dict keys are the 2D model's.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "TimeSpec",
    "ReplicateTimePadConv3d",
    "inflate",
    "inflate_conv2d",
    "inflate_batchnorm2d",
    "inflate_pool2d",
]

#: Temporal shape of one inflated conv: a kernel size, or ``(kernel, stride, padding)``.
TimeSpec = int | tuple[int, int, int]
TimeKernel = int | dict[str, TimeSpec] | Callable[[str, nn.Conv2d], TimeSpec]


class ReplicateTimePadConv3d(nn.Conv3d):
    """A Conv3d that pads time by repeating the first/last frame, and space as configured.

    ``padding`` holds the spatial padding only (its time entry is 0); ``time_padding`` frames are
    replicated on each side before the convolution.
    """

    def __init__(self, *args, time_padding: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.time_padding = time_padding

    def forward(self, x: Tensor) -> Tensor:
        if self.time_padding:
            p = self.time_padding
            x = F.pad(x, (0, 0, 0, 0, p, p), mode="replicate")  # (B, C, T + 2p, H, W)
        return super().forward(x)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", time_padding={self.time_padding} (replicate)"


def _time_spec(spec: TimeSpec) -> tuple[int, int, int]:
    if isinstance(spec, int):
        return spec, 1, spec // 2
    k, s, p = spec
    return int(k), int(s), int(p)


def inflate_conv2d(
    conv: nn.Conv2d,
    *,
    time_kernel: TimeSpec = 1,
    time_padding_mode: str = "replicate",
) -> nn.Conv3d:
    """Inflate one Conv2d: weights repeated ``Kt`` times over time and divided by ``Kt``.

    Args:
        conv: the 2D convolution (its weights are copied; it is not modified).
        time_kernel: ``Kt`` (stride 1, padding ``Kt // 2``) or ``(Kt, stride, padding)``.
        time_padding_mode: ``"replicate"`` (exact on static video) or ``"zeros"``.

    Returns:
        A Conv3d (a :class:`ReplicateTimePadConv3d` when padding time by replication).

    Raises:
        ValueError: the 2D conv uses string padding or a non-zero padding mode.
    """
    if isinstance(conv.padding, str) or conv.padding_mode != "zeros":
        raise ValueError(
            f"inflate_conv2d: cannot inflate {conv} (padding={conv.padding!r}, padding_mode={conv.padding_mode!r})"
        )
    if time_padding_mode not in ("replicate", "zeros"):
        raise ValueError(f"inflate_conv2d: time_padding_mode must be 'replicate' or 'zeros', got {time_padding_mode!r}")
    kt, st, pt = _time_spec(time_kernel)
    common = dict(
        in_channels=conv.in_channels,
        out_channels=conv.out_channels,
        kernel_size=(kt, *conv.kernel_size),
        stride=(st, *conv.stride),
        dilation=(1, *conv.dilation),
        groups=conv.groups,
        bias=conv.bias is not None,
        device=conv.weight.device,
        dtype=conv.weight.dtype,
    )
    if time_padding_mode == "replicate":
        out: nn.Conv3d = ReplicateTimePadConv3d(padding=(0, *conv.padding), time_padding=pt, **common)
    else:
        out = nn.Conv3d(padding=(pt, *conv.padding), **common)
    with torch.no_grad():
        w = conv.weight.unsqueeze(2).repeat(1, 1, kt, 1, 1) / kt  # (O, I/g, Kt, Kh, Kw)
        out.weight.copy_(w)
        if conv.bias is not None:
            out.bias.copy_(conv.bias)
    return out


def inflate_batchnorm2d(bn: nn.BatchNorm2d) -> nn.BatchNorm3d:
    """BatchNorm2d -> BatchNorm3d with the same affine parameters and running statistics."""
    out = nn.BatchNorm3d(
        bn.num_features,
        eps=bn.eps,
        momentum=bn.momentum,
        affine=bn.affine,
        track_running_stats=bn.track_running_stats,
        device=bn.weight.device if bn.affine else None,
    )
    out.load_state_dict(bn.state_dict())
    return out


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else tuple(v)


def inflate_pool2d(pool: nn.Module) -> nn.Module:
    """2D pooling -> 3D pooling that leaves time alone (``1 x k x k``; adaptive: time -> 1).

    Raises:
        TypeError: ``pool`` is not a supported 2D pooling layer.
    """
    if isinstance(pool, nn.MaxPool2d):
        return nn.MaxPool3d(
            (1, *_pair(pool.kernel_size)),
            stride=(1, *_pair(pool.stride)),
            padding=(0, *_pair(pool.padding)),
            dilation=(1, *_pair(pool.dilation)),
            ceil_mode=pool.ceil_mode,
        )
    if isinstance(pool, nn.AvgPool2d):
        return nn.AvgPool3d(
            (1, *_pair(pool.kernel_size)),
            stride=(1, *_pair(pool.stride)),
            padding=(0, *_pair(pool.padding)),
            ceil_mode=pool.ceil_mode,
            count_include_pad=pool.count_include_pad,
        )
    if isinstance(pool, nn.AdaptiveAvgPool2d):
        return nn.AdaptiveAvgPool3d((1, *_pair(pool.output_size)))
    if isinstance(pool, nn.AdaptiveMaxPool2d):
        return nn.AdaptiveMaxPool3d((1, *_pair(pool.output_size)))
    raise TypeError(f"inflate_pool2d: unsupported layer {type(pool).__name__}")


_POOLS_2D = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)


def _resolve(time_kernel: TimeKernel, name: str, conv: nn.Conv2d) -> TimeSpec:
    if isinstance(time_kernel, int):
        return time_kernel
    if isinstance(time_kernel, dict):
        return time_kernel.get(name, 1)
    return time_kernel(name, conv)


def inflate(module: nn.Module, *, time_kernel: TimeKernel = 1, time_padding_mode: str = "replicate") -> nn.Module:
    """Return a 3D copy of a 2D network (``module`` itself is left unchanged).

    Every Conv2d, BatchNorm2d and 2D pooling layer is replaced in place of the same name;
    other layers (ReLU, Linear, Flatten, ...) are kept as they are.

    Args:
        module: any 2D network, e.g. a ``torchvision.models.resnet50()``.
        time_kernel: ``Kt`` for every conv, a ``{dotted conv name: TimeSpec}`` dict (others get
            1), or a callable ``(dotted name, conv2d) -> TimeSpec``.
        time_padding_mode: ``"replicate"`` (default; exact on static video) or ``"zeros"``.

    Returns:
        The inflated network; with ``time_kernel=1`` it applies the 2D network to every frame.
    """
    module = copy.deepcopy(module)
    if isinstance(module, (nn.Conv2d, nn.BatchNorm2d, *_POOLS_2D)):
        return _inflate_leaf("", module, time_kernel, time_padding_mode)
    _inflate_children(module, "", time_kernel, time_padding_mode)
    return module


def _inflate_leaf(name: str, m: nn.Module, time_kernel: TimeKernel, mode: str) -> nn.Module:
    if isinstance(m, nn.Conv2d):
        return inflate_conv2d(m, time_kernel=_resolve(time_kernel, name, m), time_padding_mode=mode)
    if isinstance(m, nn.BatchNorm2d):
        return inflate_batchnorm2d(m)
    return inflate_pool2d(m)


def _inflate_children(module: nn.Module, prefix: str, time_kernel: TimeKernel, mode: str) -> None:
    for child_name, child in list(module.named_children()):
        name = f"{prefix}{child_name}"
        if isinstance(child, (nn.Conv2d, nn.BatchNorm2d, *_POOLS_2D)):
            setattr(module, child_name, _inflate_leaf(name, child, time_kernel, mode))
        else:
            _inflate_children(child, name + ".", time_kernel, mode)
