"""SVG line and scatter plots: valid XML, one path per series, legend, labels, NaN gaps, log axes."""

import math
import xml.etree.ElementTree as ET

import numpy as np

from avlearn.viz import line_plot, nice_ticks, scatter_plot

NS = "{http://www.w3.org/2000/svg}"


def _texts(root) -> list[str]:
    return [t.text for t in root.iter(NS + "text") if t.text]


def test_nice_ticks():
    assert nice_ticks(0.13, 0.87) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    ticks = nice_ticks(-3, 1234)
    assert ticks[0] <= -3 and ticks[-1] >= 1234 and len(ticks) <= 7
    assert nice_ticks(5, 5)[0] < 5 < nice_ticks(5, 5)[-1]


def test_line_plot_series_legend_labels_and_gaps(tmp_path):
    steps = np.arange(0, 50, 5)
    train = np.exp(-steps / 20)
    val = train + 0.1
    val[4] = np.nan  # a gap
    out = tmp_path / "curves.svg"
    svg = line_plot(
        {"train <loss>": (steps, train), "val loss": (steps, val)},
        title="Training", xlabel="step", ylabel="loss", path=out,
    )
    assert out.read_text() == svg
    root = ET.fromstring(svg)
    paths = [p.get("d") for p in root.iter(NS + "path")]
    assert len(paths) == 2
    assert paths[0].count("M") == 1 and paths[1].count("M") == 2  # NaN breaks the line
    texts = _texts(root)
    for label in ("Training", "step", "loss", "train <loss>", "val loss"):
        assert label in texts  # escaped in the SVG, intact after parsing
    # every point lies inside the plot frame
    frame = [r for r in root.iter(NS + "rect") if r.get("fill") == "none"][0]
    x0, y0 = float(frame.get("x")), float(frame.get("y"))
    x1, y1 = x0 + float(frame.get("width")), y0 + float(frame.get("height"))
    for d in paths:
        for cmd in d.split():
            x, y = map(float, cmd[1:].split(","))
            assert x0 - 0.1 <= x <= x1 + 0.1 and y0 - 0.1 <= y <= y1 + 0.1
    one = ET.fromstring(line_plot({"only": [3, 1, 2]}))
    assert "only" not in _texts(one)  # a single series needs no legend


def test_log_axis_and_scatter_labels():
    svg = line_plot({"a": ([1, 10, 1000], [1, 2, 3]), "b": ([0, 5, 50], [1, 1, 1])}, logx=True)
    texts = _texts(ET.fromstring(svg))
    assert "1" in texts and "10" in texts and "100" in texts and "1000" in texts
    pts = {
        "dense": [(120.0, 0.81, "10 clips")],
        "preview": [(35.0, 0.80, "ours"), (4.0, 0.62, "audio only")],
    }
    sc = ET.fromstring(scatter_plot(pts, xlabel="GFLOPs", ylabel="accuracy", logx=True, title="accuracy vs GFLOPs"))
    circles = list(sc.iter(NS + "circle"))
    assert len(circles) == 3
    texts = _texts(sc)
    for label in ("10 clips", "ours", "audio only", "dense", "preview", "GFLOPs", "accuracy vs GFLOPs"):
        assert label in texts
    fills = {c.get("fill") for c in circles}
    assert len(fills) == 2  # one colour per group
    xs = {c.get("cx") for c in circles}
    assert len(xs) == 3 and all(math.isfinite(float(x)) for x in xs)
    flat = ET.fromstring(scatter_plot([(1, 2, "p"), (3, 4)]))
    assert len(list(flat.iter(NS + "circle"))) == 2
