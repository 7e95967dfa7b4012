"""SlowFast: pathway frame rates (alpha) and widths (beta), lateral connections, the pooled head."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model
from avlearn.models.video.slowfast import SlowFast


def _small(**kw) -> SlowFast:
    torch.manual_seed(0)
    cfg = {"num_classes": 4, "alpha": 4, "beta_inv": 4, "stem_width": 16, "depths": (1, 1, 1, 1), "expansion": 2}
    return SlowFast(**{**cfg, **kw}).eval()


def _clip(t=16, size=32, seed=0):
    return torch.randn(2, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("alpha,beta_inv", [(4, 4), (2, 8), (8, 2)])
def test_pathway_shapes_follow_alpha_and_beta(alpha, beta_inv):
    model = _small(alpha=alpha, beta_inv=beta_inv)
    with torch.no_grad():
        slow, fast = model.forward_pathways(_clip(t=16))
    assert slow.shape == (2, 16 * 8 * 2, 16 // alpha, 1, 1)  # C = stem * 2^3 * expansion at res5
    assert fast.shape == (2, 16 * 8 * 2 // beta_inv, 16, 1, 1)  # beta * C, every frame
    assert model.fast_stem[0].out_channels == 16 // beta_inv


def test_lateral_connections_are_time_strided_convs_concatenated_onto_slow():
    model = _small()
    fast_chs = [4, 8, 16, 32]  # fast pathway after the stem, res2, res3, res4
    slow_chs = [16, 32, 64, 128]
    for fuse, cf, cs, info in zip(model.fuse, fast_chs, slow_chs, model.feature_info):
        assert fuse.conv.kernel_size == (5, 1, 1) and fuse.conv.stride == (4, 1, 1)
        assert fuse.conv.in_channels == cf and fuse.conv.out_channels == 2 * cf
        assert info["num_chs"] == cs + 2 * cf
    feats = create_model("slowfast_small", features_only=True).eval()(_clip(t=16, size=64))
    assert [tuple(f.shape) for f in feats] == [
        (2, 24, 4, 16, 16),
        (2, 48, 4, 16, 16),
        (2, 96, 4, 8, 8),
        (2, 192, 4, 4, 4),
        (2, 320, 4, 2, 2),
    ]


def test_fast_frames_reach_the_slow_pathway_only_through_the_laterals():
    model = _small()
    x = _clip()
    x2 = x.clone()
    x2[:, :, 1::4] += 1.0  # frames the slow pathway never samples (it takes 0, 4, 8, 12)
    with torch.no_grad():
        slow, _ = model.forward_pathways(x)
        assert not torch.allclose(model.forward_pathways(x2)[0], slow, atol=1e-5)
        for fuse in model.fuse:
            fuse.conv.weight.zero_()
            fuse.norm.bias.zero_()  # laterals now contribute exactly zero
        torch.testing.assert_close(model.forward_pathways(x2)[0], model.forward_pathways(x)[0])


def test_temporal_kernels_of_each_pathway():
    model = _small()
    slow_kt = [stage[0].conv_a[0].kernel_size[0] for stage in model.slow_stages]
    fast_kt = [stage[0].conv_a[0].kernel_size[0] for stage in model.fast_stages]
    assert slow_kt == [1, 1, 3, 3] and fast_kt == [3, 3, 3, 3]
    assert model.slow_stem[0].kernel_size == (1, 7, 7) and model.fast_stem[0].kernel_size == (5, 7, 7)


def test_head_pools_each_pathway_then_concatenates():
    model = _small()
    x = _clip()
    with torch.no_grad():
        slow, fast = model.forward_pathways(x)
        emb = model.forward_head(model.forward_features(x), pre_logits=True)
    torch.testing.assert_close(emb, torch.cat((slow.mean((2, 3, 4)), fast.mean((2, 3, 4))), 1))
    assert emb.shape == (2, model.num_features)


def test_clip_length_not_a_multiple_of_alpha():
    model = _small()
    with torch.no_grad():
        slow, fast = model.forward_pathways(_clip(t=10))
        assert slow.shape[2] == 3 and fast.shape[2] == 10  # frames 0, 4, 8
        assert model(_clip(t=10)).shape == (2, 4)


def test_standard_size_matches_slowfast_r50():
    model = create_model("slowfast_r50_4x16")
    n = sum(p.numel() for p in model.parameters())
    assert 34.0e6 < n < 35.0e6  # SlowFast R50 4x16: 34.5 M
    assert model.alpha == 8 and model.beta_inv == 8 and model.num_features == 2048 + 256
