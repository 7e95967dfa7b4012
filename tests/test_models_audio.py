"""Audio towers: waveform output lengths and layer shapes, mu-law, spectrogram ResNet and torchvision keys."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from avlearn.models import create_model
from avlearn.models.audio.waveform import WaveformNet, mu_law_compress


@pytest.mark.parametrize("name", ["waveform_small", "waveform_owens"])
@pytest.mark.parametrize("n", [1000, 1024, 1025, 8000, 12345])
def test_waveform_output_length_is_ceil_n_over_1024(name, n):
    torch.manual_seed(0)
    model = create_model(name).eval()
    c = model.conv1.in_channels
    with torch.no_grad():
        feats = model.forward_features(torch.randn(2, c, n))
    assert feats.shape == (2, model.num_features, math.ceil(n / 1024))
    assert model.output_length(n) == math.ceil(n / 1024) and model.reduction == 1024


def test_waveform_layers_follow_the_reference_table():
    model = create_model("waveform_owens")
    assert (model.conv1.in_channels, model.conv1.out_channels, model.conv1.kernel_size, model.conv1.stride) == (
        2,
        64,
        (65,),
        (4,),
    )
    assert model.pool1.kernel_size == 4 and model.pool1.stride == 4
    blocks = [(b.conv1.out_channels, b.conv1.kernel_size[0], b.conv1.stride[0]) for b in model.blocks]
    assert blocks == [(128, 15, 4), (128, 15, 4), (256, 15, 4)]
    feats = create_model("waveform_owens", features_only=True).eval()(torch.randn(1, 2, 88200))  # 4.2 s at 21 kHz
    assert [tuple(f.shape) for f in feats] == [(1, 64, 5513), (1, 128, 1379), (1, 128, 345), (1, 256, 87)]


def test_other_strides_and_mono_without_channel_axis():
    model = WaveformNet(num_classes=3, stem_width=8, widths=(16, 16), stem_stride=2, pool=2, stride=2).eval()
    with torch.no_grad():
        for n in (97, 400, 1001):
            assert model.forward_features(torch.randn(1, 1, n)).shape[-1] == model.output_length(n)
        x = torch.randn(2, 500)
        torch.testing.assert_close(model(x), model(x.unsqueeze(1)))


def test_mu_law_compression():
    x = torch.tensor([-1.0, -0.1, 0.0, 0.01, 1.0])
    y = mu_law_compress(x)
    torch.testing.assert_close(y[[0, 2, 4]], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(y[1], torch.tensor(-math.log(1 + 25.5) / math.log(256)))
    torch.manual_seed(0)
    plain = WaveformNet(num_classes=3, stem_width=8, widths=(16,)).eval()
    comp = WaveformNet(num_classes=3, stem_width=8, widths=(16,), compress=True).eval()
    comp.load_state_dict(plain.state_dict())
    w = torch.rand(2, 1, 3000) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(comp(w), plain(mu_law_compress(w)))


def test_spectrogram_resnet_shapes():
    torch.manual_seed(0)
    model = create_model("spec_resnet_small", num_classes=5).eval()
    with torch.no_grad():
        x = torch.randn(2, 1, 64, 96)  # (B, 1, mel, frames)
        assert model.forward_features(x).shape == (2, 128, 8, 12)
        assert model.temporal_features(x).shape == (2, 128, 12)
        assert model(x).shape == (2, 5)
        assert create_model("spec_resnet18").eval().forward_features(x).shape == (2, 512, 2, 3)
    assert [i["reduction"] for i in model.feature_info] == [1, 2, 4, 8]


def test_spectrogram_resnet18_loads_a_torchvision_state_dict(tmp_path):
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(num_classes=1000).eval()
    for m in tv.modules():  # non-trivial BN statistics so a key mix-up would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    path = tmp_path / "resnet18.pt"
    torch.save(tv.state_dict(), path)
    model = create_model("spec_resnet18", in_channels=3, num_classes=1000, weights=path).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tv(x), atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="conv1.weight"):
        create_model("spec_resnet18", weights=path)  # 1 input channel vs torchvision's 3
