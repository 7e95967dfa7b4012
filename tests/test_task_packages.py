"""tasks/ holds one package per task, each with the same parts under the same names."""

import importlib
from pathlib import Path

import pytest

TASKS = ("classification", "sync", "localization", "separation", "preview", "temporal")
PARTS = ("task", "data", "evaluate", "inference")
ROOT = Path(__file__).resolve().parents[1] / "avlearn" / "tasks"


@pytest.mark.parametrize("name", TASKS)
def test_every_task_package_has_the_same_parts(name):
    assert (ROOT / name / "__init__.py").is_file(), f"tasks/{name} is not a package"
    for part in PARTS:
        assert (ROOT / name / f"{part}.py").is_file(), f"tasks/{name}/{part}.py is missing"
    pkg = importlib.import_module(f"avlearn.tasks.{name}")
    missing = [n for n in getattr(pkg, "__all__", []) if not hasattr(pkg, n)]
    assert not missing, f"avlearn.tasks.{name}.__all__ names what it lacks: {missing}"


def test_no_flat_task_modules_and_no_ambiguous_localization():
    flat = sorted(p.name for p in ROOT.glob("*.py") if p.stem.split("_")[0] in TASKS)
    assert not flat, f"flat task modules beside the packages: {flat}"
    assert not (ROOT / "preview" / "localization.py").exists()  # temporal, not sound-source, localization
    assert (ROOT / "preview" / "temporal_localization.py").is_file()
