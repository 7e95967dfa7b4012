"""Every demo stage trains from a packaged YAML recipe plus overrides; no recipe lives in Python.

Builds (validates) each stage's recipe, full and quick, without training or generating a world,
and checks the overrides change only what the demo means to change.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from avlearn.demo import classification, localization, separation, sync
from avlearn.demo.runner import DemoContext, common_overrides, stage_config
from avlearn.tasks.config import ConfigError, load_config, to_dict
from avlearn.train.preview import STAGES as PREVIEW_STAGES
from avlearn.train.preview import preview_recipe

ROOT = Path(__file__).resolve().parents[1] / "avlearn"


def _ctx(tmp_path, quick):
    return DemoContext(tmp_path, quick=quick, progress=False)


def _changed(cfg, recipe):
    a, b = to_dict(cfg), to_dict(load_config(recipe))
    return {f"{sec}.{k}" for sec in a for k in a[sec] if a[sec][k] != b[sec].get(k)}


@pytest.mark.parametrize("quick", [False, True])
def test_every_stage_recipe_builds_from_yaml_and_overrides(tmp_path, quick):
    ctx = _ctx(tmp_path, quick)
    world = str(tmp_path / "world")
    common = {"data.world": world, **common_overrides(ctx, tmp_path / "run")}
    built = {
        "classification": (classification.RECIPE, stage_config(classification.RECIPE, {
            **common, **(classification.QUICK if quick else {})})),
        "sync": (sync.RECIPE, stage_config(sync.RECIPE, {**common, **sync.OVERRIDES, **(sync.QUICK if quick else {})})),
        "localization": (localization.RECIPE, stage_config(localization.RECIPE, {
            **common, **localization.OVERRIDES, **(localization.QUICK if quick else {})})),
    }
    for task, recipe in separation.RECIPES.items():
        built[f"separation/{task}"] = (recipe, stage_config(recipe, separation.stage_overrides(task, world, str(tmp_path), ctx)))
    for name, (recipe, cfg) in built.items():
        assert cfg.data.world == world and cfg.train.out_dir.startswith(str(tmp_path)), name
        changed = _changed(cfg, recipe)
        if quick:
            assert cfg.train.steps <= 4, name
        else:
            assert cfg.train.steps >= 150, name
    # the numbers the full demo was timed and reported with
    if not quick:
        assert built["sync"][1].train.steps == 800 and built["sync"][1].data.clip_duration == 1.0
        assert built["localization"][1].train.steps == 600 and built["localization"][1].data.size == [64, 64]
        assert built["separation/visualvoice"][1].train.steps == 150
        assert _changed(built["classification"][1], "classify_world") <= {"data.world", "train.out_dir", "train.tensorboard",
                                                                          "train.progress"}


def test_cam_scoring_recipe_builds(tmp_path):
    class Loc:  # what the stage reads off a sync run's Localizer
        fps, size, sample_rate, clip_duration = 16.0, (32, 32), 16000, 1.0

    cfg = stage_config(localization.CAM_RECIPE, localization.cam_overrides(str(tmp_path), Loc(), [64, 64], str(tmp_path)))
    assert cfg.task.method == "cam" and cfg.task.cam_size == [32, 32] and cfg.data.size == [64, 64]


@pytest.mark.parametrize("stage", PREVIEW_STAGES)
def test_preview_stages_build_from_yaml(tmp_path, stage):
    from avlearn.demo.preview import DEMO_STEPS

    cfg = preview_recipe(stage, str(tmp_path), str(tmp_path / "p"), steps=DEMO_STEPS[stage])
    assert cfg.train.steps == DEMO_STEPS[stage] and _changed(cfg, f"preview_{stage}") <= {
        "data.world", "train.out_dir", "train.steps", "task.teacher", "task.student"}


def test_an_unknown_override_names_the_recipe(tmp_path):
    with pytest.raises(ConfigError, match="sync_multisensory.*train.stepz"):
        stage_config("sync_multisensory", {"train.stepz": 1})


def _recipe_dicts(path: Path) -> list[int]:
    """Lines of dict literals that look like a whole recipe (task + model/data/train sections)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):
            keys = {k.value for k in node.keys if isinstance(k, ast.Constant)}
            if "task" in keys and len(keys & {"model", "data", "optim", "train"}) >= 2:
                lines.append(node.lineno)
    return lines


def test_no_recipe_is_written_as_a_python_dict():
    found = {str(p.relative_to(ROOT.parent)): _recipe_dicts(p) for p in ROOT.rglob("*.py")}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"recipes written in Python (use avlearn/recipes/*.yaml + overrides): {found}"
