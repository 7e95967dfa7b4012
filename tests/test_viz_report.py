"""HTML report: sections, tables, images, inline SVG, audio players and videos with relative links."""

import os
from html.parser import HTMLParser

import numpy as np
import pytest

from avlearn.io import write_audio, write_av
from avlearn.viz import Report, line_plot


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        if data.strip():
            self.text.append(data.strip())


def _parse(path) -> _Collect:
    p = _Collect()
    with open(path, encoding="utf-8") as fh:
        p.feed(fh.read())
    return p


def test_report_sections_assets_and_links(tmp_path):
    sr = 8000
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(sr // 4) / sr).astype(np.float32)
    given_wav = write_audio(tmp_path / "elsewhere" / "ref.wav", tone[None], sr)
    video = write_av(tmp_path / "elsewhere" / "clip.mp4", np.zeros((4, 16, 16, 3), np.uint8), None, fps=8)
    inside = tmp_path / "out" / "already_here.png"
    inside.parent.mkdir(parents=True)

    r = Report("Separation <demo>", intro="Numbers & players.")
    s = r.section("Results")
    s.text("SDRi against baselines.\n\nSecond <para>.").table(
        [["ours", 7.384, 12], ["mixture", 0.0, 12]], header=["method", "SDRi (dB)", "clips"], floatfmt=".2f"
    )
    s.table([{"name": "a", "value": 1.5}])
    s.code("avlearn separate x.mp4 --weights w.pt")
    m = r.section("Media")
    m.image(np.random.default_rng(0).random((8, 8)), caption="a map", scale=4)
    m.svg(line_plot({"loss": [3, 2, 1]}), caption="curve")
    m.audio(tone, sample_rate=sr, label="mixture").audio(given_wav, label="reference")
    m.video(video, caption="clip")
    from PIL import Image

    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(inside)
    m.image(inside)
    path = r.save(tmp_path / "out" / "report.html")

    assert path.endswith("report.html") and os.path.isfile(path)
    doc = _parse(path)
    tags = [t for t, _ in doc.tags]
    assert tags.count("section") == 2 and tags.count("audio") == 2 and tags.count("video") == 1
    assert tags.count("img") == 2 and tags.count("svg") == 1 and tags.count("table") == 2
    for needle in ("Separation <demo>", "Results", "Media", "7.38", "Second <para>.", "mixture", "reference", "a map"):
        assert needle in doc.text
    assert "<para>" not in open(path, encoding="utf-8").read()  # text is escaped
    root = os.path.dirname(path)
    srcs = [a["src"] for t, a in doc.tags if t in ("img", "audio", "video")]
    for src in srcs:
        assert not os.path.isabs(src) and os.path.isfile(os.path.join(root, src)), src
    assert "already_here.png" in srcs  # a file under the report folder is linked, not copied
    wavs = [src for src in srcs if src.endswith(".wav")]
    assert len(wavs) == 2 and all(w.startswith("report_files/") for w in wavs)
    assert os.path.getsize(os.path.join(root, wavs[0])) > 2 * (sr // 4)  # 16-bit samples written


def test_report_errors_and_folder_target(tmp_path):
    with pytest.raises(ValueError, match="sample_rate"):
        Report("x").section("s").audio(np.zeros(10))
    r = Report("x")
    r.section("s").image(tmp_path / "missing.png")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        r.save(tmp_path / "rep")
    ok = Report("empty").save(tmp_path / "rep2")
    assert ok == str(tmp_path / "rep2" / "report.html") and os.path.isfile(ok)
