"""Heatmap overlays, boxes, and the heatmap video keeping its audio."""

import numpy as np
import pytest
import torch

from avlearn.io import read_clip
from avlearn.viz import colormap_lut, draw_boxes, overlay_heatmap, write_heatmap_video


def test_overlay_blends_and_resizes():
    frames = np.full((3, 8, 8, 3), 100, dtype=np.uint8)
    heat = torch.zeros(3, 2, 2)
    heat[:, 0, 0] = 1.0  # hot top-left cell
    out = overlay_heatmap(frames, heat, alpha=0.5)
    assert out.shape == (3, 8, 8, 3) and out.dtype == np.uint8
    lut = colormap_lut()
    np.testing.assert_allclose(out[0, 0, 0], 0.5 * 100 + 0.5 * lut[255].astype(float), atol=1)
    np.testing.assert_allclose(out[0, 7, 7], 0.5 * 100 + 0.5 * lut[0].astype(float), atol=1)
    assert (overlay_heatmap(frames, heat, alpha=0.0) == frames).all()
    # one map for all frames; per-frame normalisation makes a weak frame as bright as a strong one
    weak = heat.clone()
    weak[1] *= 0.1
    clip_norm = overlay_heatmap(frames, weak, alpha=1.0)
    frame_norm = overlay_heatmap(frames, weak, alpha=1.0, normalize="frame")
    assert (frame_norm[1, 0, 0] == lut[255]).all() and not (clip_norm[1, 0, 0] == lut[255]).all()
    assert overlay_heatmap(frames, heat[0]).shape == (3, 8, 8, 3)
    with pytest.raises(ValueError):
        overlay_heatmap(frames, torch.zeros(2, 2, 2))


def test_draw_boxes_outline_only():
    f = np.zeros((2, 10, 10, 3), dtype=np.uint8)
    out = draw_boxes(f, np.array([[2, 3, 8, 9]]), color=(255, 0, 0), thickness=1)
    assert (out[:, 3, 2:8, 0] == 255).all() and (out[:, 8, 2:8, 0] == 255).all()  # top and bottom rows
    assert (out[:, 3:9, 2, 0] == 255).all() and (out[:, 3:9, 7, 0] == 255).all()  # left and right columns
    assert (out[:, 4:8, 3:7] == 0).all() and (f == 0).all()  # inside untouched, input not modified
    per_frame = draw_boxes(f, [np.array([[0, 0, 2, 2]]), np.zeros((0, 4))])
    assert per_frame[0].any() and not per_frame[1].any()


def test_heatmap_video_decodes_with_audio_intact(tmp_path):
    fps, sr, t = 8, 8000, 8
    rng = np.random.default_rng(0)
    frames = np.full((t, 32, 32, 3), 90, dtype=np.uint8)
    time = np.arange(sr) / sr
    audio = (0.4 * np.sin(2 * np.pi * 440 * time) * np.linspace(0.2, 1, sr))[None].astype(np.float32)  # 1 s
    heat = rng.random((t, 4, 4)).astype(np.float32)
    heat[:, 1, 1] = 5.0
    path = write_heatmap_video(tmp_path / "heat.mp4", frames, heat, audio, fps, sr, boxes=np.array([[0, 0, 8, 8]]))
    clip = read_clip(path, 0.0, 1.0, sample_rate=sr)
    assert clip.video.shape[0] == t and clip.video.shape[1:] == (32, 32, 3)
    expected = overlay_heatmap(frames, heat)
    err = np.abs(clip.video.numpy().astype(int)[:, 12:20, 12:20] - expected[:, 12:20, 12:20].astype(int)).mean()
    assert err < 6  # the blended colours survive h264
    assert np.abs(clip.video.numpy().astype(int) - frames.astype(int)).mean() > 10  # and differ from the input
    got = clip.audio.numpy()[0]
    assert clip.audio.shape[1] == sr
    corr = np.corrcoef(got[800:-800], audio[0, 800:-800])[0, 1]
    assert corr > 0.95 and abs(np.sqrt((got**2).mean()) / np.sqrt((audio**2).mean()) - 1) < 0.1
    odd = write_heatmap_video(tmp_path / "odd.mp4", frames[:, :31, :31], heat, None, fps, None)
    assert read_clip(odd, audio=False).video.shape[1:3] == (32, 32)  # padded to even for h264
