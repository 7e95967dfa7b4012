"""The one-command demo: a small synthetic world, each task trained briefly, one HTML report.

``avlearn demo [--out runs/demo] [--quick]`` runs the registered **stages** in order (one
module per stage in :mod:`avlearn.demo`, each training from a packaged recipe plus the demo's
overrides, :func:`stage_config`). Before
any stage runs, the synthetic worlds the stages declare are generated (or reused) under
``OUT/worlds/<kind>``; then each stage trains and evaluates its task and returns a
:class:`DemoSection` (text, a numbers table, SVG plots, images, audio players, videos), and
the sections are written to ``OUT/report.html`` through :class:`avlearn.viz.report.Report`.
A stage that fails becomes a section with its traceback; the others still run.

Adding a stage (a module of :mod:`avlearn.demo`, imported by its ``__init__``)::

    from avlearn.demo.report import DemoSection
    from avlearn.demo.runner import DemoContext, register_demo_stage, stage_config

    @register_demo_stage("sync", order=20, worlds=("objects",))
    def sync_stage(ctx: DemoContext) -> DemoSection:
        world = ctx.world("objects")                 # the generated world's folder
        out = ctx.stage_dir("sync")                  # OUT/sync/, for checkpoints and assets
        cfg = stage_config("sync_multisensory", {"data.world": str(world), "train.steps": 800, ...})
        ...train with avlearn.train.fit(cfg), evaluate...
        return DemoSection("Synchronization", text="...", table=[...], header=[...],
                           plots=[(svg, "training loss")], metrics={"accuracy": 0.93})

``ctx.quick`` asks for a tiny version (seconds, for tests). The full demo must stay under 15
minutes on 2 CPU cores, so a stage should take about 2-3 minutes there.
"""

from __future__ import annotations

import copy
import importlib
import json
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from avlearn.demo.report import DemoSection

__all__ = [
    "DemoContext",
    "DemoStage",
    "WORLDS",
    "register_demo_stage",
    "list_demo_stages",
    "run_demo",
    "stage_config",
    "common_overrides",
]

#: The worlds stages can ask for by kind: (WorldConfig overrides, clips per split), full and quick.
WORLDS: dict[str, dict[str, Any]] = {
    "objects": {
        "config": {"kind": "objects", "size": 64, "duration": 2.0},
        "clips": {"train": 240, "val": 40, "test": 40},
        "quick": {"config": {"size": 32}, "clips": {"train": 8, "val": 4, "test": 4}},
    },
    "speakers": {
        "config": {"kind": "speakers", "size": 64, "duration": 2.0},
        "clips": {"train": 240, "val": 40, "test": 40},
        "quick": {"config": {"size": 32}, "clips": {"train": 8, "val": 4, "test": 4}},
    },
    "actions": {
        "config": {"kind": "actions", "size": 64, "duration": 12.0, "action_classes": 4},
        "clips": {"train": 40, "val": 10, "test": 10},
        "quick": {"config": {"size": 32, "duration": 6.0}, "clips": {"train": 4, "val": 2, "test": 2}},
    },
    "actors": {
        "config": {"kind": "actors", "size": 32, "duration": 4.0},
        "clips": {"train": 40, "val": 6, "test": 6},
        "quick": {"config": {"duration": 2.0}, "clips": {"train": 2, "val": 1, "test": 1}},
    },
    "av_classes": {
        "config": {"kind": "av_classes", "size": 32, "duration": 2.0},
        "clips": {"train": 60, "val": 6, "test": 20},
        "quick": {"config": {}, "clips": {"train": 4, "val": 2, "test": 4}},
    },
}

# The package whose ``__init__`` imports every stage module (registering the stages).
_STAGE_MODULES = ("avlearn.demo",)


@dataclass(frozen=True)
class DemoStage:
    """A registered stage: ``fn(ctx) -> DemoSection``, run in increasing ``order``."""

    name: str
    order: int
    fn: Callable[["DemoContext"], DemoSection]
    worlds: tuple[str, ...]
    module: str


