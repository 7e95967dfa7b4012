"""Audio transforms: random gain, (log-)spectrograms via torchaudio, mu-law compression.

All take float waveforms (C, N) (or (..., N)); the spectrograms return (C, F, frames).

* :class:`RandomGain` - a random gain in dB, the level augmentation of the separation papers
  (Zhao et al. ECCV'18 scale each source by a factor in [0.5, 1.5] before mixing).
* :class:`Spectrogram` / :class:`LogMelSpectrogram` - STFT magnitude/power and log-mel
  features for the 2D-conv audio towers (L3-Net, Arandjelovic & Zisserman ICCV'17, uses a
  log-spectrogram; AVTS, Korbar et al. NeurIPS'18, log-mel). The log is ``log(x + eps)`` so
  that silence maps to ``log(eps)``, not ``-inf``.
* :class:`MuLawCompress` - ``sign(x) * log(1 + mu|x|) / log(1 + mu)`` with mu = 255, the raw
  waveform compression of Owens & Efros ECCV'18 (Sec. 3.1) before their 1D audio tower.

Each class is a :class:`~avlearn.data.transforms.SampleTransform`: call it on a tensor, or on
a sample dict to transform ``sample["audio"]``. Crop time with the audio-visual crops of
:mod:`avlearn.data.transforms.av` *before* turning the waveform into a spectrogram.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
import torchaudio.transforms as AT

from avlearn.data.transforms.av import SampleTransform

__all__ = ["RandomGain", "Spectrogram", "LogMelSpectrogram", "MuLawCompress", "mu_law_compress"]


def mu_law_compress(x: torch.Tensor, mu: int = 255) -> torch.Tensor:
    """``sign(x) * log(1 + mu * |x|) / log(1 + mu)`` for a waveform in [-1, 1]."""
    return torch.sign(x) * torch.log1p(mu * x.abs()) / math.log1p(mu)


class RandomGain(SampleTransform):
    """Multiply the waveform by ``10 ** (g / 20)`` with ``g`` uniform in ``db_range``.

    Args:
        db_range: (low, high) gain in dB.
        clip: clamp the result to [-1, 1].
        key: sample entry to transform (default ``"audio"``).
    """

    def __init__(self, db_range: tuple[float, float] = (-6.0, 6.0), *, clip: bool = False, key: str = "audio"):
        super().__init__(key=key)
        low, high = db_range
        if low > high:
            raise ValueError(f"RandomGain: db_range {db_range} has low > high")
        self.db_range = (float(low), float(high))
        self.clip = clip

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.db_range
        db = low + (high - low) * torch.rand(()).item()
        y = x * 10 ** (db / 20)  # (C, N)
        return y.clamp_(-1.0, 1.0) if self.clip else y

    def extra_repr(self) -> str:
        return f"db_range={self.db_range}, clip={self.clip}"


class _TorchaudioSpectrogram(SampleTransform):
    """Apply a torchaudio spectrogram module, optionally followed by ``log(x + eps)``."""

    def __init__(self, spec: torch.nn.Module, *, log: bool, eps: float, key: str):
        super().__init__(key=key)
        if log and not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be > 0, got {eps}")
        self.spec = spec
        self.log = log
        self.eps = eps

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        if not x.is_floating_point():
            raise TypeError(f"{type(self).__name__}: expects a float waveform, got {x.dtype}")
        s = self.spec(x)  # (C, F, frames)
        return torch.log(s + self.eps) if self.log else s

    def extra_repr(self) -> str:
        return f"log={self.log}, eps={self.eps}, key={self.key!r}"


class Spectrogram(_TorchaudioSpectrogram):
    """STFT magnitude (``power=1``) or power (``power=2``) spectrogram, (C, n_fft//2+1, frames).

    Args:
        n_fft: FFT size.
        hop_length: samples between frames (default ``n_fft // 4``).
        win_length: window length (default ``n_fft``); a Hann window.
        power: exponent of the magnitude.
        log: return ``log(spec + eps)``.
        eps: the floor inside the log.
        center: pad so that frame ``t`` is centred at sample ``t * hop_length``.
        key: sample entry to transform (default ``"audio"``).
    """

    def __init__(
        self,
        n_fft: int = 512,
        *,
        hop_length: int | None = None,
        win_length: int | None = None,
        power: float = 2.0,
        log: bool = False,
        eps: float = 1e-6,
        center: bool = True,
        key: str = "audio",
    ):
        spec = AT.Spectrogram(
            n_fft=n_fft, hop_length=hop_length, win_length=win_length, power=power, center=center
        )
        super().__init__(spec, log=log, eps=eps, key=key)


class LogMelSpectrogram(_TorchaudioSpectrogram):
    """``log(mel + eps)`` of a mel power spectrogram, (C, n_mels, frames).

    On a sample dict, the sample's ``sample_rate`` must equal ``sample_rate`` (the mel
    filterbank depends on it).

    Args:
        sample_rate: sample rate of the waveforms.
        n_fft: FFT size.
        hop_length: samples between frames (default ``n_fft // 4``).
        win_length: window length (default ``n_fft``).
        n_mels: mel bands.
        f_min, f_max: band edges in Hz (``f_max`` default: Nyquist).
        eps: the floor inside the log.
        center: pad so that frame ``t`` is centred at sample ``t * hop_length``.
        key: sample entry to transform (default ``"audio"``).
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        n_fft: int = 1024,
        hop_length: int | None = None,
        win_length: int | None = None,
        n_mels: int = 64,
        f_min: float = 0.0,
        f_max: float | None = None,
        eps: float = 1e-6,
        center: bool = True,
        key: str = "audio",
    ):
        spec = AT.MelSpectrogram(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            win_length=win_length,
            n_mels=n_mels,
            f_min=f_min,
            f_max=f_max,
            center=center,
            power=2.0,
        )
        super().__init__(spec, log=True, eps=eps, key=key)
        self.sample_rate = int(sample_rate)

    def check(self, sample: Mapping[str, Any]) -> None:
        rate = sample.get("sample_rate")
        if rate is not None and int(rate) != self.sample_rate:
            raise ValueError(
                f"LogMelSpectrogram: {sample.get('path', '?')}: sample rate {rate} != the "
                f"transform's {self.sample_rate}; read with sample_rate={self.sample_rate}"
            )


class MuLawCompress(SampleTransform):
    """Mu-law compression of a waveform in [-1, 1] (Owens & Efros 2018).

    Args:
        mu: compression constant (255 in the paper).
        key: sample entry to transform (default ``"audio"``).
    """

    def __init__(self, mu: int = 255, *, key: str = "audio"):
        super().__init__(key=key)
        if mu <= 0:
            raise ValueError(f"MuLawCompress: mu must be > 0, got {mu}")
        self.mu = mu

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return mu_law_compress(x, self.mu)  # (C, N)

    def extra_repr(self) -> str:
        return f"mu={self.mu}"
