"""Audio-visual transforms: the sample-dict base class, Compose, and temporal crops in sync.

A *sample* is the dict :class:`avlearn.data.AVDataset` makes from an
:class:`avlearn.io.AVClip`: ``video`` (uint8 (T, H, W, 3) as read, or float (C, T, H, W)
after :class:`~avlearn.data.transforms.ToFloatCTHW`), ``audio`` (float (C, N)), ``fps``,
``sample_rate``, ``start``, ``duration`` and the manifest fields.

Every transform in :mod:`avlearn.data.transforms` is an ``nn.Module`` over a plain tensor
function (torchaudio's style). Called on a tensor it transforms the tensor; called on a
sample dict it transforms ``sample[key]`` (``"video"`` or ``"audio"``) and returns a new dict.
The temporal crops here are the exception: they need both streams and the clock, so they
take only sample dicts.

The crops keep the streams in sync the way the self-supervised sync models need (Owens &
Efros 2018, Sec. 3: a shifted-audio negative must differ from the positive only by the shift):
frame ``i`` of a clip is shown at ``start + i / fps`` (the reader's presentation rule) and
audio sample ``j`` plays at ``start + j / sample_rate``, so keeping frames ``[f0, f0 + n)``
keeps exactly the samples ``[round(f0 * sr / fps), round(f0 * sr / fps) + round(n * sr / fps))``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

__all__ = ["SampleTransform", "Compose", "TemporalCrop", "RandomTemporalCrop", "video_time_dim"]

Sample = dict[str, Any]


class SampleTransform(nn.Module, abc.ABC):
    """Abstract base class: a tensor function that also applies to one key of a sample dict.

    Subclasses must implement :meth:`apply` (tensor in, tensor out) and may override
    :meth:`check` to validate a sample (e.g. its sample rate) before applying.

    Args:
        key: the sample entry transformed when the input is a dict.
    """

    def __init__(self, *, key: str):
        super().__init__()
        self.key = key

    @abc.abstractmethod
    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """Transform one tensor."""

    def check(self, sample: Mapping[str, Any]) -> None:
        """Raise ValueError if ``sample`` does not suit this transform (default: no check)."""

    def forward(self, x: torch.Tensor | Mapping[str, Any]) -> torch.Tensor | Sample:
        """Transform a tensor, or ``x[self.key]`` of a sample dict (returning a new dict)."""
        if not isinstance(x, Mapping):
            return self.apply(x)
        if self.key not in x or x[self.key] is None:
            raise KeyError(f"{type(self).__name__}: sample of {x.get('path', '?')} has no {self.key!r}")
        self.check(x)
        out = dict(x)
        out[self.key] = self.apply(x[self.key])
        return out

    def extra_repr(self) -> str:
        return f"key={self.key!r}"


class _Function(nn.Module):
    """Wraps a plain callable so that Compose can hold it in its ModuleList."""

    def __init__(self, fn: Callable[[Any], Any]):
        super().__init__()
        self.fn = fn

    def forward(self, x: Any) -> Any:
        return self.fn(x)

    def extra_repr(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


class Compose(nn.Module):
    """Apply transforms in order (modules or plain callables).

    Args:
        transforms: the transforms; each takes what the previous one returns.
    """

    def __init__(self, transforms: Iterable[Callable[[Any], Any]]):
        super().__init__()
        self.transforms = nn.ModuleList(t if isinstance(t, nn.Module) else _Function(t) for t in transforms)

    def forward(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


def video_time_dim(video: torch.Tensor) -> int:
    """The time axis of a sample's video: 0 for the reader's uint8 (T, H, W, 3), else -3.

    Float video is in the model layout (C, T, H, W) (or (..., T, H, W)); the only conversion
    between the two is :class:`~avlearn.data.transforms.ToFloatCTHW`.
    """
    return 0 if video.dtype == torch.uint8 else -3


class _TemporalCropBase(nn.Module, abc.ABC):
    """Crop ``duration`` seconds of video frames and the audio samples that play with them.

    Abstract: subclasses implement :meth:`pick` (where the crop starts).
    """

    def __init__(self, duration: float):
        super().__init__()
        if not duration > 0:
            raise ValueError(f"{type(self).__name__}: duration must be > 0, got {duration}")
        self.duration = float(duration)

    @abc.abstractmethod
    def pick(self, available: int, wanted: int, rate: float) -> int:
        """The first kept unit (frame, or sample for audio-only clips; ``rate`` per second)."""

    def forward(self, sample: Mapping[str, Any]) -> Sample:
        """Crop ``sample["video"]`` and ``sample["audio"]`` together; update start/duration.

        Raises:
            ValueError: the sample is shorter than the crop, or lacks fps / sample_rate.
        """
        if not isinstance(sample, Mapping):
            raise TypeError(f"{type(self).__name__} takes a sample dict (it needs fps and sample_rate)")
        out = dict(sample)
        video, audio = sample.get("video"), sample.get("audio")
        where = sample.get("path", "?")
        if video is not None:
            fps = float(sample["fps"])
            dim = video_time_dim(video)
            n_frames = round(self.duration * fps)
            f0 = self._first(video.shape[dim], n_frames, fps, where, "frames")
            out["video"] = video.narrow(dim, f0, n_frames)  # (.., n_frames, ..)
            t0, kept = f0 / fps, n_frames / fps
            if audio is not None:
                sr = float(sample["sample_rate"])
                a0, n = round(f0 * sr / fps), round(n_frames * sr / fps)
                self._check_length(audio.shape[-1], a0 + n, where, "audio samples")
                out["audio"] = audio[..., a0 : a0 + n]  # (C, n)
        elif audio is not None:
            sr = float(sample["sample_rate"])
            n = round(self.duration * sr)
            a0 = self._first(audio.shape[-1], n, sr, where, "audio samples")
            out["audio"] = audio[..., a0 : a0 + n]  # (C, n)
            t0, kept = a0 / sr, n / sr
        else:
            raise KeyError(f"{type(self).__name__}: sample of {where} has neither video nor audio")
        out["start"] = float(sample.get("start", 0.0)) + t0
        out["duration"] = kept
        return out

    def _first(self, available: int, wanted: int, rate: float, where: str, unit: str) -> int:
        self._check_length(available, wanted, where, unit)
        return self.pick(available, wanted, rate)

    def _check_length(self, available: int, wanted: int, where: str, unit: str) -> None:
        if wanted > available:
            raise ValueError(
                f"{type(self).__name__}: {where}: clip has {available} {unit}, the crop of "
                f"{self.duration} s needs {wanted}"
            )

    def extra_repr(self) -> str:
        return f"duration={self.duration}"


class TemporalCrop(_TemporalCropBase):
    """Deterministic crop of ``duration`` seconds (evaluation).

    Args:
        duration: seconds to keep.
        offset: seconds from the clip's start to the crop's start; None centres the crop.
    """

    def __init__(self, duration: float, *, offset: float | None = None):
        super().__init__(duration)
        self.offset = offset

    def pick(self, available: int, wanted: int, rate: float) -> int:
        if self.offset is None:
            return (available - wanted) // 2
        first = round(self.offset * rate)
        if first + wanted > available:
            raise ValueError(f"TemporalCrop: offset {self.offset} s + {self.duration} s runs past the clip")
        return first


class RandomTemporalCrop(_TemporalCropBase):
    """Crop ``duration`` seconds at a uniformly random frame (training); draws from torch's RNG.

    Args:
        duration: seconds to keep.
    """

    def pick(self, available: int, wanted: int, rate: float) -> int:
        return int(torch.randint(0, available - wanted + 1, ()).item())
