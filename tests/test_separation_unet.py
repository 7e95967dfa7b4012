"""The U-Net audio network (Sound of Pixels) and its bottleneck conditioning."""

import pytest
import torch

from avlearn.models.av.unet import UNet, tile_condition, unet7, unet_small


def test_unet7_has_sop_channels_and_keeps_the_input_size():
    net = unet7(out_channels=32, base_channels=8)
    assert net.channels == [8, 16, 32, 64, 64, 64, 64]
    y = net(torch.randn(1, 1, 100, 60))  # padded to 128 x 128 inside, cropped back
    assert y.shape == (1, 32, 100, 60)


def test_encoder_downsamples_by_two_per_level():
    net = unet_small(levels=4, base_channels=4)
    feats = net.forward_encoder(torch.randn(2, 1, 64, 32))
    assert [tuple(f.shape[1:]) for f in feats] == [(4, 32, 16), (8, 16, 8), (16, 8, 4), (32, 4, 2)]


def test_condition_vector_and_sequence():
    net = unet_small(levels=3, base_channels=4, out_channels=2, cond_channels=5).eval()
    x = torch.randn(2, 1, 32, 40)
    assert net(x, torch.randn(2, 5)).shape == (2, 2, 32, 40)
    assert net(x, torch.randn(2, 5, 17)).shape == (2, 2, 32, 40)
    with pytest.raises(ValueError):
        net(x)
    seq = tile_condition(torch.arange(4.0).view(1, 1, 4), 3, 4)
    assert seq.shape == (1, 1, 3, 4) and torch.equal(seq[0, 0, 2], torch.arange(4.0))


def test_condition_changes_the_output():
    torch.manual_seed(0)
    net = unet_small(levels=3, base_channels=4, out_channels=1, cond_channels=3).eval()
    x = torch.randn(1, 1, 16, 16)
    assert not torch.allclose(net(x, torch.zeros(1, 3)), net(x, torch.ones(1, 3)))


def test_shared_encoder_equals_repeated_inputs():
    torch.manual_seed(0)
    net = UNet(in_channels=2, out_channels=2, levels=3, base_channels=4, cond_channels=3).eval()
    x = torch.randn(2, 2, 16, 24)
    cond = torch.randn(3, 3)
    index = torch.tensor([0, 0, 1])
    shared = net(x, cond, index=index)
    repeated = net(x[index], cond)
    assert shared.shape == (3, 2, 16, 24) and torch.allclose(shared, repeated, atol=1e-6)


def test_gradients_reach_every_parameter():
    net = unet_small(levels=3, base_channels=4, out_channels=3, cond_channels=2)
    net(torch.randn(2, 1, 16, 16), torch.randn(2, 2)).square().mean().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())
