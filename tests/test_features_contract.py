"""FeatureExtractor follows the weights' input contract (Kinetics-400 for the torchvision-compatible
video ResNets), and streaming a file gives the features of the whole decoded file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import avlearn
from avlearn.io import read_clip, write_av
from avlearn.models.contract import KINETICS400_VIDEO, InputContract
from avlearn.tasks.runs import Run

MEAN = torch.tensor(KINETICS400_VIDEO.mean).view(3, 1, 1, 1)
STD = torch.tensor(KINETICS400_VIDEO.std).view(3, 1, 1, 1)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    rng = np.random.default_rng(0)
    frames = (rng.random((33, 48, 64, 3)) * 255).astype(np.uint8)  # 2.2 s at 15 fps
    audio = (0.2 * rng.standard_normal((1, 2 * 8000 + 1600))).astype(np.float32)
    return write_av(tmp_path_factory.mktemp("contract") / "c.mp4", frames, audio, fps=15, sample_rate=8000)


def test_r3d18_gets_kinetics400_preprocessing_by_default():
    fx = avlearn.FeatureExtractor("r3d_18", width=8)  # width 8: the same preprocessing, a cheap network
    assert (fx.fps, fx.size, fx.num_frames) == (15.0, (112, 112), 16)
    assert fx.clip_duration == pytest.approx(16 / 15)
    torch.testing.assert_close(fx.mean, MEAN) and torch.testing.assert_close(fx.std, STD)
    raw = avlearn.FeatureExtractor("r3d_18", width=8, normalize=False)
    assert raw.mean is None and raw.std is None
    mine = avlearn.FeatureExtractor("r3d_18", width=8, size=(64, 64), fps=8, mean=(0.5,) * 3, std=(0.25,) * 3)
    assert mine.size == (64, 64) and mine.num_frames == 16 and mine.clip_duration == pytest.approx(2.0)
    assert mine.mean.flatten().tolist() == [0.5] * 3  # explicit options override the contract
    with pytest.raises(ValueError, match="both mean and std"):
        avlearn.FeatureExtractor("r3d_18", width=8, mean=(0.5,) * 3)
    tiny = avlearn.FeatureExtractor("r3d_tiny")  # no contract: raw [0, 1] frames, the old defaults
    assert tiny.mean is None and tiny.fps == 16.0


def test_contract_normalisation_equals_manual_normalisation(clip):
    torch.manual_seed(0)
    fx = avlearn.FeatureExtractor("r3d_18", width=8, batch_size=2)

    def manual(window):
        x = window.video.permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W)
        return (x - MEAN) / STD

    by_hand = avlearn.FeatureExtractor.from_model(fx.model, clip_duration=16 / 15, fps=15, size=112, preprocess=manual)
    got = fx.extract(clip)
    assert got.features.shape == (2, fx.model.num_features)  # 2.2 s: two full windows of 16/15 s
    np.testing.assert_allclose(got.starts, [0.0, 16 / 15])
    torch.testing.assert_close(got.features, by_hand(clip))
    unnormalised = avlearn.FeatureExtractor.from_model(fx.model, clip_duration=16 / 15, fps=15, size=112)
    assert not torch.allclose(unnormalised(clip), got.features, atol=1e-3)


def test_from_run_uses_the_run_contract(clip):
    net = avlearn.models.create_model("r3d_18", width=8).eval()
    run = Run(Path("k400.pt"), "model", net, None, {"model": {"name": "r3d_18"}}, KINETICS400_VIDEO)
    fx = avlearn.FeatureExtractor.from_run(run)
    assert (fx.fps, fx.size, fx.num_frames, fx.modality) == (15.0, (112, 112), 16, "video")
    torch.testing.assert_close(fx.mean, MEAN)
    direct = avlearn.FeatureExtractor.from_model(net, contract=KINETICS400_VIDEO)
    torch.testing.assert_close(fx(clip), direct(clip))
    task_net = Run(Path("sync.pt"), "sync", torch.nn.Conv3d(3, 4, 1), None, {}, InputContract())
    with pytest.raises(ValueError, match="sync run's network .* no forward_features"):
        avlearn.FeatureExtractor.from_run(task_net)


@pytest.mark.parametrize("stride", [None, 0.25])
def test_streamed_file_equals_whole_decoded_file(clip, stride):
    fx = avlearn.FeatureExtractor("r3d_tiny", clip_duration=0.5, stride=stride, fps=15, size=(48, 64), batch_size=3)
    streamed = fx.extract(clip)
    whole = fx.extract(read_clip(clip, fps=15, audio=False))  # every frame in memory at once
    np.testing.assert_allclose(streamed.starts, whole.starts)
    torch.testing.assert_close(streamed.features, whole.features)
    # audio: the stream's resampler and the whole file's agree within resampling edge effects
    wav = avlearn.FeatureExtractor("waveform_small", clip_duration=0.5, stride=stride, sample_rate=4000, batch_size=2)
    a = wav.extract(clip)
    b = wav.extract(read_clip(clip, sample_rate=4000, video=False))
    np.testing.assert_allclose(a.starts, b.starts)
    torch.testing.assert_close(a.features, b.features, atol=2e-3, rtol=2e-3)


def test_batch_size_does_not_change_features(clip):
    one = avlearn.FeatureExtractor("r3d_tiny", clip_duration=0.5, fps=15, size=32, batch_size=1)
    many = avlearn.FeatureExtractor.from_model(one.model, clip_duration=0.5, fps=15, size=32, batch_size=4)
    torch.testing.assert_close(one(clip), many(clip))
    assert InputContract().mean is None  # the empty contract feeds raw frames


def test_progress_bar_on_request_only(clip, capsys):
    fx = avlearn.FeatureExtractor("r3d_tiny", clip_duration=0.5, fps=15, size=32)
    fx.extract(clip)
    assert capsys.readouterr().err == ""
    fx.extract(clip, progress=True)
    err = capsys.readouterr().err
    assert "c.mp4" in err and "/4 " in err and "win" in err  # tqdm on stderr, counting the 4 windows
