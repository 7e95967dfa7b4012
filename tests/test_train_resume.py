"""Crash safety: a run killed with SIGKILL and resumed ends with the uninterrupted run's weights;
an interrupted checkpoint write never hides or damages the previous checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from avlearn.train import checkpoint as ckpt
from avlearn.train.log import read_metrics

from test_train_engine import assert_same_weights, weights_of

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "test_train_engine.py"
ENV = {
    **os.environ,
    "OMP_NUM_THREADS": "1",
    "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
}
STEPS = ["train.steps=16", "train.ckpt_every=4", "train.keep_ckpts=2"]


def _train(out: Path, *sets: str, resume: bool = False, wait: bool = True):
    cmd = [sys.executable, str(SCRIPT), str(out), *(["--resume"] if resume else []), "--set", *STEPS, *sets]
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if wait:
        out_text, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, out_text
    return proc


def _last_logged_step(out: Path) -> int:
    path = out / "metrics.jsonl"
    if not path.exists():
        return 0
    steps = [json.loads(line)["step"] for line in path.read_text().splitlines() if line.endswith("}")]
    return max(steps, default=0)


def test_sigkill_then_resume_gives_identical_weights(tmp_path):
    # checkpoints at steps 4, 8, ...; killed after step 6 (mid-way), so the resumed run restarts
    # mid-epoch (6 batches per epoch) from step 4 and crosses an epoch boundary
    out = tmp_path / "run"
    ref = _train(tmp_path / "reference", wait=False)  # uninterrupted, same seed, run alongside
    proc = _train(out, "task.sleep=0.1", wait=False)  # ~0.1 s per step: room to kill mid-way
    deadline = time.time() + 90
    while _last_logged_step(out) < 6:
        assert proc.poll() is None, proc.stdout.read()
        assert time.time() < deadline, "training subprocess made no progress"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    saved = [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")]
    assert saved and max(saved) < 16 and not (out / "weights.pt").exists(), saved
    _train(out, "task.sleep=0.1", resume=True)  # the same recipe: a different one is refused
    ref_log, _ = ref.communicate(timeout=120)
    assert ref.returncode == 0, ref_log
    assert_same_weights(weights_of(tmp_path / "reference"), weights_of(out))  # bit for bit
    train_steps = [r["step"] for r in read_metrics(out / "metrics.jsonl", "train")]
    assert train_steps == list(range(1, 17))  # one consistent log: the killed run's extra lines dropped


def _state(step: int) -> dict:
    return {"format": ckpt.FORMAT, "version": 1, "step": step, "model": {"w": torch.full((3,), float(step))}}


def test_failed_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    d = tmp_path / "checkpoints"
    ckpt.atomic_save(_state(4), ckpt.checkpoint_path(d, 4))

    def crash(src, dst):
        raise OSError("simulated crash between the temp write and the rename")

    monkeypatch.setattr(ckpt.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        ckpt.atomic_save(_state(8), ckpt.checkpoint_path(d, 8))
    monkeypatch.undo()
    assert sorted(os.listdir(d)) == ["step_0000004.pt"]  # the temp file was cleaned up
    path, state = ckpt.latest_checkpoint(d)
    assert path.endswith("step_0000004.pt") and state["step"] == 4


def test_sigkill_between_write_and_rename_leaves_previous_loadable(tmp_path):
    d = tmp_path / "checkpoints"
    script = textwrap.dedent(f"""
        import os, signal, torch
        from avlearn.train import checkpoint as ckpt
        state = lambda s: {{"format": ckpt.FORMAT, "version": 1, "step": s, "model": {{"w": torch.zeros(1000)}}}}
        ckpt.atomic_save(state(4), ckpt.checkpoint_path({str(d)!r}, 4))
        os.replace = lambda a, b: os.kill(os.getpid(), signal.SIGKILL)  # die just before the rename
        ckpt.atomic_save(state(8), ckpt.checkpoint_path({str(d)!r}, 8))
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftovers = sorted(os.listdir(d))
    assert leftovers[0].startswith(".step_0000008.pt.") and leftovers[0].endswith(".tmp")  # complete but unnamed
    assert leftovers[1:] == ["step_0000004.pt"]
    _, state = ckpt.latest_checkpoint(d)
    assert state["step"] == 4


def test_corrupt_final_checkpoint_falls_back(tmp_path, caplog):
    d = tmp_path / "checkpoints"
    ckpt.atomic_save(_state(4), ckpt.checkpoint_path(d, 4))
    ckpt.atomic_save(_state(8), ckpt.checkpoint_path(d, 8))
    data = Path(ckpt.checkpoint_path(d, 8)).read_bytes()
    Path(ckpt.checkpoint_path(d, 8)).write_bytes(data[: len(data) // 2])  # a disk that lost data
    (d / ".step_0000012.pt.x1y2.tmp").write_bytes(b"half-written")
    _, state = ckpt.latest_checkpoint(d)
    assert state["step"] == 4
    assert "step_0000008.pt: unreadable checkpoint" in caplog.text
    with pytest.raises(ckpt.CheckpointError, match="not an avlearn training checkpoint"):
        torch.save({"w": torch.zeros(1)}, d / "plain.pt")
        ckpt.load_checkpoint(d / "plain.pt")
