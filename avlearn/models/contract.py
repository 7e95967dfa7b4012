"""The input contract of a model or a trained run: the preprocessing its weights expect.

A weights file is only half of a model: the other half is how its inputs were made (frame
size, frame rate, clip length, pixel normalisation, audio rate and features). torchvision keeps
this in a ``Weights`` entry's ``transforms``, torchaudio in a pipeline bundle; avlearn keeps it
in an :class:`InputContract` that travels with every registered model and every trained run, so
feature extraction and whole-file inference apply it by default instead of feeding raw frames.

    >>> c = KINETICS400_VIDEO
    >>> c.frame_size, c.mean
    ((112, 112), (0.43216, 0.394666, 0.37645))
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

__all__ = ["InputContract", "KINETICS400_VIDEO", "IMAGENET_FRAMES"]


@dataclass(frozen=True)
class InputContract:
    """What a network's inputs must look like.

    Attributes:
        fps: video frames per second the network was trained on (None: any / no video).
        frame_size: ``(height, width)`` of the frames fed to the network.
        clip_duration: seconds per input window (None: any length).
        num_frames: frames per window when fixed (e.g. 16 for R(2+1)D at 112 px).
        mean, std: per-channel RGB normalisation applied to frames in [0, 1]; None: none.
        sample_rate: audio samples per second (None: no audio input).
        audio_channels: channels the audio tower takes (1 = mono mixdown).
        audio_features: how audio enters the network: "waveform", "logmel", "stft", ...
        extra: anything task-specific (e.g. STFT settings) as plain JSON-able values.
    """

    fps: float | None = None
    frame_size: tuple[int, int] | None = None
    clip_duration: float | None = None
    num_frames: int | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    sample_rate: int | None = None
    audio_channels: int | None = None
    audio_features: str | None = None
    extra: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for name in ("fps", "clip_duration"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v > 0):
                raise ValueError(f"InputContract.{name} must be a positive finite number, got {v!r}")
        if self.frame_size is not None:
            fs = tuple(int(x) for x in self.frame_size)
            if len(fs) != 2 or min(fs) < 1:
                raise ValueError(f"InputContract.frame_size must be (height, width) >= 1, got {self.frame_size!r}")
            object.__setattr__(self, "frame_size", fs)
        for name in ("mean", "std"):
            v = getattr(self, name)
            if v is not None:
                v = tuple(float(x) for x in v)
                if len(v) != 3 or (name == "std" and min(v) <= 0):
                    raise ValueError(f"InputContract.{name} must be 3 numbers (std > 0), got {getattr(self, name)!r}")
                object.__setattr__(self, name, v)
        for name in ("num_frames", "sample_rate", "audio_channels"):
            v = getattr(self, name)
            if v is not None and int(v) < 1:
                raise ValueError(f"InputContract.{name} must be >= 1, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON/YAML-able dict (tuples become lists); None fields are kept."""
        d = asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> "InputContract":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        d = dict(d or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown input-contract keys {unknown} (known: {sorted(known)})")
        for k in ("frame_size", "mean", "std"):
            if d.get(k) is not None:
                d[k] = tuple(d[k])
        return cls(**d)

    def replace(self, **changes: Any) -> "InputContract":
        """A copy with some fields changed."""
        return replace(self, **changes)


#: torchvision's Kinetics-400 video weights (R3D-18, MC3-18, R(2+1)D-18): 112x112 crops of
#: frames resized to 128x171, normalised with these statistics (Tran et al. CVPR 2018,
#: torchvision ``VideoClassification`` preset).
KINETICS400_VIDEO = InputContract(
    fps=15.0,
    frame_size=(112, 112),
    num_frames=16,
    clip_duration=16 / 15.0,
    mean=(0.43216, 0.394666, 0.37645),
    std=(0.22803, 0.22145, 0.216989),
)

#: ImageNet statistics, for 2D frame backbones initialised from ImageNet weights.
IMAGENET_FRAMES = InputContract(frame_size=(224, 224), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
