"""Colormap, image grids, spectrogram and mask images."""

import numpy as np
import pytest
import torch
from PIL import Image

from avlearn.viz import apply_colormap, colormap_lut, image_grid, mask_image, save_image, save_image_grid, spectrogram_image


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of sRGB uint8 colours."""
    c = rgb.astype(np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    y = lin @ np.array([0.2126, 0.7152, 0.0722])
    return np.where(y > 216 / 24389, 116 * np.cbrt(y) - 16, 24389 / 27 * y)


def test_viridis_is_perceptually_ordered():
    lut = colormap_lut("viridis")
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    light = _lightness(lut)
    assert np.all(np.diff(light[::8]) > 0)  # lightness rises monotonically (sampled every 8th)
    assert light[0] < 20 and light[-1] > 85
    assert tuple(lut[0]) == pytest.approx((71, 1, 85), abs=4) and lut[-1][0] > 240  # dark purple -> yellow
    with pytest.raises(ValueError, match="unknown colormap"):
        colormap_lut("jet")


def test_apply_colormap_range_nan_and_constant():
    x = torch.tensor([[0.0, 0.5], [1.0, float("nan")]])
    rgb = apply_colormap(x)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    lut = colormap_lut()
    assert (rgb[0, 0] == lut[0]).all() and (rgb[1, 0] == lut[255]).all() and (rgb[1, 1] == lut[0]).all()
    assert (apply_colormap(np.array([2.0, 9.0]), vmin=0, vmax=4) == lut[[128, 255]]).all()  # clipped above
    assert (apply_colormap(np.full((3,), 7.0)) == lut[0]).all()
    assert (apply_colormap(np.array([0.0, 1.0]), cmap="gray") == [[0, 0, 0], [255, 255, 255]]).all()


def test_image_grid_and_png_round_trip(tmp_path):
    frames = np.zeros((5, 6, 4, 3), dtype=np.uint8)
    frames[:, :, :, 0] = np.arange(5)[:, None, None] * 50
    grid = image_grid(frames, ncols=3, pad=1)
    assert grid.shape == (1 + 2 * (6 + 1), 1 + 3 * (4 + 1), 3)
    assert (grid[1, 1 + 5 * 1] == [50, 0, 0]).all()  # second image, top-left pixel
    assert (grid[0] == 255).all()  # padding
    mixed = image_grid([np.ones((2, 2)), np.zeros((3, 5, 3), dtype=np.uint8)])  # gray float + RGB of other size
    assert mixed.shape == (2 + 3 + 2, 2 + 2 * (5 + 2), 3)  # cells as large as the largest image
    assert (mixed[2:4, 2:4] == 255).all() and (mixed[2:5, 9:14] == 0).all()
    path = save_image_grid(tmp_path / "sub" / "grid.png", frames, ncols=5, scale=2)
    back = np.asarray(Image.open(path))
    assert back.shape == (2 * (2 + 6 + 2), 2 * (2 + 5 * 6), 3)
    single = save_image(tmp_path / "one.png", torch.rand(3, 4, 5))  # channels-first float
    assert np.asarray(Image.open(single)).shape == (4, 5, 3)
    with pytest.raises(ValueError):
        image_grid([])


def test_spectrogram_shows_a_tone_at_its_frequency():
    sr, n_fft = 8000, 256
    t = np.arange(sr // 2) / sr
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)  # bin 1000 / (8000 / 256) = 32
    img = spectrogram_image(tone, n_fft=n_fft)
    bins = n_fft // 2 + 1
    assert img.shape[0] == bins and img.shape[2] == 3
    brightest_row = _lightness(img).mean(1).argmax()
    assert bins - 1 - brightest_row == 32  # low frequencies at the bottom
    stereo = spectrogram_image(np.stack([tone, tone]), n_fft=n_fft)
    assert (stereo == img).all()
    spec = spectrogram_image(np.abs(np.random.default_rng(0).standard_normal((10, 7))), spectrogram=True)
    assert spec.shape == (10, 7, 3)


def test_mask_image_orientation_and_clipping():
    mask = np.zeros((4, 3))
    mask[0] = 5.0  # lowest frequency, a ratio mask above 1
    img = mask_image(mask)
    assert (img[-1] == 255).all() and (img[:-1] == 0).all()
    with pytest.raises(ValueError):
        mask_image(np.zeros(5))
