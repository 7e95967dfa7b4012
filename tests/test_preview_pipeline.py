"""The preview pipeline end to end (avlearn.train.preview, .evaluate, .demo): every stage
trained for a few steps on a tiny actions world, the comparison table, localization, the demo
section and ``avlearn classify`` with the bundle it writes. Minutes on 2 CPU cores: ``slow``."""

from __future__ import annotations

import json

import pytest

from avlearn.cli import main


@pytest.mark.slow
def test_demo_stage_quick(tmp_path, capsys):
    from avlearn.demo import run_demo

    summary = run_demo(tmp_path, quick=True, stages=["preview"], progress=False)
    stage = summary["stages"]["preview"]
    assert stage["error"] is None, stage["error"]
    m = stage["metrics"]
    assert 0 <= m["dense_accuracy"] <= 1 and 0 <= m["preview_accuracy"] <= 1
    assert 0 < m["preview_gflops_fraction"] < 1 / 3
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Preview recognition" in html and "GFLOPs" in html and "<svg" in html
    for stage_dir in ("teacher", "student", "frames", "audio", "skimming"):
        assert (tmp_path / "preview" / stage_dir / "weights.pt").is_file()
    world = tmp_path / "worlds" / "actions_quick"
    video = min((world / "test" / "clips").glob("*.mp4"))
    assert main(["classify", str(video), "--weights", str(tmp_path / "preview" / "preview.pt"), "--preview",
                 "--segments", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["mode"] == "preview" and len(r["moments"]) == 4 and r["top_k"]
