"""End to end per task on a user's dataset: a tree in a published layout -> ``avlearn prepare``
-> ``avlearn make-lists`` -> ``avlearn train <recipe> --set data.train=...`` -> evaluation.

Media are generated here (tests/media.py); every command runs as a subprocess, like a user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from media import write_clip

SMALL = ["--set", "train.steps=2", "--set", "train.batch_size=2", "--set", "train.log_every=1",
         "--set", "train.eval_every=2", "--set", "train.progress=false", "--set", "data.world=null"]


def avlearn(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "avlearn", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def metrics(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def clip(path, seconds):
    path.parent.mkdir(parents=True, exist_ok=True)
    write_clip(path, seconds=seconds, fps=8, sample_rate=8000, clicks=(0.25, 1.3, 2.1, 3.2))


@pytest.fixture(scope="module")
def vggsound(tmp_path_factory):
    """VGGSound's CSV (youtube_id,start_seconds,label,split) and trimmed clips; one 1 s clip."""
    root = tmp_path_factory.mktemp("e2e") / "vggsound"
    lines = []
    for i, (ytid, label, split, seconds) in enumerate([
            ("aaaaaaaaaaa", "dog", "train", 4.0), ("bbbbbbbbbbb", "cat", "train", 4.0),
            ("ccccccccccc", "cow", "train", 1.0), ("ddddddddddd", "dog", "test", 4.0),
            ("eeeeeeeeeee", "cat", "test", 4.0)]):
        lines.append(f"{ytid},{i * 10},{label},{split}")
        clip(root / "video" / f"{ytid}_{i * 10:06d}.mp4", seconds)
    (root / "vggsound.csv").write_text("\n".join(lines) + "\n")
    return root


def test_sync_from_vggsound(vggsound, tmp_path):
    data, run = tmp_path / "data", tmp_path / "run"
    assert avlearn("prepare", "vggsound", vggsound, "--out", data).returncode == 0
    r = avlearn("make-lists", data / "test.jsonl", "--task", "sync", "--seed", "0", "--window", "1.0",
                "--out", data / "lists" / "sync_test.jsonl")
    assert r.returncode == 0, r.stderr
    r = avlearn("train", "sync_multisensory", *SMALL, "--set", f"data.train={data / 'train.jsonl'}",
                "--set", f"data.val={data / 'test.jsonl'}", "--set", "data.windows_per_epoch=4",
                "--set", "data.clip_duration=1.0", "--out", run)
    assert r.returncode == 0, r.stderr
    # the 1 s clip cannot hold a 1 s window plus a 1 s shift: skipped and counted, not fatal
    assert "skipped 1 of 3 rows shorter than" in r.stderr
    m = metrics(run)
    assert [x["step"] for x in m if x["split"] == "train"] == [1, 2]
    assert any(x["split"] == "val" and x["samples"] == 4 for x in m)
    r = avlearn("evaluate", "sync_multisensory", "--weights", run / "weights.pt", "--split", "test", "--json",
                "--set", "data.world=null", "--set", f"data.train={data / 'train.jsonl'}",
                "--set", f"data.test={data / 'lists' / 'sync_test.jsonl'}", "--set", "data.clip_duration=1.0")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["samples"] == 4 and 0.0 <= out["accuracy"] <= 1.0 and out["chance"] == 0.5


def test_world_and_manifest_are_exclusive(vggsound, tmp_path):
    data = tmp_path / "data"
    assert avlearn("prepare", "vggsound", vggsound, "--out", data).returncode == 0
    r = avlearn("train", "sync_multisensory", "--set", f"data.train={data / 'train.jsonl'}", "--out", tmp_path / "run")
    assert r.returncode == 2 and "data.world" in r.stderr and "not both" in r.stderr
    r = avlearn("train", "sync_multisensory", "--set", "data.world=null", "--out", tmp_path / "run")
    assert r.returncode == 2 and "data.world or data.train" in r.stderr


FLICKR_XML = """<annotation><file>{id}</file>
<object><bbox><xmin>64</xmin><ymin>32</ymin><xmax>128</xmax><ymax>256</ymax></bbox></object>
</annotation>"""


