"""Activation maximization: the unit's activation rises; slow motion varies less than fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from avlearn.viz.activation_max import (
    MOTION_SETTINGS,
    activation_maximization,
    save_clip_gif,
    save_clip_strip,
    temporal_variation,
    unit_activation,
)


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv3d(8, 6, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(6, 4),
    )


SHAPE = (3, 6, 16, 16)


def test_optimised_clip_raises_the_unit():
    net = _net()
    g = torch.Generator().manual_seed(0)
    res = activation_maximization(net, SHAPE, layer="2", channel=3, steps=40, generator=g)
    assert res.clip.shape == SHAPE
    assert res.final > res.initial + 0.05
    assert res.history[-1] > res.history[0]
    # the model's own output can be the unit too, and the model is left as it was
    net.train()
    res2 = activation_maximization(net, SHAPE, channel=1, motion="fast", steps=30, generator=g)
    assert res2.final > res2.initial and net.training
    assert all(p.requires_grad for p in net.parameters())


def test_slow_motion_varies_less_over_time_than_fast():
    net = _net()
    clips = {}
    for motion in ("slow", "fast"):
        g = torch.Generator().manual_seed(1)
        clips[motion] = activation_maximization(net, SHAPE, layer="2", channel=0, motion=motion, steps=40, generator=g)
    assert MOTION_SETTINGS["slow"]["temporal"] > MOTION_SETTINGS["fast"]["temporal"]
    tv_slow, tv_fast = temporal_variation(clips["slow"].clip), temporal_variation(clips["fast"].clip)
    assert tv_slow < 0.5 * tv_fast
    assert clips["slow"].final > clips["slow"].initial  # still maximising the unit


def test_unit_activation_checks():
    net = _net()
    x = torch.randn(2, *SHAPE)
    a = unit_activation(net, x, layer=net[2], channel=5)
    torch.testing.assert_close(a, net[:3](x)[:, 5].mean((1, 2, 3)))
    with pytest.raises(ValueError, match="no submodule"):
        unit_activation(net, x, layer="conv9")
    with pytest.raises(ValueError, match="channel 6 out of range"):
        unit_activation(net, x, layer="2", channel=6)
    with pytest.raises(ValueError, match="motion"):
        activation_maximization(net, SHAPE, motion="medium")


def test_strip_and_gif_files(tmp_path):
    clip = torch.randn(*SHAPE)
    png = save_clip_strip(tmp_path / "unit.png", clip, scale=2)
    img = np.asarray(Image.open(png))
    assert img.shape[:2] == (2 * (16 + 4), 2 * (2 + 6 * (16 + 2)))  # one row of 6 frames, 2-pixel padding
    gif = save_clip_gif(tmp_path / "unit.gif", clip, fps=4)
    with Image.open(gif) as im:
        assert im.n_frames == 6 and im.size == (16, 16)
    # with the model's normalisation the pixels map back to [0, 1]
    frames = save_clip_strip(tmp_path / "norm.png", torch.zeros(*SHAPE), mean=(0.5, 0.5, 0.5), std=(0.2, 0.2, 0.2))
    assert np.asarray(Image.open(frames))[2, 2].tolist() == [128, 128, 128]
