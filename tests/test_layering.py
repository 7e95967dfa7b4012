"""avlearn's layers import one way only, and its modules import each other without circles.

Layers, lowest first: ``io``, ``metrics`` < ``data``, ``viz``, ``flow`` < ``models`` < ``tasks``
< ``train`` < ``demo``, ``cli``. A module may import its own layer and the layers below it,
at module level and inside functions alike. Circles are looked for among all imports (module
level and inside functions); a package ``__init__`` importing its own modules to register them
is not counted as a circle with those modules.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "avlearn"

RANK = {"errors": 0, "io": 0, "metrics": 0, "data": 1, "viz": 1, "flow": 1, "models": 2, "tasks": 3, "train": 4, "demo": 5, "cli": 5}


def _modules(root: Path = ROOT) -> dict[str, Path]:
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, modules: dict[str, Path]) -> list[tuple[int, str, bool]]:
    """``(line, imported avlearn module, at module level)`` for every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    toplevel = set()
    for node in tree.body:  # module level, including under if/try at module level
        for sub in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) else ():
            toplevel.add(id(sub))
        if isinstance(node, ast.ClassDef):  # class bodies run at import time, methods do not
            for sub in node.body:
                if not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for s in ast.walk(sub):
                        toplevel.add(id(s))
    out = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # ``from avlearn.x import y`` imports avlearn.x.y when that is a module
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        for name in names:
            if name == "avlearn" or name.startswith("avlearn."):
                out.append((node.lineno, name, id(node) in toplevel))
    return out


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def upward_imports(root: Path = ROOT) -> list[str]:
    """Every import from a lower layer to a higher one, as ``file:line: a -> b``."""
    modules = _modules(root)
    bad = []
    for mod, path in modules.items():
        src = _layer(mod)
        for line, name, _ in _imports(path, modules):
            dst = _layer(name)
            if src in RANK and dst in RANK and RANK[dst] > RANK[src]:
                bad.append(f"{path.relative_to(root.parent)}:{line}: {mod} -> {name}")
    return bad


def import_cycles(root: Path = ROOT) -> list[list[str]]:
    """The import circles: strongly connected components of the import graph that still close
    after the package ``__init__`` modules inside them are left out."""
    modules = _modules(root)
    graph = {m: set() for m in modules}
    for mod, path in modules.items():
        for _, name, toplevel in _imports(path, modules):
            if name in modules and name != mod:
                graph[mod].add(name)
    # Tarjan's algorithm, iterative enough for a package of a few hundred modules
    index, low, on, stack, comps, counter = {}, {}, set(), [], [], [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    # A package importing its own submodules for registration is not a circle unless a submodule
    # imports a sibling that imports it back; drop components that only close through a parent
    # package's __init__ (``avlearn.x`` <-> ``avlearn.x.y`` is how registration works).
    real = []
    for comp in comps:
        inner = {m for m in comp if not any(o.startswith(m + ".") for o in comp)}
        sub = {m: graph[m] & inner for m in inner}
        if _has_cycle(sub):
            real.append(comp)
    return real


def _has_cycle(graph: dict[str, set[str]]) -> bool:
    seen, active = set(), set()

    def visit(v: str) -> bool:
        seen.add(v)
        active.add(v)
        for w in graph[v]:
            if w in active or (w not in seen and visit(w)):
                return True
        active.discard(v)
        return False

    return any(visit(v) for v in list(graph) if v not in seen)


def test_layers_import_one_way():
    bad = upward_imports()
    assert not bad, "imports from a lower layer to a higher one:\n" + "\n".join(bad)


#: Circles another change removes: the attention-localizer registry, whose two model files import
#: each other, moves into the one model registry (issue 21, item 4). Delete the entry with it.
PENDING: list[list[str]] = []


def test_no_import_circles():
    cycles = [c for c in import_cycles() if c not in PENDING]
    assert not cycles, "import circles among avlearn modules:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_every_layer_is_ranked():
    layers = {_layer(m) for m in _modules() if _layer(m) not in (None, "__main__")}
    assert layers <= set(RANK), f"packages without a layer rank: {sorted(layers - set(RANK))}"


def test_scanner_catches_upward_and_circular_imports(tmp_path):
    pkg = tmp_path / "avlearn"
    for sub in ("io", "tasks", "train"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "io" / "a.py").write_text("def f():\n    from avlearn.train import b\n")
    (pkg / "train" / "b.py").write_text("import avlearn.io.a\n")
    (pkg / "tasks" / "c.py").write_text("from avlearn.tasks import d\n")
    (pkg / "tasks" / "d.py").write_text("from avlearn.tasks.c import x\n")
    assert [b.split(": ")[1] for b in upward_imports(pkg)] == ["avlearn.io.a -> avlearn.train.b"]
    assert import_cycles(pkg) == [["avlearn.io.a", "avlearn.train.b"], ["avlearn.tasks.c", "avlearn.tasks.d"]]


@pytest.mark.parametrize("name", sorted(RANK))
def test_rank_table_names_real_packages(name):
    assert (ROOT / name).is_dir() or (ROOT / f"{name}.py").is_file(), f"avlearn/{name} does not exist"
