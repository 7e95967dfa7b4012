"""``avlearn classify`` (avlearn/cli/classify.py) on a tiny written file with a tiny bundle of
untrained preview models, and the decoded-video windows it is built on
(avlearn.tasks.preview.data)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_preview_budget import DATA, tiny_specs

from avlearn.cli import main
from avlearn.io import write_av
from avlearn.tasks.preview.bundle import build_models, save_bundle
from avlearn.train.preview import STAGES, preview_recipe
from avlearn.tasks.preview.data import VideoRecord, VideoWindows, GridWindowDataset

CLASSES = ["bounce", "tap", "slide"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 3 s, 32x32, 8 fps clip with a tone, and a bundle of tiny untrained models."""
    d = tmp_path_factory.mktemp("classify")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (24, 32, 32, 3), dtype=np.uint8)
    t = np.arange(3 * 8000) / 8000
    audio = (0.3 * np.sin(2 * np.pi * 440 * t))[None].astype(np.float32)
    clip = write_av(d / "clip.mp4", frames, audio, fps=8, sample_rate=8000)
    torch.manual_seed(0)
    bundle = save_bundle(build_models(CLASSES, DATA, tiny_specs(len(CLASSES))), d / "preview.pt")
    return clip, bundle


def _run_json(capsys, *args) -> dict:
    assert main(["classify", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_classify_help():
    out = subprocess.run([sys.executable, "-m", "avlearn", "classify", "--help"], capture_output=True, text=True, timeout=300, check=False)
    assert out.returncode == 0
    for flag in ("--weights", "--preview", "--segments", "--top-k", "--json"):
        assert flag in out.stdout


def test_classify_dense_json(media, capsys):
    clip, bundle = media
    r = _run_json(capsys, clip, "--weights", bundle, "--top-k", "2")
    assert r["mode"] == "dense" and r["duration"] == pytest.approx(3.0, abs=0.1)
    assert len(r["top_k"]) == 2 and {t["name"] for t in r["top_k"]} <= set(CLASSES)
    assert r["top_k"][0]["score"] >= r["top_k"][1]["score"] and 0 < r["top_k"][0]["score"] <= 1
    assert r["gflops"] > 0 and "segments" not in r and "moments" not in r
    r5 = _run_json(capsys, clip, "--weights", bundle)  # top-k is capped at the class count
    assert sum(t["score"] for t in r5["top_k"]) == pytest.approx(1.0, abs=1e-5)


def test_classify_preview_segments_json(media, capsys):
    clip, bundle = media
    dense = _run_json(capsys, clip, "--weights", bundle)
    r = _run_json(capsys, clip, "--weights", bundle, "--preview", "--segments", "--min-score", "0")
    assert r["mode"] == "preview" and len(r["moments"]) == 2  # the tiny skimming net looks at 2 moments
    starts = [m["start"] for m in r["moments"]]
    assert len(set(starts)) == 2 and all(0 <= s <= r["duration"] - 1.0 for s in starts)
    assert all(0 <= m["image_weight"] <= 1 for m in r["moments"])
    assert r["gflops"] < dense["gflops"]
    for s in r["segments"]:
        assert 0 <= s["start"] < s["end"] <= r["duration"] + 1e-6 and s["name"] in CLASSES
    three = _run_json(capsys, clip, "--weights", bundle, "--preview", "--moments", "3")
    assert len({m["start"] for m in three["moments"]}) == 3


def test_classify_text_and_errors(media, capsys, tmp_path):
    clip, bundle = media
    assert main(["classify", clip, "--weights", bundle, "--preview"]) == 0
    out = capsys.readouterr().out
    assert "looked at:" in out and "GFLOPs" in out
    bad = tmp_path / "w.pt"
    torch.save({"x": torch.zeros(1)}, bad)
    assert main(["classify", clip, "--weights", str(bad)]) == 2
    assert "must be a preview bundle" in capsys.readouterr().err
    garbage = tmp_path / "bad.mp4"
    garbage.write_bytes(b"not a video")
    assert main(["classify", str(garbage), "--weights", bundle]) == 1
    assert "bad.mp4" in capsys.readouterr().err


# ----------------------------------------------------------------------------- windows


def _store() -> VideoWindows:
    """One 4 s video at 8 fps whose frame i has the value i, audio sample n = n / 32767."""
    frames = torch.arange(32, dtype=torch.uint8)[:, None, None, None].expand(32, 4, 4, 3).clone()
    audio = torch.arange(4 * 8000, dtype=torch.int16)
    rec = VideoRecord("v", "v.mp4", 4.0, 1, [(0.5, 2.5, 1)])
    return VideoWindows.from_arrays([rec], [frames], [audio], fps=8, sample_rate=8000, num_classes=2, mean=(0, 0, 0),
                                    std=(1, 1, 1))


def test_store_windows_slice_frames_and_audio():
    s = _store()
    clip = s.clips(0, [0.5], 1.0)[0]  # (3, 8, 4, 4): frames 4..11
    assert clip.shape == (3, 8, 4, 4) and (clip[0, :, 0, 0] * 255).round().tolist() == list(range(4, 12))
    assert (s.clips(0, [3.5], 1.0)[0, 0, :, 0, 0] * 255).round().tolist() == [28, 29, 30, 31, 31, 31, 31, 31]
    img = s.images(0, [0.5, 1.0], 1.0)  # centre frames at 1.0 s and 1.5 s: 8 and 12
    assert img.shape == (2, 3, 4, 4) and (img[:, 0, 0, 0] * 255).round().tolist() == [8, 12]
    aud = s.audio(0, [1.0, 3.5], 1.0)
    assert aud.shape == (2, 1, 8000)
    assert aud[0, 0, 0].item() * 32767 == pytest.approx(8000) and aud[1, 0, 4000:].abs().sum() == 0
    assert s.labels(0, s.starts(0, 0.5, 1.0), 1.0).tolist() == [1, 1, 1, 1, 1, 2, 2]  # half covered counts


def test_window_dataset_samples_and_teacher_targets():
    s = _store()
    ds = GridWindowDataset(s, hop=1.0, window=1.0, inputs="pair", teacher=[torch.eye(4)[:, :3]])
    assert len(ds) == 4 and [ds[i]["label"] for i in range(4)] == [1, 1, 1, 2]
    x = ds[1]
    assert x["image"].shape == (3, 4, 4) and x["audio"].shape == (1, 8000) and x["teacher"].tolist() == [0, 1, 0]
    clips = GridWindowDataset(s, hop=0.5, window=1.0, inputs="clip")
    assert clips[0]["video"].shape == (3, 8, 4, 4)
    with pytest.raises(ValueError, match="teacher"):
        GridWindowDataset(s, hop=0.5, window=1.0, teacher=[torch.zeros(3, 3)])


@pytest.mark.parametrize("stage", STAGES)
def test_pipeline_trains_the_recipe_files(stage):
    """The pipeline's recipe of each stage is the packaged YAML with the pipeline's folders only."""
    from avlearn.tasks.config import load_config, to_dict

    yaml_cfg = to_dict(load_config(f"preview_{stage}"))
    assert to_dict(preview_recipe(stage, "runs/world_preview", "runs/preview")) == yaml_cfg
    quick = to_dict(preview_recipe(stage, "w", "o", quick=True))
    assert quick["train"]["steps"] == 3 and quick["train"]["out_dir"] == f"o/{stage}" and quick["data"]["world"] == "w"


def test_store_load_decodes_a_world_split_once_and_caches_it(tmp_path):
    from avlearn.data.synthetic import WorldConfig, make_world
    from avlearn.tasks.preview.data import PreviewData, video_records

    world = tmp_path / "w"
    make_world(world, WorldConfig(kind="actions", size=32, duration=3.0, action_classes=2), clips={"train": 1, "val": 1, "test": 1},
               seed=0, workers=1, progress=False)
    data = PreviewData(world=str(world), fps=8.0, size=16, sample_rate=8000)
    rec = video_records(world, "test")[0]
    assert rec.duration == 3.0 and rec.segments and all(0 <= s < e <= 3.0 and lab in (0, 1) for s, e, lab in rec.segments)
    store = VideoWindows.load(data, "test")
    frames, pcm = store.video(0)
    assert frames.shape == (24, 16, 16, 3) and pcm.shape == (24000,) and store.num_classes == 2
    cached = list((world / "cache" / "videos").glob("*.pt"))
    assert len(cached) == 1 and store.cache.decoded == 1
    again = VideoWindows.load(data, "test")
    assert torch.equal(again.video(0)[0], frames) and again.key == store.key and again.cache.decoded == 0
    assert list((world / "cache" / "videos").glob("*.pt")) == cached
