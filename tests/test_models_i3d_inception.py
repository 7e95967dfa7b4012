"""Inception-v1 I3D: Fig. 3's kernel/stride table, the boring-video property, the parameter count."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from test_models_i3d import _trained_looking

from avlearn.models import create_model
from avlearn.models._inception2d import InceptionV1


@pytest.mark.parametrize("name, width", [("i3d_inception_tiny", 0.25), ("i3d_inception_v1", 1.0)])
def test_constant_video_gives_the_2d_output(name, width, tmp_path):
    torch.manual_seed(0)
    net2d = _trained_looking(InceptionV1(width=width, num_classes=7))
    path = tmp_path / "inception2d.pt"
    torch.save(net2d.state_dict(), path)
    i3d = create_model(name, num_classes=7, num_classes_2d=7, weights_2d=path).eval()
    image = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    video = image.unsqueeze(2).expand(-1, -1, 8, -1, -1)  # the image repeated over 8 frames
    with torch.no_grad():
        ref, out = net2d(image), i3d(video)
        f2d, f3d = net2d.forward_features(image), i3d.forward_features(video)
    assert f3d.shape[2] == 1 and f3d.shape[3:] == f2d.shape[2:]  # time strided by 8 (1a, 4a, 5a)
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4 * ref.abs().max().item())
    # a moving clip is not a boring one: the 3D net responds differently
    with torch.no_grad():
        moving = i3d(torch.roll(video, shifts=(0, 0, 0, 5), dims=(0, 1, 2, 3)) * torch.linspace(0.2, 1.8, 8).view(1, 1, 8, 1, 1))
    assert not torch.allclose(moving, ref, atol=1e-3)


def test_kernel_and_stride_table_of_fig3():
    with torch.device("meta"):
        m = create_model("i3d_inception_v1")
    assert m.Conv2d_1a_7x7[0].kernel_size == (7, 7, 7) and m.Conv2d_1a_7x7[0].stride == (2, 2, 2)
    assert m.MaxPool_2a_3x3.kernel_size == (1, 3, 3) and m.MaxPool_2a_3x3.stride == (1, 2, 2)
    assert m.Conv2d_2b_1x1[0].kernel_size == (1, 1, 1) and m.Conv2d_2c_3x3[0].kernel_size == (3, 3, 3)
    assert m.MaxPool_3a_3x3.kernel_size == (1, 3, 3) and m.MaxPool_3a_3x3.stride == (1, 2, 2)
    assert m.MaxPool_4a_3x3.kernel_size == (3, 3, 3) and m.MaxPool_4a_3x3.stride == (2, 2, 2)
    assert m.MaxPool_5a_2x2.kernel_size == (2, 2, 2) and m.MaxPool_5a_2x2.stride == (2, 2, 2)
    blk = m.Mixed_4c
    assert blk.branch0[0].kernel_size == (1, 1, 1)
    assert blk.branch1[1][0].kernel_size == (3, 3, 3) and blk.branch2[1][0].kernel_size == (3, 3, 3)
    assert blk.branch3[0].kernel_size == (3, 3, 3) and blk.branch3[0].stride == (1, 1, 1)
    outs = [getattr(m, f"Mixed_{n}").branch0[0].out_channels for n in ("3b", "3c", "4b", "4c", "4d", "4e", "4f", "5b", "5c")]
    assert outs == [64, 128, 192, 160, 128, 112, 256, 256, 384]  # GoogLeNet Table 1, "#1x1"
    assert m.num_features == 1024


def test_parameter_count_matches_the_paper():
    with torch.device("meta"):
        m = create_model("i3d_inception_v1")
    n = sum(p.numel() for p in m.parameters())
    assert n == pytest.approx(12e6, rel=0.08)  # Carreira & Zisserman 2017, Table 1: Two-Stream I3D 25M, ~12M per stream
    n2d = sum(p.numel() for p in InceptionV1().parameters() if p.device.type != "meta")
    assert n2d == pytest.approx(6.6e6, rel=0.03)  # GoogLeNet without auxiliary heads + BN


def test_shapes_and_grey_input():
    model = create_model("i3d_inception_tiny", in_channels=1, num_classes=3).eval()
    with torch.no_grad():
        assert model.forward_features(torch.randn(1, 1, 16, 64, 64)).shape == (1, 256, 2, 2, 2)
        assert model(torch.randn(2, 1, 8, 32, 32)).shape == (2, 3)
    with pytest.raises(ValueError, match="expected video input"):
        model(torch.randn(1, 3, 8, 32, 32))
    assert isinstance(model.Conv2d_1a_7x7[1], nn.BatchNorm3d)
