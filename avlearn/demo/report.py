"""What a demo stage reports, and how it becomes a section of the demo's HTML report.

A stage returns a :class:`DemoSection` (text, a numbers table, SVG plots, images, audio
players, videos, the command that reproduces it); :func:`avlearn.demo.runner.run_demo` renders
the sections in order into ``OUT/report.html`` with :class:`avlearn.viz.report.Report`.
:func:`training_curves` plots a run's ``metrics.jsonl``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DemoSection", "training_curves"]


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
