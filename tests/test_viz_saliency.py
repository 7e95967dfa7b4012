"""Gradient saliency is nonzero exactly where the input matters; SmoothGrad; the grid image."""

import numpy as np
import torch
from PIL import Image
from torch import nn

from avlearn.io import AVClip
from avlearn.models import create_model
from avlearn.viz import saliency, save_saliency_grid


class _Window(nn.Module):
    """Scores depend only on pixels [2:5, 8:16, 8:16] of the clip (frames 2-4, a centre square)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, x):  # (B, 3, T, H, W)
        return self.fc((x[:, :, 2:5, 8:16, 8:16] ** 2).mean((2, 3, 4)))  # (B, 2)


def test_saliency_nonzero_only_where_the_input_matters():
    torch.manual_seed(0)
    model = _Window().train()
    frames = torch.randint(1, 255, (6, 24, 24, 3), dtype=torch.uint8)
    sal = saliency(model, AVClip(frames, None, 8.0, None, 0.0, 0.75), target=1)
    assert sal.shape == (6, 24, 24) and sal.dtype == torch.float32
    inside = torch.zeros_like(sal, dtype=torch.bool)
    inside[2:5, 8:16, 8:16] = True
    assert (sal[inside] > 0).all() and (sal[~inside] == 0).all()
    assert model.training  # mode restored
    # the target's own gradient: d/dx of fc.weight[1] . mean(x^2) -> 2 x |w| / n
    x = frames.permute(3, 0, 1, 2).float() / 255
    n = 3 * 8 * 8
    expected = (2 * x[:, 2:5, 8:16, 8:16] * model.fc.weight[1][:, None, None, None].detach() / n).abs().amax(0)
    torch.testing.assert_close(sal[2:5, 8:16, 8:16], expected)


def test_smoothgrad_and_callable_target():
    model = _Window()
    x = torch.rand(3, 6, 24, 24)
    g = torch.Generator().manual_seed(0)
    smooth = saliency(model, x, target=lambda out: out[:, 0] - out[:, 1], smoothgrad=6, batch_size=4, generator=g)
    assert smooth.shape == (6, 24, 24)
    assert smooth[2:5, 8:16, 8:16].min() > 0 and smooth[:2].abs().max() == 0
    plain = saliency(model, x, target=lambda out: out[:, 0] - out[:, 1])
    assert not torch.allclose(smooth, plain)  # the noise changed the (input-dependent) gradient
    assert torch.corrcoef(torch.stack([smooth[2:5].flatten(), plain[2:5].flatten()]))[0, 1] > 0.5


def test_saliency_of_a_registered_model_and_grid_png(tmp_path):
    torch.manual_seed(0)
    model = create_model("r3d_tiny", num_classes=3)
    frames = torch.randint(0, 255, (4, 32, 32, 3), dtype=torch.uint8)
    sal = saliency(model, frames)  # explains the top class
    assert sal.shape == (4, 32, 32) and sal.sum() > 0
    path = save_saliency_grid(tmp_path / "sal.png", frames, sal, every=2, scale=2)
    img = np.asarray(Image.open(path))
    assert img.shape == (2 * (2 + 3 * (32 + 2)), 2 * (2 + 2 * (32 + 2)), 3)  # 3 rows x 2 shown frames
