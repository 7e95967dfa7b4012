"""TAL-Net as a trainable task: features of a clip classifier or `avlearn extract-features`, the
engine's exact mAP, baselines, `avlearn classify --method proposals --proposals RUN`, and a
THUMOS'14-layout tree from `avlearn prepare` to `avlearn evaluate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from avlearn.metrics import Segment, detection_map


def avlearn(*args):
    return subprocess.run([sys.executable, "-m", "avlearn", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


def test_map_at_04_and_06_by_hand():
    """ActivityNet's AP per class at tIoU 0.4 and 0.6 (interpolated, averaged over classes)."""
    gt = [Segment("a", 0, 10, 0), Segment("a", 20, 30, 0), Segment("b", 0, 10, 0), Segment("b", 40, 50, 1)]
    preds = [
        Segment("a", 0, 5, 0, 0.9),     # tIoU 0.5: TP at 0.4, FP at 0.6
        Segment("b", 15, 25, 0, 0.8),   # no overlap with b's class-0 segment: FP
        Segment("a", 21, 29, 0, 0.7),   # tIoU 0.8: TP at both
        Segment("b", 0, 9, 0, 0.6),     # tIoU 0.9: TP at both
        Segment("b", 42, 54, 1, 0.5),   # tIoU 8/14 = 0.571: TP at 0.4, FP at 0.6
    ]
    out = detection_map(preds, gt, tiou_thresholds=(0.4, 0.6))
    # class 0 at 0.4: TP FP TP TP of 3 -> precision 1, .5, .67, .75 at recall 1/3, 1/3, 2/3, 1;
    # made monotone from the right: 1, .75, .75, .75 -> AP = 1/3 * 1 + 1/3 * .75 + 1/3 * .75
    assert out.per_class[0.4][0] == pytest.approx((1 + 0.75 + 0.75) / 3)
    # class 0 at 0.6: FP FP TP TP -> precision 0, 0, 1/3, 1/2 at recall 0, 0, 1/3, 2/3 -> AP = 1/3 * 1/2 + 1/3 * 1/2
    assert out.per_class[0.6][0] == pytest.approx(1 / 3)
    assert out.per_class[0.4][1] == pytest.approx(1.0) and out.per_class[0.6][1] == 0.0
    assert out.map[0.4] == pytest.approx(((1 + 0.75 + 0.75) / 3 + 1) / 2)
    assert out.map[0.6] == pytest.approx((1 / 3 + 0) / 2)


def _bundle_and_world(tmp_path, steps=4):
    from test_preview_budget import DATA, tiny_specs

    from avlearn.data.synthetic import WorldConfig, make_world
    from avlearn.tasks.preview.bundle import build_models, save_bundle
    from avlearn.tasks.preview.data import class_names

    world = tmp_path / "actions"
    cfg = WorldConfig(kind="actions", size=32, fps=8, sample_rate=8000, duration=6.0, action_classes=3)
    make_world(world, cfg, clips={"train": 3, "val": 2, "test": 2}, seed=2, workers=1, progress=False)
    torch.manual_seed(0)
    bundle = save_bundle(build_models(class_names(world), DATA, tiny_specs(3)), tmp_path / "preview.pt")
    return world, bundle


def _recipe(world, bundle, out, **extra):
    from avlearn.tasks.config import load_config

    sets = [f"data.world={world}", f"data.feature_run={bundle}", f"data.cache={out.parent / 'cache'}",
            "model.kwargs.in_channels=4", "model.kwargs.anchor_scales=[1,2,4]", "model.kwargs.width=16",
            "model.kwargs.hidden=32", "model.kwargs.num_proposals=8", "train.steps=4", "train.batch_size=2",
            "train.log_every=1", "train.eval_every=0", "train.ckpt_every=0", "train.final_eval=[val,test]",
            f"train.out_dir={out}", "train.progress=false", *[f"{k}={v}" for k, v in extra.items()]]
    return load_config("tal_net_world", sets)


