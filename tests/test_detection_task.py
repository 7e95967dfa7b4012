"""Spatio-temporal action detection: the task, its data, the box source, frame-mAP evaluation
with its baselines, and ``avlearn detect`` on a tiny actors world."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from avlearn.data.synthetic import WorldConfig, make_world
from avlearn.tasks.base import build_datasets, build_task
from avlearn.tasks.config import config_from_dict
from avlearn.tasks.detection import DetectionTask, baseline_maps, detect_file, evaluate_detection, motion_boxes
from avlearn.tasks.detection.data import label_priors, mean_box_size
from avlearn.tasks.runs import load_run


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("actors") / "w"
    cfg = WorldConfig(kind="actors", size=32, fps=8, sample_rate=8000, duration=2.0)
    make_world(root, cfg, clips={"train": 2, "val": 1, "test": 1}, seed=1, workers=1, progress=False)
    return root


def _recipe(world, out_dir=None) -> dict:
    return {"task": {"name": "detection"}, "model": {"name": "ava_r3d_tiny"},
            "data": {"world": str(world), "clip_duration": 0.5, "fps": 8, "size": 32, "max_actors": 4},
            "train": {"steps": 1, "batch_size": 2, "num_workers": 0, "out_dir": str(out_dir or world / "run")}}


@pytest.fixture(scope="module")
def run_dir(world):
    recipe = _recipe(world)
    run = world / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(recipe))
    torch.manual_seed(0)
    torch.save(build_task(config_from_dict(recipe)).export_module().state_dict(), run / "weights.pt")
    return run


def test_build_datasets_and_one_training_step(world):
    cfg = config_from_dict(_recipe(world))
    task = build_task(cfg)
    assert isinstance(task, DetectionTask) and task.num_classes == 7 and task.class_names[:2] == ["stand", "walk"]
    ds = build_datasets(cfg)
    assert set(ds) == {"train", "val", "test"} and len(ds["train"]) == 2 * 3  # keyframes at 0.5, 1.0, 1.5 s
    s = ds["train"][0]
    assert s["video"].shape == (3, 4, 32, 32) and s["boxes"].shape == (4, 4) and s["targets"].shape == (4, 7)
    n = int(s["box_mask"].sum())
    assert 2 <= n <= 4 and (s["targets"][:n].sum(1) >= 1).all() and (s["targets"][n:] == 0).all()
    assert (s["targets"][:n, :4].sum(1) == 1).all()  # exactly one body action per actor
    batch = task.collate([ds["train"][i] for i in range(2)])
    opt = torch.optim.SGD(task.parameters(), lr=0.1)
    out = task(batch)
    assert out["logits"].shape == (2, 4, 7) and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert task.model.fc.weight.grad.abs().sum() > 0
    opt.step()
    assert float(task(batch)["loss"].detach()) != float(out["loss"].detach())


class _Fixed(nn.Module):
    def __init__(self, logits):
        super().__init__()
        self.logits, self.w = logits, nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return self.logits + self.w


def test_loss_ignores_padding_and_metric_sums_by_hand():
    logits = torch.tensor([[[5.0, -5.0], [-5.0, 5.0], [9.0, 9.0]]])  # (1, M=3, K=2); third box is padding
    targets = torch.tensor([[[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]])
    batch = {"video": torch.zeros(1, 3, 2, 8, 8), "boxes": torch.zeros(1, 3, 4), "box_mask": torch.tensor([[1.0, 1.0, 0.0]]),
             "targets": targets}
    task = DetectionTask(model=_Fixed(logits), num_classes=2)
    out = task(batch)
    bce = nn.functional.binary_cross_entropy_with_logits(logits[0, :2], targets[0, :2])
    assert torch.isclose(out["loss"], bce)
    sums = task.metric_sums(out, batch)
    assert sums["tp"].tolist() == [1.0, 1.0] and sums["fp"].tolist() == [0.0, 0.0] and sums["fn"].tolist() == [1.0, 0.0]
    m = task.summarize(sums)
    assert m["micro_f1"] == pytest.approx(2 * 2 / (2 * 2 + 1)) and m["exact_match"] == 0.5
    assert m["macro_f1"] == pytest.approx((2 / 3 + 1.0) / 2)


def _row(clip, frame, boxes, labels):
    return {"clip": clip, "frame": frame, "time": frame / 8, "size": [100, 100], "boxes": boxes, "labels": labels}


def test_baselines_on_hand_made_lists():
    rows = [_row("a", 4, [[0, 0, 20, 40], [60, 50, 80, 100]], [[0], [0, 1]]),
            _row("b", 4, [[30, 20, 70, 80]], [[1]])]
    priors = label_priors(rows, 2)
    assert priors.tolist() == [2 / 3, 2 / 3]
    assert mean_box_size(rows) == pytest.approx(((0.2 + 0.2 + 0.4) / 3, (0.4 + 0.5 + 0.6) / 3))
    res = baseline_maps(rows, np.array([0.6, 0.3]), (0.4, 0.6))
    # prior-only, GT boxes: per class all three boxes tie, ranked in input order.
    # class 0 (gt: a0, a1): hits at ranks 1, 2 -> AP 1; class 1 (gt: a1, b0): ranks 2, 3 -> precision 1/2, 2/3
    ap1 = 0.5 * (2 / 3) + 0.5 * (2 / 3)  # interpolated precision is non-increasing: max over later ranks
    assert res["prior_gt_boxes"] == pytest.approx((1.0 + ap1) / 2)
    # centre box (0.3, 0.2, 0.7, 0.8) equals b's box: only class 1 of b is found (rank 2 of 2 by input order)
    assert res["centre_box"] == pytest.approx((0.0 + 0.5 * 0.5) / 2)


def test_motion_boxes_find_moving_squares_not_noise():
    rng = np.random.default_rng(0)
    bg = rng.integers(60, 120, size=(40, 60, 3))
    frames = np.repeat(bg[None], 9, 0).astype(np.int32) + rng.integers(-3, 4, size=(9, 40, 60, 1))
    for t in range(9):
        frames[t, 10:20, 5 + 3 * t: 13 + 3 * t] = 250  # a square moving right
        frames[t, 25:35, 50:56] = 10 if t == 4 else bg[25:35, 50:56]  # a blob only on the keyframe
    boxes, scores = motion_boxes(np.clip(frames, 0, 255).astype(np.uint8), 4, close=1)
    assert boxes.tolist() == [[17.0, 10.0, 25.0, 20.0], [50.0, 25.0, 56.0, 35.0]]
    assert np.allclose(scores, 1.0)
    with pytest.raises(ValueError, match="outside"):
        motion_boxes(frames.astype(np.uint8), 9)


def test_evaluate_detection_gt_and_motion_boxes(run_dir, world):
    run = load_run(run_dir)
    res = evaluate_detection(run, "test")
    assert res["keyframes"] == 3 and 0 <= res["frame_map_gt_boxes"] <= 1 and 0 <= res["frame_map_motion_boxes"] <= 1
    from avlearn.data.synthetic import load_list
    from avlearn.tasks.detection.data import split_rows

    rows, train = load_list(world, "detection", "test"), split_rows(run.config.data, "train")
    assert res["baselines"] == baseline_maps(rows, label_priors(train, 7), mean_box_size(train))
    assert set(res["per_class_gt_boxes"]) <= set(run.task.class_names)
    with pytest.raises(ValueError, match="unknown box sources"):
        evaluate_detection(run, "test", boxes=("oracle",))


def test_detect_file_and_cli(run_dir, world, tmp_path):
    clip = next((world / "test" / "clips").glob("*.mp4"))
    res = detect_file(load_run(run_dir), clip, step=0.5, threshold=0.0)
    assert [k["time"] for k in res["keyframes"]] == [0.5, 1.0, 1.5]
    for k in res["keyframes"]:
        for a in k["actors"]:
            x0, y0, x1, y1 = a["box"]
            assert 0 <= x0 < x1 <= 32 and 0 <= y0 < y1 <= 32 and len(a["scores"]) == 7 and len(a["labels"]) == 7
    out = tmp_path / "boxes.mp4"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "avlearn", "detect", str(clip), "--weights", str(run_dir), "--out", str(out), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    js = json.loads(p.stdout)
    assert js["out"] == str(out) and os.path.getsize(out) > 0 and len(js["colours"]) == 7
    assert len(js["keyframes"]) == 3 and js["classes"][0] == "stand"
    from avlearn.io import probe

    assert probe(str(out)).video.width == 32
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)  # --out exists, no --overwrite
    assert p.returncode == 2 and "already exists" in p.stderr
    bad = tmp_path / "nope"
    p = subprocess.run([sys.executable, "-m", "avlearn", "detect", str(clip), "--weights", str(bad)], capture_output=True,
                       text=True, env=env)
    assert p.returncode == 2 and "avlearn detect:" in p.stderr
