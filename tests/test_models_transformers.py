"""Space-time transformers: attention factorisation, pooling attention, positional embeddings."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model
from avlearn.models.video._transformer import PatchEmbed, PosEmbed, interpolate_pos
from avlearn.models.video.mvit import PoolingAttention
from avlearn.models.video.timesformer import DividedBlock


def _changed(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().amax(dim=-1) > 1e-6  # (B, L) per token


def test_divided_attention_factorisation():
    torch.manual_seed(0)
    t, s, d = 4, 9, 32
    block = DividedBlock(d, 4).eval()
    x = torch.randn(1, t * s, d)
    x2 = x.clone()
    t0, s0 = 2, 5
    x2[0, t0 * s + s0] += torch.randn(d)  # perturb one patch of one frame
    tt, ss = torch.meshgrid(torch.arange(t), torch.arange(s), indexing="ij")
    same_pos, same_frame = (ss == s0).flatten(), (tt == t0).flatten()
    with torch.no_grad():
        temporal = _changed(block.temporal_attention(x2, t), block.temporal_attention(x, t))[0]
        spatial = _changed(block.spatial_attention(x2, t), block.spatial_attention(x, t))[0]
        full = _changed(block(x2, t), block(x, t))[0]
    assert torch.equal(temporal, same_pos)  # time attention: only the patch's own position, in every frame
    assert torch.equal(spatial, same_frame)  # space attention: only the patch's own frame
    assert full.all()  # a whole block (time then space) reaches every token


def test_vivit_spatial_encoder_keeps_time_indices_apart():
    torch.manual_seed(0)
    model = create_model("vivit_fe_small").eval()
    grid = torch.randn(1, 128, 4, 3, 3)  # (B, D, T, H, W) tokens after the embedding
    grid2 = grid.clone()
    grid2[0, :, 1, 0, 0] += torch.randn(128)
    with torch.no_grad():
        diff = (model.spatial(grid2) - model.spatial(grid)).abs().amax(dim=(0, 1, 3, 4))  # per time index
        frames = torch.randn(1, 128, 4)
        frames2 = frames.clone()
        frames2[0, :, 1] += torch.randn(128)
        tdiff = (model.temporal(frames2) - model.temporal(frames)).abs().amax(dim=(0, 1))
    assert diff[1] > 1e-4 and torch.all(diff[[0, 2, 3]] < 1e-6)
    assert torch.all(tdiff > 1e-4)  # the temporal encoder mixes every time index
    assert model(torch.randn(2, 3, 8, 64, 64)).shape == (2, 10)
    assert model.forward_features(torch.randn(2, 3, 8, 64, 64)).shape == (2, 128, 4)


def test_pooling_attention_strides():
    torch.manual_seed(0)
    attn = PoolingAttention(16, 32, 2, q_stride=(1, 2, 2), kv_stride=(1, 4, 4)).eval()
    x = torch.randn(2, 2 * 8 * 8, 16)
    out, thw = attn(x, (2, 8, 8))
    assert thw == (2, 4, 4) and out.shape == (2, 2 * 4 * 4, 32)
    q = torch.randn(2, 2, 2 * 8 * 8, 16)
    k, kv_thw = attn.pool_k(q, (2, 8, 8))
    assert kv_thw == (2, 2, 2) and k.shape == (2, 2, 8, 16)
    assert attn.pool_k.conv.groups == 16  # per-channel (depthwise) pooling


def test_mvit_stages_halve_space_and_double_channels():
    torch.manual_seed(0)
    model = create_model("mvit_small", features_only=True).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 8, 64, 64))
    assert [tuple(f.shape) for f in feats] == [
        (1, 32, 4, 16, 16),
        (1, 64, 4, 8, 8),
        (1, 128, 4, 4, 4),
        (1, 256, 4, 2, 2),
    ]
    q = [
        blk.attn.pool_q.conv.stride if blk.attn.pool_q else None for stage in model.model.stages for blk in stage.blocks
    ]
    assert q == [None, (1, 2, 2), (1, 2, 2), (1, 2, 2)]  # queries pooled at each stage change


def test_mvit_key_value_grid_stays_constant():
    model = create_model("mvit_small")
    kv = [
        blk.attn.pool_k.conv.stride if blk.attn.pool_k else (1, 1, 1) for stage in model.stages for blk in stage.blocks
    ]
    assert kv == [(1, 4, 4), (1, 2, 2), (1, 1, 1), (1, 1, 1)]  # 16x16/4 = 8x8/2 = 4x4/1 tokens


def test_positional_embedding_is_exact_at_the_reference_size():
    torch.manual_seed(0)
    pos = PosEmbed(8, frames=4, size=(3, 5))
    x = torch.zeros(1, 8, 4, 3, 5)
    expected = pos.spatial.unsqueeze(2) + pos.temporal[..., None, None]
    torch.testing.assert_close(pos(x), expected)
    assert interpolate_pos(pos.spatial, (3, 5)) is pos.spatial


def test_positional_embedding_interpolation_follows_a_smooth_grid():
    # Constant embeddings stay constant; a linear ramp over x stays (nearly: bicubic with
    # a = -0.75) that ramp at the new pixel centres, and stays monotonic.
    const = torch.full((1, 2, 6, 6), 0.3)
    torch.testing.assert_close(interpolate_pos(const, (9, 13)), torch.full((1, 2, 9, 13), 0.3))
    pos = torch.linspace(0, 1, 8).view(1, 1, 1, 8).expand(1, 2, 8, 8)
    big = interpolate_pos(pos, (16, 16))
    centers = (torch.arange(16) + 0.5) / 16 * 8 - 0.5  # pixel centres of the new grid in old units
    torch.testing.assert_close(big[0, 0, 5, 3:-3], centers[3:-3] / 7, atol=0.01, rtol=0)  # away from the border
    assert torch.all(big[0, 0, 5, 1:] > big[0, 0, 5, :-1])
    t = interpolate_pos(torch.arange(4.0).view(1, 1, 4), (8,))
    assert t.shape == (1, 1, 8) and torch.all(t[0, 0, 1:] >= t[0, 0, :-1])


@pytest.mark.parametrize("name", ["timesformer_small", "vivit_fe_small", "mvit_small"])
def test_other_input_sizes_use_interpolated_positions(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=3).eval()
    with torch.no_grad():
        for shape in [(1, 3, 8, 64, 64), (1, 3, 6, 48, 40)]:  # the reference size, then another
            assert model(torch.randn(shape)).shape == (1, 3)
    # The gradient reaches the learned positions through the interpolation.
    model.train()
    model(torch.randn(2, 3, 4, 32, 32)).sum().backward()
    pos = [p for n, p in model.named_parameters() if "pos" in n]
    assert pos and all(p.grad is not None and p.grad.abs().sum() > 0 for p in pos)


def test_timesformer_shapes():
    torch.manual_seed(0)
    model = create_model("timesformer_small", features_only=True).eval()
    with torch.no_grad():
        feats = model(torch.randn(1, 3, 8, 64, 64))
    assert [tuple(f.shape) for f in feats] == [(1, 128, 8, 8, 8)] * 2
    assert all(isinstance(b, DividedBlock) for stage in model.model.stages for b in stage.blocks)


def test_patch_embed_tiles_by_default_and_keeps_conv_keys():
    pe = PatchEmbed(3, 8, (2, 4, 4))  # ViViT tubelets: kernel = stride
    assert pe.stride == (2, 4, 4) and pe.padding == (0, 0, 0)
    assert list(pe.state_dict()) == ["weight", "bias"]  # the keys of the nn.Conv3d it replaced
    assert pe(torch.randn(1, 3, 4, 16, 16)).shape == (1, 8, 2, 4, 4)
    cube = PatchEmbed(3, 8, (3, 7, 7), stride=(2, 4, 4), padding=(1, 3, 3))  # MViT: overlapping cubes
    assert cube(torch.randn(1, 3, 8, 32, 32)).shape == (1, 8, 4, 8, 8)