def test_train_from_a_bundle_teacher_engine_map_equals_evaluate_and_classify(tmp_path, capsys):
    import avlearn
    from avlearn.cli import main
    from avlearn.tasks.temporal import evaluate_temporal, split_sequences
    from avlearn.train import fit

    world, bundle = _bundle_and_world(tmp_path)
    cfg = _recipe(world, bundle, tmp_path / "run")
    results = fit(cfg)
    test = results["test"]
    assert {"map@0.3", "map@0.4", "map@0.5", "map@0.6", "map@0.7", "average_map"} <= set(test)
    assert test["videos"] == 2 and all(0 <= test[f"map@{t}"] <= 1 for t in (0.3, 0.4, 0.5, 0.6, 0.7))
    run = avlearn.load_run(tmp_path / "run")
    assert run.task_name == "temporal_proposals" and run.task.model.num_classes == 4
    rows = {r["method"]: r for r in evaluate_temporal(run, "test")}
    assert set(rows) == {"tal_net", "windows", "whole_video_majority", "random_segments"}
    for t in (0.3, 0.4, 0.5, 0.6, 0.7):  # the engine's sums-of-videos mAP is the exact one
        assert rows["tal_net"][f"map@{t}"] == pytest.approx(test[f"map@{t}"])
    assert rows["tal_net"]["average"] == pytest.approx(test["average_map"])
    seqs = split_sequences(run.config.data, "test")  # the frozen list's videos, whole
    assert len(seqs) == 2 and all(f.features.shape == (len(f.starts), 4) for f in seqs)

    # classify: the trained run is the --proposals network; its segments are task.detect's
    clip = world / "test" / "clips"
    path = sorted(clip.glob("*.mp4"))[0]
    args = [str(path), "--weights", str(bundle), "--segments", "--method", "proposals", "--min-score", "0", "--json"]
    assert main(["classify", *args, "--proposals", str(tmp_path / "run")]) == 0
    r = json.loads(capsys.readouterr().out)
    from avlearn.tasks.preview.bundle import preview_models
    from avlearn.tasks.preview.data import VideoWindows
    from avlearn.tasks.temporal.data import clip_features

    m = preview_models(avlearn.load_run(bundle))
    d = m.data
    store = VideoWindows.from_files([str(path)], fps=d["fps"], size=d["size"], sample_rate=d["sample_rate"],
                                  window=d["window"], num_classes=3, mean=d["mean"], std=d["std"])
    starts = store.starts(0, d["hop"], d["window"])
    with torch.inference_mode():
        feats = clip_features(m.teacher, store.clips(0, starts, d["window"]), "log_probs")
    expected = run.task.detect(feats.t(), origin=float(starts[0]) + d["window"] / 2 - d["hop"] / 2, duration=r["duration"])
    got = [(s["start"], s["end"], s["label"]) for s in r["segments"]]
    assert len(got) == len(expected)
    np.testing.assert_allclose([g[:2] for g in got], [e[:2] for e in expected], atol=1e-4)
    assert [g[2] for g in got] == [e[2] for e in expected]
    # a run of another task is refused with its name
    assert main(["classify", *args, "--proposals", str(bundle)]) == 2
    assert "not a TAL-Net" in capsys.readouterr().err


def test_summarize_counts_each_video_once_and_checks():
    from avlearn.models import create_model
    from avlearn.tasks.temporal.task import TemporalProposalTask

    task = TemporalProposalTask(model=create_model("tal_net_tiny", num_classes=3, in_channels=4), hop=0.5, window=1.0)
    outputs = {k: torch.tensor(0.5) for k in ("actionness", "anchor_regression", "classification", "refinement")}
    outputs["detections"] = [[(0.0, 2.0, 0, 0.9), (5.0, 6.0, 1, 0.4)], []]
    batch = {"features": torch.zeros(2, 4, 8), "index": torch.tensor([3, 7]),
             "gt": [torch.tensor([[0.0, 2.0, 0.0]]), torch.tensor([[1.0, 2.0, 1.0]])]}
    once = task.metric_sums(outputs, batch)
    twice = {k: once[k] * 2 for k in once}  # a distributed sampler repeated both videos
    a, b = task.summarize(once), task.summarize(twice)
    assert a["map@0.5"] == pytest.approx(b["map@0.5"]) and a["videos"] == 2
    assert a["map@0.5"] == pytest.approx(0.5)  # class 0 found (AP 1), class 1 missed (AP 0)
    assert a["loss_actionness"] == pytest.approx(0.5)


def test_data_errors_name_the_source(tmp_path):
    from avlearn.tasks.config import ConfigError, load_config
    from avlearn.tasks.temporal import split_sequences

    world, bundle = _bundle_and_world(tmp_path)
    d = _recipe(world, bundle, tmp_path / "run", **{"data.hop": 0.25}).data
    with pytest.raises(ValueError, match=r"preview.pt\): features of 1.0 s windows every 0.5 s.*data.hop=0.25"):
        split_sequences(d, "test")
    d.feature_files = {"test": str(tmp_path / "none.npz")}
    with pytest.raises(ValueError, match="exactly one of feature_run"):
        split_sequences(d, "test")
    d.feature_run = None
    with pytest.raises(FileNotFoundError, match="none.npz not found"):
        split_sequences(d, "test")
    with pytest.raises(ConfigError, match="feature_output"):
        load_config("tal_net_world", ["data.feature_output=logits"])
    with pytest.raises(ValueError, match="in_channels: required"):
        from avlearn.tasks import build_task

        build_task(load_config("tal_net_world", [f"data.world={world}", "data.feature_output=both",
                                                 "model.kwargs={anchor_scales: [1, 2]}"]))


