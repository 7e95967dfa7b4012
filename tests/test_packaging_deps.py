"""Every third-party import under avlearn/ is declared in pyproject.toml, and every declared
dependency is imported.

The scan reads every ``import`` / ``from ... import`` of the package, at module level and inside
functions. A top-level module must be a ``[project] dependencies`` entry, or an optional extra
whose every import sits in a ``try`` that catches ImportError (the feature degrades without it,
e.g. OpenCV's optical flow).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Import name -> distribution name where they differ.
DISTRIBUTIONS = {"PIL": "pillow", "yaml": "pyyaml", "cv2": "opencv-python-headless", "sklearn": "scikit-learn"}


def _requirement_name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower().replace("_", "-")


def _guarded(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    """Whether ``node`` sits in the body of a ``try`` with an ImportError / ModuleNotFoundError handler."""
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Try) and node in parent.body:
            for h in parent.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
        node = parent
    return False


def third_party_imports(package: Path) -> dict[str, list[tuple[str, bool]]]:
    """``{distribution: [(file:line, guarded), ...]}`` of the package's third-party imports."""
    found: dict[str, list[tuple[str, bool]]] = {}
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                tops = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                tops = [node.module.split(".")[0]]
            else:
                continue
            for top in tops:
                if top in sys.stdlib_module_names or top == package.name or top == "__future__":
                    continue
                dist = DISTRIBUTIONS.get(top, top).lower().replace("_", "-")
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                found.setdefault(dist, []).append((where, _guarded(node, parents)))
    return found


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def test_every_import_is_declared():
    project = _pyproject()["project"]
    required = {_requirement_name(r) for r in project["dependencies"]}
    extras = {_requirement_name(r) for reqs in project.get("optional-dependencies", {}).values() for r in reqs}
    problems = []
    for dist, sites in third_party_imports(ROOT / "avlearn").items():
        if dist in required:
            continue
        unguarded = [w for w, guarded in sites if not guarded]
        if dist not in extras:
            problems.append(f"{dist} is imported ({sites[0][0]}) but not declared in pyproject.toml")
        elif unguarded:
            problems.append(f"{dist} is an optional extra but imported without an ImportError guard at {unguarded[:3]}")
    assert not problems, "\n".join(problems)


def test_every_dependency_is_imported():
    imported = set(third_party_imports(ROOT / "avlearn"))
    unused = [r for r in _pyproject()["project"]["dependencies"] if _requirement_name(r) not in imported]
    assert not unused, f"declared in [project] dependencies but never imported by avlearn/: {unused}"


def test_the_scan_sees_imports_inside_functions_and_guards(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "m.py").write_text(
        "import os\nimport numpy as np\n\ndef f():\n    from scipy.optimize import linear_sum_assignment\n"
        "    try:\n        import cv2\n    except ImportError:\n        cv2 = None\n"
    )
    global ROOT
    root, ROOT = ROOT, tmp_path
    try:
        found = third_party_imports(pkg)
    finally:
        ROOT = root
    assert set(found) == {"numpy", "scipy", "opencv-python-headless"}
    assert found["scipy"] == [("pkg/m.py:5", False)] and found["opencv-python-headless"] == [("pkg/m.py:7", True)]