_STAGES: dict[str, DemoStage] = {}


def register_demo_stage(name: str, order: int, *, worlds: tuple[str, ...] = ()) -> Callable:
    """Register a demo stage (decorator).

    Args:
        name: the stage name (``avlearn demo --stages NAME``).
        order: stages run in increasing order.
        worlds: kinds from :data:`WORLDS` to generate before any stage runs.
    """
    unknown = [w for w in worlds if w not in WORLDS]
    if unknown:
        raise ValueError(f"demo stage {name!r}: unknown worlds {unknown} (known: {sorted(WORLDS)})")

    def wrap(fn: Callable[[DemoContext], DemoSection]) -> Callable[[DemoContext], DemoSection]:
        if name in _STAGES and _STAGES[name].fn is not fn:
            raise ValueError(f"demo stage {name!r} is registered twice ({_STAGES[name].module} and {fn.__module__})")
        _STAGES[name] = DemoStage(name, order, fn, tuple(worlds), fn.__module__)
        return fn

    return wrap


def list_demo_stages() -> list[DemoStage]:
    """Registered stages in run order (imports the modules that register them)."""
    for m in _STAGE_MODULES:
        importlib.import_module(m)
    return sorted(_STAGES.values(), key=lambda s: (s.order, s.name))


@dataclass
class DemoContext:
    """What a stage gets: where to write, how big to be, and the worlds.

    Attributes:
        out_dir: the demo's output folder.
        quick: run a tiny version (tests).
        seed: seed for worlds and training.
        workers: processes for world generation.
        progress: show progress bars.
    """

    out_dir: Path
    quick: bool = False
    seed: int = 0
    workers: int = 2
    progress: bool = True
    _worlds: dict[str, Path] = field(default_factory=dict, repr=False)

    def world(self, kind: str) -> Path:
        """The folder of the demo's ``kind`` world (:data:`WORLDS`), generated on first use."""
        if kind in self._worlds:
            return self._worlds[kind]
        if kind not in WORLDS:
            raise KeyError(f"no demo world {kind!r} (known: {sorted(WORLDS)})")
        from avlearn.data.synthetic import WorldConfig, make_world

        spec = WORLDS[kind]
        config, clips = dict(spec["config"]), dict(spec["clips"])
        if self.quick:
            config.update(spec["quick"]["config"])
            clips = dict(spec["quick"]["clips"])
        path = self.out_dir / "worlds" / (kind + ("_quick" if self.quick else ""))
        self.log(f"world {kind}: {sum(clips.values())} clips -> {path}")
        make_world(
            path, WorldConfig(**config), clips=clips, seed=self.seed, workers=self.workers, progress=self.progress
        )
        self._worlds[kind] = path
        return path

    def stage_dir(self, name: str) -> Path:
        """``OUT/<name>/`` (created): a stage's run folder."""
        path = self.out_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    def log(self, message: str) -> None:
        """Print a progress line (stderr, so ``--json`` output stays clean)."""
        if self.progress:
            print(f"[demo] {message}", file=sys.stderr, flush=True)


def stage_config(recipe: str, overrides: dict[str, Any], *, source: str | None = None) -> Any:
    """A stage's validated recipe: a packaged YAML recipe plus the demo's overrides.

    Every stage trains from the recipes users train from (``avlearn/recipes/<recipe>.yaml``); the
    demo only changes what makes it fit in minutes (a smaller world, fewer steps, its output
    folders), as dotted ``{key: value}`` overrides.

    Args:
        recipe: a packaged recipe name (``sync_multisensory``) or a recipe file.
        overrides: ``{"train.steps": 800, "data.world": "...", ...}``.
        source: named in error messages (default ``"<recipe> + demo overrides"``).

    Returns:
        the :class:`~avlearn.tasks.config.ExperimentConfig`.

    Raises:
        avlearn.tasks.config.ConfigError: an override that the recipe's task does not know.
    """
    from avlearn.tasks.config import apply_overrides, config_from_dict, load_recipe

    raw = apply_overrides(load_recipe(recipe), [(k, copy.deepcopy(v)) for k, v in overrides.items()],
                          source=source or f"{recipe} + demo overrides")
    return config_from_dict(raw, source=source or f"{recipe} + demo overrides")


