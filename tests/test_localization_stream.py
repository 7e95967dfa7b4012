"""Streaming localization: window maps equal the whole-clip maps, best-window stitching, the
overlay at the input's rate and size with its audio copied, and memory flat in duration."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_localization import TINY, one_thread  # noqa: F401  (the autouse one-thread fixture)

from avlearn.io import probe, read_clip, write_av
from avlearn.models import create_model
from avlearn.tasks.localization import LocalizationTask, Localizer
from avlearn.tasks.localization.inference import localize_file
from avlearn.tasks.localization.streaming import _best_last_frame, stream_heatmaps


def _media(path, seconds: float, fps: int = 10, size=(33, 47), rate: int = 16000, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    video = rng.integers(0, 255, size=(n, *size, 3), dtype=np.uint8)
    t = np.arange(int(round(seconds * rate))) / rate
    audio = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sin(2 * np.pi * 0.7 * t)) / 2).astype(np.float32)[None]
    if size[0] % 2 or size[1] % 2:  # write_av needs even sizes: crop after writing is not possible, so pad
        video = np.pad(video, ((0, 0), (0, size[0] % 2), (0, size[1] % 2), (0, 0)))
    return write_av(path, video, audio, fps=fps, sample_rate=rate)


@pytest.fixture(scope="module")
def loc():
    torch.manual_seed(0)
    task = LocalizationTask(create_model("attention_loc_small", **TINY))
    return Localizer(task, fps=4, size=(32, 32), sample_rate=8000, clip_duration=1.0)


def test_best_window_assigns_every_frame_once_to_its_most_central_window():
    for nf, hf in ((8, 8), (8, 4), (8, 3), (5, 2), (4, 1)):
        prev = -1
        for k in range(6):
            last = _best_last_frame(k, hf, nf)
            for j in range(prev + 1, last + 1):  # frames handed to window k
                assert k * hf <= j < k * hf + nf  # the window covers the frame ...
                covering = [m for m in range(6) if m * hf <= j < m * hf + nf]
                dist = {m: abs(j - (m * hf + (nf - 1) / 2)) for m in covering}
                assert dist[k] == min(dist.values())  # ... and it is (one of) the most central
            prev = last


def test_streamed_maps_equal_the_whole_clip_maps(loc, tmp_path):
    media = _media(tmp_path / "a.mp4", 3.0, size=(32, 48))  # three windows of 1 s, back to back
    clip = read_clip(media, fps=loc.fps, size=loc.size, sample_rate=loc.sample_rate, mono=True)
    whole = loc.localize(clip.video.permute(3, 0, 1, 2), clip.audio)  # (12, 32, 32)
    for batch in (1, 2, 4):
        got = list(stream_heatmaps(loc, media, batch_size=batch))
        assert [j for j, _, _ in got] == list(range(12))
        streamed = torch.stack([h for _, _, h in got])
        torch.testing.assert_close(streamed, whole, atol=2e-3, rtol=0)  # audio: the resampler's edges (~1e-4)
    one = _media(tmp_path / "one.mp4", 1.0, size=(32, 48), seed=1)  # exactly one window: the same maps
    c1 = read_clip(one, fps=loc.fps, size=loc.size, sample_rate=loc.sample_rate, mono=True)
    streamed = torch.stack([h for _, _, h in stream_heatmaps(loc, one)])
    torch.testing.assert_close(streamed, loc.localize(c1.video.permute(3, 0, 1, 2), c1.audio), atol=2e-3, rtol=0)


def test_overlapping_windows_cover_every_frame_and_agree_inside(loc, tmp_path):
    media = _media(tmp_path / "b.mp4", 2.5, size=(32, 48))
    back = {j: h for j, _, h in stream_heatmaps(loc, media)}
    over = {j: h for j, _, h in stream_heatmaps(loc, media, hop=0.5, batch_size=3)}
    assert sorted(over) == sorted(back) == list(range(10))  # 2.5 s at 4 fps
    torch.testing.assert_close(over[0], back[0], atol=2e-3, rtol=0)  # frame 0: window 0 in both
    with pytest.raises(ValueError, match="hop"):
        list(stream_heatmaps(loc, media, hop=2.0))


def test_overlay_at_the_input_rate_and_size_with_its_audio_copied(loc, tmp_path):
    media = _media(tmp_path / "odd.mp4", 2.2, fps=15, size=(36, 50), rate=22050)
    out = tmp_path / "heat.mp4"
    res = localize_file(loc, media, out, frames_png=tmp_path / "p.png", panel_frames=3, batch_size=2)
    src, got = probe(media), probe(out)
    assert (got.video.width, got.video.height) == (src.video.width, src.video.height)
    assert got.video.fps == pytest.approx(src.video.fps) and res["frames"] == read_clip(media).video.shape[0]
    assert got.audio.sample_rate == 22050 and got.audio.codec == src.audio.codec
    a, b = read_clip(media).audio, read_clip(out).audio
    n = min(a.shape[-1], b.shape[-1])
    torch.testing.assert_close(a[:, :n], b[:, :n])  # copied packets: the same decoded samples
    assert len(res["peaks"]) == 9 and (tmp_path / "p.png").is_file()  # 2.2 s at 4 fps: 9 model frames


def test_missing_audio_is_a_media_error(loc, tmp_path):
    from avlearn.io import MediaError

    silent = write_av(tmp_path / "v.mp4", np.zeros((10, 32, 32, 3), np.uint8), None, fps=10)
    with pytest.raises(MediaError, match="v.mp4"):
        localize_file(loc, silent, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


_RSS = r"""
import json, sys, torch
torch.set_num_threads(1)
from avlearn.models import create_model
from avlearn.tasks.localization import LocalizationTask, Localizer
from avlearn.tasks.localization.inference import localize_file
torch.manual_seed(0)
tiny = json.loads(sys.argv[3])
tiny = {k: tuple(v) if isinstance(v, list) else v for k, v in tiny.items()}
loc = Localizer(LocalizationTask(create_model("attention_loc_small", **tiny)), fps=4, size=(32, 32), sample_rate=8000, clip_duration=1.0)
localize_file(loc, sys.argv[1], sys.argv[2])
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))  # kB, this program only
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_duration(tmp_path):
    """A 10 s and a 60 s 320x240 file: the peak RSS of the whole command differs by < 60 MB.

    The peak is the child's VmHWM: ``ru_maxrss`` would carry the parent's peak across ``exec``.
    """
    peaks = {}
    for seconds in (10, 60):
        media = _media(tmp_path / f"{seconds}.mp4", seconds, fps=25, size=(240, 320))
        res = subprocess.run([sys.executable, "-c", _RSS, media, str(tmp_path / f"o{seconds}.mp4"), json.dumps(TINY)],
                             capture_output=True, text=True, check=True)
        peaks[seconds] = int(res.stdout.split()[-1]) / 1024  # MB
    assert peaks[60] - peaks[10] < 60, peaks
