"""Offset estimation with a hand-made scorer: the sign convention (positive = audio late)."""

import numpy as np
import pytest
import torch
from torch import nn

from avlearn.io import AVClip
from avlearn.tasks.sync import estimate_offset
from avlearn.tasks.sync.data import shift_audio

FPS, SR = 16, 8000


class FlashClickScorer(nn.Module):
    """Scores a pair by correlating frame brightness with per-frame audio energy."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def sync_score(self, x):
        v = x["video"].mean(dim=(1, 3, 4))  # (B, T)
        t = v.shape[1]
        a = x["audio"][:, 0].reshape(len(v), t, -1).abs().amax(-1)  # (B, T)
        v = v - v.mean(1, keepdim=True)
        a = a - a.mean(1, keepdim=True)
        return (v * a).sum(1) / (v.norm(dim=1) * a.norm(dim=1) + 1e-8)


def flash_click_clip(offset: float, seconds: float = 4.0, seed: int = 0) -> AVClip:
    """Flashes at random frames; each flash's click plays ``offset`` seconds later."""
    rng = np.random.default_rng(seed)
    t = int(seconds * FPS)
    frames = np.sort(rng.choice(np.arange(2, t - 2), size=min(12, t - 4), replace=False))
    video = torch.full((t, 8, 8, 3), 20, dtype=torch.uint8)
    audio = torch.zeros(1, int(seconds * SR))
    for f in frames:
        video[f] = 235
        audio[0, int(f / FPS * SR) + 10] = 1.0
    return AVClip(video=video, audio=shift_audio(audio, offset, SR), fps=FPS, sample_rate=SR, start=0.0, duration=seconds)


@pytest.mark.parametrize("offset", [0.3125, -0.5, 0.0, 0.9375])
def test_estimate_offset_recovers_injected_offset(offset):
    est, conf, curve = estimate_offset(FlashClickScorer(), flash_click_clip(offset), max_offset=1.0, window=1.0, hop=0.25)
    assert est == pytest.approx(offset, abs=1.0 / FPS)  # within one frame, right sign
    assert conf > 0.2
    assert len(curve) == 33 and max(curve, key=curve.get) == pytest.approx(offset, abs=1.0 / FPS)


def test_estimate_offset_short_clip_errors():
    clip = flash_click_clip(0.0, seconds=0.5)
    with pytest.raises(ValueError, match="shorter than"):
        estimate_offset(FlashClickScorer(), clip, window=1.0)
