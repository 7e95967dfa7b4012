"""The ``avlearn`` command: --help everywhere, train/evaluate end to end, the demo framework."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os

import pytest
import yaml

from avlearn import demo as demo_mod
from avlearn.demo import runner as demo_runner
from avlearn.cli import COMMANDS, build_parser, main

from test_train_engine import TOY


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_existing_command_module_is_registered():
    existing = [n for n in COMMANDS if importlib.util.find_spec(f"avlearn.cli.{n}") is not None]
    assert {"train", "evaluate", "demo"} <= set(existing)
    names = set(_subcommands())
    for module in existing:
        assert module.replace("_", "-") in names or module in names, module
    assert "eval" in names  # alias of evaluate


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help(name, capsys):
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: avlearn ") and "--help" in out


def _toy_recipe(tmp_path) -> str:
    raw = {
        "task": {"name": TOY},
        "optim": {"lr": 0.03},
        "train": {
            "steps": 6,
            "batch_size": 8,
            "log_every": 2,
            "ckpt_every": 3,
            "device": "cpu",
            "tensorboard": False,
            "progress": False,
            "out_dir": str(tmp_path / "run"),
        },
    }
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_train_then_evaluate(tmp_path, capsys):
    recipe = _toy_recipe(tmp_path)
    assert main(["train", recipe, "--set", "train.steps=4", "--out", str(tmp_path / "cli_run"), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["out_dir"] == str(tmp_path / "cli_run") and 0 <= res["test"]["acc"] <= 1
    weights = str(tmp_path / "cli_run" / "weights.pt")
    assert main(["evaluate", recipe, "--weights", weights, "--split", "test", "--json"]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["split"] == "test" and ev["acc"] == pytest.approx(res["test"]["acc"]) and ev["samples"] == 20
    ckpt = str(tmp_path / "cli_run" / "checkpoints" / "step_0000003.pt")
    assert main(["eval", recipe, "--weights", ckpt, "--split", "val"]) == 0
    assert capsys.readouterr().out.startswith("val: loss=")


def test_bad_inputs_fail_cleanly_before_work(tmp_path, capsys):
    recipe = _toy_recipe(tmp_path)
    assert main(["train", recipe, "--set", "train.stepz=4"]) == 2
    err = capsys.readouterr().err
    assert "toy.yaml: train.stepz: unknown key" in err and not (tmp_path / "run").exists()
    wrong = tmp_path / "wrong.pt"
    import torch

    torch.save({"net.0.weight": torch.zeros(2, 2)}, wrong)
    assert main(["evaluate", recipe, "--weights", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "wrong.pt" in err and "missing keys ['net.0.bias'" in err and "shape mismatches ['net.0.weight" in err
    assert main(["evaluate", recipe, "--weights", str(tmp_path / "nope.pt")]) == 2
    assert "nope.pt: weights file not found" in capsys.readouterr().err


@pytest.fixture
def fake_stages():
    """Two demo stages registered for the test only (one succeeds, one fails)."""

    @demo_mod.register_demo_stage("test_ok", order=900)
    def ok(ctx):
        return demo_mod.DemoSection(
            "OK stage",
            text="fine",
            table=[["x", 1.5]],
            header=["k", "v"],
            images=[(__import__("numpy").zeros((4, 4, 3), "uint8"), "black")],
            metrics={"score": 1.5},
        )

    @demo_mod.register_demo_stage("test_fail", order=901)
    def fail(ctx):
        raise RuntimeError("stage exploded")

    yield
    for name in ("test_ok", "test_fail"):
        demo_runner._STAGES.pop(name)


def test_demo_framework_reports_sections_and_failures(tmp_path, capsys, fake_stages):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--stages", "test_ok,test_fail", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert summary["stages"]["test_ok"]["metrics"] == {"score": 1.5} and summary["stages"]["test_ok"]["error"] is None
    assert "RuntimeError: stage exploded" in summary["stages"]["test_fail"]["error"]
    html = (out / "report.html").read_text()
    assert html.index("OK stage") < html.index("test_fail (failed)") < html.index("Run")
    assert "stage exploded" in html and os.path.isfile(out / "summary.json")
    assert main(["demo", "--out", str(out), "--stages", "nope"]) == 2
    assert main(["demo", "--list"]) == 0 and "action_classification" in capsys.readouterr().out


def test_demo_quick_action_classification(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--quick", "--out", str(out), "--stages", "action_classification", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    st = summary["stages"]["action_classification"]
    assert st["error"] is None and 0.0 <= st["metrics"]["test_top1"] <= 1.0
    html = (out / "report.html").read_text()
    assert "Action classification" in html and "<svg" in html and "true: " in html
    assert (out / "worlds" / "actions_quick" / "world.json").is_file()
    assert (out / "action_classification" / "weights.pt").is_file()


@pytest.mark.slow
def test_demo_quick_all_stages(tmp_path, capsys):
    assert main(["demo", "--quick", "--out", str(tmp_path / "demo"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["stages"] and all(st["error"] is None for st in summary["stages"].values())


def test_loading_a_run_imports_neither_torchvision_nor_scipy():
    """Every inference command loads its run through ``avlearn.tasks`` (all task packages are
    imported to register them); torchvision (torch._dynamo, ~1.5 s) and scipy (~0.5 s) are
    imported where they are used, so a one-minute file's start-up is mostly torch's import."""
    import subprocess
    import sys as _sys

    code = "import sys, avlearn, avlearn.tasks\nprint([m for m in ('torchvision', 'scipy') if m in sys.modules])\n"
    out = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_one_command_registers_alone_and_imports_little():
    """`avlearn sync ...` registers only sync's parser: no world generators (make-world's option
    list imports them) and no torchvision (its import pulls torch._dynamo, seconds) at start-up."""
    import subprocess
    import sys as _sys

    code = (
        "import sys\n"
        "from avlearn.cli import build_parser, main\n"
        "p = build_parser(only='sync')\n"
        "names = list(p._subparsers._group_actions[0].choices)\n"
        "try:\n"
        "    main(['sync', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(names, 'avlearn.data.synthetic.generate' in sys.modules, 'torchvision' in sys.modules)\n"
    )
    out = subprocess.run([_sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "['sync'] False False", out
    full = build_parser()
    assert {"sync", "make-world", "extract-features"} <= set(full._subparsers._group_actions[0].choices)
