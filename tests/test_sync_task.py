"""Sync losses on hand-made logits, the collapse monitor, the task's pairs and metrics."""

import logging
import math
import os

import pytest
import torch

from avlearn.models import create_model
from avlearn.tasks.sync import (
    PredictionBalanceMonitor,
    SyncCollapseError,
    SyncConfig,
    SyncTask,
    contrastive_loss,
    sync_bce_loss,
)


def test_bce_on_hand_made_logits():
    logits = torch.tensor([2.0, -1.0, 0.0])
    labels = torch.tensor([1.0, 0.0, 1.0])
    expected = (math.log1p(math.exp(-2.0)) + math.log1p(math.exp(-1.0)) + math.log(2.0)) / 3
    assert float(sync_bce_loss(logits, labels)) == pytest.approx(expected, rel=1e-6)


def test_contrastive_loss_hand_made():
    d = torch.tensor([0.5, 0.2, 1.5])
    y = torch.tensor([1.0, 0.0, 0.0])
    # positive: 0.25; negative inside the margin: (1 - 0.2)^2 = 0.64; beyond the margin: 0
    assert float(contrastive_loss(d, y, margin=1.0)) == pytest.approx((0.25 + 0.64 + 0.0) / 3)


def test_monitor_flags_constant_predictions_and_not_balanced_ones(caplog):
    m = PredictionBalanceMonitor(window=5, threshold=0.05, patience=10)
    for _ in range(30):
        out = m.update(0.5)
    assert not m.collapsed and out["collapsed"] == 0.0
    with caplog.at_level(logging.WARNING):
        for _ in range(30):
            out = m.update(1.0)  # everything predicted aligned
    assert m.collapsed and out["collapsed"] == 1.0
    assert "collapsed" in caplog.text
    for _ in range(30):
        m.update(0.5)
    assert not m.collapsed  # recovers
    strict = PredictionBalanceMonitor(window=2, patience=3, action="raise")
    with pytest.raises(SyncCollapseError):
        for _ in range(10):
            strict.update(0.0)


def _batch(b=4, frames=8, size=32, n=8000):
    g = torch.Generator().manual_seed(0)
    return {
        "video": torch.rand(b, 3, frames, size, size, generator=g),
        "audio": torch.randn(b, 1, n, generator=g) * 0.1,
        "audio_shifted": torch.randn(b, 1, n, generator=g) * 0.1,
    }


def test_multisensory_pairs_are_balanced_and_hard():
    task = SyncTask(create_model("multisensory_small"), SyncConfig(objective="multisensory"))
    batch = _batch()
    video, audio, labels, hard = task.make_pairs(batch)
    assert video.shape[0] == 8 and labels.tolist() == [1] * 4 + [0] * 4
    assert torch.equal(audio[4:], batch["audio_shifted"]) and hard[4:].all() and not hard[:4].any()
    out = task(batch)
    out["loss"].backward()
    sums = task.metric_sums(out, batch)
    metrics = task.summarize(sums)
    assert metrics["chance"] == 0.5 and 0 <= metrics["accuracy"] <= 1
    assert int(task.steps) == 1


def test_avts_curriculum_easy_then_hard():
    cfg = SyncConfig(objective="avts", curriculum_steps=2, hard_fraction=1.0)
    task = SyncTask(create_model("avts_small"), cfg)
    batch = _batch()
    _, audio, _, hard = task.make_pairs(batch)
    assert not hard.any() and torch.equal(audio[4:], batch["audio"].roll(1, dims=0))  # easy: other videos
    task(batch)
    task(batch)
    _, audio, _, hard = task.make_pairs(batch)
    assert hard[4:].all() and torch.equal(audio[4:], batch["audio_shifted"])
    out = task(batch)
    assert torch.isfinite(out["loss"]) and out["logits"].shape == (8,)


def test_l3_uses_other_videos_and_frozen_pairs_scored_as_given():
    task = SyncTask(create_model("avts_small"), SyncConfig(objective="l3"))
    batch = _batch()
    _, audio, _, hard = task.make_pairs(batch)
    assert not hard.any() and torch.equal(audio[4:], batch["audio"].roll(1, dims=0))
    task.eval()
    frozen = {"video": batch["video"], "audio": batch["audio"], "label": torch.tensor([1, 0, 0, 1])}
    out = task(frozen)
    assert out["logits"].shape == (4,) and out["labels"].tolist() == [1, 0, 0, 1]
    m = task.summarize(task.metric_sums(out, frozen))
    assert m["chance"] == 0.5 and set(m) >= {"accuracy", "acc_aligned", "acc_shifted"}


def test_recipe_and_demo_jitter_positives_and_start_with_easy_negatives(tmp_path):
    """The shipped settings (issue 6): jittered positives (no sub-frame phase cue) and a curriculum."""
    from avlearn.demo.runner import DemoContext, common_overrides, stage_config
    from avlearn.demo.sync import OVERRIDES, RECIPE
    from avlearn.tasks.sync import SyncData
    from avlearn.train.config import load_config

    assert SyncData().jitter == 0.5
    recipe = load_config(os.path.join(os.path.dirname(__file__), "..", "avlearn", "recipes", "sync_multisensory.yaml"))
    ctx = DemoContext(tmp_path)
    demo = stage_config(RECIPE, {"data.world": str(tmp_path), **common_overrides(ctx, tmp_path / "run"), **OVERRIDES})
    for cfg in (recipe, demo):
        assert cfg.data.jitter == 0.5 and 0 < cfg.task.curriculum_steps < cfg.train.steps
        assert cfg.task.hard_fraction == 1.0 and cfg.data.min_shift >= cfg.data.jitter / cfg.data.fps
