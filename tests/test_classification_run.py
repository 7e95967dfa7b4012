"""A trained classification run through load_run: evaluation per class and whole-file labels."""

import numpy as np
import pytest
import torch
import yaml

from avlearn.data import ManifestRow, save_manifest
from avlearn.io import write_av
from avlearn.tasks.base import build_task
from avlearn.tasks.classification import evaluate_classification, predict_file
from avlearn.tasks.config import config_from_dict
from avlearn.tasks.runs import load_run

NAMES = ["dark", "bright"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cls_run")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(4):
        level = 40 if i % 2 == 0 else 220
        video = np.clip(rng.normal(level, 10, size=(16, 16, 16, 3)), 0, 255).astype(np.uint8)  # 2 s at 8 fps
        audio = (rng.standard_normal((1, 32000)) * 0.05).astype(np.float32)
        path = write_av(d / f"c{i}.mp4", video, audio, fps=8, sample_rate=16000)
        rows.append(ManifestRow(path=str(path), label=NAMES[i % 2]))
    save_manifest(rows, d / "train.jsonl")
    save_manifest(rows, d / "test.jsonl")
    recipe = {"task": {"name": "classification", "topk": [1]}, "model": {"name": "r3d_tiny"},
              "data": {"train": str(d / "train.jsonl"), "test": str(d / "test.jsonl"), "labels": NAMES,
                       "clip_duration": 1.0, "fps": 8, "size": 16}}
    run = d / "run"
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump(recipe))
    torch.manual_seed(0)
    torch.save(build_task(config_from_dict(recipe)).export_module().state_dict(), run / "weights.pt")
    return d


def test_evaluate_classification_per_class(run_dir):
    run = load_run(run_dir / "run")
    res = evaluate_classification(run, "test", batch_size=3)
    assert res["samples"] == 4 and 0 <= res["top1"] <= 1
    assert set(res["per_class"]) == set(NAMES) and np.array(res["confusion"]).sum() == 4
    assert res["balanced_acc"] == pytest.approx(np.mean(list(res["per_class"].values())))
    with pytest.raises(KeyError, match="no 'val' split"):
        evaluate_classification(run, "val")


def test_predict_file_averages_clips(run_dir):
    run = load_run(run_dir / "run")
    res = predict_file(run, run_dir / "c1.mp4", clips=3, top_k=5)
    assert len(res["clips"]) == 3 and res["clips"][0] == 0.0 and res["clips"][-1] == pytest.approx(1.0, abs=0.2)
    assert sum(res["probs"]) == pytest.approx(1.0, abs=1e-5) and len(res["top_k"]) == 2
    assert res["top_k"][0]["name"] in NAMES and res["top_k"][0]["score"] >= res["top_k"][1]["score"]
    # the same clips through the evaluation transform by hand give the same probabilities
    from avlearn.io import read_clip
    from avlearn.tasks.classification.data import eval_transform

    d = run.config.data
    probs = [run.task.predict(eval_transform(d, "video")({"video": read_clip(run_dir / "c1.mp4", s, 1.0, fps=8, size=(16, 16),
                                                                                   audio=False).video})["video"][None])[0]
             for s in res["clips"]]
    assert torch.allclose(torch.stack(probs).mean(0), torch.tensor(res["probs"]), atol=1e-5)


def test_wrong_run_kind(run_dir, tmp_path):
    from avlearn.models import create_model

    torch.save(create_model("multisensory_small").state_dict(), tmp_path / "w.pt")
    run = load_run(tmp_path / "w.pt", model="multisensory_small")
    with pytest.raises(ValueError, match="not a clip classifier"):
        predict_file(run, run_dir / "c1.mp4")
