"""Spectrograms for separation: STFT/iSTFT, the log-frequency warp and its inverse, phase reuse.

Follows Sound of Pixels (Zhao et al., ECCV 2018, Sec. 3.3 and the released training setup):

* an STFT with a Hann window (SoP: 11,025 Hz, ``n_fft`` 1022, hop 256 -> 512 x 256);
* the **log-frequency warp**: the magnitude is resampled along frequency with
  ``grid_sample`` so that output row ``u`` in [0, 1] reads linear frequency
  ``v = (b**u - 1) / (b - 1)`` (SoP: ``b = 21``, 512 -> 256 rows); the inverse warp reads
  ``u = log(1 + (b - 1) v) / log(b)``. Both maps send 0 to 0 and 1 to 1, so the first and
  last bins are kept, and the inverse is exact where the warp has at least one row per
  linear bin (the low frequencies) and smooth elsewhere (tested on smooth spectrograms);
* reconstruction: an estimated magnitude (or a mask times the mixture's magnitude) with the
  **mixture's phase**, then the inverse STFT.

VisualVoice (Gao et al., CVPR 2021, Sec. 4) uses a complex spectrogram without warp: 16 kHz,
``n_fft`` 512, window 400, hop 160, the last (Nyquist) bin dropped -> 256 x 256; set
``drop_last_bin=True`` (the iSTFT puts a zero bin back).

    >>> spec = Spectrogram(n_fft=510, hop=128, warp_rows=128)
    >>> X = spec.stft(wav)                       # (B, 256, T) complex
    >>> m = spec.warp(X.abs().unsqueeze(1))      # (B, 1, 128, T) log-frequency magnitude
    >>> y = spec.reconstruct(mask_linear, X, length=wav.shape[-1])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "Spectrogram",
    "stft",
    "istft",
    "magnitude_phase",
    "polar",
    "warp_grid",
    "warp_frequency",
    "unwarp_frequency",
    "SOP_WARP_BASE",
]

#: Base of the Sound of Pixels log-frequency warp (``grid_y = (21**((y+1)/2) - 11) / 10``).
SOP_WARP_BASE = 21.0


def stft(wav: Tensor, *, n_fft: int, hop: int, win_length: int | None = None, drop_last_bin: bool = False) -> Tensor:
    """Complex STFT of ``wav`` (..., N) with a periodic Hann window, centred frames.

    Returns:
        complex (..., n_fft // 2 + 1, 1 + N // hop); one bin fewer with ``drop_last_bin``.
    """
    lead = wav.shape[:-1]
    win = win_length or n_fft
    window = torch.hann_window(win, device=wav.device, dtype=torch.float32)
    spec = torch.stft(wav.reshape(-1, wav.shape[-1]).float(), n_fft, hop_length=hop, win_length=win,
                      window=window, center=True, return_complex=True)  # (B', F, T)
    if drop_last_bin:
        spec = spec[:, :-1]
    return spec.reshape(*lead, *spec.shape[-2:])


def istft(spec: Tensor, *, n_fft: int, hop: int, length: int, win_length: int | None = None,
          drop_last_bin: bool = False) -> Tensor:
    """Inverse of :func:`stft` (overlap-add with the same window): complex (..., F, T) -> (..., length).

    With a window shorter than ``n_fft`` (VisualVoice: 400 in 512), the last samples of a signal
    whose length is not a whole number of hops may lie past every analysis window: no frame saw
    them, so they come back as zeros (``torch.istft`` refuses such a length outright).
    """
    lead = spec.shape[:-2]
    x = spec.reshape(-1, *spec.shape[-2:])  # (B', F, T)
    if drop_last_bin:
        x = F.pad(x, (0, 0, 0, 1))  # the dropped Nyquist bin comes back as zero
    win = win_length or n_fft
    window = torch.hann_window(win, device=spec.device, dtype=torch.float32)
    reach = (x.shape[-1] - 1) * hop + (n_fft - win) // 2 - n_fft // 2 + win  # end of the last frame's window (centred)
    n = min(length, reach)
    wav = torch.istft(x, n_fft, hop_length=hop, win_length=win, window=window, center=True, length=n)  # (B', n)
    if n < length:
        wav = F.pad(wav, (0, length - n))  # (B', length)
    return wav.reshape(*lead, length)


def magnitude_phase(spec: Tensor) -> tuple[Tensor, Tensor]:
    """``(|X|, angle(X))`` of a complex spectrogram."""
    return spec.abs(), spec.angle()


def polar(magnitude: Tensor, phase: Tensor) -> Tensor:
    """The complex spectrogram ``magnitude * exp(i phase)``."""
    return torch.polar(magnitude.float(), phase.float())


def _row_coordinates(rows: int, base: float, inverse: bool, device) -> Tensor:
    """grid_sample ``y`` coordinates in [-1, 1] of each output row (align_corners=True)."""
    y = torch.linspace(0.0, 1.0, rows, dtype=torch.float64, device=device)  # output row position
    if base <= 1.0:
        v = y
    elif inverse:  # linear frequency v -> warped row u
        v = torch.log1p((base - 1.0) * y) / math.log(base)
    else:  # warped row u -> linear frequency v
        v = (torch.pow(torch.tensor(base, dtype=torch.float64), y) - 1.0) / (base - 1.0)
    return (2.0 * v - 1.0).float()  # (rows,)


def warp_grid(rows: int, frames: int, *, base: float = SOP_WARP_BASE, inverse: bool = False,
              device: torch.device | str | None = None) -> Tensor:
    """The ``grid_sample`` grid (1, rows, frames, 2) of the log-frequency warp (or its inverse).

    Time is read unchanged (x coordinate = frame); row ``r`` of the output reads frequency
    ``v(u_r)`` of the input (warp) or ``u(v_r)`` (inverse), see the module docstring.
    ``base <= 1`` gives a linear resampling.
    """
    gy = _row_coordinates(rows, base, inverse, device)  # (rows,)
    gx = torch.linspace(-1.0, 1.0, frames, device=device) if frames > 1 else torch.zeros(1, device=device)
    grid = torch.stack(torch.broadcast_tensors(gx[None, :], gy[:, None]), dim=-1)  # (rows, frames, 2): (x, y)
    return grid.unsqueeze(0)


def _resample_rows(x: Tensor, rows: int, base: float, inverse: bool) -> Tensor:
    if x.dim() != 4:
        raise ValueError(f"frequency warp expects (B, C, F, T), got shape {tuple(x.shape)}")
    grid = warp_grid(rows, x.shape[-1], base=base, inverse=inverse, device=x.device).to(x.dtype)
    grid = grid.expand(x.shape[0], -1, -1, -1)  # (B, rows, T, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=True)  # (B, C, rows, T)


def warp_frequency(x: Tensor, rows: int, *, base: float = SOP_WARP_BASE) -> Tensor:
    """Linear-frequency (B, C, F, T) -> log-frequency (B, C, rows, T) (Sound of Pixels)."""
    return _resample_rows(x, rows, base, inverse=False)


def unwarp_frequency(x: Tensor, rows: int, *, base: float = SOP_WARP_BASE) -> Tensor:
    """Log-frequency (B, C, R, T) -> linear-frequency (B, C, rows, T): the inverse warp."""
    return _resample_rows(x, rows, base, inverse=True)


class Spectrogram(nn.Module):
    """STFT settings of a separation model, with warp and reconstruction helpers.

    Args:
        n_fft: FFT size (SoP 1022; VisualVoice 512).
        hop: hop length in samples (SoP 256; VisualVoice 160).
        win_length: Hann window length (default ``n_fft``; VisualVoice 400).
        drop_last_bin: drop the Nyquist bin (VisualVoice), so F = n_fft // 2.
        warp_rows: rows of the log-frequency warp (SoP 256); None: no warp.
        warp_base: base ``b`` of the warp (SoP 21).
    """

    def __init__(self, *, n_fft: int, hop: int, win_length: int | None = None, drop_last_bin: bool = False,
                 warp_rows: int | None = None, warp_base: float = SOP_WARP_BASE):
        super().__init__()
        if win_length is not None and win_length > n_fft:
            raise ValueError(f"Spectrogram: win_length {win_length} exceeds n_fft {n_fft}")
        self.n_fft, self.hop, self.win_length = int(n_fft), int(hop), int(win_length or n_fft)
        self.drop_last_bin, self.warp_rows, self.warp_base = bool(drop_last_bin), warp_rows, float(warp_base)

    @property
    def bins(self) -> int:
        """Linear frequency bins F of :meth:`stft`."""
        return self.n_fft // 2 + (0 if self.drop_last_bin else 1)

    @property
    def rows(self) -> int:
        """Frequency rows the network sees (``warp_rows`` or ``bins``)."""
        return self.warp_rows or self.bins

    def frames(self, length: int) -> int:
        """STFT frames of a signal of ``length`` samples."""
        return 1 + length // self.hop

    def stft(self, wav: Tensor) -> Tensor:
        """(..., N) -> complex (..., F, T)."""
        return stft(wav, n_fft=self.n_fft, hop=self.hop, win_length=self.win_length, drop_last_bin=self.drop_last_bin)

    def istft(self, spec: Tensor, length: int) -> Tensor:
        """complex (..., F, T) -> (..., length)."""
        return istft(spec, n_fft=self.n_fft, hop=self.hop, win_length=self.win_length, length=length,
                     drop_last_bin=self.drop_last_bin)

    def warp(self, x: Tensor) -> Tensor:
        """(B, C, F, T) linear -> (B, C, rows, T) log-frequency (identity without ``warp_rows``)."""
        return x if self.warp_rows is None else warp_frequency(x, self.warp_rows, base=self.warp_base)

    def unwarp(self, x: Tensor) -> Tensor:
        """(B, C, rows, T) log-frequency -> (B, C, F, T) linear (identity without ``warp_rows``)."""
        return x if self.warp_rows is None else unwarp_frequency(x, self.bins, base=self.warp_base)

    def reconstruct(self, mask: Tensor, mix_spec: Tensor, length: int) -> Tensor:
        """Waveforms from linear-frequency magnitude masks and the mixture's phase.

        Args:
            mask: (..., F, T) real masks (applied to ``|X|``).
            mix_spec: complex (..., F, T) mixture STFT, broadcastable against ``mask``.
            length: samples of the output.

        Returns:
            (..., length) waveforms, ``istft(mask * |X| * exp(i angle(X)))``.
        """
        mag, phase = magnitude_phase(mix_spec)
        return self.istft(polar(mask * mag, phase.expand_as(mask)), length)

    def extra_repr(self) -> str:
        return (f"n_fft={self.n_fft}, hop={self.hop}, win_length={self.win_length}, "
                f"drop_last_bin={self.drop_last_bin}, warp_rows={self.warp_rows}")
