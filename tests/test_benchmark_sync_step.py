"""benchmarks/sync_step.py: it times the demo sync stage's own config, with only the step count,
logging and output folder changed (no timing here)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import sync_step  # noqa: E402

from avlearn.demo.sync import OVERRIDES, RECIPE  # noqa: E402
from avlearn.demo.runner import stage_config  # noqa: E402


def test_config_is_the_demo_stage_with_the_steps_changed(tmp_path):
    cfg = sync_step.stage_config(str(tmp_path / "world"), str(tmp_path / "out"), 7)
    demo = stage_config(RECIPE, {"data.world": str(tmp_path / "world"), **OVERRIDES})
    assert (cfg.train.steps, cfg.train.final_eval, cfg.train.log_every, cfg.train.out_dir) == (7, [], 10, str(tmp_path / "out"))
    for section in ("task", "model", "data", "optim", "schedule"):
        assert getattr(cfg, section) == getattr(demo, section)
    for key in ("batch_size", "precision", "num_workers", "clip_grad", "seed"):
        assert getattr(cfg.train, key) == getattr(demo.train, key)
