"""FeatureExtractor on written files and clips, and the extract-features command."""

import json

import numpy as np
import pytest
import torch
from torch import nn

import avlearn
from avlearn.cli import main
from avlearn.io import AVClip, read_clip, write_av
from avlearn.models import create_model

FPS, SR = 8, 8000


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    rng = np.random.default_rng(0)
    frames = (rng.random((20, 32, 32, 3)) * 255).astype(np.uint8)  # 2.5 s at 8 fps
    audio = (0.2 * rng.standard_normal((1, int(2.5 * SR)))).astype(np.float32)
    good = write_av(root / "clips" / "a.mp4", frames, audio, fps=FPS, sample_rate=SR)
    (root / "clips" / "sub").mkdir()
    write_av(root / "clips" / "sub" / "b.mp4", frames[:8], audio[:, : SR], fps=FPS, sample_rate=SR)
    bad = root / "clips" / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 this is not a video")
    (root / "clips" / "notes.txt").write_text("not media")
    return root, good, str(bad), frames, audio


def test_windows_over_a_file_and_layers(media):
    _, good, *_ = media
    fx = avlearn.FeatureExtractor("r3d_tiny", clip_duration=0.5, fps=FPS, size=(32, 32), num_classes=3)
    out = fx.extract(good)
    assert out.features.shape == (5, fx.model.num_features) and out.features.dtype == torch.float32
    np.testing.assert_allclose(out.starts, [0, 0.5, 1.0, 1.5, 2.0])
    overlapping = avlearn.FeatureExtractor("r3d_tiny", layer=2, clip_duration=1.0, stride=0.5, fps=FPS, size=(32, 32))
    feats = overlapping(good)
    assert feats.shape == (4, overlapping.model.feature_info[2]["num_chs"])  # starts 0, .5, 1, 1.5
    # an in-memory clip gives the same windows as the file, also at another frame rate
    decoded = read_clip(good, 0.0, 2.5, fps=FPS)
    torch.testing.assert_close(fx(decoded), out.features)
    doubled = AVClip(decoded.video.repeat_interleave(2, 0), decoded.audio, 2.0 * FPS, SR, 0.0, 2.5)
    torch.testing.assert_close(fx(doubled), out.features)


def test_weights_audio_models_and_from_model(media, tmp_path):
    _, good, *_ = media
    torch.manual_seed(0)
    net = create_model("r3d_tiny", num_classes=3)
    torch.save({"model": {f"backbone.{k}": v for k, v in net.state_dict().items()}}, tmp_path / "task.pt")
    fx = avlearn.FeatureExtractor("r3d_tiny", tmp_path / "task.pt", weights_prefix="backbone.", num_classes=3,
                                  clip_duration=0.5, fps=FPS, size=(32, 32))  # fmt: skip
    wrapped = avlearn.FeatureExtractor.from_model(net, clip_duration=0.5, fps=FPS, size=32)
    torch.testing.assert_close(fx(good), wrapped(good))
    with pytest.raises(ValueError, match="no weights under prefix"):
        avlearn.FeatureExtractor("r3d_tiny", tmp_path / "task.pt", weights_prefix="head.", num_classes=3)
    wav = avlearn.FeatureExtractor("waveform_small", clip_duration=0.5, sample_rate=SR)
    assert wav(good).shape == (5, wav.model.num_features)

    class Tiny(nn.Module):  # the model contract, by hand
        feature_info = [{"module": "conv", "num_chs": 4, "reduction": 1}]

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 3, padding=1)

        def forward_features(self, x):
            return self.conv(x)  # (B, 4, T, H, W)

        def forward_head(self, f, pre_logits=False):
            return f.mean((2, 3, 4))

    tiny = avlearn.FeatureExtractor.from_model(Tiny(), layer=0, clip_duration=1.0, fps=4, size=16, batch_size=2)
    assert tiny(good).shape == (2, 4)
    with pytest.raises(ValueError, match="preprocess"):
        avlearn.FeatureExtractor("spec_resnet_small")


def test_cli_skips_corrupt_files_and_fails_only_when_none_read(media, tmp_path, capsys):
    root, _, bad, *_ = media
    out = tmp_path / "f.npz"
    args = ["extract-features", str(root / "clips"), "--model", "r3d_tiny", "--clip-duration", "0.5",
            "--fps", str(FPS), "--size", "32", "32", "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]  # JSON Lines: one object per file
    good = [r for r in lines if r["ok"]]
    assert [r["windows"] for r in good] == [5, 2] and all(r["out"] == str(out) for r in good)
    assert [(r["path"], r["ok"]) for r in lines if not r["ok"]] == [(bad, False)] and lines[1]["error"]
    assert f"skipped {bad}:" in captured.err and "2 of 3 file(s) processed, 1 skipped" in captured.err
    data = np.load(out)
    assert data["features"].shape == (7, good[0]["dim"]) and data["file_index"].tolist() == [0] * 5 + [1] * 2
    assert list(data["paths"]) == [r["path"] for r in good] and list(data["skipped"]) == [bad]
    assert main(["extract-features", bad, "--model", "r3d_tiny", "--out", str(tmp_path / "g.npz")]) == 1
    assert "skipped" in capsys.readouterr().err and not (tmp_path / "g.npz").exists()
    assert main(["extract-features", bad, "--model", "no_such_model", "--out", str(tmp_path / "h.npz")]) == 2


def test_cli_one_npz_per_file_into_a_folder(media, tmp_path, capsys):
    root, good, *_ = media
    args = ["extract-features", str(good), str(root / "clips" / "sub" / "b.mp4"), "--model", "r3d_tiny",
            "--clip-duration", "0.5", "--fps", str(FPS), "--size", "32", "32", "--out", str(tmp_path / "feats"),
            "--device", "cpu"]  # fmt: skip
    assert main(args) == 0
    assert sorted(p.name for p in (tmp_path / "feats").iterdir()) == ["a.npz", "b.npz"]
    a = np.load(tmp_path / "feats" / "a.npz")
    assert a["features"].shape[0] == 5 and list(a["paths"]) == [str(good)] and a["mean"].size == 0
    capsys.readouterr()
    assert main(args) == 1  # outputs exist: each file is skipped with its reason; nothing processed
    err = capsys.readouterr().err
    assert "already exists" in err and "0 of 2" in err
    assert main(args + ["--overwrite"]) == 0
