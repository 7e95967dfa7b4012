"""Fusion models: the two-layer networks' size / receptive-field table and where each model merges time."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange
from torch import nn

from avlearn.models import create_model
from avlearn.models.video.fusion import receptive_fields
from avlearn.models.video.i3d import build_resnet2d

LECTURE_INPUT = (3, 20, 64, 64)
# "Early Fusion vs Late Fusion vs 3D CNN": (Size C x T x H x W, Receptive Field T x H x W) per layer,
# conv -> pool -> conv -> global average pool. Early fusion's sizes have T = 1 (its conv ate time).
LECTURE_TABLE = {
    "late_fusion_pool_tiny": [
        ((12, 20, 64, 64), (1, 3, 3)),
        ((12, 20, 16, 16), (1, 6, 6)),
        ((24, 20, 16, 16), (1, 14, 14)),
        ((24, 1, 1, 1), (20, 64, 64)),
    ],
    "early_fusion_tiny": [
        ((12, 1, 64, 64), (20, 3, 3)),
        ((12, 1, 16, 16), (20, 6, 6)),
        ((24, 1, 16, 16), (20, 14, 14)),
        ((24, 1, 1, 1), (20, 64, 64)),
    ],
    "cnn3d_tiny": [
        ((12, 20, 64, 64), (3, 3, 3)),
        ((12, 5, 16, 16), (6, 6, 6)),
        ((24, 5, 16, 16), (14, 14, 14)),
        ((24, 1, 1, 1), (20, 64, 64)),
    ],
}


@pytest.mark.parametrize("name", sorted(LECTURE_TABLE))
def test_tiny_fusion_sizes_and_receptive_fields(name):
    rows = receptive_fields(create_model(name), LECTURE_INPUT)
    assert [(r["size"], r["rf"]) for r in rows] == LECTURE_TABLE[name]
    assert [r["type"] for r in rows] == ["Conv3d", "MaxPool3d", "Conv3d", "AdaptiveAvgPool3d"]


def test_karpathy_slow_fusion_sees_all_ten_frames_only_at_conv3():
    rows = [
        r for r in receptive_fields(create_model("slow_fusion_karpathy"), (3, 10, 170, 170)) if r["type"] == "Conv3d"
    ]
    assert [r["rf"][0] for r in rows[:3]] == [4, 6, 10]
    assert [r["size"][1] for r in rows[:3]] == [4, 2, 1]


def test_early_fusion_first_conv_is_a_2d_conv_over_3t_channels():
    model = create_model("early_fusion_small", num_frames=8)
    conv3d = model.trunk.stages[0][0][0]
    conv2d = nn.Conv2d(3 * 8, 16, 3, stride=2, padding=1, bias=False)
    with torch.no_grad():
        conv2d.weight.copy_(rearrange(conv3d.weight, "o c t h w -> o (t c) h w"))
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        out3d = conv3d(x)  # (B, 16, 1, 16, 16)
        out2d = conv2d(rearrange(x, "b c t h w -> b (t c) h w"))  # (B, 16, 16, 16)
    torch.testing.assert_close(out3d.squeeze(2), out2d, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["early_fusion_small", "late_fusion_fc_small", "early_fusion_tiny"])
def test_models_built_for_a_clip_length_reject_others(name):
    with pytest.raises(ValueError, match="built for clips of"):
        create_model(name)(torch.randn(1, 3, 6, 32, 32))


@pytest.mark.parametrize("name", ["single_frame_small", "late_fusion_pool_small"])
def test_frame_models_ignore_frame_order(name):
    model = create_model(name, num_classes=5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(model(x.flip(2)), model(x), atol=1e-5, rtol=1e-5)


def test_late_fusion_fc_sees_frame_order():
    torch.manual_seed(0)
    model = create_model("late_fusion_fc_small", num_classes=5).eval()
    x = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(model(x.flip(2)), model(x), atol=1e-6)


def test_per_frame_trunk_keeps_frames_apart():
    model = create_model("late_fusion_fc_small").eval()
    x = torch.randn(1, 3, 8, 32, 32)
    y = x.clone()
    y[:, :, 0] = torch.randn(3, 32, 32)
    with torch.no_grad():
        fx, fy = model.forward_features(x), model.forward_features(y)
    torch.testing.assert_close(fx[:, :, 1:], fy[:, :, 1:])
    assert not torch.allclose(fx[:, :, 0], fy[:, :, 0])


def test_single_frame_averages_frame_probabilities():
    model = create_model("single_frame_small", num_classes=5).eval()
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        frames = model.forward_frames(x)  # (B, T, K)
        clip = model(x)
    assert frames.shape == (2, 4, 5)
    torch.testing.assert_close(clip.softmax(-1), frames.softmax(-1).mean(1), atol=1e-6, rtol=1e-5)


def test_resnet18_trunk_is_the_2d_resnet_on_every_frame(tmp_path):
    torch.manual_seed(0)
    net2d = build_resnet2d("resnet18").eval()
    path = tmp_path / "r18.pt"
    torch.save(net2d.state_dict(), path)
    model = create_model("single_frame_r18", weights_2d=path).eval()
    net2d.fc = nn.Identity()
    x = torch.randn(1, 3, 2, 32, 32)
    with torch.no_grad():
        emb = model.forward_head(model.forward_features(x), pre_logits=True)  # (1, 512)
        ref = (net2d(x[:, :, 0]) + net2d(x[:, :, 1])) / 2
    torch.testing.assert_close(emb, ref, atol=1e-5, rtol=1e-4)


def test_channels_last_flag_reaches_the_trunk():
    fast = create_model("single_frame_small", num_classes=5).eval()
    plain = create_model("single_frame_small", num_classes=5, channels_last=False).eval()
    plain.load_state_dict(fast.state_dict())
    assert fast.trunk.channels_last and not plain.trunk.channels_last
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), atol=1e-5, rtol=1e-4)
