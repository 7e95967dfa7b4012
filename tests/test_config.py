"""Recipe validation: unknown keys and wrong types are rejected, naming the file and the key."""

from __future__ import annotations

import glob
import os

import pytest
import yaml

from avlearn.train.config import ConfigError, load_config, parse_overrides, save_config, to_dict

RECIPES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "avlearn", "recipes", "*.yaml")))
BASE = {
    "task": {"name": "classification", "topk": [1, 2]},
    "model": {"name": "r3d_tiny", "kwargs": {"dropout": 0.1}},
    "data": {"world": "runs/w", "size": 32},
    "optim": {"name": "sgd", "lr": 0.1},
    "train": {"steps": 10, "batch_size": 4},
}


def _recipe(tmp_path, **sections) -> str:
    raw = {**BASE, **sections}
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("path", RECIPES, ids=os.path.basename)
def test_every_shipped_recipe_validates(path):
    cfg = load_config(path)
    assert cfg.train.steps > 0 and cfg.task.name


def test_values_are_typed_and_converted(tmp_path):
    path = _recipe(tmp_path, optim={"name": "adamw", "lr": "1e-3", "betas": [0.8, 0.9]})  # YAML 1.1 reads 1e-3 as str
    cfg = load_config(path)
    assert cfg.optim.lr == 1e-3 and cfg.optim.betas == (0.8, 0.9) and cfg.task.topk == [1, 2]
    assert cfg.model.kwargs == {"dropout": 0.1} and cfg.data.size == 32 and cfg.train.clip_grad == 0.0


@pytest.mark.parametrize(
    "section, value, key, reason",
    [
        ("train", {"stepz": 3}, "train.stepz", "unknown key (known: steps, batch_size"),
        ("train", {"steps": "many"}, "train.steps", "expected int, got str 'many'"),
        ("train", {"steps": True}, "train.steps", "expected int, got bool True"),
        ("train", {"precision": "fp8"}, "train.precision", "expected one of ['fp32', 'bf16', 'fp16', 'auto']"),
        ("optim", {"betas": [0.9]}, "optim.betas", "expected 2 items"),
        ("optim", {"lr": "fast"}, "optim.lr", "expected float"),
        ("task", {"name": "classification", "topk": ["one"]}, "task.topk[0]", "expected int"),
        ("task", {"name": "classification", "inputs": "video"}, "task.inputs", "unknown key"),
        ("model", {"name": 3}, "model.name", "expected str"),
        ("data", {"size": [32, 32, 3]}, "data.size", "expected int or tuple"),
        ("schedule", [1, 2], "schedule", "expected a mapping"),
    ],
)
def test_bad_values_name_the_file_and_key(tmp_path, section, value, key, reason):
    path = _recipe(tmp_path, **{section: value})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.key == key
    assert str(info.value).startswith(f"{path}: {key}: ") and reason in str(info.value)


def test_unknown_section_and_task(tmp_path):
    with pytest.raises(ConfigError, match=r"recipe\.yaml: trian: unknown section"):
        load_config(_recipe(tmp_path, trian={"steps": 1}))
    with pytest.raises(ConfigError, match=r"task\.name: unknown task 'clasification' \(registered: .*classification"):
        load_config(_recipe(tmp_path, task={"name": "clasification"}))
    with pytest.raises(ConfigError, match="task.name: required key is missing"):
        load_config(_recipe(tmp_path, task={"topk": [1]}))
    with pytest.raises(ConfigError, match="recipe file not found"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("task: [unclosed\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_overrides(tmp_path):
    path = _recipe(tmp_path)
    cfg = load_config(
        path,
        [
            "train.steps=200",
            "optim.lr=1e-2",
            "task.topk=[1, 3]",
            "model.weights=null",
            "model.kwargs.width=8",
            "data.size=[48, 64]",
        ],
    )
    assert (cfg.train.steps, cfg.optim.lr, cfg.task.topk) == (200, 0.01, [1, 3])
    assert cfg.model.weights is None and cfg.model.kwargs == {"dropout": 0.1, "width": 8} and cfg.data.size == (48, 64)
    with pytest.raises(ConfigError, match=r"train\.stepz: unknown key .*\(from --set\)"):
        load_config(path, ["train.stepz=1"])
    with pytest.raises(ConfigError, match=r"train\.steps: expected int, got str 'x' \(from --set\)"):
        load_config(path, ["train.steps=x"])
    with pytest.raises(ConfigError, match="expected dotted.key=value"):
        parse_overrides(["train.steps"])
    with pytest.raises(ConfigError, match="not a section"):
        load_config(path, ["train.steps.x=1"])


def test_save_and_reload_round_trip(tmp_path):
    cfg = load_config(_recipe(tmp_path), ["optim.betas=[0.5, 0.6]"])
    save_config(cfg, tmp_path / "again.yaml")
    again = load_config(tmp_path / "again.yaml")
    assert to_dict(again) == to_dict(cfg) and again == cfg
