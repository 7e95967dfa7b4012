"""Streamed whole-file classification: the same outputs as decoding the whole file, never decoding it whole."""

import numpy as np
import pytest
import torch

from avlearn.io import write_av
from avlearn.tasks.preview.bundle import build_models, preview_models
from avlearn.tasks.preview.data import VideoWindows, grid_starts, uniform_starts
from avlearn.tasks.preview.evaluate import preview_predict
from avlearn.tasks.preview.inference import classify_file
from avlearn.tasks.preview.task import window_logits
from test_preview_budget import DATA, tiny_specs

CLASSES = ["bounce", "tap", "slide"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("classify_stream")
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 255, (56, 32, 32, 3), dtype=np.uint8)  # 7 s at 8 fps
    audio = (rng.standard_normal((1, 7 * 8000)) * 0.2).astype(np.float32)
    clip = write_av(d / "clip.mp4", frames, audio, fps=8, sample_rate=8000)
    torch.manual_seed(0)
    models = build_models(CLASSES, DATA, tiny_specs(len(CLASSES)))
    for m in models.models().values():
        m.eval()
    store = VideoWindows.from_files([clip], fps=DATA["fps"], size=DATA["size"], sample_rate=DATA["sample_rate"],
                                  window=DATA["window"], num_classes=3, mean=DATA["mean"], std=DATA["std"])
    return clip, models, store


def test_preview_and_segments_match_the_whole_file_store(setup):
    clip, models, store = setup
    w = DATA["window"]
    got = classify_file(models, clip, preview=True, segments=True, top_k=3, min_score=0.0, batch=3)
    with torch.no_grad():
        ref = preview_predict(models, store, 0)
    assert [m["start"] for m in got["moments"]] == pytest.approx(ref["chosen"])
    ref_probs = ref["probs"].topk(3)
    assert [t["label"] for t in got["top_k"]] == ref_probs.indices.tolist()
    assert [t["score"] for t in got["top_k"]] == pytest.approx(ref_probs.values.tolist(), abs=1e-4)
    # segments come from windows every hop: the student's probabilities on the same windows
    starts = grid_starts(store.records[0].duration, w, DATA["hop"])
    with torch.no_grad():
        wp = window_logits(models.student, store, 0, starts, w, inputs="pair").softmax(1)
    from avlearn.tasks.preview.temporal_localization import localize

    ref_segs = localize(wp, starts, window=w, hop=DATA["hop"], duration=got["duration"], num_actions=3)
    assert len(starts) == 13 and len(got["segments"]) == len(ref_segs) > 0
    for a, (s, e, c, sc) in zip(got["segments"], ref_segs):
        assert (a["start"], a["end"], a["label"]) == (pytest.approx(s), pytest.approx(e), c) and a["score"] == pytest.approx(sc, abs=1e-4)


def test_dense_matches_and_the_file_is_never_decoded_whole(setup, monkeypatch):
    clip, models, store = setup
    import avlearn.data.cache as dcache
    import avlearn.tasks.preview.data as pdata

    for module in (pdata, dcache):
        monkeypatch.setattr(module, "read_whole_video", lambda *a, **k: pytest.fail("the whole file was decoded"))
    got = classify_file(models, clip, clips=7, top_k=3, batch=2)  # starts 0..6 s: whole frames
    with torch.no_grad():
        logits = window_logits(models.teacher, store, 0, uniform_starts(store.records[0].duration, 1.0, 7), 1.0)
    p = logits.softmax(1)[:, :3].mean(0)
    p = p / p.sum()
    assert [t["score"] for t in got["top_k"]] == pytest.approx(p.sort(descending=True).values.tolist(), abs=1e-4)
    one = classify_file(models, clip, clips=1, top_k=1)
    assert one["mode"] == "dense" and len(one["top_k"]) == 1
    with pytest.raises(ValueError, match=">= 1"):
        classify_file(models, clip, clips=0)


def test_progress_bar_on_request(setup, capsys):
    clip, models, _ = setup
    classify_file(models, clip, clips=3, progress=True)
    assert "dense clips" in capsys.readouterr().err
    classify_file(models, clip, clips=3)  # a 7 s file: no bar by default
    assert "dense clips" not in capsys.readouterr().err


def test_classification_run_streams(tmp_path, monkeypatch):
    import yaml

    from avlearn.data import ManifestRow, save_manifest
    from avlearn.tasks.base import build_task
    from avlearn.tasks.classification import predict_file
    from avlearn.tasks.config import config_from_dict
    from avlearn.tasks.runs import load_run

    rng = np.random.default_rng(0)
    path = write_av(tmp_path / "c.mp4", rng.integers(0, 255, (40, 16, 16, 3), dtype=np.uint8),
                    (rng.standard_normal((1, 80000)) * 0.05).astype(np.float32), fps=8, sample_rate=16000)
    save_manifest([ManifestRow(path=str(path), label="a")], tmp_path / "m.jsonl")
    recipe = {"task": {"name": "classification", "topk": [1]}, "model": {"name": "r3d_tiny"},
              "data": {"train": str(tmp_path / "m.jsonl"), "labels": ["a", "b"], "clip_duration": 1.0, "fps": 8, "size": 16}}
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(recipe))
    torch.manual_seed(0)
    torch.save(build_task(config_from_dict(recipe)).export_module().state_dict(), tmp_path / "run" / "weights.pt")
    run = load_run(tmp_path / "run")
    import avlearn.io as avio

    whole = predict_file(run, path, clips=5, batch_size=2)
    assert whole["clips"] == pytest.approx([0.0, 1.0, 2.0, 3.0, 4.0])
    monkeypatch.setattr(avio, "read_clip", lambda *a, **k: pytest.fail("read_clip called: not streamed"))
    again = predict_file(run, path, clips=5, batch_size=5)
    assert again["probs"] == pytest.approx(whole["probs"], abs=1e-5)  # batching does not change the result
    many = predict_file(run, path, clips=64)  # more clips than frames: bounded by the file
    assert len(many["clips"]) == 64 and many["clips"][-1] == pytest.approx(4.0, abs=1e-3)
