"""A small HTML report builder: sections of text, tables, images, SVG plots, audio and video.

    >>> r = Report("Separation demo")
    >>> s = r.section("Results")
    >>> s.text("SDRi against the baselines.").table([["ours", 7.4], ["mixture", 0.0]], header=["method", "SDRi"])
    >>> s.audio(mixture, sample_rate=11025, label="mixture").image(spectrogram_png)
    >>> r.save("out/report.html")    # assets go to out/report_files/, linked relatively

Nothing is written before :meth:`Report.save`: arrays become PNG / WAV files in a folder
beside the HTML, given files are copied there (unless already under the report's folder), and
every link is relative, so the folder can be moved or zipped as a whole. SVG is inlined.
"""

from __future__ import annotations

import html
import os
import re
import shutil
from typing import Any, Callable, Sequence

import numpy as np
import torch

from avlearn.io import write_audio
from avlearn.viz.images import save_image

__all__ = ["Report", "Section"]

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #222;
       max-width: 1100px; margin: 2em auto; padding: 0 1.5em; line-height: 1.45; }
h1 { font-size: 1.7em; border-bottom: 2px solid #3b6fb6; padding-bottom: .3em; }
h2 { font-size: 1.3em; margin-top: 2em; color: #234; }
table { border-collapse: collapse; margin: 1em 0; font-size: .95em; }
th, td { border: 1px solid #ccc; padding: .35em .8em; text-align: left; }
th { background: #eef2f8; }
tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: .6em 1em .6em 0; vertical-align: top; }
figure img, figure video { max-width: 100%; border: 1px solid #ddd; image-rendering: pixelated; }
figure video { min-width: 240px; }
figcaption { font-size: .85em; color: #555; margin-top: .2em; }
pre { background: #f4f4f4; padding: .7em 1em; overflow-x: auto; font-size: .9em; }
.audio { display: inline-block; margin: .4em 1.2em .4em 0; }
.audio span { display: block; font-size: .85em; color: #555; }
nav a { margin-right: 1em; }
"""

# A renderer gets a function that stores an asset (suffix, writer(path)) and returns its link.
_Renderer = Callable[[Callable[[str, str, Callable[[str], Any]], str]], str]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "item"


def _cell(v: Any, floatfmt: str) -> str:
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, (float, np.floating)):
        return f'<td class="num">{format(float(v), floatfmt)}</td>'
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        return f'<td class="num">{int(v)}</td>'
    return f"<td>{html.escape(str(v))}</td>"


class Section:
    """One titled part of a :class:`Report`; every method returns the section for chaining."""

    def __init__(self, title: str):
        self.title = title
        self._items: list[_Renderer] = []

    def text(self, text: str) -> "Section":
        """Paragraphs of plain text (blank lines separate paragraphs; HTML is escaped)."""
        paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        self._items.append(lambda _store: "".join(f"<p>{html.escape(p)}</p>" for p in paras))
        return self

    def code(self, text: str) -> "Section":
        """Preformatted text, e.g. the command that produced the numbers."""
        self._items.append(lambda _store: f"<pre>{html.escape(text)}</pre>")
        return self

    def table(self, rows: Sequence[Sequence[Any]] | Sequence[dict], header: Sequence[str] | None = None, *, floatfmt: str = ".3f") -> "Section":
        """A table; rows are sequences, or dicts (whose keys give the header when none is given).

        Floats are formatted with ``floatfmt`` and right-aligned.
        """
        rows = list(rows)
        if rows and isinstance(rows[0], dict):
            header = list(header or rows[0].keys())
            rows = [[r.get(k, "") for k in header] for r in rows]
        head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in header) + "</tr>" if header else ""
        body = "".join("<tr>" + "".join(_cell(v, floatfmt) for v in r) + "</tr>" for r in rows)
        self._items.append(lambda _store: f"<table>{head}{body}</table>")
        return self

    def image(self, image, caption: str = "", *, scale: int = 1, width: int | None = None) -> "Section":
        """An image: a file path, or an array / tensor (saved as PNG; ``scale`` upsamples tiny ones)."""
        w = f' width="{width}"' if width else ""

        def render(store) -> str:
            if isinstance(image, (str, os.PathLike)):
                src = store(os.fspath(image), "", None)
            else:
                src = store(caption or "image", ".png", lambda p: save_image(p, image, scale=scale))
            return self._figure(f'<img src="{html.escape(src)}" alt="{html.escape(caption)}"{w}>', caption)

        self._items.append(render)
        return self

    def svg(self, svg: str, caption: str = "") -> "Section":
        """An inline SVG document (e.g. from :mod:`avlearn.viz.plots`)."""
        inline = re.sub(r"^<\?xml[^>]*>\s*", "", svg.strip())
        self._items.append(lambda _store: self._figure(inline, caption))
        return self

    def audio(self, audio, sample_rate: int | None = None, label: str = "") -> "Section":
        """An audio player: a file path, or samples (N,) / (C, N) in [-1, 1] written as WAV."""
        if not isinstance(audio, (str, os.PathLike)) and not sample_rate:
            raise ValueError(f"audio {label!r}: sample_rate is required for sample arrays")

        def render(store) -> str:
            if isinstance(audio, (str, os.PathLike)):
                src = store(os.fspath(audio), "", None)
            else:
                samples = audio.detach().cpu().float().numpy() if isinstance(audio, torch.Tensor) else np.asarray(audio, np.float32)
                src = store(label or "audio", ".wav", lambda p: write_audio(p, samples, int(sample_rate)))
            return (
                f'<div class="audio"><span>{html.escape(label)}</span>'
                f'<audio controls preload="none" src="{html.escape(src)}"></audio></div>'
            )

        self._items.append(render)
        return self

    def video(self, path: str | os.PathLike, caption: str = "", *, width: int | None = None) -> "Section":
        """A video player for a file (copied beside the report)."""
        w = f' width="{width}"' if width else ""

        def render(store) -> str:
            src = store(os.fspath(path), "", None)
            return self._figure(f'<video controls preload="metadata" src="{html.escape(src)}"{w}></video>', caption)

        self._items.append(render)
        return self

    @staticmethod
    def _figure(inner: str, caption: str) -> str:
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        return f"<figure>{inner}{cap}</figure>"


class Report:
    """An HTML report made of titled sections.

    Args:
        title: the page title and heading.
        intro: optional text under the heading.
    """

    def __init__(self, title: str, intro: str = ""):
        self.title = title
        self.intro = intro
        self.sections: list[Section] = []

    def section(self, title: str) -> Section:
        """Append a new section and return it."""
        sec = Section(title)
        self.sections.append(sec)
        return sec

    def save(self, path: str | os.PathLike) -> str:
        """Write the HTML file and its assets.

        Args:
            path: the ``.html`` file, or a folder (``report.html`` is written in it). Assets go
                to ``<name>_files/`` beside it.

        Returns:
            The path of the HTML file.

        Raises:
            FileNotFoundError: an image, audio or video path added to the report is missing.
        """
        path = os.fspath(path)
        if os.path.isdir(path) or not path.lower().endswith((".html", ".htm")):
            path = os.path.join(path, "report.html")
        root = os.path.dirname(os.path.abspath(path))
        assets = os.path.splitext(os.path.basename(path))[0] + "_files"
        os.makedirs(os.path.join(root, assets), exist_ok=True)
        counter = [0]

        def store(name: str, suffix: str, writer: Callable[[str], Any] | None) -> str:
            counter[0] += 1
            if writer is None:  # an existing file: link it if it is under the report, else copy
                src = os.path.abspath(name)
                if not os.path.isfile(src):
                    raise FileNotFoundError(f"{name}: file added to report {path!r} does not exist")
                if os.path.commonpath([src, root]) == root:
                    return os.path.relpath(src, root).replace(os.sep, "/")
                base, ext = os.path.splitext(os.path.basename(src))
                rel = f"{assets}/{counter[0]:03d}_{_slug(base)}{ext.lower()}"
                shutil.copyfile(src, os.path.join(root, rel))
                return rel
            rel = f"{assets}/{counter[0]:03d}_{_slug(name)}{suffix}"
            writer(os.path.join(root, rel))
            return rel

        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        if self.intro:
            parts.append(f"<p>{html.escape(self.intro)}</p>")
        if len(self.sections) > 1:
            links = "".join(f'<a href="#s{i}">{html.escape(s.title)}</a>' for i, s in enumerate(self.sections))
            parts.append(f"<nav>{links}</nav>")
        for i, sec in enumerate(self.sections):
            parts.append(f'<section id="s{i}"><h2>{html.escape(sec.title)}</h2>')
            parts.extend(render(store) for render in sec._items)
            parts.append("</section>")
        doc = (
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            f"<title>{html.escape(self.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts)
            + "\n</body>\n</html>\n"
        )
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(doc)
        return path