def common_overrides(ctx: "DemoContext", out_dir: str | os.PathLike) -> dict[str, Any]:
    """The overrides every stage applies: its output folder, seed, progress bars, no TensorBoard."""
    return {"train.out_dir": str(out_dir), "train.seed": ctx.seed, "train.progress": ctx.progress and not ctx.quick,
            "train.tensorboard": False}


def _run_stage(stage: DemoStage, ctx: DemoContext) -> tuple[DemoSection, str | None]:
    try:
        section = stage.fn(ctx)
        if not isinstance(section, DemoSection):
            raise TypeError(f"demo stage {stage.name!r} returned {type(section).__name__}, not a DemoSection")
        return section, None
    except Exception:  # a failing stage is reported, and the demo goes on
        tb = traceback.format_exc()
        return DemoSection(f"{stage.name} (failed)", text="This stage raised an error:", code=tb), tb


def run_demo(
    out_dir: str | os.PathLike = "runs/demo",
    *,
    quick: bool = False,
    stages: list[str] | None = None,
    seed: int = 0,
    workers: int = 2,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the worlds, run the stages, write ``OUT/report.html``.

    Args:
        out_dir: the output folder.
        quick: tiny worlds and runs (for tests; the numbers mean little).
        stages: names of the stages to run (default: all registered).
        seed: world and training seed.
        workers: world-generation processes.
        progress: print progress lines and bars.

    Returns:
        ``{"report": path, "seconds": total, "stages": {name: {"seconds", "metrics", "error"}}}``
        (also written to ``OUT/summary.json``).

    Raises:
        KeyError: an unknown stage name.
    """
    from avlearn.viz.report import Report

    t_start = time.perf_counter()
    ctx = DemoContext(Path(out_dir), quick=quick, seed=seed, workers=workers, progress=progress)
    ctx.out_dir.mkdir(parents=True, exist_ok=True)
    registered = list_demo_stages()
    if stages is not None:
        known = {s.name for s in registered}
        missing = [s for s in stages if s not in known]
        if missing:
            raise KeyError(f"unknown demo stages {missing} (registered: {sorted(known)})")
        registered = [s for s in registered if s.name in stages]
    for kind in dict.fromkeys(k for s in registered for k in s.worlds):
        ctx.world(kind)
    report = Report(
        "avlearn demo" + (" (quick)" if quick else ""),
        intro="Each task trained briefly on a generated audio-visual world and evaluated on its "
        "frozen test lists. " + ("Quick mode: tiny worlds and runs, numbers are not meaningful." if quick else ""),
    )
    summary: dict[str, Any] = {"stages": {}}
    timings = []
    for i, stage in enumerate(registered, 1):
        ctx.log(f"stage {i}/{len(registered)}: {stage.name}")
        t0 = time.perf_counter()
        section, error = _run_stage(stage, ctx)
        seconds = time.perf_counter() - t0
        if error:
            ctx.log(f"stage {stage.name} failed:\n{error}")
        section.render(report)
        summary["stages"][stage.name] = {"seconds": round(seconds, 1), "metrics": section.metrics, "error": error}
        timings.append([stage.name, f"{seconds:.1f}", "failed" if error else "ok"])
    total = time.perf_counter() - t_start
    import torch

    run = report.section("Run")
    run.table(timings + [["total (incl. worlds)", f"{total:.1f}", ""]], header=["stage", "seconds", "status"])
    threads = torch.get_num_threads()
    run.text(f"{platform.platform()}; {os.cpu_count()} CPUs, torch {torch.__version__} with {threads} threads.")
    path = report.save(ctx.out_dir / "report.html")
    summary.update(report=str(path), seconds=round(total, 1), quick=quick)
    with open(ctx.out_dir / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=2, default=str)
    ctx.log(f"report: {path} ({total:.0f} s)")
    return summary