def test_localization_from_folder_scored_on_flickr_boxes(vggsound, tmp_path):
    flickr = tmp_path / "flickr"
    (flickr / "Annotations").mkdir(parents=True)
    for i, sid in enumerate(("10000130166", "10002213313", "10005424323")):
        (flickr / "Annotations" / f"{sid}.xml").write_text(FLICKR_XML.format(id=sid))
        clip(flickr / "videos" / f"{sid}.mp4", 0.5 if i == 2 else 3.0)  # the third: shorter than the window
    data, run = tmp_path / "data", tmp_path / "run"
    assert avlearn("prepare", "flickr-soundnet", flickr, "--out", data).returncode == 0
    sets = ["--set", "data.world=null", "--set", f"data.train={vggsound / 'video'}",
            "--set", f"data.test={data / 'test.jsonl'}", "--set", "data.windows_per_epoch=4"]
    r = avlearn("train", "localize_attention", *SMALL, *sets, "--out", run)
    assert r.returncode == 0, r.stderr
    assert "skipped 1 of 5 rows shorter than" not in r.stderr  # a folder: lengths unknown, probed per draw
    test = [x for x in metrics(run) if x["split"] == "test"]
    assert test and test[0]["samples"] == 2  # the 0.5 s clip left out of the scored rows
    r = avlearn("evaluate", "localize_attention", "--weights", run / "weights.pt", "--split", "test", "--json", *sets)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["samples"] == 2
    assert any(k.lower().startswith("ciou") for k in out), out


KINETICS = """label,youtube_id,time_start,time_end,split
abseiling,aaaaaaaaaaa,0,3,train
air drumming,bbbbbbbbbbb,0,3,train
abseiling,ccccccccccc,0,3,val
air drumming,ddddddddddd,0,3,val
"""


def test_classification_from_kinetics(tmp_path):
    root = tmp_path / "kinetics"
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "train.csv").write_text(KINETICS)
    for line in KINETICS.splitlines()[1:]:
        label, ytid, t0, t1, split = line.split(",")
        clip(root / split / label / f"{ytid}_{int(t0):06d}_{int(t1):06d}.mp4", 2.0)
    data, run = tmp_path / "data", tmp_path / "run"
    r = avlearn("prepare", "kinetics", root, "--annotations", root / "annotations", "--out", data)
    assert r.returncode == 0, r.stderr
    sets = ["--set", f"data.train={data / 'train.jsonl'}", "--set", f"data.val={data / 'val.jsonl'}",
            "--set", "data.size=32", "--set", "data.crop=null"]
    r = avlearn("train", "classify_world", *SMALL, *sets, "--out", run)
    assert r.returncode == 0, r.stderr
    assert any(x["split"] == "val" and x["samples"] == 2 for x in metrics(run))
    r = avlearn("evaluate", "classify_world", "--weights", run / "weights.pt", "--split", "val", "--json",
                "--set", "data.world=null", *sets)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["samples"] == 2


def test_separation_from_music_solos(tmp_path):
    """MUSIC's solo JSON; mixtures frozen by make-lists, each clip read from its own start."""
    root = tmp_path / "MUSIC"
    videos = {"accordion": ["aaaaaaaaaaa", "bbbbbbbbbbb"], "violin": ["ccccccccccc", "ddddddddddd"], "flute": ["eeeeeeeeeee"]}
    for k, (inst, ids) in enumerate(videos.items()):
        for j, vid in enumerate(ids):
            path = root / "videos" / inst / f"{vid}.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_clip(path, seconds=0.5 if vid == "eeeeeeeeeee" else 2.0, fps=8, sample_rate=8000,
                       clicks=(0.1 + 0.2 * k + 0.05 * j, 1.1 + 0.1 * k))
    (root / "MUSIC_solo_videos.json").write_text(json.dumps({"videos": videos}))
    data, run = tmp_path / "data", tmp_path / "run"
    assert avlearn("prepare", "music", root, "--out", data).returncode == 0
    r = avlearn("make-lists", data / "solo.jsonl", "--task", "separation", "--num-mix", "2", "--seed", "0", "--window", "1.0",
                "--out", data / "lists" / "separation_test.jsonl")
    assert r.returncode == 0, r.stderr
    sets = ["--set", "data.world=null", "--set", f"data.train={data / 'solo.jsonl'}",
            "--set", f"data.test={data / 'lists' / 'separation_test.jsonl'}", "--set", "train.eval_batch_size=1"]
    r = avlearn("train", "separate_instruments", *SMALL, *sets, "--set", "data.windows_per_epoch=4", "--out", run)
    assert r.returncode == 0, r.stderr
    assert "skipped 1 of 5 clips shorter than the 1.000 s window" in r.stderr  # the 0.5 s flute
    assert [x["step"] for x in metrics(run) if x["split"] == "train"] == [1, 2]
    r = avlearn("evaluate", "separate_instruments", "--weights", run / "weights.pt", "--split", "test", "--json", *sets)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["samples"] == 5 and "sdri" in out


