"""Video transforms: layout/dtype conversion, resize, crops, flip, normalisation.

:class:`ToFloatCTHW` turns the reader's uint8 (T, H, W, 3) frames into the (C, T, H, W)
float clips in [0, 1] that 3D CNNs take (C3D, Tran et al. ICCV'15; R(2+1)D, Tran et al.
CVPR'18). The other transforms work on float tensors whose last two dims are (H, W), i.e.
(C, T, H, W) clips or (..., H, W) in general, and apply the *same* geometry to every frame
(the same crop window and flip for all T), as clip-level augmentation must: a crop that moved
between frames would add motion that is not in the video.

The augmentation set is the standard one of the video-classification papers:
resize the short side, random crop (train) / centre crop (test), horizontal flip, and
per-channel normalisation (Karpathy et al. CVPR'14, Sec. 4; Simonyan & Zisserman NeurIPS'14).
Each class is a :class:`~avlearn.data.transforms.SampleTransform`: call it on a tensor, or on a
sample dict to transform ``sample["video"]``. Random transforms draw from torch's global RNG,
which :class:`avlearn.data.AVDataset` seeds per item.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from avlearn.data.transforms.av import SampleTransform

__all__ = ["ToFloatCTHW", "Resize", "RandomCrop", "CenterCrop", "RandomHorizontalFlip", "Normalize"]

Size = int | tuple[int, int]


def _pair(size: Size, name: str) -> tuple[int, int]:
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ValueError(f"{name}: size must be positive, got {size}")
    return int(h), int(w)


def _require_float(x: torch.Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise TypeError(f"{name}: expects a float (..., H, W) tensor, got {x.dtype}; apply ToFloatCTHW first")


class ToFloatCTHW(SampleTransform):
    """uint8 (T, H, W, C) frames -> float32 (C, T, H, W) in [0, 1].

    Float input is only permuted (and cast to float32), not rescaled.

    Args:
        key: sample entry to convert (default ``"video"``).
    """

    def __init__(self, *, key: str = "video"):
        super().__init__(key=key)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4:
            raise ValueError(f"ToFloatCTHW: expects (T, H, W, C) frames, got shape {tuple(x.shape)}")
        is_uint8 = x.dtype == torch.uint8
        x = x.permute(3, 0, 1, 2).contiguous().to(torch.float32)  # (C, T, H, W)
        return x.div_(255) if is_uint8 else x


class Resize(SampleTransform):
    """Resize every frame.

    Args:
        size: an int resizes the shorter side to ``size`` keeping the aspect ratio; a pair
            ``(h, w)`` sets both sides.
        interpolation: ``"bilinear"``, ``"bicubic"``, ``"nearest"`` or ``"area"``.
        antialias: low-pass before downsampling (bilinear/bicubic only), as PIL does.
        key: sample entry to transform (default ``"video"``).
    """

    def __init__(self, size: Size, *, interpolation: str = "bilinear", antialias: bool = True, key: str = "video"):
        super().__init__(key=key)
        if interpolation not in ("bilinear", "bicubic", "nearest", "area"):
            raise ValueError(f"Resize: unknown interpolation {interpolation!r}")
        pair = _pair(size, "Resize")  # validates
        self.size = size if isinstance(size, int) else pair
        self.interpolation = interpolation
        self.antialias = antialias and interpolation in ("bilinear", "bicubic")

    def output_size(self, height: int, width: int) -> tuple[int, int]:
        """The (h, w) a frame of ``height`` x ``width`` is resized to."""
        if not isinstance(self.size, int):
            return self.size
        short, long = sorted((height, width))
        scaled = max(1, round(long * self.size / short))
        return (self.size, scaled) if height <= width else (scaled, self.size)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        _require_float(x, "Resize")
        *lead, height, width = x.shape
        h, w = self.output_size(height, width)
        if (h, w) == (height, width):
            return x
        align = False if self.interpolation in ("bilinear", "bicubic") else None
        y = F.interpolate(
            x.reshape(1, -1, height, width),  # (1, C*T, H, W)
            size=(h, w),
            mode=self.interpolation,
            align_corners=align,
            antialias=self.antialias,
        )  # (1, C*T, h, w)
        return y.reshape(*lead, h, w)  # (C, T, h, w)

    def extra_repr(self) -> str:
        return f"size={self.size}, interpolation={self.interpolation!r}, antialias={self.antialias}"


class _Crop(SampleTransform):
    """Crop a (h, w) window from the last two dims; subclasses choose its corner (abstract)."""

    def __init__(self, size: Size, *, key: str = "video"):
        super().__init__(key=key)
        self.size = _pair(size, type(self).__name__)

    @abc.abstractmethod
    def corner(self, spare_h: int, spare_w: int) -> tuple[int, int]:
        """``(top, left)`` of the window, given the spare rows and columns around it."""

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        h, w = self.size
        height, width = x.shape[-2:]
        if h > height or w > width:
            raise ValueError(f"{type(self).__name__}: crop {h}x{w} is larger than the frames {height}x{width}")
        top, left = self.corner(height - h, width - w)
        return x[..., top : top + h, left : left + w]  # (C, T, h, w)

    def extra_repr(self) -> str:
        return f"size={self.size}"


class RandomCrop(_Crop):
    """Crop a random (h, w) window, the same for every frame (training).

    Args:
        size: int (square) or (h, w).
        key: sample entry to transform (default ``"video"``).
    """

    def corner(self, spare_h: int, spare_w: int) -> tuple[int, int]:
        top = int(torch.randint(0, spare_h + 1, ()).item())
        left = int(torch.randint(0, spare_w + 1, ()).item())
        return top, left


class CenterCrop(_Crop):
    """Crop the central (h, w) window (evaluation).

    Args:
        size: int (square) or (h, w).
        key: sample entry to transform (default ``"video"``).
    """

    def corner(self, spare_h: int, spare_w: int) -> tuple[int, int]:
        return spare_h // 2, spare_w // 2


class RandomHorizontalFlip(SampleTransform):
    """Mirror every frame left-right with probability ``p``.

    Args:
        p: flip probability.
        key: sample entry to transform (default ``"video"``).
    """

    def __init__(self, p: float = 0.5, *, key: str = "video"):
        super().__init__(key=key)
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p}")
        self.p = p

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if torch.rand(()).item() < self.p:
            return x.flip(-1)  # (C, T, H, W)
        return x

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Normalize(SampleTransform):
    """Subtract a per-channel mean and divide by a per-channel std: ``(x - mean) / std``.

    The channel axis is dim -4, so (C, T, H, W) clips and (B, C, T, H, W) batches both work.

    Args:
        mean: one value per channel.
        std: one value per channel (all > 0).
        key: sample entry to transform (default ``"video"``).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], *, key: str = "video"):
        super().__init__(key=key)
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f"Normalize: mean {list(mean)} and std {list(std)} must match and std be > 0")
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(-1, 1, 1, 1), persistent=False)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        _require_float(x, "Normalize")
        if x.ndim < 4 or x.shape[-4] != self.mean.shape[0]:
            raise ValueError(f"Normalize: expects (C={self.mean.shape[0]}, T, H, W), got shape {tuple(x.shape)}")
        return (x - self.mean) / self.std  # (C, T, H, W)

    def extra_repr(self) -> str:
        return f"mean={self.mean.flatten().tolist()}, std={self.std.flatten().tolist()}"
