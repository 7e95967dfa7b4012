"""Audio effects and onset features over librosa: pitch-shift augmentation and onset strength.

* :func:`pitch_shift` / :class:`RandomPitchShift` - shift the pitch by ``n`` semitones and keep
  the duration (librosa's phase vocoder time stretch by ``2 ** (-n / 12)``, then resampling
  back to the original length), the pitch-shifting augmentation of Salamon & Bello, "Deep
  Convolutional Neural Networks and Data Augmentation for Environmental Sound Classification",
  IEEE Signal Processing Letters 2017, Sec. III-B (shifts of -2 to +2 semitones). The duration
  is kept, so the audio stays in sync with the frames of an audio-visual sample (a time
  stretch of the audio alone would not).
* :func:`onset_strength` / :class:`OnsetStrength` - the onset strength envelope (spectral flux
  of the log-mel spectrogram, half-wave rectified and summed over bands; Böck & Widmer,
  "Maximum Filter Vibrato Suppression for Onset Detection", DAFx 2013, Eq. 2-3, as librosa's
  ``onset.onset_strength`` computes it): one value per hop, high where a sound starts (an
  impact, a syllable). With ``hop_length = sample_rate / fps`` there is one value per video
  frame, a feature that lines up with visible events for audio-visual synchronization.

Both run on the CPU in numpy (librosa), per channel, so they belong in dataset workers; each
class is a :class:`~avlearn.data.transforms.SampleTransform` (a tensor or ``sample["audio"]``),
checking a sample's ``sample_rate`` against its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import librosa
import numpy as np
import torch

from avlearn.data.transforms.av import SampleTransform

__all__ = ["pitch_shift", "onset_strength", "RandomPitchShift", "OnsetStrength"]


def _per_channel(wave: torch.Tensor, fn) -> torch.Tensor:
    """Apply ``fn`` (1D float32 numpy -> 1D numpy) to every channel of a (..., N) waveform."""
    if wave.dim() == 0:
        raise ValueError("expected a waveform (..., N), got a scalar tensor")
    flat = wave.detach().reshape(-1, wave.shape[-1]).to("cpu", torch.float32).numpy()  # (C, N)
    out = np.stack([np.asarray(fn(np.ascontiguousarray(ch)), dtype=np.float32) for ch in flat])  # (C, M)
    return torch.from_numpy(out).reshape(*wave.shape[:-1], out.shape[-1]).to(wave.dtype)


def pitch_shift(wave: torch.Tensor, sample_rate: int, semitones: float) -> torch.Tensor:
    """The waveform ``(..., N)`` shifted by ``semitones`` (positive: higher), same length ``N``.

    Args:
        wave: float waveform, any leading dimensions (channels).
        sample_rate: its sample rate in Hz.
        semitones: the shift (12 doubles every frequency).
    """
    if semitones == 0:
        return wave.clone()
    n_fft = min(2048, 1 << max(4, (wave.shape[-1] // 4).bit_length() - 1))  # short clips: a window that fits
    return _per_channel(wave, lambda x: librosa.effects.pitch_shift(x, sr=int(sample_rate), n_steps=float(semitones),
                                                                    n_fft=n_fft))


def onset_strength(wave: torch.Tensor, sample_rate: int, *, hop_length: int = 512, n_mels: int = 64) -> torch.Tensor:
    """Onset strength envelope ``(..., 1 + N // hop_length)`` of a waveform ``(..., N)``.

    Args:
        wave: float waveform, any leading dimensions (channels).
        sample_rate: its sample rate in Hz.
        hop_length: samples per envelope value (``sample_rate / fps``: one per video frame).
        n_mels: mel bands of the spectral flux.
    """
    n_fft = 4 * hop_length
    return _per_channel(wave, lambda x: librosa.onset.onset_strength(y=x, sr=int(sample_rate), hop_length=hop_length,
                                                                     n_fft=n_fft, n_mels=n_mels, center=True))


class _RateChecked(SampleTransform):
    """A transform that needs the waveform's sample rate (checked against a sample's)."""

    def __init__(self, sample_rate: int, *, key: str):
        super().__init__(key=key)
        if sample_rate <= 0:
            raise ValueError(f"{type(self).__name__}: sample_rate must be positive, got {sample_rate}")
        self.sample_rate = int(sample_rate)

    def check(self, sample: Mapping[str, Any]) -> None:
        rate = sample.get("sample_rate")
        if rate is not None and int(rate) != self.sample_rate:
            raise ValueError(f"{type(self).__name__}: sample of {sample.get('path', '?')} has sample_rate {rate}, "
                             f"the transform's is {self.sample_rate}")


class RandomPitchShift(_RateChecked):
    """Shift the pitch by a random number of semitones, keeping the duration (see :func:`pitch_shift`).

    Args:
        sample_rate: the waveforms' sample rate.
        semitones: (low, high) range of the shift (Salamon & Bello: (-2, 2)).
        p: probability of shifting at all.
        integer: draw whole semitones only.
        key: sample entry to transform.
    """

    def __init__(self, sample_rate: int, semitones: tuple[float, float] = (-2.0, 2.0), *, p: float = 1.0,
                 integer: bool = False, key: str = "audio"):
        super().__init__(sample_rate, key=key)
        low, high = (float(v) for v in semitones)
        if low > high:
            raise ValueError(f"RandomPitchShift: semitones {semitones} has low > high")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomPitchShift: p must lie in [0, 1], got {p}")
        self.semitones, self.p, self.integer = (low, high), float(p), integer

    def draw(self) -> float:
        """The shift of one call (0 when skipped), from torch's global RNG (seeded per item)."""
        if torch.rand(()).item() >= self.p:
            return 0.0
        low, high = self.semitones
        if self.integer:
            return float(torch.randint(int(np.ceil(low)), int(np.floor(high)) + 1, ()).item())
        return low + (high - low) * torch.rand(()).item()

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return pitch_shift(x, self.sample_rate, self.draw())  # (C, N)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, semitones={self.semitones}, p={self.p}, key={self.key!r}"


class OnsetStrength(_RateChecked):
    """Replace the waveform (C, N) by its onset strength envelope (C, 1 + N // hop_length)
    (see :func:`onset_strength`).

    Args:
        sample_rate: the waveforms' sample rate.
        hop_length: samples per value; ``sample_rate // fps`` gives one value per video frame.
        n_mels: mel bands of the spectral flux.
        key: sample entry to transform.
    """

    def __init__(self, sample_rate: int, *, hop_length: int = 512, n_mels: int = 64, key: str = "audio"):
        super().__init__(sample_rate, key=key)
        if hop_length <= 0:
            raise ValueError(f"OnsetStrength: hop_length must be positive, got {hop_length}")
        self.hop_length, self.n_mels = int(hop_length), int(n_mels)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return onset_strength(x, self.sample_rate, hop_length=self.hop_length, n_mels=self.n_mels)  # (C, frames)

    def extra_repr(self) -> str:
        return f"sample_rate={self.sample_rate}, hop_length={self.hop_length}, key={self.key!r}"