def test_separation_reads_a_list_clip_from_its_start(tmp_path):
    """A frozen list's clip starting at 1.0 s is decoded from 1.0 s, not from 0 s."""
    from avlearn.tasks.separation.data import stem_clips

    path = tmp_path / "c.mp4"
    write_clip(path, seconds=2.0, fps=8, sample_rate=8000, clicks=(0.25, 1.5))
    truth = tmp_path / "t.json"
    truth.write_text(json.dumps({"start": 1.0, "duration": 1.0, "fps": 8.0, "size": [32, 32], "label": 0,
                                 "sources": [{"id": "s0", "onscreen": True, "sounding": True, "label": 0}]}))
    rec = stem_clips([{"id": "c", "clip": str(path), "truth": str(truth), "stems": {"s0": str(path)}}],
                     sample_rate=8000, fps=8, size=32).get("c")
    from media import click_positions, read_counters

    assert read_counters(rec.frames)[0] == 8  # the frame at 1.0 s
    assert abs(click_positions(rec.stems["s0"].numpy()[None])[0] - 4000) < 80  # the click at 1.5 s, 0.5 s in


def test_preview_teacher_from_activitynet(tmp_path):
    """ActivityNet's JSON; untrimmed videos with labelled segments train the preview teacher."""
    root = tmp_path / "anet"
    db = {}
    for i, (vid, subset, label) in enumerate([("aaaaaaaaaaa", "training", "Zumba"), ("bbbbbbbbbbb", "training", "Ballet"),
                                              ("ccccccccccc", "validation", "Zumba"), ("ddddddddddd", "validation", "Ballet")]):
        db[vid] = {"subset": subset, "duration": 3.0, "annotations": [{"segment": [0.5, 2.5], "label": label}]}
        clip(root / "v1-3" / "train_val" / f"v_{vid}.mp4", 3.0)
    (root / "activity_net.v1-3.min.json").write_text(json.dumps({"version": "VERSION 1.3", "database": db}))
    data, run = tmp_path / "data", tmp_path / "run"
    assert avlearn("prepare", "activitynet", root, "--out", data).returncode == 0
    sets = ["--set", f"data.train={data / 'train.jsonl'}", "--set", f"data.val={data / 'val.jsonl'}",
            "--set", "data.cache=" + str(tmp_path / "cache")]
    r = avlearn("train", "preview_teacher", *SMALL, *sets, "--set", "train.final_eval=[val]", "--out", run)
    assert r.returncode == 0, r.stderr
    val = [x for x in metrics(run) if x["split"] == "val"]
    assert val and val[-1]["samples"] > 0
    r = avlearn("evaluate", "preview_teacher", "--weights", run / "weights.pt", "--split", "val", "--json",
                "--set", "data.world=null", *sets)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["samples"] == val[-1]["samples"]


