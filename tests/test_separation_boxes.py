"""Separation from a user's box/track files: training and frozen-list samples crop the track's
region (object and face views), ``separate_file(boxes=...)`` makes one source per track named by
its id with crops that follow the track, and evaluation of a list of mixed lengths scores every
mixture exactly as alone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_localization import one_thread  # noqa: F401  (the autouse one-thread fixture)
from test_separation_train import CASES, _config

from avlearn.data import load_manifest
from avlearn.data.box_tracks import BoxTrackError
from avlearn.data.eval_lists import separation_list, write_list
from avlearn.io import write_av
from avlearn.tasks.separation.data import (FrozenMixDataset, MixDataset, SeparationData, load_separation_list,
                                           manifest_clips, stem_clips)

W, H, FPS, SR = 64, 48, 8, 8000
RED, BLUE = (230, 30, 30), (30, 30, 230)


def _clip(path, seconds, colour, box, *, freq=440.0, end_box=None):
    """Grey frames with a coloured square at ``box`` (moving linearly to ``end_box``) and a tone."""
    n = int(round(seconds * FPS))
    video = np.full((n, H, W, 3), 128, np.uint8)
    end = end_box or box
    for i in range(n):
        a = i / max(1, n - 1)
        x0, y0, x1, y1 = (round(b + a * (e - b)) for b, e in zip(box, end))
        video[i, y0:y1, x0:x1] = colour
    t = np.arange(int(round(seconds * SR))) / SR
    audio = (0.3 * np.sin(2 * np.pi * freq * t))[None].astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_av(path, video, audio, fps=FPS, sample_rate=SR)


def _redness(x: torch.Tensor) -> float:
    """Mean red minus mean blue of a (3, ...) crop in [0, 1]."""
    return float(x[0].mean() - x[2].mean())


@pytest.fixture()
def solo(tmp_path):
    """Two solo clips, a red square left and a blue square right, each with a track of its square:
    a pixel CSV for the first, inline normalized JSON for the second."""
    _clip(tmp_path / "clips" / "r.mp4", 1.0, RED, (4, 10, 28, 34), freq=330)
    _clip(tmp_path / "clips" / "b.mp4", 1.0, BLUE, (36, 12, 60, 36), freq=880)
    (tmp_path / "boxes").mkdir()
    (tmp_path / "boxes" / "r.csv").write_text("track_id,time_s,x0,y0,x1,y1\nred,0,4,10,28,34\nred,1.0,4,10,28,34\n")
    inline = {"units": "normalized", "tracks": [{"id": "blue", "keyframes": [{"time": 0.0, "box": [36 / W, 12 / H, 60 / W, 36 / H]}]}]}
    rows = [{"path": "clips/r.mp4", "label": "red", "id": "r", "boxes": "boxes/r.csv", "track": "red"},
            {"path": "clips/b.mp4", "label": "blue", "id": "b", "boxes": inline}]
    (tmp_path / "solo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    plain = [{k: v for k, v in r.items() if k not in ("boxes", "track")} for r in rows]
    (tmp_path / "plain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in plain))
    return tmp_path


def _data(view: str) -> SeparationData:
    return SeparationData(train="x", visual=view, size=32, fps=FPS, sample_rate=SR, duration=0.5, crop_size=16,
                          mouth_size=[8, 16], num_mix=2, max_sources=2, gain=None)


def _mix(manifest, view):
    d = _data(view)
    rows = manifest_clips(manifest, duration=d.duration)
    bank = stem_clips(rows, sample_rate=SR, fps=FPS, size=d.size)
    return MixDataset(bank, [r["id"] for r in rows], d)[0]


@pytest.mark.parametrize("view, key", [("object", "crops"), ("face", "face")])
def test_training_samples_crop_each_clips_track(solo, view, key):
    sample = _mix(solo / "solo.jsonl", view)
    order = sample["id"].split("+")  # the clips mixed, in source order
    assert sorted(order) == ["b", "r"] and sample["valid"].all()
    for k, cid in enumerate(order):
        red = _redness(sample[key][k])
        assert (red > 0.45) if cid == "r" else (red < -0.45), (cid, red)  # the square fills the crop
    plain = _mix(solo / "plain.jsonl", view)  # no boxes: the whole frame, mostly grey
    assert all(abs(_redness(plain[key][k])) < 0.25 for k in range(2))


def test_frozen_list_keeps_the_tracks_and_checks_them(solo):
    rows = load_manifest(solo / "solo.jsonl")
    groups, truths, counts = separation_list(rows, seed=0, base=solo, sizes=(2,), per_size=1)
    assert counts["mixtures"] == 1
    write_list(solo / "lists" / "sep.jsonl", groups, truths)
    d = _data("object")
    ds = FrozenMixDataset(load_separation_list(solo / "lists" / "sep.jsonl"), stem_clips([], sample_rate=SR, fps=FPS, size=32), d)
    sample = ds[0]
    for k, cid in enumerate(c["id"] for c in groups[0]["clips"]):
        red = _redness(sample["crops"][k])
        assert (red > 0.45) if cid == "r" else (red < -0.45), (cid, red)
    (solo / "boxes" / "r.csv").write_text("track_id,time_s,x0,y0,x1,y1\nred,0,4,10,28,34\nred,1.0,4,10,70,34\n")
    with pytest.raises(BoxTrackError, match=r"r\.csv: line 3: .*outside the 64x48 frame"):
        separation_list(load_manifest(solo / "solo.jsonl"), seed=0, base=solo, sizes=(2,), per_size=1)


def test_separate_file_makes_one_source_per_track_following_its_crop(tmp_path):
    from avlearn.io.stream import StreamReader
    from avlearn.tasks.base import build_task
    from avlearn.tasks.separation.inference import separate_file, stream_sources, window_batch

    media = _clip(tmp_path / "talk.mp4", 2.0, RED, (2, 8, 22, 28), end_box=(40, 8, 60, 28))  # moves right
    boxes = tmp_path / "talk.csv"
    boxes.write_text("# units: pixels\ntrack_id,time_s,x0,y0,x1,y1,label\n"
                     "spk_1,0.0,2,8,22,28,speaker\nspk_1,1.875,40,8,60,28,speaker\n"  # the moving square
                     "bg-2,0.5,40,30,60,46,\nbg-2,1.0,40,30,60,46,\n")  # grey background, from 0.5 s to 1.0 s
    d = _data("object")
    sources = stream_sources(media, d, detector="boxes", boxes=boxes)
    assert [s["id"] for s in sources] == ["spk_1", "bg-2"]
    clips = list(StreamReader(media, 0.5, fps=FPS, size=(32, 32), audio=True, sample_rate=SR, last="shorten"))
    for clip in (clips[0], clips[-1]):  # the crop follows the square from left to right
        batch = window_batch([clip], sources, d)
        assert _redness(batch["crops"][0, 0]) > 0.45 and abs(_redness(batch["crops"][0, 1])) < 0.1
    torch.manual_seed(0)
    kind, task_cfg, data = CASES["visualvoice"][:3]
    cfg = _config(tmp_path / "noworld", task_cfg, {**data, "fps": FPS})
    task = build_task(cfg).eval()
    report = separate_file(task, cfg, media, tmp_path / "sep", boxes=boxes, window=1.0)
    assert report["detector"] == "boxes" and report["boxes"] == "file"
    assert [s["id"] for s in report["sources"]] == ["spk_1", "bg-2"] and report["sources"][0]["label"] == "speaker"
    assert report["sources"][0]["wav"].endswith("talk_spk_1.wav") and report["sources"][1]["video"].endswith("talk_bg-2.mp4")
    assert report["sources"][1]["box"] == [40.0, 30.0, 60.0, 46.0] and report["sources"][1]["span"] == [0.5, 1.0]
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "talk.json").write_text(json.dumps({"units": "normalized", "tracks": [
        {"id": "only", "keyframes": [{"time": 0, "box": [0, 0, 0.5, 0.5]}]}]}))
    again = separate_file(task, cfg, media, tmp_path / "sep2", boxes=tmp_path / "folder", window=1.0, videos=False)
    assert [s["id"] for s in again["sources"]] == ["only"]
    with pytest.raises(BoxTrackError, match="no box file other.json or other.csv"):
        separate_file(task, cfg, _clip(tmp_path / "other.mp4", 0.5, RED, (0, 0, 8, 8)), tmp_path / "sep3",
                      boxes=tmp_path / "folder")


def _mixed_lengths(tmp_path):
    """A list whose mixtures have two lengths (clips of 1.0 s and 1.5 s, whole clips)."""
    rows = []
    for i, (seconds, colour) in enumerate([(1.0, RED), (1.0, BLUE), (1.5, RED), (1.5, BLUE), (1.5, RED), (1.5, BLUE)]):
        _clip(tmp_path / "clips" / f"c{i}.mp4", seconds, colour, (4, 4, 28, 28), freq=300 + 150 * i)
        rows.append({"path": f"clips/c{i}.mp4", "label": f"k{i}", "id": f"c{i}"})
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    groups, truths, _ = separation_list(load_manifest(tmp_path / "m.jsonl"), seed=0, base=tmp_path, sizes=(2,))
    path = write_list(tmp_path / "lists" / "sep.jsonl", groups, truths)
    lengths = {min(float(c["duration"]) for c in g["clips"]) for g in groups}
    assert lengths == {1.0, 1.5}, lengths  # the list really mixes lengths
    return path


def test_evaluation_of_mixed_lengths_equals_one_mixture_at_a_time(tmp_path):
    from avlearn.tasks.base import build_task
    from avlearn.tasks.separation.evaluate import evaluate_separation

    path = _mixed_lengths(tmp_path)
    torch.manual_seed(0)
    cfg = _config(tmp_path / "noworld", {"name": "sop"}, {"visual": "frames", "fps": FPS})
    task = build_task(cfg).eval()
    batched = evaluate_separation(task, cfg, split_list=path, batch_size=8)
    alone = evaluate_separation(task, cfg, split_list=path, batch_size=1)
    assert batched.keys() == alone.keys()
    for method in alone:
        assert alone[method]["sources"] == 12
        for k, v in alone[method].items():
            assert batched[method][k] == pytest.approx(v, rel=1e-6, abs=1e-6), (method, k)
    # the training engine's path: a ragged batch is separated one length at a time
    ds = FrozenMixDataset(load_separation_list(path), stem_clips([], sample_rate=SR, fps=FPS, size=32), cfg.data)
    batch = task.collate([ds[i] for i in range(len(ds))])
    batch.pop("skipped")
    assert isinstance(batch["mixture"], list)
    with torch.no_grad():
        out = task(batch)
    assert len(out["parts"]) == 2 and torch.isfinite(out["loss"])
    summary = task.summarize(task.metric_sums(out, batch))
    assert summary["sources"] == 12 and summary["sdri"] == pytest.approx(alone["sop"]["sdri"], rel=1e-6, abs=1e-6)
