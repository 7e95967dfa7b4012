"""Issue case 3: hostile recipes (alias bombs, duplicate keys, non-mapping documents, python
tags, huge values) give one short ConfigError instead of eating memory or a traceback."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import yaml

from avlearn.errors import UsageError
from avlearn.train.config import ConfigError, load_config, parse_overrides

from test_config import BASE


def _write(tmp_path, text: str) -> str:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return str(path)


def _bomb(levels: int = 9, width: int = 9) -> str:
    names = [f"l{i}" for i in range(levels)]
    lines = [f"{names[0]}: &{names[0]} [" + ",".join(["lol"] * width) + "]"]
    for prev, cur in zip(names, names[1:]):
        lines.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * width) + "]")
    return "\n".join(lines)


def test_alias_bomb_is_refused_quickly(tmp_path):
    # the recipe: model.name built from 9 levels of 9 aliases (9**9 leaves)
    body = yaml.safe_dump({k: v for k, v in BASE.items() if k != "model"})
    text = _bomb() + "\n" + body + "model: {name: *l8}\n"
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 100000 nodes") as info:
        load_config(_write(tmp_path, text))
    assert time.perf_counter() - t0 < 5.0
    assert len(str(info.value)) < 300


def test_bomb_cannot_hide_in_an_override():
    with pytest.raises(ConfigError, match="expands to more than"):
        parse_overrides(["model.name=" + "{" + _bomb().replace("\n", ", ") + "}"])


def test_long_bad_value_is_quoted_short(tmp_path):
    raw = {**BASE, "model": {"name": ["x" * 10_000] * 50}}
    with pytest.raises(ConfigError, match=r"model\.name: expected str") as info:
        load_config(_write(tmp_path, yaml.safe_dump(raw)))
    assert len(str(info.value)) < 300 and "characters)" in str(info.value)


def test_duplicate_key_is_an_error(tmp_path):
    raw = {k: v for k, v in BASE.items() if k != "optim"}
    text = yaml.safe_dump(raw) + "optim:\n  name: sgd\n  lr: 0.5\n  lr: 0.1\n"
    with pytest.raises(ConfigError, match=r"duplicate key 'lr' \(first at line \d+\)"):
        load_config(_write(tmp_path, text))


def test_non_mapping_top_level_is_a_config_error(tmp_path):
    path = _write(tmp_path, "- task\n- model\n")
    for sets in ([], ["train.steps=3"]):
        with pytest.raises(ConfigError, match="a recipe must be a mapping of sections, got a list"):
            load_config(path, sets)
    assert issubclass(ConfigError, UsageError) and issubclass(ConfigError, ValueError)


def test_python_tags_stay_refused(tmp_path):
    path = _write(tmp_path, "task: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="could not determine a constructor"):
        load_config(path)


def test_cli_reports_the_bomb_in_one_line(tmp_path):
    path = _write(tmp_path, _bomb() + "\n" + yaml.safe_dump(BASE))
    proc = subprocess.run([sys.executable, "-m", "avlearn", "train", path], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "expands to more than" in lines[0] and "Traceback" not in proc.stderr
