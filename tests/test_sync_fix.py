"""``shift_audio_file`` / ``avlearn sync --fix``: the audio re-timed, the video packets untouched."""

import json

import av
import numpy as np
import pytest
import torch
import yaml

from avlearn.cli import main
from avlearn.io import read_clip, write_av
from avlearn.models import create_model
from avlearn.tasks.sync.fix import shift_audio_file
from media import click_positions

FPS, SR = 16, 48000
FLASHES = (10, 27, 45, 58)


def flash_clip(path, delay: float) -> str:
    """4 s, 16 fps: bright frames at FLASHES; a click ``delay`` seconds after each flash."""
    video = np.full((64, 32, 32, 3), 30, dtype=np.uint8)
    audio = np.zeros((1, 4 * SR), dtype=np.float32)
    for f in FLASHES:
        video[f] = 220
        audio[0, int(round((f / FPS + delay) * SR))] = 0.8
    return write_av(path, video, audio, fps=FPS, sample_rate=SR)


def measured_delay(path) -> float:
    """Median of (click time - flash time) over the flashes, seconds."""
    clip = read_clip(path)
    bright = clip.video.float().mean(dim=(1, 2, 3))  # (T,)
    flashes = np.sort(torch.topk(bright, len(FLASHES)).indices.numpy()) / clip.fps
    clicks = np.sort(np.asarray(click_positions(clip.audio.numpy(), count=len(FLASHES), min_gap=SR // 8))) / clip.sample_rate
    return float(np.median(clicks - flashes))


def video_packets(path) -> list[bytes]:
    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.video[0]) if p.size]


@pytest.mark.parametrize("delay", [0.25, -0.1875])
def test_fixed_file_is_in_sync_and_video_is_copied(tmp_path, delay):
    src = flash_clip(tmp_path / "late.mp4", delay)
    before = measured_delay(src)
    assert before == pytest.approx(delay, abs=0.03)  # the clip measures what was put in (codec delay aside)
    info = shift_audio_file(src, tmp_path / "fixed.mp4", delay)
    after = measured_delay(tmp_path / "fixed.mp4")
    assert after == pytest.approx(before - delay, abs=2e-3)  # re-timed by the offset, to ~1 ms
    assert abs(after) < 1.0 / FPS  # in sync to within a frame
    assert video_packets(src) == video_packets(tmp_path / "fixed.mp4")  # remuxed, not re-encoded
    assert info["video_packets"] == len(video_packets(src))
    assert (info["samples_dropped"], info["samples_padded"]) == ((round(delay * SR), 0) if delay > 0 else (0, round(-delay * SR)))


def test_fix_refuses_bad_requests(tmp_path):
    from avlearn.io import MissingStreamError

    src = flash_clip(tmp_path / "a.mp4", 0.0)
    with pytest.raises(ValueError, match="overwrite"):
        shift_audio_file(src, src, 0.1)
    silent = write_av(tmp_path / "v.mp4", np.zeros((16, 32, 32, 3), np.uint8), None, fps=FPS)
    with pytest.raises(MissingStreamError, match="v.mp4"):
        shift_audio_file(silent, tmp_path / "out.mp4", 0.1)


def test_cli_fix_refuses_unreliable_unless_forced(tmp_path, capsys):
    src = flash_clip(tmp_path / "clip.mp4", 0.0)
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    torch.save(create_model("multisensory_small").state_dict(), run / "weights.pt")  # untrained: never reliable
    (run / "config.yaml").write_text(yaml.safe_dump({
        "task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
        "data": {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 0.5}}))
    (run / "reliability.json").write_text(json.dumps({"threshold": None}))  # calibration: nothing is reliable
    out = tmp_path / "fixed.mp4"
    args = ["sync", src, "--weights", str(run / "weights.pt"), "--max-offset", "0.25", "--fix", str(out)]
    assert main(args) == 1
    assert not out.exists() and "--force" in capsys.readouterr().err
    assert main(args + ["--force", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["reliable"] is False and res["fixed"] == str(out)
    assert video_packets(out) == video_packets(src)
    assert measured_delay(out) == pytest.approx(measured_delay(src) - res["offset"], abs=2e-3)
