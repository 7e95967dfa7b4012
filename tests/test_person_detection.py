"""The person (actor) box detector: CenterNet decoding and targets by hand, the focal loss, box
AP@0.5 on hand-made cases, training on a tiny actors world, and the detector as the box source
of the action detector's evaluation and of ``avlearn detect``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

from avlearn.data.synthetic import WorldConfig, make_world
from avlearn.metrics.frame_map import frame_map
from avlearn.models import create_model
from avlearn.models.detection.centernet import HEATMAP_PRIOR_BIAS, decode_centers
from avlearn.tasks.base import build_datasets, build_task
from avlearn.tasks.config import config_from_dict
from avlearn.tasks.detection import (PersonDetectionTask, detect_file, detector_boxes, evaluate_detection,
                                     evaluate_person_detector, source_boxes, truth_boxes)
from avlearn.tasks.detection.person_data import center_targets, gaussian_radius
from avlearn.tasks.detection.person_eval import _detections, _recall, person_ground_truth
from avlearn.tasks.detection.persons import focal_loss
from avlearn.tasks.runs import load_run


# --- network and decoding ---------------------------------------------------------------------

def test_centernet_maps_at_stride_4_and_prior_bias():
    net = create_model("centernet_tiny").eval()
    out = net(torch.randn(2, 3, 48, 64))
    assert out["heatmap"].shape == (2, 1, 12, 16) and out["size"].shape == out["offset"].shape == (2, 2, 12, 16)
    assert torch.all(net.heatmap[-1].bias == HEATMAP_PRIOR_BIAS)  # sigmoid -> 0.1 at init
    assert create_model("centernet_small", num_classes=3)(torch.randn(1, 3, 32, 32))["heatmap"].shape == (1, 3, 8, 8)
    with pytest.raises(ValueError, match="expected images"):
        net(torch.randn(1, 3, 4, 32, 32))


def test_decode_centers_by_hand():
    h = w = 8
    logit = lambda p: math.log(p / (1 - p))  # noqa: E731
    heat = torch.full((1, 1, h, w), logit(0.01))
    heat[0, 0, 3, 5] = logit(0.9)  # a peak ...
    heat[0, 0, 3, 6] = logit(0.6)  # ... and its weaker neighbour: suppressed by the 3 x 3 max
    heat[0, 0, 6, 1] = logit(0.4)  # a second peak
    size = torch.zeros(1, 2, h, w)
    off = torch.zeros(1, 2, h, w)
    size[0, :, 3, 5] = torch.tensor([2.0, 4.0])
    off[0, :, 3, 5] = torch.tensor([0.5, 0.25])
    size[0, :, 6, 1] = torch.tensor([1.0, 1.0])
    res = decode_centers({"heatmap": heat, "size": size, "offset": off}, k=5, threshold=0.3, stride=4)[0]
    assert res["scores"].tolist() == pytest.approx([0.9, 0.4])
    # centre (5.5, 3.25) cells, size (2, 4) cells -> pixels (4.5..6.5, 1.25..5.25) * 4, over 32 px
    assert res["boxes"][0].tolist() == pytest.approx([18 / 32, 5 / 32, 26 / 32, 21 / 32])
    assert res["boxes"][1].tolist() == pytest.approx([2 / 32, 22 / 32, 6 / 32, 26 / 32])
    assert res["labels"].tolist() == [0, 0]
    top1 = decode_centers({"heatmap": heat, "size": size, "offset": off}, k=1, threshold=0.0)[0]
    assert len(top1["boxes"]) == 1


# --- targets and loss ---------------------------------------------------------------------------

def test_gaussian_radius_keeps_iou_and_targets_by_hand():
    r = gaussian_radius(20.0, 10.0, 0.7)
    assert 0 < r < 10
    # a box shifted by the radius along both axes keeps IoU >= 0.7 (the tightest of CornerNet's cases)
    box, shifted = np.array([[0, 0, 10, 20]]), np.array([[r, r, 10 + r, 20 + r]])
    from avlearn.metrics.frame_map import box_iou

    assert box_iou(box, shifted)[0, 0] >= 0.7 - 1e-6
    t = center_targets(np.array([[8.0, 4.0, 20.0, 28.0], [0.0, 0.0, 0.0, 5.0]]), out_size=8, stride=4, max_objects=3)
    # centre (14, 16) px -> (3.5, 4.0) cells -> cell (x 3, y 4); size (12, 24) px -> (3, 6) cells
    assert t["ind"].tolist() == [4 * 8 + 3, 0, 0] and t["obj_mask"].tolist() == [1.0, 0.0, 0.0]
    assert t["wh"][0].tolist() == [3.0, 6.0] and t["offset"][0].tolist() == [0.5, 0.0]
    heat = t["heatmap"][0]
    assert heat.shape == (8, 8) and heat[4, 3] == 1.0 and (heat <= 1).all() and heat.sum() > 1
    assert heat[4, 2] == heat[4, 4] < 1.0  # symmetric around the centre cell


def test_focal_loss_by_hand():
    target = torch.tensor([[[[1.0, 0.5], [0.0, 0.0]]]])
    p = torch.tensor([[[[0.8, 0.3], [0.1, 0.5]]]])
    logits = torch.log(p / (1 - p))
    pos = -(0.2 ** 2) * math.log(0.8)
    neg = -((0.5 ** 4) * 0.3 ** 2 * math.log(0.7) + 0.1 ** 2 * math.log(0.9) + 0.5 ** 2 * math.log(0.5))
    assert float(focal_loss(logits, target)) == pytest.approx(pos + neg, rel=1e-5)
    assert float(focal_loss(logits, torch.zeros_like(target))) > 0  # no centre: divided by 1


# --- box AP@0.5 on hand-made cases ----------------------------------------------------------------

def _row(clip, boxes):
    return {"clip": clip, "frame": 8, "time": 0.5, "size": [100, 200], "boxes": boxes}


def test_person_ap_and_recall_by_hand():
    rows = [_row("a", [[0, 0, 20, 50], [100, 50, 140, 100]]), _row("b", [[20, 20, 60, 80]])]
    gt = person_ground_truth(rows)
    assert gt[0].box == (0.0, 0.0, 0.1, 0.5) and len(gt) == 3
    boxes = [np.array([[0.0, 0.0, 0.1, 0.5], [0.0, 0.0, 0.1, 0.5], [0.9, 0.9, 1.0, 1.0]]),
             np.array([[0.1, 0.2, 0.3, 0.8]])]
    scores = [np.array([0.9, 0.8, 0.7]), np.array([0.6])]
    # ranked: a0 hit (TP), duplicate of a0 (FP), stray (FP), b0 hit (TP); 3 ground-truth boxes
    # precision 1, 1/2, 1/3, 1/2 at recall 1/3, 1/3, 1/3, 2/3 -> AP = 1/3 * 1 + 1/3 * 1/2
    res = frame_map(_detections(rows, boxes, scores), gt)
    assert res.map == pytest.approx(1 / 3 + 1 / 6)
    assert _recall(rows, boxes, 0.5) == pytest.approx(2 / 3)
    assert _recall(rows, [b[:0] for b in boxes], 0.5) == 0.0


# --- a tiny world: training, evaluation, box source, CLI ----------------------------------------

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("actors_p") / "w"
    cfg = WorldConfig(kind="actors", size=32, fps=8, sample_rate=8000, duration=2.0)
    make_world(root, cfg, clips={"train": 2, "val": 1, "test": 1}, seed=3, workers=1, progress=False)
    return root


def _recipe(world, out_dir, steps=2) -> dict:
    return {"task": {"name": "person_detection", "threshold": 0.05}, "model": {"name": "centernet_tiny"},
            "data": {"world": str(world), "size": 32, "fps": 8, "frame_step": 2},
            "train": {"steps": steps, "batch_size": 4, "num_workers": 0, "eval_every": steps, "log_every": 1,
                      "out_dir": str(out_dir)}}


def test_datasets_targets_and_overfit(world):
    cfg = config_from_dict(_recipe(world, world / "unused"))
    task = build_task(cfg)
    assert isinstance(task, PersonDetectionTask)
    ds = build_datasets(cfg)
    assert set(ds) == {"train", "val", "test"} and len(ds["train"]) == 2 * 8  # 16 frames per clip, every 2nd
    assert len(ds["test"]) == 3  # the frozen keyframes at 0.5, 1.0, 1.5 s
    s = ds["test"][0]
    assert s["image"].shape == (3, 32, 32) and s["heatmap"].shape == (1, 8, 8) and s["boxes"].shape == (8, 4)
    n = int(s["obj_mask"].sum())
    assert n >= 2 and (s["heatmap"].flatten()[s["ind"][:n]] == 1).all()
    batch = task.collate([ds["train"][i] for i in range(4)])
    torch.manual_seed(0)
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    first = None
    for _ in range(80):
        out = task(batch)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        first = first or float(out["loss"].detach())
        if float(out["loss"].detach()) < 0.5 * first:
            break
    assert float(out["loss"].detach()) < 0.5 * first, (first, float(out["loss"].detach()))
    sums = task.metric_sums(task(batch), batch)
    assert float(sums["tp"] + sums["fn"]) == float(batch["obj_mask"].sum())


@pytest.fixture(scope="module")
def person_run(world):
    from avlearn.train import fit

    out = world / "persons"
    results = fit(config_from_dict(_recipe(world, out, steps=3)))
    assert {"precision", "recall", "f1"} <= set(results["test"])
    assert (out / "config.yaml").is_file()
    return out


def test_training_smoke_and_person_ap(person_run):
    run = load_run(person_run)
    assert run.task_name == "person_detection" and (person_run / "weights.pt").is_file()
    res = evaluate_person_detector(run, "test")
    assert res["keyframes"] == 3 and res["actors"] >= 6
    for v in (res["ap50"], res["recall_at_threshold"], *res["baselines"].values()):
        assert 0.0 <= v <= 1.0


def test_detector_and_truth_box_sources(person_run, world):
    run = load_run(person_run)
    clip = next((world / "test" / "clips").glob("*.mp4"))
    boxes, scores = detector_boxes(run, clip, 1.0, threshold=0.0)
    assert 1 <= len(boxes) <= 16 and boxes.shape[1:] == (4,) and (boxes >= 0).all() and (boxes <= 1).all() and (np.diff(scores) <= 0).all()
    truth = json.loads((world / "test" / "truth" / (clip.stem + ".json")).read_text())
    expect = np.array([a["boxes"][8] for a in truth["actors"]]) / 32
    assert np.allclose(truth_boxes(clip, 1.0), expect)
    assert np.allclose(source_boxes("truth", str(clip), 1.0, fps=8, size=32), expect)
    with pytest.raises(ValueError, match="needs a person detector"):
        source_boxes("detector", str(clip), 1.0, fps=8, size=32)
    with pytest.raises(FileNotFoundError, match="no truth file"):
        truth_boxes(world / "world.json", 1.0)


@pytest.fixture(scope="module")
def action_run(world):
    recipe = {"task": {"name": "detection"}, "model": {"name": "ava_r3d_tiny"},
              "data": {"world": str(world), "clip_duration": 0.5, "fps": 8, "size": 32, "max_actors": 4},
              "train": {"steps": 1, "batch_size": 2, "num_workers": 0, "out_dir": str(world / "actions")}}
    run = world / "actions"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(recipe))
    torch.manual_seed(0)
    torch.save(build_task(config_from_dict(recipe)).export_module().state_dict(), run / "weights.pt")
    return run


def test_evaluate_detection_with_detector_boxes(action_run, person_run):
    run, box_run = load_run(action_run), load_run(person_run)
    res = evaluate_detection(run, "test", box_run=box_run, box_threshold=0.0)
    assert {"frame_map_gt_boxes", "frame_map_motion_boxes", "frame_map_detector_boxes"} <= set(res)
    assert 1 <= res["detector_boxes_per_keyframe"] <= 16 and 0 <= res["frame_map_detector_boxes"] <= 1
    only = evaluate_detection(run, "test", boxes=("detector",), box_run=box_run, box_threshold=0.0)
    assert only["frame_map_detector_boxes"] == res["frame_map_detector_boxes"] and "frame_map_gt_boxes" not in only
    with pytest.raises(ValueError, match="needs a person detector"):
        evaluate_detection(run, "test", boxes=("detector",))
    with pytest.raises(ValueError, match="not a person detector"):
        evaluate_detection(run, "test", box_run=run)


def test_detect_cli_with_a_detector_run(action_run, person_run, world, tmp_path):
    clip = next((world / "test" / "clips").glob("*.mp4"))
    res = detect_file(load_run(action_run), clip, box_run=load_run(person_run), box_threshold=0.0, max_actors=3)
    assert res["boxes"] == "detector" and all(1 <= len(k["actors"]) <= 3 for k in res["keyframes"])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "avlearn", "detect", str(clip), "--weights", str(action_run)]
    out = tmp_path / "boxes.mp4"
    p = subprocess.run(base + ["--box-weights", str(person_run), "--box-threshold", "0", "--max-actors", "2",
                               "--out", str(out), "--json"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    js = json.loads(p.stdout)
    assert js["boxes"] == "detector" and js["box_weights"] == str(person_run) and os.path.getsize(out) > 0
    assert len(js["keyframes"]) == 3 and all(1 <= len(k["actors"]) <= 2 for k in js["keyframes"])
    p = subprocess.run(base + ["--boxes", "truth", "--json"], capture_output=True, text=True, env=env)
    assert p.returncode == 0, p.stderr
    truth = json.loads((world / "test" / "truth" / (clip.stem + ".json")).read_text())
    assert [len(k["actors"]) for k in json.loads(p.stdout)["keyframes"]] == [len(truth["actors"])] * 3
    p = subprocess.run(base + ["--boxes", "detector"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "--box-weights" in p.stderr
    p = subprocess.run(base + ["--box-weights", str(action_run)], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "not a person detector" in p.stderr
