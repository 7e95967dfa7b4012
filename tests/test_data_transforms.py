"""Transforms: shapes and dtypes, same geometry for every frame, temporal crops keep A/V sync."""

from __future__ import annotations

import math

import pytest
import torch

from avlearn.data import transforms as T
from avlearn.data.transforms.av import _TemporalCropBase
from avlearn.data.transforms.video import _Crop


def _frames(t=8, h=32, w=48):
    return torch.randint(0, 256, (t, h, w, 3), dtype=torch.uint8)


def test_to_float_cthw():
    x = _frames()
    y = T.ToFloatCTHW()(x)
    assert y.shape == (3, 8, 32, 48) and y.dtype == torch.float32 and y.is_contiguous()
    assert torch.equal(y[1, 5], x[5, :, :, 1].float() / 255)
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    with pytest.raises(ValueError, match="T, H, W, C"):
        T.ToFloatCTHW()(torch.zeros(3, 4, 4))


def test_resize():
    x = torch.rand(3, 4, 32, 48)
    assert T.Resize(16)(x).shape == (3, 4, 16, 24)
    assert T.Resize(16)(x.transpose(-1, -2)).shape == (3, 4, 24, 16)
    assert T.Resize((20, 10), interpolation="nearest")(x).shape == (3, 4, 20, 10)
    flat = torch.full((3, 2, 32, 48), 0.25)
    assert torch.allclose(T.Resize(8)(flat), torch.full((3, 2, 8, 12), 0.25))
    with pytest.raises(TypeError, match="ToFloatCTHW first"):
        T.Resize(16)(torch.zeros(3, 2, 8, 8, dtype=torch.uint8))


def test_crops_use_one_window_for_all_frames():
    x = torch.arange(2 * 4 * 10 * 12, dtype=torch.float32).reshape(2, 4, 10, 12)
    torch.manual_seed(0)
    for _ in range(10):
        y = T.RandomCrop((6, 5))(x)
        assert y.shape == (2, 4, 6, 5)
        top, left = divmod(int(y[0, 0, 0, 0]), 12)
        assert torch.equal(y, x[..., top : top + 6, left : left + 5])
    assert torch.equal(T.CenterCrop(4)(x), x[..., 3:7, 4:8])
    with pytest.raises(ValueError, match="larger than the frames"):
        T.CenterCrop(11)(x)


def test_flip_and_normalize():
    x = torch.rand(3, 2, 4, 6)
    assert torch.equal(T.RandomHorizontalFlip(1.0)(x), x.flip(-1))
    assert torch.equal(T.RandomHorizontalFlip(0.0)(x), x)
    norm = T.Normalize([0.5, 0.4, 0.3], [0.5, 0.25, 0.1])
    y = norm(x)
    assert torch.allclose(y[2], (x[2] - 0.3) / 0.1)
    assert torch.allclose(norm(x[None])[0], y)  # batched (B, C, T, H, W) too
    with pytest.raises(ValueError, match="C=3"):
        norm(torch.rand(2, 2, 4, 6))


def test_dict_samples_transform_only_their_key():
    sample = {"video": _frames(), "audio": torch.rand(2, 400) - 0.5, "label": 3, "path": "a.mp4"}
    out = T.Compose([T.ToFloatCTHW(), T.CenterCrop(16), lambda s: {**s, "seen": True}])(sample)
    assert out["video"].shape == (3, 8, 16, 16) and out["audio"] is sample["audio"]
    assert out["label"] == 3 and out["seen"] and sample["video"].dtype == torch.uint8  # input untouched
    with pytest.raises(KeyError, match="no 'audio'"):
        T.RandomGain()({"video": sample["video"], "path": "a.mp4"})


