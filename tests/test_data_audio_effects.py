"""Pitch shift and onset strength over librosa (avlearn.data.transforms.audio_effects)."""

from __future__ import annotations

import math

import pytest
import torch

from avlearn.data.transforms import Compose, OnsetStrength, RandomPitchShift, onset_strength, pitch_shift

SR = 8000


def _tone(freq: float, seconds: float = 1.0, channels: int = 1) -> torch.Tensor:
    t = torch.arange(int(SR * seconds)) / SR
    return (0.5 * torch.sin(2 * math.pi * freq * t)).repeat(channels, 1)  # (C, N)


def _peak_hz(x: torch.Tensor) -> float:
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1])).abs()
    return float(spec.argmax()) * SR / x.shape[-1]


def test_pitch_shift_moves_the_frequency_and_keeps_the_length():
    x = _tone(440.0, channels=2)
    up = pitch_shift(x, SR, 12)
    down = pitch_shift(x, SR, -5)
    assert up.shape == x.shape and down.shape == x.shape and up.dtype == x.dtype
    assert abs(_peak_hz(up[0]) - 880.0) < 10 and abs(_peak_hz(up[1]) - 880.0) < 10  # an octave up, every channel
    assert abs(_peak_hz(down[0]) - 440.0 * 2 ** (-5 / 12)) < 10
    assert torch.equal(pitch_shift(x, SR, 0), x)


def test_random_pitch_shift_on_a_sample_checks_the_rate():
    torch.manual_seed(0)
    t = RandomPitchShift(SR, (3.0, 3.0))
    out = t({"audio": _tone(500.0), "sample_rate": SR, "path": "a.mp4"})
    assert abs(_peak_hz(out["audio"][0]) - 500.0 * 2 ** 0.25) < 10
    with pytest.raises(ValueError, match="a.mp4 has sample_rate 16000"):
        t({"audio": _tone(500.0), "sample_rate": 16000, "path": "a.mp4"})
    assert torch.equal(RandomPitchShift(SR, p=0.0)(_tone(500.0)), _tone(500.0))
    with pytest.raises(ValueError, match="low > high"):
        RandomPitchShift(SR, (2.0, -2.0))
    shifts = {RandomPitchShift(SR, (-2, 2), integer=True).draw() for _ in range(50)}
    assert shifts <= {-2.0, -1.0, 0.0, 1.0, 2.0} and len(shifts) > 2


def test_onset_strength_peaks_at_the_click_one_value_per_frame():
    x = torch.zeros(2, SR)
    x[0, 4000:4040] = 1.0  # a click at 0.5 s in channel 0
    x[1, 2000:2040] = 1.0  # and at 0.25 s in channel 1
    fps = 25
    env = onset_strength(x, SR, hop_length=SR // fps)  # one value per video frame
    assert env.shape == (2, fps + 1)
    assert abs(int(env[0].argmax()) - 12.5) <= 1 and abs(int(env[1].argmax()) - 6.25) <= 1
    out = Compose([OnsetStrength(SR, hop_length=SR // fps)])({"audio": x, "sample_rate": SR})
    torch.testing.assert_close(out["audio"], env)
