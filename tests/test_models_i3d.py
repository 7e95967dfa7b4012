"""I3D inflation: the boring-video property and the weight rule of Carreira & Zisserman."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from avlearn.models import create_model
from avlearn.models._inflate import ReplicateTimePadConv3d, inflate, inflate_conv2d
from avlearn.models.video.i3d import adapt_input_conv, build_resnet2d


def _trained_looking(net: nn.Module, seed: int = 0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


@pytest.mark.parametrize("arch", ["resnet10", "resnet18", pytest.param("resnet50", marks=pytest.mark.slow)])
def test_constant_video_gives_the_2d_output(arch, tmp_path):
    torch.manual_seed(0)
    net2d = _trained_looking(build_resnet2d(arch))
    path = tmp_path / f"{arch}.pt"
    torch.save(net2d.state_dict(), path)
    i3d = create_model(f"i3d_{arch}", num_classes=1000, weights_2d=path).eval()

    image = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    video = image.unsqueeze(2).expand(-1, -1, 5, -1, -1)  # the image repeated over 5 frames
    with torch.no_grad():
        ref, out = net2d(image), i3d(video)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())


def test_inflated_weights_are_repeated_and_divided():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=True)
    conv3d = inflate_conv2d(conv, time_kernel=(3, 2, 1))
    assert conv3d.kernel_size == (3, 3, 3) and conv3d.stride == (2, 1, 1)
    for t in range(3):
        torch.testing.assert_close(conv3d.weight[:, :, t], conv.weight / 3)
    torch.testing.assert_close(conv3d.bias, conv.bias)


def test_zero_time_padding_breaks_only_the_border_frames():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    zeros = inflate_conv2d(conv, time_kernel=3, time_padding_mode="zeros")
    rep = inflate_conv2d(conv, time_kernel=3)
    assert isinstance(rep, ReplicateTimePadConv3d) and not isinstance(zeros, ReplicateTimePadConv3d)
    image = torch.randn(1, 3, 8, 8)
    video = image.unsqueeze(2).expand(-1, -1, 4, -1, -1)
    with torch.no_grad():
        ref, z, r = conv(image), zeros(video), rep(video)
    for t in range(4):
        torch.testing.assert_close(r[:, :, t], ref, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(z[:, :, 1], ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(z[:, :, 0], ref, atol=1e-3)


def test_inflate_keeps_names_and_leaves_the_2d_model_alone():
    net2d = build_resnet2d("resnet10")
    before = {k: v.clone() for k, v in net2d.state_dict().items()}
    net3d = inflate(net2d, time_kernel={"conv1": 5})
    assert list(net3d.state_dict()) == list(before)
    assert net3d.conv1.weight.shape == (64, 3, 5, 7, 7)
    assert net3d.layer1[0].conv1.weight.shape == (64, 64, 1, 3, 3)
    assert isinstance(net3d.maxpool, nn.MaxPool3d) and isinstance(net3d.layer1[0].bn1, nn.BatchNorm3d)
    for k, v in net2d.state_dict().items():
        assert torch.equal(v, before[k])


def test_default_time_kernels_follow_wang_et_al():
    with torch.device("meta"):
        m = create_model("i3d_resnet50")
    assert m.conv1.kernel_size == (5, 7, 7)
    assert [blk.conv1.kernel_size for blk in m.layer3] == [(3, 1, 1), (1, 1, 1)] * 3
    assert m.layer3[0].conv2.kernel_size == (1, 3, 3)
    with torch.no_grad():
        assert create_model("i3d_resnet10").forward_features(torch.randn(1, 3, 6, 32, 32)).shape == (1, 512, 6, 1, 1)


def test_adapt_input_conv_for_grey_input():
    conv = nn.Conv2d(3, 4, 3, padding=1)
    grey = adapt_input_conv(conv, 1)
    image = torch.randn(1, 1, 8, 8)
    torch.testing.assert_close(grey(image), conv(image.expand(-1, 3, -1, -1)), atol=1e-5, rtol=1e-5)
    flow_net = create_model("i3d_resnet10", in_channels=2, num_classes=3)
    assert flow_net.conv1.weight.shape[1] == 2
    assert flow_net(torch.randn(1, 2, 4, 32, 32)).shape == (1, 3)


def test_missing_2d_weights_file_is_named(tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        create_model("i3d_resnet18", weights_2d=path)
