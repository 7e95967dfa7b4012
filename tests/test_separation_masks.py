"""Mask definitions and weighted losses on hand-made magnitudes (Sound of Pixels, VisualVoice)."""

import math

import pytest
import torch

from avlearn.tasks.separation import masks as M


def test_ratio_mask_is_clamped_to_five():
    src = torch.tensor([[0.0, 1.0, 2.0, 30.0]])
    mix = torch.tensor([[1.0, 2.0, 1.0, 2.0]])
    assert torch.allclose(M.ratio_mask(src, mix), torch.tensor([[0.0, 0.5, 2.0, 5.0]]))
    assert M.ratio_mask(src, mix, clamp=None)[0, 3] == pytest.approx(15.0)
    assert M.ratio_mask(torch.zeros(1, 2), torch.zeros(1, 2)).abs().max() == 0  # silence stays 0, no nan


def test_binary_mask_is_source_above_half_the_mixture():
    src = torch.tensor([[0.4, 0.6, 0.5, 3.0]])
    mix = torch.tensor([[1.0, 1.0, 1.0, 2.0]])
    assert M.binary_mask(src, mix).tolist() == [[0.0, 1.0, 0.0, 1.0]]


def test_dominant_binary_masks_partition_the_bins():
    mags = torch.tensor([[[1.0, 0.2]], [[0.5, 0.9]], [[0.1, 0.3]]])  # (S=3, F=1, T=2)
    m = M.dominant_binary_masks(mags, dim=0)
    assert m[:, 0].tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert torch.all(m.sum(0) == 1)


def test_complex_ratio_mask_recovers_the_source():
    g = torch.Generator().manual_seed(0)
    mix = torch.complex(torch.randn(4, 6, generator=g), torch.randn(4, 6, generator=g))
    src = 0.3 * mix * torch.polar(torch.ones(4, 6), torch.full((4, 6), 0.7))
    mask = M.complex_ratio_mask(src, mix)
    assert mask.shape == (2, 4, 6)
    assert torch.allclose(mask[0], torch.full((4, 6), 0.3 * math.cos(0.7)), atol=1e-5)
    assert torch.allclose(M.apply_complex_mask(mask, mix), src, atol=1e-5)
    big = M.complex_ratio_mask(10 * mix, mix)
    assert big.max() == pytest.approx(5.0)  # clipped to +-5


def test_squash_bounds_the_complex_mask():
    raw = torch.tensor([-100.0, 0.0, 0.5, 100.0])
    out = M.squash_complex_mask(raw)
    assert out[0] == pytest.approx(-5.0) and out[1] == 0 and out[2] == pytest.approx(5 * math.tanh(0.5))
    assert out[3] == pytest.approx(5.0)


def test_mask_weight_is_clamped_log1p():
    mag = torch.tensor([0.0, 1e-6, math.e - 1, 1e6])
    w = M.mask_weight(mag)
    assert w.tolist() == pytest.approx([1e-3, 1e-3, 1.0, 10.0], rel=1e-5)


def test_weighted_l1_weighs_bins_and_ignores_padded_sources():
    pred = torch.tensor([[[[1.0, 0.0]], [[9.0, 9.0]]]])  # (B=1, S=2, F=1, T=2)
    target = torch.zeros_like(pred)
    weight = torch.tensor([[[[2.0, 5.0]]]])  # (B, 1, F, T)
    valid = torch.tensor([[True, False]])
    assert M.weighted_l1(pred, target, weight, valid=valid).item() == pytest.approx((2.0 * 1 + 5.0 * 0) / 2)
    assert M.weighted_l1(pred, target, weight).item() == pytest.approx((2.0 + 0 + 18 + 45) / 4)
    per = M.weighted_l1(pred, target, weight, per_item=True)
    assert per.shape == (1, 2) and per[0, 1].item() == pytest.approx(31.5)


def test_weighted_bce_matches_the_formula():
    prob = torch.tensor([[0.8, 0.3]])
    target = torch.tensor([[1.0, 0.0]])
    weight = torch.tensor([[1.0, 3.0]])
    expected = (-math.log(0.8) * 1 - math.log(0.7) * 3) / 2
    assert M.weighted_bce(prob, target, weight).item() == pytest.approx(expected, rel=1e-5)


def test_weighted_l2_complex_uses_log1p_of_the_mixture():
    pred = torch.zeros(1, 1, 2, 1, 2)  # (B, S, 2, F, T)
    target = torch.zeros_like(pred)
    target[0, 0, 0, 0, 0], target[0, 0, 1, 0, 1] = 1.0, 2.0
    mix_mag = torch.tensor([[[[math.e - 1, math.e**2 - 1]]]])  # weights 1 and 2
    loss = M.weighted_l2_complex(pred, target, mix_mag)
    assert loss.item() == pytest.approx((1.0 * 1 + 4.0 * 2) / 4, rel=1e-5)
