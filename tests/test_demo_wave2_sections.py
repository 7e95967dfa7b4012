"""The quick demo writes the detection, fusion and activation-maximization sections."""

from __future__ import annotations

import pytest

from avlearn.demo import list_demo_stages, run_demo


@pytest.mark.slow
def test_quick_demo_writes_detection_fusion_and_activation_max(tmp_path):
    stages = ["action_classification", "activation_max", "action_detection", "fusion"]
    assert set(stages) <= {s.name for s in list_demo_stages()}
    summary = run_demo(tmp_path, quick=True, stages=stages, progress=False)
    for name in stages:
        assert summary["stages"][name]["error"] is None, summary["stages"][name]["error"]
    html = (tmp_path / "report.html").read_text()
    for title in ("Spatio-temporal action detection", "Audio-visual fusion", "activation maximization"):
        assert title in html
    assert html.count("<img") >= 1 + 4 + 1  # the labelled keyframe, the activation strips, ...
    m = summary["stages"]
    assert 0 <= m["action_detection"]["metrics"]["frame_map"] <= 1
    assert set(m["fusion"]["metrics"]) == {"fusion_audio_top1", "fusion_video_top1", "fusion_mbt_top1"}


def test_activation_max_stage_needs_the_classifier(tmp_path):
    summary = run_demo(tmp_path, quick=True, stages=["activation_max"], progress=False)
    assert "run the action_classification stage first" in summary["stages"]["activation_max"]["error"]
