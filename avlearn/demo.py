"""The one-command demo: a small synthetic world, each task trained briefly, one HTML report.

``avlearn demo [--out runs/demo] [--quick]`` runs the registered **stages** in order. Before
any stage runs, the synthetic worlds the stages declare are generated (or reused) under
``OUT/worlds/<kind>``; then each stage trains and evaluates its task and returns a
:class:`DemoSection` (text, a numbers table, SVG plots, images, audio players, videos), and
the sections are written to ``OUT/report.html`` through :class:`avlearn.viz.report.Report`.
A stage that fails becomes a section with its traceback; the others still run.

Adding a stage (in the task's own module, which :mod:`avlearn.tasks` imports)::

    from avlearn.demo import DemoContext, DemoSection, register_demo_stage

    @register_demo_stage("sync", order=20, worlds=("objects",))
    def sync_stage(ctx: DemoContext) -> DemoSection:
        world = ctx.world("objects")                 # the generated world's folder
        out = ctx.stage_dir("sync")                  # OUT/sync/, for checkpoints and assets
        ...train with avlearn.train.fit(cfg), evaluate...
        return DemoSection("Synchronization", text="...", table=[...], header=[...],
                           plots=[(svg, "training loss")], metrics={"accuracy": 0.93})

``ctx.quick`` asks for a tiny version (seconds, for tests). The full demo must stay under 15
minutes on 2 CPU cores, so a stage should take about 2-3 minutes there.
"""

from __future__ import annotations

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

__all__ = [
    "DemoContext",
    "DemoSection",
    "DemoStage",
    "WORLDS",
    "register_demo_stage",
    "list_demo_stages",
    "run_demo",
    "training_curves",
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
}

# Modules whose import registers stages (the task modules register theirs on import).
_STAGE_MODULES = ("avlearn.tasks",)


@dataclass
class DemoSection:
    """What a stage reports; rendered as one section of ``report.html``.

    Attributes:
        title: the section heading.
        text: paragraphs (blank-line separated).
        table: rows of the numbers table (e.g. the method against its baselines).
        header: the table's column names.
        plots: ``(svg, caption)`` pairs, e.g. from :func:`training_curves`.
        images: ``(path or uint8 array (H, W, 3), caption)`` pairs.
        audio: ``(path or samples (C, N), sample_rate or None, label)`` triples.
        videos: ``(path, caption)`` pairs.
        code: the command that reproduces the stage outside the demo.
        metrics: the headline numbers (also printed by ``avlearn demo --json``).
    """

    title: str
    text: str = ""
    table: list[list[Any]] = field(default_factory=list)
    header: list[str] | None = None
    plots: list[tuple[str, str]] = field(default_factory=list)
    images: list[tuple[Any, str]] = field(default_factory=list)
    audio: list[tuple[Any, int | None, str]] = field(default_factory=list)
    videos: list[tuple[str, str]] = field(default_factory=list)
    code: str = ""
    metrics: dict[str, float] = field(default_factory=dict)

    def render(self, report: Any) -> None:
        """Append this section to an :class:`avlearn.viz.report.Report`."""
        sec = report.section(self.title)
        if self.text:
            sec.text(self.text)
        if self.table:
            sec.table(self.table, header=self.header)
        for svg, caption in self.plots:
            sec.svg(svg, caption)
        for image, caption in self.images:
            sec.image(image, caption, scale=1 if isinstance(image, (str, os.PathLike)) else 3)
        for samples, rate, label in self.audio:
            sec.audio(samples, sample_rate=rate, label=label)
        for path, caption in self.videos:
            sec.video(path, caption)
        if self.code:
            sec.code(self.code)


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


def training_curves(
    metrics_path: str | os.PathLike, *, keys: tuple[str, ...] = ("loss",), title: str = "training curves"
) -> str:
    """An SVG line plot of ``metrics.jsonl``: the training ``loss`` and each validation key."""
    from avlearn.train.log import read_metrics
    from avlearn.viz.plots import line_plot

    series = {}
    for split in ("train", "val"):
        recs = read_metrics(metrics_path, split)
        for k in keys:
            pts = [(r["step"], r[k]) for r in recs if k in r]
            if pts:
                series[f"{split} {k}"] = ([p[0] for p in pts], [p[1] for p in pts])
    few = any(len(x) <= 30 for x, _ in series.values())
    return line_plot(series, title=title, xlabel="step", ylabel=", ".join(keys), markers=few)


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
