"""Honest sync: a calibrated confidence threshold; out-of-domain noise is not marked reliable."""

import json

import numpy as np
import pytest
import torch
import yaml

from avlearn import load_run
from avlearn.cli import main
from avlearn.io import AVClip, write_av
from avlearn.tasks.sync.inference import sync_file
from avlearn.tasks.sync.reliability import (
    DEFAULT_THRESHOLD,
    calibrate_reliability,
    judge,
    load_reliability,
    pick_threshold,
)
from test_sync_offset import FlashClickScorer, flash_click_clip
from test_sync_training import FPS, SIZE, SR, flash_click, train_flash_click

OFFSETS = (0.0, 0.25, -0.375, 0.5, -0.125, 0.1875)


def test_pick_threshold_is_the_smallest_reaching_the_precision():
    conf = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    ok = [0, 1, 0, 1, 1, 1, 1, 1, 1, 1]
    t, p, cov = pick_threshold(conf, ok, precision=0.95)
    assert t == 0.4 and p == 1.0 and cov == pytest.approx(0.7)
    t, p, cov = pick_threshold(conf, ok, precision=0.85)  # 0.1 keeps 8 of 10 right: too few
    assert t == 0.2 and p == pytest.approx(8 / 9)
    edge = [False] * 9 + [True]  # an edge estimate is never counted reliable
    assert pick_threshold(conf, ok, edge, precision=0.95)[0] == 0.4
    assert pick_threshold(conf, [0] * 10)[0] is None  # nothing reaches it: nothing reliable


def test_confidence_separates_in_domain_from_noise():
    scorer = FlashClickScorer()
    good = sync_file(scorer, flash_click_clip(0.3125), 1.0, window=1.0, hop=0.25)
    rng = np.random.default_rng(0)
    noise = AVClip(video=torch.from_numpy(rng.integers(0, 255, (64, 8, 8, 3), dtype=np.uint8)),
                   audio=torch.from_numpy(rng.standard_normal((1, 32000)).astype(np.float32)), fps=FPS, sample_rate=8000,
                   start=0.0, duration=4.0)
    bad = sync_file(scorer, noise, 1.0, window=1.0, hop=0.25)
    assert good.agreement > 0.75 and good.margin > 2 and not good.at_edge
    assert bad.agreement < 0.5 and bad.confidence < good.confidence / 5
    cal = {"threshold": DEFAULT_THRESHOLD}
    assert judge(good, cal).reliable is True and judge(bad, cal).reliable is False
    assert judge(good, {"threshold": None}).reliable is False  # an unreachable calibration marks nothing


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A multisensory_small net trained 60 steps on flash/click clips, saved as a run; a val list."""
    d = tmp_path_factory.mktemp("sync_reliable")
    task = train_flash_click(60, clips=16, max_shift=0.75)
    run = d / "run"
    run.mkdir()
    torch.save(task.model.state_dict(), run / "weights.pt")
    (run / "config.yaml").write_text(yaml.safe_dump({
        "task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
        "data": {"fps": FPS, "size": [SIZE, SIZE], "sample_rate": SR, "clip_duration": 0.5}}))
    (d / "lists").mkdir()
    rows = []
    for i, off in enumerate(OFFSETS):
        video, audio = flash_click(200 + i, seconds=3.0)
        write_av(d / f"v{i}.mp4", video.permute(1, 2, 3, 0).numpy(), audio.numpy(), fps=FPS, sample_rate=SR)
        rows.append({"clip": f"v{i}.mp4", "start": 0.0, "offset": off})
    (d / "lists" / "sync_val.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    rng = np.random.default_rng(5)
    noise = write_av(d / "noise.mp4", rng.integers(0, 255, (48, SIZE, SIZE, 3), dtype=np.uint8),
                     (rng.standard_normal((1, 3 * SR)) * 0.3).astype(np.float32), fps=FPS, sample_rate=SR)
    return run, d / "lists" / "sync_val.jsonl", noise


def test_calibration_is_written_read_back_and_flags_noise(tiny_run):
    run_dir, val, noise = tiny_run
    run = load_run(run_dir)
    assert load_reliability(run) == {"threshold": DEFAULT_THRESHOLD, "calibrated": False}
    cal = calibrate_reliability(run, val, max_offset=0.75)
    stored = json.loads((run_dir / "reliability.json").read_text())
    assert stored["threshold"] == cal["threshold"] and stored["count"] == len(OFFSETS)
    back = load_reliability(load_run(run_dir))
    assert back["calibrated"] is True and back["threshold"] == cal["threshold"]
    if cal["threshold"] is not None:
        assert cal["precision"] >= 0.95 and 0 < cal["coverage"] <= 1
    res = judge(sync_file(run.network, noise, 0.75, window=0.5, fps=FPS, size=(SIZE, SIZE), sample_rate=SR), back)
    assert res.reliable is False  # random noise: out of the network's domain


def test_cli_json_reports_reliable_and_calibrates(tiny_run, capsys, tmp_path):
    run_dir, val, noise = tiny_run
    weights = str(run_dir / "weights.pt")
    assert main(["sync", "--calibrate", str(val), "--weights", weights, "--max-offset", "0.75", "--json"]) == 0
    cal = json.loads(capsys.readouterr().out)
    assert cal["count"] == len(OFFSETS) and (run_dir / "reliability.json").is_file()
    assert main(["sync", noise, "--weights", weights, "--max-offset", "0.75", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["reliable"] is False and res["calibrated"] is True and {"offset", "confidence", "windows"} <= set(res)
    assert main(["sync", noise, "--weights", weights, "--max-offset", "0.75"]) == 0
    assert "NOT RELIABLE" in capsys.readouterr().out
    bad = tmp_path / "r"
    bad.mkdir()
    (bad / "weights.pt").write_bytes((run_dir / "weights.pt").read_bytes())
    (bad / "config.yaml").write_text((run_dir / "config.yaml").read_text())
    (bad / "reliability.json").write_text("{not json")
    assert main(["sync", noise, "--weights", str(bad / "weights.pt")]) == 2
    assert "reliability.json" in capsys.readouterr().err
