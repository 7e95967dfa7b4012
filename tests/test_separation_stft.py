"""STFT round trip, the log-frequency warp and its inverse, reconstruction with the mixture phase."""

import math

import pytest
import torch

from avlearn.tasks.separation.stft import Spectrogram, istft, stft, unwarp_frequency, warp_frequency, warp_grid


def _smooth(rows: int, frames: int) -> torch.Tensor:
    v = torch.linspace(0, 1, rows)[:, None]
    t = torch.linspace(0, 1, frames)[None, :]
    return (1.5 + torch.cos(2 * math.pi * 1.5 * v) * (0.5 + 0.3 * t) + 0.2 * v)[None, None]  # (1, 1, F, T)


@pytest.mark.parametrize("n_fft,hop,win", [(510, 128, None), (256, 64, 200), (1022, 256, None)])
def test_stft_round_trip(n_fft, hop, win):
    wav = torch.randn(2, 4000, generator=torch.Generator().manual_seed(0)) * 0.3
    spec = stft(wav, n_fft=n_fft, hop=hop, win_length=win)
    assert spec.shape == (2, n_fft // 2 + 1, 1 + 4000 // hop) and spec.is_complex()
    back = istft(spec, n_fft=n_fft, hop=hop, win_length=win, length=4000)
    assert torch.allclose(back, wav, atol=1e-5)


@pytest.mark.parametrize("length", [41333, 41300, 41216, 41217])
def test_round_trip_of_any_length_with_a_short_window(length):
    """A window shorter than n_fft leaves the last samples of a length that is not a whole number
    of hops outside every frame (41333 = 322 hops + 117 > 100 = the window's reach): torch.istft
    refused such a length (a real 15 s clip's last separation window failed); the seen samples
    round-trip and the unseen ones are zeros."""
    wav = torch.randn(1, length, generator=torch.Generator().manual_seed(1)) * 0.3
    spec = stft(wav, n_fft=256, hop=128, win_length=200)
    back = istft(spec, n_fft=256, hop=128, win_length=200, length=length)
    seen = min(length, (spec.shape[-1] - 1) * 128 + 100)
    assert back.shape == wav.shape
    assert torch.allclose(back[:, :seen], wav[:, :seen], atol=1e-4)
    assert torch.count_nonzero(back[:, seen:]) == 0


def test_drop_last_bin_round_trip_of_band_limited_signal():
    sr, n = 8000, 4000
    t = torch.arange(n) / sr
    wav = 0.4 * torch.sin(2 * math.pi * 440 * t) + 0.2 * torch.sin(2 * math.pi * 1250 * t)
    sp = Spectrogram(n_fft=256, hop=80, win_length=200, drop_last_bin=True)
    spec = sp.stft(wav)
    assert spec.shape[-2] == 128 and sp.bins == 128
    err = (sp.istft(spec, n) - wav).abs()
    assert err[200:-200].max() < 1e-5  # exact inside; the reflect-padded edges leak a little into the Nyquist bin
    assert err.max() < 2e-3


def test_warp_grid_maps_ends_to_ends_and_is_log_spaced():
    g = warp_grid(256, 4)[0, :, 0, 1]  # y coordinate of each output row
    assert g[0].item() == pytest.approx(-1.0) and g[-1].item() == pytest.approx(1.0)
    # SoP's grid_y = (21 ** ((y + 1) / 2) - 11) / 10
    y = torch.linspace(-1, 1, 256)
    assert torch.allclose(g, (21 ** ((y + 1) / 2) - 11) / 10, atol=1e-5)
    inv = warp_grid(512, 4, inverse=True)[0, :, 0, 1]
    y = torch.linspace(-1, 1, 512)
    assert torch.allclose(inv, torch.log(10 * y + 11) / math.log(21) * 2 - 1, atol=1e-5)


def test_warp_then_unwarp_recovers_a_smooth_spectrogram():
    spec = _smooth(512, 16)
    warped = warp_frequency(spec, 256)
    assert warped.shape == (1, 1, 256, 16)
    back = unwarp_frequency(warped, 512)
    rel = (back - spec).abs() / spec.abs()
    # low frequencies, where the warp has more rows than linear bins (invertible): exact to 1e-4
    invertible = int(0.1 * 512)
    assert rel[..., :invertible, :].max() < 1e-4
    assert rel.max() < 1e-2


def test_linear_warp_of_same_size_is_identity():
    spec = torch.rand(2, 3, 64, 10)
    assert torch.allclose(unwarp_frequency(warp_frequency(spec, 64, base=1.0), 64, base=1.0), spec, atol=1e-5)


def test_reconstruct_with_unit_mask_returns_the_mixture():
    wav = torch.randn(1, 3000, generator=torch.Generator().manual_seed(1)) * 0.2
    sp = Spectrogram(n_fft=254, hop=64, warp_rows=64)
    spec = sp.stft(wav)  # (1, 128, T)
    ones = torch.ones(1, 2, *spec.shape[-2:])
    out = sp.reconstruct(ones, spec.unsqueeze(1), 3000)  # (1, 2, 3000)
    assert torch.allclose(out, wav[:, None].expand_as(out), atol=1e-5)
    # the warp round trip of a constant mask is exact
    assert torch.allclose(sp.unwarp(sp.warp(ones)), ones, atol=1e-6)
    assert sp.rows == 64 and sp.warp(spec.abs().unsqueeze(1)).shape[-2] == 64