def test_voices_with_face_tracks_from_voxceleb2(tmp_path, capsys):
    """VoxCeleb2's tree, a face track file per utterance added to the prepared manifests (as a
    user with their own face detections would): training crops each speaker's face track; the
    frozen test list holds clips of 1.0 s and 1.5 s and is scored in the trainer, by ``evaluate``
    and by ``separate --eval-list``; ``separate FILE --boxes`` writes one track per face."""
    import numpy as np

    from avlearn.io import write_av

    root, boxes = tmp_path / "vox2", tmp_path / "faces"
    boxes.mkdir()
    speakers = {"dev": ["id00010", "id00020", "id00030", "id00040"], "test": ["id00050", "id00060", "id00070", "id00080"]}
    for split, ids in speakers.items():
        for k, spk in enumerate(ids):
            seconds = 1.5 if (split == "test" and k >= 1) else 1.0
            n, x = int(round(seconds * 8)), 4 + 8 * k
            video = np.full((n, 48, 64, 3), 100, np.uint8)
            video[:, 10:34, x : x + 24] = (200 + 10 * k, 150, 100)  # the speaker's "face"
            t = np.arange(int(round(seconds * 8000))) / 8000
            audio = (0.3 * np.sin(2 * np.pi * (250 + 120 * k + (60 if split == "test" else 0)) * t))[None].astype(np.float32)
            path = root / split / "mp4" / spk / f"vid{k}xxxxxx" / "00001.mp4"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_av(path, video, audio, fps=8, sample_rate=8000)
            (boxes / f"{split}_{spk}.csv").write_text(f"track_id,time_s,x0,y0,x1,y1\n{spk},0.0,{x},10,{x + 24},34\n"
                                                      f"{spk},{seconds - 0.125},{x},10,{x + 24},34\n")
    data, run = tmp_path / "data", tmp_path / "run"
    assert avlearn("prepare", "voxceleb2", root, "--out", data).returncode == 0
    for split in ("dev", "test"):  # the user's step: point each row at its face track
        rows = [json.loads(line) for line in (data / f"{split}.jsonl").read_text().splitlines() if line.strip()]
        assert len(rows) == 4
        for r in rows:
            r["boxes"] = str(boxes / f"{split}_{r['speaker']}.csv")
        (data / f"{split}_faces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    lst = data / "lists" / "separation_test.jsonl"
    r = avlearn("make-lists", data / "test_faces.jsonl", "--task", "separation", "--num-mix", "2", "--seed", "0", "--out", lst)
    assert r.returncode == 0, r.stderr
    groups = [json.loads(line) for line in lst.read_text().splitlines()]
    assert {min(c["duration"] for c in g["clips"]) for g in groups} == {1.0, 1.5}  # mixed lengths
    truth = json.loads((data / groups[0]["clips"][0]["truth"]).read_text())  # relative to the list's grandparent
    assert truth["sources"][0]["box_tracks"].endswith(".csv")  # evaluation crops the same track
    sets = ["--set", "data.world=null", "--set", f"data.train={data / 'dev_faces.jsonl'}", "--set", f"data.test={lst}",
            "--set", "data.size=32", "--set", "data.fps=8", "--set", "data.crop_size=16", "--set", "data.mouth_size=[8,16]",
            "--set", "model.kwargs.unet_levels=3", "--set", "model.kwargs.unet_channels=4", "--set", "model.kwargs.visual_width=4",
            "--set", "model.kwargs.visual_channels=8"]
    r = avlearn("train", "separate_voices", *SMALL, *sets, "--set", "data.windows_per_epoch=4",
                "--set", "train.final_eval=[test]", "--out", run)
    assert r.returncode == 0, r.stderr
    test = [x for x in metrics(run) if x["split"] == "test"]
    assert test and test[-1]["samples"] == len(groups) and test[-1]["sources"] == 2 * len(groups)  # ragged batches
    r = avlearn("evaluate", "separate_voices", "--weights", run / "weights.pt", "--split", "test", "--json", *sets)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["samples"] == len(groups)
    r = avlearn("separate", "--eval-list", lst, "--weights", run / "weights.pt", "--json")
    assert r.returncode == 0, r.stderr
    scores = json.loads(r.stdout.strip().splitlines()[-1])
    assert scores["visualvoice"]["sources"] == scores["oracle_irm"]["sources"] == 2 * len(groups)
    assert scores["oracle_irm"]["sdri"] > scores["mixture"]["sdri"] == pytest.approx(0.0, abs=1e-6)
    clip_file = next(root.glob("test/mp4/id00050/*/00001.mp4"))
    r = avlearn("separate", clip_file, "--weights", run / "weights.pt", "--out", tmp_path / "sep", "--json",
                "--boxes", boxes / "test_id00050.csv")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["detector"] == "boxes" and [s["id"] for s in report["sources"]] == ["id00050"]
    assert report["sources"][0]["wav"].endswith("00001_id00050.wav")
    bad = tmp_path / "bad.csv"
    bad.write_text("track_id,time_s,x0,y0,x1,y1\nid00050,0,30,10,20,34\n")
    from avlearn.cli import main  # in process from here: the same command, without another start-up

    base = ["separate", str(clip_file), "--weights", str(run / "weights.pt"), "--boxes", str(bad)]
    assert main([*base, "--out", str(tmp_path / "sep2")]) == 1
    assert f"{bad}: line 2: x1 20 <= x0 30" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "sep3"), "--detector", "face"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
    two = [str(p) for p in sorted(root.glob("test/mp4/*/*/00001.mp4"))[:2]]
    assert main(["separate", *two, "--weights", str(run / "weights.pt"), "--boxes", str(bad), "--out", str(tmp_path / "s4")]) == 2
    assert "need --boxes to be a folder" in capsys.readouterr().err  # one file cannot hold the tracks of two inputs
