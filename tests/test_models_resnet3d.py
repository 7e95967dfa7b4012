"""R3D / MC3 / R(2+1)D: torchvision state dicts load and give the same outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision

from avlearn.models import create_model

TV_NAMES = ["r3d_18", "mc3_18", "r2plus1d_18"]


def _randomize_bn(model: torch.nn.Module, seed: int = 0) -> None:
    # Non-trivial running statistics so eval-mode BN is not the identity.
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm3d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize("name", TV_NAMES)
def test_torchvision_state_dict_gives_same_outputs(name, tmp_path):
    torch.manual_seed(0)
    tv = getattr(torchvision.models.video, name)()
    _randomize_bn(tv)
    tv.eval()
    path = tmp_path / f"{name}.pt"
    torch.save(tv.state_dict(), path)

    ours = create_model(name, weights=path).eval()
    assert list(ours.state_dict()) == list(tv.state_dict())
    x = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref, out = tv(x), ours(x)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", TV_NAMES)
def test_parameter_count_matches_torchvision(name):
    tv = getattr(torchvision.models.video, name)()
    with torch.device("meta"):
        ours = create_model(name)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in tv.parameters())


def test_incompatible_weights_name_the_keys(tmp_path):
    path = tmp_path / "r3d.pt"
    torch.save(create_model("r3d_tiny").state_dict(), path)
    with pytest.raises(ValueError) as err:
        create_model("r2plus1d_tiny", weights=path)
    msg = str(err.value)
    assert str(path) in msg
    assert "missing keys" in msg and "stem.3.weight" in msg  # R(2+1)D's second stem conv
    assert "shape mismatches" in msg and "layer1.0.conv1.0" in msg


def test_channels_last_default_matches_contiguous():
    torch.manual_seed(0)
    fast = create_model("r2plus1d_tiny", num_classes=5)
    plain = create_model("r2plus1d_tiny", num_classes=5, channels_last=False)
    plain.load_state_dict(fast.state_dict())
    assert fast.stem[0].weight.is_contiguous(memory_format=torch.channels_last_3d)
    assert plain.stem[0].weight.is_contiguous()
    x = torch.randn(2, 3, 4, 32, 32)
    fast.eval(), plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name,t_out", [("r3d_tiny", 1), ("mc3_tiny", 8), ("r2plus1d_tiny", 1)])
def test_width_kwarg_and_temporal_strides(name, t_out):
    model = create_model(name, width=8, num_classes=2).eval()
    assert [d["num_chs"] for d in model.feature_info] == [8, 8, 16, 32, 64]
    with torch.no_grad():
        feats = model.forward_features(torch.randn(1, 3, 8, 32, 32))
    # R3D / R(2+1)D stride time in layer2..4 (8 -> 1); MC3's 2D stages keep it.
    assert feats.shape == (1, 64, t_out, 2, 2)


def test_wrong_input_names_the_model():
    model = create_model("r3d_tiny")
    with pytest.raises(ValueError, match=r"VideoResNet: expected video input \(B, 3, T, H, W\)"):
        model(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize("layout", ["contiguous", "channels_last_3d"])
@pytest.mark.parametrize("stride,groups", [(1, 1), (2, 1), (1, 2)])
def test_temporal_conv_equals_conv3d(layout, stride, groups):
    from avlearn.models.video._timeconv import TemporalConv3d

    torch.manual_seed(0)
    ref = torch.nn.Conv3d(4, 6, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), groups=groups, bias=True)
    ours = TemporalConv3d(4, 6, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), groups=groups, bias=True)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 4, 7, 5, 6, requires_grad=True)
    if layout == "channels_last_3d":
        x = x.detach().contiguous(memory_format=torch.channels_last_3d).requires_grad_()
    x2 = x.detach().clone().requires_grad_()
    y_ref, y = ref(x), ours(x2)
    assert y.shape == y_ref.shape and torch.allclose(y, y_ref, atol=1e-5)
    y_ref.square().sum().backward()
    y.square().sum().backward()
    assert torch.allclose(x2.grad, x.grad, atol=1e-4) and torch.allclose(ours.weight.grad, ref.weight.grad, atol=1e-4)
    spatial = TemporalConv3d(4, 6, (3, 3, 3), padding=1)  # not temporal-only: falls back to conv3d
    spatial.load_state_dict(torch.nn.Conv3d(4, 6, 3, padding=1).state_dict())
    assert spatial(x2.detach()).shape == (2, 6, 7, 5, 6)
