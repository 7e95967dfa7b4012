"""probe() and ``avlearn probe``: streams, rates, durations and start offsets from headers."""

from __future__ import annotations

import json

import pytest
from media import write_clip, write_timed

from avlearn.cli import main
from avlearn.io import MediaInfo, probe


@pytest.mark.parametrize(
    "ext,vcodec,acodec,rate",
    [("mp4", "h264", "aac", 16000), ("webm", "vp9", "opus", 48000), ("mkv", "h264", "flac", 16000), ("avi", "mpeg4", "pcm_s16le", 16000)],
)
def test_probe_every_container(tmp_path, ext, vcodec, acodec, rate):
    write_clip(tmp_path / f"a.{ext}", seconds=2.0, fps=8, size=(32, 48), channels=2)
    info = probe(tmp_path / f"a.{ext}")
    assert isinstance(info, MediaInfo) and info.path == str(tmp_path / f"a.{ext}")
    assert info.duration == pytest.approx(2.0, abs=0.02)
    v, a = info.video, info.audio
    assert (v.kind, v.codec, v.width, v.height) == ("video", vcodec, 48, 32)
    assert v.fps == pytest.approx(8.0) and v.start == pytest.approx(0.0)
    assert v.frames in (None, 16)  # Matroska does not state a frame count
    assert (a.kind, a.codec, a.sample_rate, a.channels) == ("audio", acodec, rate, 2)
    assert a.start == pytest.approx(0.0, abs=0.02)  # Opus reports its pre-skip here


def test_probe_audio_only_and_late_audio(tmp_path):
    info = probe(write_clip(tmp_path / "s.flac", seconds=1.5, sample_rate=44100, channels=6).path)
    assert info.video is None and (info.audio.codec, info.audio.channels, info.audio.sample_rate) == ("flac", 6, 44100)
    assert info.duration == pytest.approx(1.5, abs=1e-3)
    late = write_timed(tmp_path / "late.mkv", [i / 8 for i in range(16)], seconds=2.0, audio_start=0.5)
    info = probe(late.path)
    assert info.audio.start == pytest.approx(0.5) and info.video.start == pytest.approx(0.0)
    assert info.duration == pytest.approx(2.0, abs=0.02)


def test_cli_probe_text_json_and_failure(tmp_path, capsys):
    path = write_clip(tmp_path / "a.mp4", seconds=1.0, fps=8).path
    assert main(["probe", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: 1.000 s") and "video h264 32x32 8.000 fps, 8 frames" in out and "audio aac 16000 Hz x1" in out
    assert main(["probe", path, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["duration"] == pytest.approx(1.0) and [s["kind"] for s in data["streams"]] == ["video", "audio"]
    missing = str(tmp_path / "missing.mp4")
    assert main(["probe", path, missing, "--json"]) == 1
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 1 and f"{missing}: no such file" in captured.err
