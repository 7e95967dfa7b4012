"""Two-process DDP on CPU (gloo, launched by torchrun) matches single-process training on the
same global batch: the gradients after one step, and the weights and metrics after a short run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from avlearn.train.checkpoint import latest_checkpoint
from avlearn.train.config import apply_overrides, config_from_dict, parse_overrides, to_dict
from avlearn.train.log import read_metrics
from avlearn.train.trainer import Trainer, fit

from test_train_engine import _dump_first_grads, assert_same_weights, toy_config, weights_of

HERE = Path(__file__).resolve().parent
SETS = ["task.dropout=0.0", "train.steps=6", "train.ckpt_every=3", "train.eval_every=3", "train.final_eval=[val]"]


def _config(out: Path):
    raw = apply_overrides(to_dict(toy_config(out)), parse_overrides(SETS))
    return config_from_dict(raw, source="ddp test")


def test_two_process_ddp_matches_single_process(tmp_path):
    ddp_out = tmp_path / "ddp"
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(HERE / "test_train_engine.py"),
        str(ddp_out),
        "--grads",
        str(tmp_path / "grads"),
        "--set",
        *SETS,
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    # gradients after one step on the first global batch (each rank loaded half of it)
    single = Trainer(_config(tmp_path / "single_grads"))
    _dump_first_grads(single, str(tmp_path / "single"))
    ref = torch.load(tmp_path / "single.0.pt", weights_only=True)
    for rank in (0, 1):
        assert_same_weights(ref, torch.load(tmp_path / f"grads.{rank}.pt", weights_only=True), atol=1e-6)

    # a whole short run: weights, metrics, and only rank 0 writing
    res = fit(_config(tmp_path / "single"))
    assert_same_weights(weights_of(tmp_path / "single"), weights_of(ddp_out), atol=1e-5)
    ddp_val = [r for r in read_metrics(ddp_out / "metrics.jsonl", "val")]
    assert [r["step"] for r in ddp_val] == [3, 6] and ddp_val[-1]["samples"] == 20  # every val sample once
    assert abs(ddp_val[-1]["acc"] - res["val"]["acc"]) < 1e-9
    _, state = latest_checkpoint(ddp_out / "checkpoints")
    assert state["world_size"] == 2 and len(state["rng"]) == 2 and state["step"] == 6
    assert sorted(p.name for p in ddp_out.iterdir()) == sorted(p.name for p in (tmp_path / "single").iterdir())
