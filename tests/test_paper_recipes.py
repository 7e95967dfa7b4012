"""The paper-scale recipes: their published settings, and one CPU training step each on tiny
inputs (sizes overridden down with ``--set``, as a user would), from manifests of a tiny tree."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from media import write_clip

from avlearn.tasks.config import load_config

PAPERS = {
    "sync_multisensory_paper": "Owens & Efros",
    "separate_sop_paper": "Zhao et al.",
    "separate_visualvoice_paper": "Gao & Grauman",
    "localize_ezvsl_paper": "Mo & Morgado",
    "preview_listen_to_look_paper": "Gao, Oh, Grauman & Torresani",
}

COMMON = ["--set", "train.steps=1", "--set", "train.batch_size=2", "--set", "train.log_every=1",
          "--set", "train.progress=false", "--set", "train.num_workers=0", "--set", "train.final_eval=[]",
          "--set", "train.precision=fp32"]


def avlearn(*args):
    return subprocess.run([sys.executable, "-m", "avlearn", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_header_cites_the_paper_and_the_data_commands(name):
    from avlearn.tasks.config import recipe_path

    text = open(recipe_path(name), encoding="utf-8").read()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert PAPERS[name] in header and "Sec." in header
    assert "avlearn prepare" in header and "make-lists" in header
    cfg = load_config(name)
    assert cfg.data.train and not getattr(cfg.data, "world", None)


def test_published_settings():
    s = load_config("sync_multisensory_paper").data
    assert (s.fps, s.size, s.sample_rate, s.audio_channels, s.clip_duration) == (29.97, [224, 224], 21000, 2, 4.2)
    sop = load_config("separate_sop_paper")
    assert (sop.task.n_fft, sop.task.hop, sop.task.warp_rows, sop.data.sample_rate) == (1022, 256, 256, 11025)
    assert round(sop.data.duration * sop.data.sample_rate) == 65535 and sop.data.num_frames == 3 and sop.data.size == 224
    vv = load_config("separate_visualvoice_paper")
    assert (vv.task.n_fft, vv.task.win_length, vv.task.hop, vv.data.sample_rate, vv.data.duration) == (512, 400, 160, 16000, 2.55)
    assert (vv.data.crop_size, vv.data.num_frames, vv.data.fps) == (224, 64, 25)
    ez = load_config("localize_ezvsl_paper")
    assert (ez.data.size, ez.data.clip_duration, ez.data.sample_rate, ez.train.batch_size) == ([224, 224], 3.0, 16000, 128)
    assert round(ez.data.clip_duration * ez.data.fps) == 1  # one frame per clip
    l2l = load_config("preview_listen_to_look_paper")
    assert (l2l.data.size, l2l.data.window, l2l.data.sample_rate) == (224, 1.0, 16000)


def test_published_optimisation():
    """The optimiser, rates and schedules of the reference code (see each recipe's comments)."""
    s = load_config("sync_multisensory_paper")
    assert (s.optim.name, s.optim.lr, s.optim.momentum, s.optim.weight_decay, s.train.clip_grad) == ("sgd", 0.01, 0.9, 1e-5, 5.0)
    assert (s.schedule.kind, s.schedule.warmup_steps, s.train.steps) == ("constant", 0, 650000)
    assert 2.0 <= s.data.min_shift and s.data.clip_duration + s.data.max_shift <= 10.0  # fits AudioSet's 10 s clips
    sop = load_config("separate_sop_paper")
    assert (sop.optim.name, sop.optim.lr, sop.optim.momentum, sop.optim.weight_decay) == ("sgd", 1e-3, 0.9, 1e-4)
    assert [(g.params, g.lr) for g in sop.optim.groups] == [(["net.visual.body.*"], 1e-4)]
    assert (sop.schedule.kind, sop.schedule.milestones, sop.train.batch_size) == ("multistep", [40000, 80000], 80)
    assert [m / sop.train.steps for m in sop.schedule.milestones] == [0.4, 0.8]  # --lr_steps 40 80 of 100 epochs
    vv = load_config("separate_visualvoice_paper")
    assert (vv.optim.name, vv.optim.lr, vv.optim.weight_decay, [(g.params, g.lr) for g in vv.optim.groups]) == (
        "adam", 1e-4, 1e-4, [(["net.face.*"], 1e-5)])
    assert (vv.schedule.kind, vv.schedule.milestones, vv.train.steps, vv.train.batch_size) == ("multistep", [30000, 40000], 50000, 128)
    assert (vv.data.rms, vv.data.divide, vv.data.gain) == (0.1, True, None)
    ez = load_config("localize_ezvsl_paper")
    assert (ez.optim.name, ez.optim.lr, ez.optim.weight_decay, ez.schedule.kind) == ("adam", 1e-4, 0.0, "constant")
    assert ez.train.steps == 20 * ez.data.windows_per_epoch // ez.train.batch_size  # 20 epochs of VGGSound-144k


@pytest.mark.parametrize("name,groups", [("separate_sop_paper", 1), ("separate_visualvoice_paper", 1)])
def test_parameter_groups_name_real_parameters(name, groups):
    """Each optim.groups pattern of a paper recipe matches parameters of the network it builds
    (a pattern matching nothing is an error when the optimizer is built)."""
    from avlearn.tasks import build_task
    from avlearn.train.optim import build_optimizer

    cfg = load_config(name, ["model.kwargs.unet_levels=5", "model.kwargs.unet_channels=8", "model.kwargs.visual_width=8"])
    task = build_task(cfg)
    opt = build_optimizer(cfg.optim, task)
    lrs = sorted({g["lr"] for g in opt.param_groups})
    assert len(lrs) == 1 + groups and lrs[-1] == cfg.optim.lr


@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    """A folder of clips (sync, localization), MUSIC-like solos (separation), an ActivityNet-like
    manifest (preview)."""
    root = tmp_path_factory.mktemp("paper")
    for i in range(3):
        write_clip(root / "clips" / f"c{i}.mp4", seconds=2.0, fps=8, sample_rate=8000, channels=2,
                   clicks=(0.2 + 0.1 * i, 1.2))
    rows = [{"path": f"clips/c{i}.mp4", "label": ["a", "b", "c"][i], "id": f"c{i}", "media_duration": 2.0,
             "segments": [{"start": 0.25, "end": 1.75, "label": ["a", "b", "a"][i]}]} for i in range(3)]
    (root / "solo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.mark.slow
@pytest.mark.parametrize("name,sets", [
    ("sync_multisensory_paper", ["data.size=[32,32]", "data.fps=8", "data.sample_rate=8000", "data.clip_duration=1.0",
                                 "data.min_shift=0.2", "data.max_shift=0.5", "data.windows_per_epoch=2",
                                 "data.test=null", "data.val=clips", "train.final_eval=[val]"]),
    ("localize_ezvsl_paper", ["data.size=[32,32]", "data.fps=2", "data.sample_rate=8000", "data.clip_duration=0.5",
                              "data.windows_per_epoch=2", "data.test=null"]),
    ("separate_sop_paper", ["data.size=32", "data.sample_rate=8000", "data.duration=1.0", "data.windows_per_epoch=2",
                            "task.n_fft=254", "task.hop=64", "task.warp_rows=64", "model.kwargs.unet_levels=5",
                            "model.kwargs.unet_channels=8", "model.kwargs.visual_width=8", "data.test=null"]),
    ("separate_visualvoice_paper", ["data.size=32", "data.sample_rate=8000", "data.duration=1.0", "data.fps=8",
                                    "data.num_frames=8", "data.crop_size=32", "data.mouth_size=[16,32]",
                                    "data.windows_per_epoch=2", "task.n_fft=256", "task.win_length=256", "task.hop=128",
                                    "model.kwargs.unet_levels=5", "model.kwargs.unet_channels=8",
                                    "model.kwargs.visual_width=16", "model.kwargs.visual_channels=32", "data.test=null"]),
])
def test_one_training_step_on_tiny_inputs(trees, tmp_path, name, sets):
    manifest = trees / ("clips" if name.startswith(("sync", "localize")) else "solo.jsonl")
    sets = [s.replace("data.val=clips", f"data.val={trees / 'clips'}") for s in sets]
    args = [a for s in sets for a in ("--set", s)]
    r = avlearn("train", name, *COMMON, "--set", f"data.train={manifest}", *args, "--out", tmp_path / "run")
    assert r.returncode == 0, r.stderr[-3000:]
    steps = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in steps if m["split"] == "train"] == [1]
    if name.startswith("sync"):  # the stereo model scores frozen (mono-decoded) pairs too
        assert [m["samples"] for m in steps if m["split"] == "val"] == [6]


@pytest.mark.slow
def test_listen_to_look_student_step(trees, tmp_path):
    small = ["--set", f"data.train={trees / 'solo.jsonl'}", "--set", f"data.val={trees / 'solo.jsonl'}",
             "--set", "data.size=32", "--set", "data.cache=" + str(tmp_path / "cache")]
    r = avlearn("train", "preview_teacher", *COMMON, "--set", "data.world=null", *small, "--out", tmp_path / "teacher")
    assert r.returncode == 0, r.stderr[-3000:]
    r = avlearn("train", "preview_listen_to_look_paper", *COMMON, *small, "--set", f"task.teacher={tmp_path / 'teacher'}",
                "--set", "model.kwargs.widths=[8,8,16,16]", "--set", "model.kwargs.depths=[1,1,1,1]",
                "--set", "model.kwargs.feature_dim=32", "--out", tmp_path / "student")
    assert r.returncode == 0, r.stderr[-3000:]


def test_sync_flip_reaches_the_training_windows(trees):
    """``data.flip`` (the reference code's random left-right flip) is handed to the training
    windows, and off by default so the CPU recipes are unchanged."""
    from avlearn.tasks.sync.task import build_sync_datasets

    sets = [f"data.train={trees / 'clips'}", "data.test=null", "data.size=[32,32]", "data.fps=8",
            "data.sample_rate=8000", "data.clip_duration=0.5", "data.min_shift=0.2", "data.max_shift=0.5"]
    paper = build_sync_datasets(load_config("sync_multisensory_paper", sets))["train"]
    assert paper.dataset.transform.flip is True
    cpu = load_config("sync_multisensory_paper", [*sets, "data.flip=false"])
    assert build_sync_datasets(cpu)["train"].dataset.transform.flip is False
    assert load_config("sync_multisensory").data.flip is False
