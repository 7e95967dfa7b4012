"""SVG plots without matplotlib: line plots (training curves) and labelled scatter plots.

Both return the SVG document as a string (embed it in a report with
:meth:`avlearn.viz.report.Section.svg`, or pass ``path=`` to also write a ``.svg`` file).
Axes use "nice" tick steps of 1, 2 or 5 x 10^k (Heckbert, "Nice numbers for graph labels",
Graphics Gems 1990), or decades on a log axis; several series get distinct colours and a
legend. The accuracy-against-GFLOPs plot of Listen to Look (Gao et al. CVPR 2020, Fig. 5) is
``scatter_plot({...}, logx=True)``.
"""

from __future__ import annotations

import math
import os
from typing import Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np

__all__ = ["line_plot", "scatter_plot", "save_svg", "nice_ticks", "PALETTE"]

PALETTE = ("#3b6fb6", "#e0702a", "#3a9a48", "#c8323c", "#8a63b5", "#8c564b", "#d46fb8", "#6f6f6f", "#a8a82a", "#2aa7b8")
_CHAR_W = 7.0  # approximate width of a 12 px sans-serif character


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lo, hi] (steps 1, 2, 5 x 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(count - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    f = raw / mag  # in [1, 10): round to the nearest nice mantissa (Heckbert's rounding)
    step = (1 if f < 1.5 else 2 if f < 3 else 5 if f < 7 else 10) * mag
    first = math.floor(lo / step + 1e-9) * step
    n = int(math.ceil((hi - first) / step - 1e-9))
    return [round(first + i * step, 12) for i in range(n + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Ticks of a log axis covering [lo, hi]: decades, or 1-2-5 steps over a short range."""
    a, b = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    steps = (1,) if b - a > 3 else (1, 2, 5)
    cands = sorted(m * 10.0**k for k in range(a, b + 1) for m in steps)
    first = max(c for c in cands if c <= lo * (1 + 1e-9))
    last = min(c for c in cands if c >= hi * (1 - 1e-9))
    return [c for c in cands if first <= c <= last]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e5 or abs(v) < 1e-3:
        return f"{v:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{v:.6g}"


class _Axes:
    """Maps data to pixels inside a frame and draws the axes, grid, labels and legend."""

    def __init__(self, xs, ys, *, width, height, logx, logy, legend: Sequence[str]):
        self.width, self.height, self.logx, self.logy = width, height, logx, logy
        xs = np.asarray([x for x in xs if math.isfinite(x) and (x > 0 or not logx)], dtype=np.float64)
        ys = np.asarray([y for y in ys if math.isfinite(y) and (y > 0 or not logy)], dtype=np.float64)
        self.xticks = self._ticks(xs, logx)
        self.yticks = self._ticks(ys, logy)
        ylab_w = max(len(_fmt(t)) for t in self.yticks) * _CHAR_W
        legend_w = (max(len(s) for s in legend) * _CHAR_W + 36) if legend else 0
        self.left, self.right = 30 + ylab_w, width - 16 - legend_w
        self.top, self.bottom = 36, height - 48
        self.legend = list(legend)

    @staticmethod
    def _ticks(v: np.ndarray, log: bool) -> list[float]:
        if v.size == 0:
            return [1.0, 10.0] if log else [0.0, 1.0]
        lo, hi = float(v.min()), float(v.max())
        if log:
            return _log_ticks(lo, hi) if hi > lo else _log_ticks(lo / 2, hi * 2)
        return nice_ticks(lo, hi)

    def _scale(self, v, ticks, log, a, b):
        t0, t1 = ticks[0], ticks[-1]
        if log:
            v, t0, t1 = np.log10(v), math.log10(t0), math.log10(t1)
        return a + (np.asarray(v, dtype=np.float64) - t0) / ((t1 - t0) or 1.0) * (b - a)

    def px(self, x):
        return self._scale(x, self.xticks, self.logx, self.left, self.right)

    def py(self, y):
        return self._scale(y, self.yticks, self.logy, self.bottom, self.top)

    def frame(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        out = [f'<rect x="0" y="0" width="{self.width}" height="{self.height}" fill="white"/>']
        for t in self.xticks:
            x = float(self.px(t))
            out.append(f'<line x1="{x:.1f}" y1="{self.top}" x2="{x:.1f}" y2="{self.bottom}" stroke="#e4e4e4"/>')
            out.append(f'<text x="{x:.1f}" y="{self.bottom + 16}" text-anchor="middle">{escape(_fmt(t))}</text>')
        for t in self.yticks:
            y = float(self.py(t))
            out.append(f'<line x1="{self.left}" y1="{y:.1f}" x2="{self.right}" y2="{y:.1f}" stroke="#e4e4e4"/>')
            out.append(f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(t))}</text>')
        out.append(
            f'<rect x="{self.left}" y="{self.top}" width="{self.right - self.left}" '
            f'height="{self.bottom - self.top}" fill="none" stroke="#333"/>'
        )
        cx, cy = (self.left + self.right) / 2, (self.top + self.bottom) / 2
        out.append(f'<text x="{cx:.1f}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{escape(title)}</text>')
        out.append(f'<text x="{cx:.1f}" y="{self.height - 12}" text-anchor="middle">{escape(xlabel)}</text>')
        out.append(f'<text transform="translate(14,{cy:.1f}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>')
        for i, name in enumerate(self.legend):
            y = self.top + 8 + 18 * i
            color = PALETTE[i % len(PALETTE)]
            out.append(f'<rect x="{self.right + 12}" y="{y}" width="14" height="10" fill="{color}"/>')
            out.append(f'<text x="{self.right + 32}" y="{y + 9}">{escape(name)}</text>')
        return out


def _document(body: list[str], width: int, height: int, path: str | os.PathLike | None) -> str:
    """The SVG document around ``body``; also written to ``path`` when given."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" font-size="12" fill="#222">'
    )
    svg = "\n".join([head, *body, "</svg>"]) + "\n"
    if path is not None:
        save_svg(path, svg)
    return svg


def save_svg(path: str | os.PathLike, svg: str) -> str:
    """Write an SVG string to ``path`` (parent folders created)."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(svg)
    return path


def _xy(series) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(series, tuple) and len(series) == 2:
        x, y = (np.asarray(v, dtype=np.float64).reshape(-1) for v in series)
    else:
        y = np.asarray(series, dtype=np.float64).reshape(-1)
        x = np.arange(len(y), dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"series x and y differ in length: {x.size} vs {y.size}")
    return x, y


def line_plot(
    series: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    width: int = 640,
    height: int = 400,
    logx: bool = False,
    logy: bool = False,
    markers: bool = False,
    path: str | os.PathLike | None = None,
) -> str:
    """Line plot of several series (e.g. training and validation loss against steps).

    Args:
        series: name -> y values (x = 0, 1, ...) or an ``(x, y)`` pair. NaN / inf (and
            non-positive values on a log axis) break the line.
        title, xlabel, ylabel: text.
        width, height: size in pixels.
        logx, logy: logarithmic axes.
        markers: draw a dot at every point.
        path: also write the SVG here.

    Returns:
        The SVG document.
    """
    data = {name: _xy(s) for name, s in series.items()}
    xs = np.concatenate([x for x, _ in data.values()]) if data else np.zeros(0)
    ys = np.concatenate([y for _, y in data.values()]) if data else np.zeros(0)
    ax = _Axes(xs, ys, width=width, height=height, logx=logx, logy=logy, legend=list(data) if len(data) > 1 else [])
    body = ax.frame(title, xlabel, ylabel)
    for i, (x, y) in enumerate(data.values()):
        color = PALETTE[i % len(PALETTE)]
        ok = np.isfinite(x) & np.isfinite(y) & ((x > 0) | (not logx)) & ((y > 0) | (not logy))
        cmds, pen_down = [], False
        for xi, yi, good in zip(x, y, ok):
            if not good:
                pen_down = False
                continue
            cmds.append(f"{'L' if pen_down else 'M'}{float(ax.px(xi)):.1f},{float(ax.py(yi)):.1f}")
            pen_down = True
            if markers:
                body.append(f'<circle cx="{float(ax.px(xi)):.1f}" cy="{float(ax.py(yi)):.1f}" r="2.5" fill="{color}"/>')
        if cmds:
            body.append(f'<path d="{" ".join(cmds)}" fill="none" stroke="{color}" stroke-width="2"/>')
    return _document(body, width, height, path)


def scatter_plot(
    points: Mapping[str, Sequence[tuple]] | Sequence[tuple],
    *,
    title: str = "",
    xlabel: str = "",
    ylabel: str = "",
    width: int = 640,
    height: int = 400,
    logx: bool = False,
    logy: bool = False,
    path: str | os.PathLike | None = None,
) -> str:
    """Scatter plot with a text label beside each point (e.g. accuracy against GFLOPs).

    Args:
        points: ``[(x, y, label), ...]`` (labels optional: ``(x, y)``), or group name -> such
            a list; each group gets a colour and a legend entry.
        title, xlabel, ylabel, width, height, logx, logy, path: as :func:`line_plot`.

    Returns:
        The SVG document.
    """
    groups = dict(points) if isinstance(points, Mapping) else {"": list(points)}
    norm = {g: [(float(p[0]), float(p[1]), str(p[2]) if len(p) > 2 else "") for p in pts] for g, pts in groups.items()}
    xs = [p[0] for pts in norm.values() for p in pts]
    ys = [p[1] for pts in norm.values() for p in pts]
    legend = [g for g in norm if g] if len(norm) > 1 or "" not in norm else []
    ax = _Axes(xs, ys, width=width, height=height, logx=logx, logy=logy, legend=legend)
    body = ax.frame(title, xlabel, ylabel)
    for i, pts in enumerate(norm.values()):
        color = PALETTE[i % len(PALETTE)]
        for x, y, label in pts:
            if not (math.isfinite(x) and math.isfinite(y)) or (logx and x <= 0) or (logy and y <= 0):
                continue
            cx, cy = float(ax.px(x)), float(ax.py(y))
            body.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" fill="{color}" stroke="white"/>')
            if label:
                body.append(f'<text x="{cx + 7:.1f}" y="{cy - 6:.1f}" font-size="11">{escape(label)}</text>')
    return _document(body, width, height, path)
