"""``avlearn localize``: --help, a heatmap video with its audio and a PNG panel, CAMs, errors."""

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from test_localization import TINY, one_thread  # noqa: F401  (the autouse one-thread fixture)

from avlearn.cli import main
from avlearn.io import probe, read_clip, write_av
from avlearn.models import create_model

DATA = {"fps": 4, "size": [32, 32], "sample_rate": 16000, "clip_duration": 1.0}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("localize_cli")
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(24, 32, 48, 3), dtype=np.uint8)  # 1.5 s at 16 fps, 32x48
    t = np.arange(66150) / 44100  # 1.5 s stereo at 44.1 kHz: tones survive AAC re-encoding
    audio = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32)
    media = write_av(d / "tiny.mp4", video, audio, fps=16, sample_rate=44100)
    torch.manual_seed(0)
    att = d / "attention"
    att.mkdir()
    torch.save(create_model("attention_loc_small", **TINY).state_dict(), att / "weights.pt")
    cfg = {"task": {"name": "localization", "method": "attention"},
           "model": {"name": "attention_loc_small", "kwargs": TINY}, "data": DATA}
    (att / "config.yaml").write_text(yaml.safe_dump(cfg))
    sync = d / "sync"
    sync.mkdir()
    torch.save(create_model("multisensory_small").state_dict(), sync / "weights.pt")
    cfg = {"task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
           "data": {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 0.5}}
    (sync / "config.yaml").write_text(yaml.safe_dump(cfg))
    return media, str(att / "weights.pt"), str(sync / "weights.pt")


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["localize", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert "--weights" in out and "--out" in out and "--frames-png" in out and "--json" in out


def test_writes_decodable_heatmap_video_with_audio_and_panel(tiny, tmp_path, capsys):
    media, weights, _ = tiny
    out, png = tmp_path / "heat.mp4", tmp_path / "panel.png"
    assert main(["localize", media, "--weights", weights, "--out", str(out), "--frames-png", str(png),
                 "--panel-frames", "4", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["method"] == "attention" and res["frames"] == 24 and len(res["peaks"]) == 6  # 1.5 s at 4 fps
    info = probe(out)
    assert info.video is not None and info.audio is not None
    assert (info.video.width, info.video.height) == (48, 32) and info.audio.sample_rate == 44100
    clip = read_clip(out)
    assert clip.video.shape[0] == 24 and clip.audio.shape[0] == 2
    src = read_clip(media)
    n = min(src.audio.shape[-1], clip.audio.shape[-1])
    assert np.corrcoef(src.audio[0, :n].numpy(), clip.audio[0, :n].numpy())[0, 1] > 0.9  # the original audio kept
    assert not torch.equal(clip.video, src.video)  # the heatmap is blended in
    panel = np.asarray(Image.open(png))
    assert panel.shape[:2] == (4 * (32 + 4), 4 * (4 * 48 + 5 * 2))  # 4 frames in a row, 2 px padding, x4 to 128 px


def test_tta_flip_follows_the_run_unless_overridden(tiny, tmp_path, capsys):
    media, weights, _ = tiny  # the run's config leaves task.tta_flip at its default, off
    runs = {}
    for flag in ([], ["--tta-flip"], ["--no-tta-flip"]):
        out = tmp_path / f"heat{len(runs)}.mp4"
        assert main(["localize", media, "--weights", weights, "--out", str(out), "--json", *flag]) == 0
        res = json.loads(capsys.readouterr().out)
        runs[tuple(flag)] = res
    assert runs[()]["tta_flip"] is False and runs[("--no-tta-flip",)]["tta_flip"] is False
    assert runs[("--tta-flip",)]["tta_flip"] is True
    assert runs[("--tta-flip",)]["peaks"] != runs[()]["peaks"] and runs[("--no-tta-flip",)]["peaks"] == runs[()]["peaks"]


def test_sync_run_gives_cams(tiny, tmp_path, capsys):
    media, _, weights = tiny
    out = tmp_path / "cam.mp4"
    assert main(["localize", media, "--weights", weights, "--out", str(out)]) == 0
    assert "(cam)" in capsys.readouterr().out
    assert read_clip(out).video.shape[0] == 24


def test_errors(tiny, tmp_path, capsys):
    media, weights, _ = tiny
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert main(["localize", str(bad), "--weights", weights, "--out", str(tmp_path / "o.mp4")]) == 1
    assert "bad.mp4" in capsys.readouterr().err
    assert main(["localize", media, "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "none.pt" in capsys.readouterr().err
