"""Issue case 5 under 2-rank gloo DDP (launched by torchrun): final_metrics.json describes the
exported weights (BatchNorm buffers synchronised, the whole split evaluated), and a stuck rank
ends the job after ``train.dist_timeout`` with a message instead of hanging."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from avlearn.train.config import apply_overrides, config_from_dict, parse_overrides, to_dict
from avlearn.train.trainer import Trainer, evaluate

from test_train_engine import toy_config

HERE = Path(__file__).resolve().parent
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
}
# 20 val / 20 test samples with an eval batch of 8 per process: sharding would split batches
SETS = ["task.bn=true", "task.dropout=0.0", "train.steps=6", "train.ckpt_every=3", "train.final_eval=[val,test]"]


def _torchrun(out: Path, *sets: str, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(HERE / "test_train_engine.py"), str(out), "--set", *sets]  # fmt: skip
    return subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=timeout)


def _config(out: Path, *sets: str):
    raw = apply_overrides(to_dict(toy_config(out)), parse_overrides(list(sets)))
    return config_from_dict(raw, source="ddp test")


def test_case5_final_metrics_equal_a_one_process_evaluation_of_weights(tmp_path):
    out = tmp_path / "ddp"
    proc = _torchrun(out, *SETS)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    final = json.loads((out / "final_metrics.json").read_text())
    cfg = _config(tmp_path / "eval", *SETS)
    for split in ("val", "test"):
        again = evaluate(cfg, out / "weights.pt", split=split)
        assert final[split]["samples"] == again["samples"] == 20
        assert final[split]["loss"] == again["loss"] and final[split]["acc"] == again["acc"], (split, final, again)
    # the buffers were trained on each rank's half of the batch; what was saved is rank 0's,
    # and the exported file has the running statistics a BatchNorm layer keeps
    weights = torch.load(out / "weights.pt", weights_only=True)
    assert any(k.endswith("running_mean") for k in weights)


def test_case5_sync_batchnorm_needs_cuda(tmp_path):
    proc = _torchrun(tmp_path / "sbn", *SETS, "train.sync_batchnorm=true", timeout=120)
    assert proc.returncode != 0 and "SyncBatchNorm runs on CUDA devices only" in proc.stdout + proc.stderr
    assert Trainer(_config(tmp_path / "one", "train.sync_batchnorm=true")).cfg.train.sync_batchnorm  # 1 process: no-op


def test_case5_stuck_rank_ends_the_job_after_dist_timeout(tmp_path):
    t0 = time.monotonic()
    proc = _torchrun(tmp_path / "hang", "task.hang=300", "train.dist_timeout=5", "train.steps=6", timeout=200)
    elapsed = time.monotonic() - t0
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0, text[-3000:]
    assert "did not answer within train.dist_timeout=5 s" in text, text[-3000:]
    assert elapsed < 150, elapsed
    assert not (tmp_path / "hang" / "weights.pt").exists()


@pytest.mark.parametrize("value", ["0", "-1", ".inf"])
def test_dist_timeout_must_be_positive_and_finite(tmp_path, value):
    from avlearn.train.config import ConfigError

    with pytest.raises(ConfigError, match="train.dist_timeout must be a positive number"):
        _config(tmp_path, f"train.dist_timeout={value}")