def _thumos_tree(root):
    """THUMOS'14 annotation files (<Class>_val.txt / <Class>_test.txt) and 6 s videos."""
    from media import write_clip

    ann = root / "annotation"
    ann.mkdir(parents=True)
    rows = {"val": ["video_validation_0000001", "video_validation_0000002", "video_validation_0000003"],
            "test": ["video_test_0000001", "video_test_0000002"]}
    lines = {("Diving", "val"): [], ("Billiards", "val"): [], ("Diving", "test"): [], ("Billiards", "test"): []}
    for split, names in rows.items():
        for i, name in enumerate(names):
            lines[("Diving", split)].append(f"{name} 0.5 2.0")
            lines[("Billiards", split)].append(f"{name} 3.0 {4.5 + 0.5 * i}")
            write_clip(root / "videos" / split / f"{name}.mp4", seconds=6.0, fps=8, sample_rate=8000)
    for (cls, split), ls in lines.items():
        (ann / f"{cls}_{split}.txt").write_text("\n".join(ls) + "\n")
    (ann / "Ambiguous_val.txt").write_text("video_validation_0000001 5.0 5.5\n")
    return ann


def test_thumos_tree_prepare_extract_train_evaluate(tmp_path):
    """A THUMOS'14-layout tree -> prepare -> extract-features -> train the paper recipe (sizes
    overridden down) a few steps -> evaluate the frozen test list."""
    _thumos_tree(tmp_path / "thumos")
    data = tmp_path / "data"
    r = avlearn("prepare", "thumos", tmp_path / "thumos", "--out", data)
    assert r.returncode == 0, r.stderr
    for split in ("val", "test"):
        r = avlearn("extract-features", data / f"{split}.jsonl", "--model", "r3d_tiny", "--clip-duration", "1.0",
                    "--stride", "0.5", "--fps", "8", "--size", "32", "32", "--out", data / f"f_{split}.npz")
        assert r.returncode == 0, r.stderr
    width = int(np.load(data / "f_val.npz")["features"].shape[1])
    run = tmp_path / "run"
    sets = [f"data.train={data / 'val.jsonl'}", f"data.test={data / 'test.jsonl'}",
            f"data.feature_files={{train: {data / 'f_val.npz'}, test: {data / 'f_test.npz'}}}",
            "data.window=1.0", "data.hop=0.5", "data.crop=8", "model.name=tal_net_tiny",
            f"model.kwargs.in_channels={width}", "model.kwargs.anchor_scales=[1,2,4]", "model.kwargs.width=16",
            "model.kwargs.hidden=32", "model.kwargs.num_proposals=8", "task.num_classes=2", "train.steps=3",
            "train.batch_size=2", "train.log_every=1", "train.ckpt_every=0", "train.num_workers=0",
            "train.progress=false", "train.final_eval=[test]"]
    args = [x for s in sets for x in ("--set", s)]
    r = avlearn("train", "tal_net_thumos14_paper", *args, "--out", run)
    assert r.returncode == 0, r.stderr
    final = json.loads((run / "final_metrics.json").read_text())
    test = final.get("test", final)
    assert test["videos"] == 2 and 0 <= test["map@0.5"] <= 1 and "map@0.1" in test
    r = avlearn("evaluate", "tal_net_thumos14_paper", "--weights", run / "weights.pt", "--split", "test", "--json", *args)
    assert r.returncode == 0, r.stderr
    ev = json.loads(r.stdout.strip().splitlines()[-1])
    assert ev["map@0.5"] == pytest.approx(test["map@0.5"]) and ev["videos"] == 2
    # a features file without one of the split's videos: left out and counted, not fatal
    z = dict(np.load(data / "f_test.npz"))
    keep = z["file_index"] == 0
    np.savez(data / "f_test_one.npz", **{**z, "features": z["features"][keep], "starts": z["starts"][keep],
                                          "file_index": z["file_index"][keep]})
    from avlearn.tasks.config import load_config
    from avlearn.tasks.temporal import split_sequences

    cfg = load_config("tal_net_thumos14_paper", [*sets, f"data.feature_files={{train: {data / 'f_val.npz'}, "
                                                             f"test: {data / 'f_test_one.npz'}}}"])
    assert len(split_sequences(cfg.data, "test")) == 1


def test_paper_recipe_settings():
    from avlearn.tasks.config import load_config, recipe_path

    text = open(recipe_path("tal_net_thumos14_paper"), encoding="utf-8").read()
    assert "Chao" in text and "Sec. 3" in text and "avlearn prepare thumos" in text and "extract-features" in text
    cfg = load_config("tal_net_thumos14_paper")
    assert cfg.task.num_classes == 20 and cfg.model.kwargs["in_channels"] == 1024 and cfg.model.kwargs["context"] == 0.5
    assert cfg.data.train.endswith("val.jsonl") and cfg.data.test.endswith("test.jsonl")
