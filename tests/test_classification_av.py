"""Classification with audio-visual inputs (``task.input: av``) and accuracy per carrier."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml

from avlearn.data import ManifestRow, save_manifest
from avlearn.io import write_av
from avlearn.tasks.base import build_datasets, build_task
from avlearn.tasks.classification import carrier_accuracy, evaluate_carriers, predict_file
from avlearn.tasks.config import config_from_dict
from avlearn.tasks.runs import load_run

NAMES = ["quiet_dark", "loud_bright"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("av_run")
    rng = np.random.default_rng(0)
    rows, lines = [], []
    for i in range(4):
        k = i % 2
        video = np.clip(rng.normal(40 + 180 * k, 10, size=(16, 32, 32, 3)), 0, 255).astype(np.uint8)  # 2 s at 8 fps
        audio = (rng.standard_normal((1, 32000)) * (0.01 + 0.2 * k)).astype(np.float32)
        path = write_av(d / "clips" / f"c{i}.mp4", video, audio, fps=8, sample_rate=16000)
        rows.append(ManifestRow(path=str(path), label=NAMES[k]))
        lines.append({"id": f"c{i}", "clip": f"clips/c{i}.mp4", "label": k, "carrier": ["both", "audio"][i // 2]})
    save_manifest(rows, d / "train.jsonl")
    (d / "lists").mkdir()
    (d / "lists" / "classify_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    recipe = {"task": {"name": "classification", "input": "av", "topk": [1]},
              "model": {"name": "tbn_tiny", "kwargs": {"modalities": ["video", "audio"]}},
              "data": {"train": str(d / "train.jsonl"), "labels": NAMES, "clip_duration": 1.0, "fps": 8, "size": 32,
                       "sample_rate": 16000, "eval_clips": 2}}
    run = d / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(recipe))
    torch.manual_seed(0)
    task = build_task(config_from_dict(recipe))
    torch.save(task.export_module().state_dict(), run / "weights.pt")
    return d, recipe


def test_av_batches_feed_both_streams_and_train(run_dir):
    _, recipe = run_dir
    cfg = config_from_dict(recipe)
    task = build_task(cfg)
    ds = build_datasets(cfg)["train"]
    s = ds[0]
    assert s["video"].shape == (3, 8, 32, 32) and s["audio"].shape == (1, 16000)
    batch = task.collate([ds[i] for i in range(4)])
    x = task.model_input(batch)
    assert set(x) == {"video", "audio"}
    out = task(batch)
    out["loss"].backward()
    tower_grads = {n.split(".")[2] for n, p in task.model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert out["logits"].shape == (4, 2) and {"audio_net", "image_net"} <= tower_grads  # both towers of the fused network learn


def test_single_modality_variant_ignores_the_other_stream(run_dir):
    _, recipe = run_dir
    cfg = config_from_dict({**recipe, "model": {"name": "tbn_tiny", "kwargs": {"modalities": ["audio"]}}})
    task = build_task(cfg).eval()
    batch = task.collate([build_datasets(cfg)["train"][i] for i in range(2)])
    a = task(batch)["logits"]
    b = task({**batch, "video": torch.randn_like(batch["video"])})["logits"]
    assert torch.allclose(a, b)


def test_carrier_accuracy_by_hand_and_on_a_frozen_list(run_dir):
    rows = [{"label": 0, "carrier": "both"}, {"label": 1, "carrier": "both"}, {"label": 1, "carrier": "sync"}]
    res = carrier_accuracy(rows, [0, 0, 1])
    assert res["top1"] == pytest.approx(2 / 3) and res["per_carrier"] == {"both": 0.5, "sync": 1.0}
    assert res["carrier_clips"] == {"both": 2, "sync": 1}
    with pytest.raises(ValueError):
        carrier_accuracy(rows, [0])
    d, _ = run_dir
    run = load_run(d / "run")
    res = evaluate_carriers(run, list_path=d / "lists" / "classify_test.jsonl")
    preds = [predict_file(run, d / "clips" / f"c{i}.mp4", clips=2)["top_k"][0]["label"] for i in range(4)]
    assert res == carrier_accuracy([{"label": i % 2, "carrier": ["both", "audio"][i // 2]} for i in range(4)], preds)
    with pytest.raises(ValueError, match="no data.world"):
        evaluate_carriers(run)
