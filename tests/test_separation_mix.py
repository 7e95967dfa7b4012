"""Mix-and-separate mixing (Sound of Pixels) and speech RMS normalisation (VisualVoice)."""

import numpy as np
import pytest
import torch

from avlearn.tasks.separation.mix import draw_partners, mix_sources, random_gains, rms_gain, rms_normalize


def test_mixture_is_the_sum_of_sources_divided_by_n():
    src = torch.tensor([[0.2, -0.4, 0.6], [0.4, 0.4, 0.0], [0.0, 0.3, 0.3]])
    mix, scaled = mix_sources(src)
    assert torch.allclose(scaled, src / 3)
    assert torch.allclose(mix, src.sum(0) / 3)


def test_gains_clipping_and_padding():
    src = torch.ones(2, 4)
    mix, scaled = mix_sources(src, gains=torch.tensor([1.5, 1.5]), divide=False)
    assert torch.all(mix == 1.0) and torch.allclose(scaled, torch.full((2, 4), 1.5))  # clipped mixture, unclipped targets
    batch = torch.ones(1, 3, 4)
    mix, scaled = mix_sources(batch, valid=torch.tensor([[True, True, False]]))
    assert torch.allclose(mix, torch.ones(1, 4)) and torch.all(scaled[0, 2] == 0)  # N counts valid sources only
    assert torch.allclose(scaled[0, :2], torch.full((2, 4), 0.5))


def test_random_gains_lie_in_sop_range():
    g = random_gains(1000, generator=torch.Generator().manual_seed(0))
    assert g.min() >= 0.5 and g.max() <= 1.5 and abs(g.mean().item() - 1.0) < 0.05


def test_rms_normalize_reaches_target_and_keeps_silence():
    x = torch.stack([torch.randn(8000, generator=torch.Generator().manual_seed(1)) * 0.7, torch.zeros(8000)])
    y = rms_normalize(x, target=0.1)
    assert y[0].square().mean().sqrt().item() == pytest.approx(0.1, rel=1e-5)
    assert torch.all(y[1] == 0) and rms_gain(x)[1] == 0


def test_partners_have_distinct_labels_when_possible():
    labels = [0, 0, 1, 1, 2, 2, 3]
    rng = np.random.default_rng(0)
    for first in range(len(labels)):
        picks = draw_partners(rng, labels, first, 2)
        assert first not in picks and len(set(picks)) == 2
        assert len({labels[first], *(labels[i] for i in picks)}) == 3
    picks = draw_partners(rng, [5, 5, 5], 0, 2)  # one label only: any other items
    assert sorted(picks) == [1, 2]
    with pytest.raises(ValueError):
        draw_partners(rng, [0, 1], 0, 2)
