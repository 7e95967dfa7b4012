"""Issue cases 1, 2 and 4: run folders that cannot be confused, pruning that never deletes the
good checkpoints, and runs that fail loudly instead of exporting untrained weights."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from avlearn.cli import main
from avlearn.errors import TrainingError
from avlearn.train import checkpoint as ckpt
from avlearn.train.runfolder import RunFolderError, read_run_fingerprint, recipe_fingerprint
from avlearn.train.trainer import fit

from test_cli import _toy_recipe
from test_train_engine import toy_config, weights_of


def _train(recipe: str, out, *sets: str, flags=()) -> int:
    args = ["train", recipe, "--out", str(out)]
    for s in sets:
        args += ["--set", s]
    return main([*args, *flags])


def _steps(out) -> list[int]:
    return [s for s, _ in ckpt.list_checkpoints(out / "checkpoints")]


def test_case1_train_into_another_runs_folder_is_refused(tmp_path, capsys):
    recipe = _toy_recipe(tmp_path)
    run_a, run_g = tmp_path / "runA", tmp_path / "runG"
    assert _train(recipe, run_a, "train.steps=8", "train.ckpt_every=4") == 0
    shutil.copytree(run_a, run_g)  # cp -a runA runG
    before = {p.name: p.read_bytes() for p in run_g.iterdir() if p.is_file()}
    capsys.readouterr()

    # a fresh run into the copy: refused in one line naming both ways out; nothing touched
    assert _train(recipe, run_g, "train.steps=4", "train.ckpt_every=2") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--resume" in err[0] and "--overwrite" in err[0] and "already holds" in err[0]
    assert {p.name: p.read_bytes() for p in run_g.iterdir() if p.is_file()} == before and _steps(run_g) == [4, 8]

    # --resume with a shorter run than the checkpoint: refused, weights.pt and final_metrics.json kept
    assert _train(recipe, run_g, "train.steps=4", "train.ckpt_every=2", flags=["--resume"]) == 2
    assert "step 8, past train.steps=4" in capsys.readouterr().err
    # --resume with a recipe that differs in a significant key: refused, the key named
    assert _train(recipe, run_g, "train.steps=8", "optim.lr=0.5", flags=["--resume"]) == 2
    err = capsys.readouterr().err
    assert "different recipe: optim.lr: 0.03 -> 0.5" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run_g.iterdir() if p.is_file()} == before

    # run-length / logging fields may change on resume (the run is extended to 12 steps)
    assert _train(recipe, run_g, "train.steps=12", "train.ckpt_every=4", "train.log_every=3", flags=["--resume"]) == 0
    assert _steps(run_g) == [4, 8, 12]

    # --overwrite removes the old run's own files only
    (run_g / "notes.txt").write_text("mine")
    (run_g / "checkpoints" / "keep.me").write_text("mine too")
    assert _train(recipe, run_g, "train.steps=4", "train.ckpt_every=2", "optim.lr=0.05", flags=["--overwrite"]) == 0
    assert _steps(run_g) == [2, 4] and (run_g / "notes.txt").read_text() == "mine"
    assert (run_g / "checkpoints" / "keep.me").exists()
    fp, raw = read_run_fingerprint(run_g)
    assert raw["optim"]["lr"] == 0.05 and fp == recipe_fingerprint(raw)
    state = ckpt.load_checkpoint(ckpt.checkpoint_path(run_g / "checkpoints", 4))
    assert state["fingerprint"] == fp
    assert json.loads((run_g / "final_metrics.json").read_text())["step"] == 4


def test_case1_library_never_mixes_two_runs(tmp_path):
    fit(toy_config(tmp_path / "r", steps=8, keep_ckpts=5))
    fit(toy_config(tmp_path / "r", steps=4, keep_ckpts=5))  # the old run's files go first, not mixed in
    assert _steps(tmp_path / "r") == [4]
    other = toy_config(tmp_path / "r", steps=4)
    other.optim.lr = 0.5
    with pytest.raises(RunFolderError, match=r"another run \(optim\.lr: 0\.03 -> 0\.5\)"):
        fit(other, existing="same-recipe")
    fit(toy_config(tmp_path / "r", steps=8), existing="same-recipe")  # its own recipe: replaced
    assert _steps(tmp_path / "r") == [4, 8]
    with pytest.raises(RunFolderError, match="already holds a run of the same recipe"):
        fit(toy_config(tmp_path / "r", steps=4), existing="refuse")


def test_case2_junk_checkpoints_never_count_and_good_ones_survive(tmp_path, caplog):
    out = tmp_path / "run"
    fit(toy_config(out, steps=8, ckpt_every=4, keep_ckpts=2))
    d = out / "checkpoints"
    for step in (20, 30, 40):  # three junk step files newer than the real ones
        (d / f"step_{step:07d}.pt").write_bytes(b"not a checkpoint" * step)
    for name in (".step_0000012.pt.ab12.tmp", ".step_0000016.pt.cd34.tmp"):  # interrupted writes
        (d / name).write_bytes(b"half")
    fit(toy_config(out, steps=12, ckpt_every=4, keep_ckpts=2), resume=True)
    assert "step_0000040.pt: unreadable checkpoint" in caplog.text
    assert _steps(out) == [8, 12, 20, 30, 40]  # 4 pruned; 8 and 12 kept; the junk is not this run's
    assert not list(d.glob("*.tmp"))
    path, state = ckpt.latest_checkpoint(d)
    assert state["step"] == 12 and path.endswith("step_0000012.pt")
    w12 = weights_of(out)
    fit(toy_config(out, steps=12, ckpt_every=4, keep_ckpts=2), resume=True)  # nothing left to train
    assert all(torch.equal(w12[k], v) for k, v in weights_of(out).items())


def test_case2_prune_deletes_nothing_when_the_newest_is_unreadable(tmp_path):
    d = tmp_path / "checkpoints"
    for step in (1, 2, 3):
        ckpt.atomic_save({"format": ckpt.FORMAT, "step": step}, ckpt.checkpoint_path(d, step))
    newest = ckpt.checkpoint_path(d, 4)
    with open(newest, "wb") as f:
        f.write(b"\0" * 100)
    with pytest.raises(ckpt.CheckpointError, match="step_0000004.pt: unreadable"):
        ckpt.prune_checkpoints(d, 1, newest=newest)
    assert _steps(tmp_path) == [1, 2, 3, 4]
    assert ckpt.prune_checkpoints(d, 2, newest=ckpt.checkpoint_path(d, 3)) == [ckpt.checkpoint_path(d, 1)]
    assert _steps(tmp_path) == [2, 3, 4]


def test_case4_no_readable_sample_fails_and_exports_nothing(tmp_path, capsys):
    recipe = _toy_recipe(tmp_path)
    out = tmp_path / "empty"
    bad = "data.bad=[" + ",".join(str(i) for i in range(48)) + "]"
    assert _train(recipe, out, bad, "train.steps=20", "train.ckpt_every=5") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no optimizer step" in err[0] and "samples skipped as unreadable" in err[0]
    assert not (out / "weights.pt").exists() and not (out / "final_metrics.json").exists() and not _steps(out)


def test_case4_nonfinite_losses_stop_the_run(tmp_path):
    cfg = toy_config(tmp_path / "nan", steps=30, ckpt_every=0, max_nonfinite_steps=3)
    cfg.data.noise = float("nan")  # every input, hence every loss, is NaN
    with pytest.raises(TrainingError, match=r"NaN or infinite on 3 consecutive steps .*max_nonfinite_steps=3"):
        fit(cfg)
    assert not (tmp_path / "nan" / "weights.pt").exists() and not (tmp_path / "nan" / "final_metrics.json").exists()
    # fewer non-finite steps than the limit are skipped, not applied; a run of only those
    # applied no optimizer step, so it still exports nothing
    cfg = toy_config(tmp_path / "short", steps=6, max_nonfinite_steps=20)
    cfg.data.noise = float("nan")
    with pytest.raises(TrainingError, match="no optimizer step"):
        fit(cfg)
    assert not (tmp_path / "short" / "weights.pt").exists()