def test_audio_transforms():
    x = torch.rand(2, 4000) * 2 - 1
    torch.manual_seed(1)
    for _ in range(10):
        ratio = T.RandomGain((-6.0, 6.0))(x) / x
        db = 20 * math.log10(float(ratio[0, 0]))
        assert -6 - 1e-4 <= db <= 6 + 1e-4 and torch.allclose(ratio, ratio[0, 0].expand_as(ratio))
    assert float(T.RandomGain((12.0, 12.0), clip=True)(x).abs().max()) <= 1.0
    spec = T.Spectrogram(256, hop_length=64)(x)
    assert spec.shape == (2, 129, 4000 // 64 + 1) and float(spec.min()) >= 0
    mel = T.LogMelSpectrogram(8000, n_fft=256, hop_length=80, n_mels=32)
    m = mel(x)
    assert m.shape == (2, 32, 4000 // 80 + 1) and m.dtype == torch.float32
    silent = mel(torch.zeros(1, 800))
    assert torch.allclose(silent, torch.full_like(silent, math.log(1e-6)))  # log(0 + eps), finite
    with pytest.raises(ValueError, match="sample rate 16000"):
        mel({"audio": x, "sample_rate": 16000, "path": "a.mp4"})
    assert mel({"audio": x, "sample_rate": 8000})["audio"].shape == m.shape


def test_mu_law():
    x = torch.tensor([-1.0, -0.5, 0.0, 0.01, 1.0])
    y = T.MuLawCompress()(x)
    expected = [-1.0, -math.log(1 + 127.5) / math.log(256), 0.0, math.log(1 + 2.55) / math.log(256), 1.0]
    assert torch.allclose(y, torch.tensor(expected))
    assert torch.equal(y, T.mu_law_compress(x, 255))


def _clock_sample(fps, sr, n_frames, *, layout):
    """Frame i shows the value i; audio sample j holds the index of the frame shown at j / sr."""
    idx = torch.arange(n_frames)
    frames = idx.view(-1, 1, 1, 1).expand(n_frames, 4, 4, 3).to(torch.uint8)
    n = round(n_frames * sr / fps)
    audio = torch.floor(torch.arange(n) * fps / sr + 1e-9).repeat(2, 1)  # (2, n)
    video = frames if layout == "thwc" else T.ToFloatCTHW()(frames) * 255
    return {"video": video, "audio": audio, "fps": fps, "sample_rate": sr, "start": 10.0, "path": "clock.mp4"}


@pytest.mark.parametrize("fps, sr", [(8, 8000), (30, 44100), (29.97, 16000), (25, 11025)])
@pytest.mark.parametrize("layout", ["thwc", "cthw"])
def test_temporal_crop_keeps_sync(fps, sr, layout):
    sample = _clock_sample(fps, sr, 24, layout=layout)
    crop = T.RandomTemporalCrop(8 / fps)
    torch.manual_seed(0)
    firsts = set()
    for _ in range(12):
        out = crop(sample)
        video, audio = out["video"], out["audio"]
        frame_ids = (video[:, 0, 0, 0] if layout == "thwc" else video[0, :, 0, 0]).round().long()
        f0 = int(frame_ids[0])
        firsts.add(f0)
        assert frame_ids.tolist() == list(range(f0, f0 + 8))
        assert audio.shape == (2, round(8 * sr / fps))
        assert out["start"] == pytest.approx(10.0 + f0 / fps) and out["duration"] == pytest.approx(8 / fps)
        # each audio sample still carries the index of the frame on screen when it plays
        shown = frame_ids[torch.floor(torch.arange(audio.shape[1]) * fps / sr + 1e-9).long().clamp(max=7)]
        mismatch = (audio[0].long() != shown).sum().item()
        assert mismatch <= 8  # at most one boundary sample per frame, from rounding to samples
    assert len(firsts) > 3


def test_temporal_crop_click_lands_on_its_frame():
    fps, sr = 8, 8000
    video = torch.zeros(16, 4, 4, 3, dtype=torch.uint8)
    video[11] = 255  # a flash on frame 11 ...
    audio = torch.zeros(1, 16000)
    audio[0, 11 * 1000] = 1.0  # ... and a click when it appears
    sample = {"video": video, "audio": audio, "fps": fps, "sample_rate": sr, "start": 0.0}
    for offset in (0.5, 0.625, 0.75, 1.0):
        out = T.TemporalCrop(1.0, offset=offset)(sample)
        flash = int(out["video"].flatten(1).amax(1).argmax())
        click = int(out["audio"][0].argmax())
        assert click == flash * 1000 and flash == 11 - round(offset * fps)
    centred = T.TemporalCrop(1.0)(sample)
    assert centred["start"] == 0.5 and centred["audio"].shape == (1, 8000)


def test_temporal_crop_audio_only_and_errors():
    sample = {"audio": torch.arange(8000.0).view(1, -1), "sample_rate": 8000, "start": 1.0}
    out = T.TemporalCrop(0.25, offset=0.5)(sample)
    assert out["audio"][0, 0] == 4000 and out["audio"].shape == (1, 2000) and out["start"] == 1.5
    with pytest.raises(ValueError, match="needs 16000"):
        T.RandomTemporalCrop(2.0)(sample)
    with pytest.raises(TypeError, match="sample dict"):
        T.TemporalCrop(0.5)(torch.zeros(1, 10))


class _NoApply(T.SampleTransform):
    pass


class _NoCorner(_Crop):
    pass


class _NoPick(_TemporalCropBase):
    pass


@pytest.mark.parametrize(
    "make, hook",
    [(lambda: _NoApply(key="video"), "apply"), (lambda: _NoCorner(4), "corner"), (lambda: _NoPick(0.5), "pick")],
    ids=["SampleTransform", "_Crop", "_TemporalCropBase"],
)
def test_incomplete_transform_cannot_be_built(make, hook):
    with pytest.raises(TypeError, match=hook):
        make()
