"""Sound of Pixels with frame-by-frame visual features (``model.kwargs.temporal``, Sound of Motions style)."""

import pytest
import torch
from test_separation_train import _config, worlds  # noqa: F401  (the tiny worlds fixture)

from avlearn.tasks.base import build_task
from avlearn.models.av.sound_of_pixels import SoundOfPixelsNet
from avlearn.train.config import ConfigError

TINY = dict(sound_channels=4, unet_levels=3, unet_channels=4, visual_width=4)


def _frames(b=1, s=2, f=8, size=32):
    torch.manual_seed(1)
    return torch.rand(b, s, 3, f, size, size)


def test_masks_follow_the_frames_in_time():
    torch.manual_seed(0)
    net = SoundOfPixelsNet(temporal=True, **TINY).eval()
    log_mag, valid = torch.randn(1, 1, 32, 64), torch.ones(1, 2, dtype=torch.bool)
    frames = _frames()
    late = frames.clone()
    late[:, :, :, 6:] = torch.rand_like(late[:, :, :, 6:])  # only the last two of 8 frames change
    with torch.no_grad():
        a, b = net(log_mag, frames, valid), net(log_mag, late, valid)  # (1, 2, 32, 64)
        feats = net.visual_features(frames, valid)
    assert a.shape == (1, 2, 32, 64) and feats.shape == (1, 2, 4, 8)  # K features per frame
    assert torch.allclose(a[..., :24], b[..., :24])  # columns of the first frames untouched
    assert not torch.allclose(a[..., -8:], b[..., -8:], atol=1e-4)  # the end follows the new frames
    still = frames[:, :, :, :1].expand_as(frames)  # a frozen picture: the same features in every column
    with torch.no_grad():
        f_still = net.visual_features(still, valid)
    assert torch.allclose(f_still, f_still[..., :1].expand_as(f_still), atol=1e-6)


def test_motion_input_is_each_frame_and_its_change():
    x = torch.arange(3.0).view(1, 1, 3, 1, 1).expand(1, 3, 3, 2, 2)  # frames 0, 1, 2
    m = SoundOfPixelsNet.motion_input(x)
    assert m.shape == (1, 6, 3, 2, 2) and torch.equal(m[:, :3], x) and torch.all(m[:, 3:] == 1.0)
    assert torch.all(SoundOfPixelsNet.motion_input(x[:, :, :1])[:, 3:] == 0)  # one frame: no change


def test_regions_pool_inside_boxes_per_frame():
    torch.manual_seed(0)
    net = SoundOfPixelsNet(temporal=True, **TINY).eval()
    valid = torch.tensor([[True, False]])
    regions = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]]])
    with torch.no_grad():
        f = net.visual_features(_frames(), valid, regions)  # (1, 2, K, F)
        out = net(torch.randn(1, 1, 32, 40), _frames(), valid, regions)
    assert f.shape == (1, 2, 4, 8) and torch.all(f[0, 1] == 0) and out.shape == (1, 2, 32, 40)


def test_config_errors(worlds):
    with pytest.raises(ConfigError, match="model: sound_of_pixels_small: .*temporal features need"):
        build_task(_config(worlds / "objects", {"name": "sop"}, {"visual": "frames", "num_frames": 16},
                           model={"temporal": True, "conditioning": "bottleneck"}))
    with pytest.raises(ConfigError, match="every frame"):  # 0.5 s at 16 fps has 8 frames
        build_task(_config(worlds / "objects", {"name": "sop"}, {"visual": "frames", "num_frames": 3}, model={"temporal": True}))
    with pytest.raises(ValueError, match="temporal"):
        SoundOfPixelsNet(temporal=True, visual="sync_tower")
