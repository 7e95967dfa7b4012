"""Streaming separation: exact chunked resampling, seamless overlap-add, outputs at the input's rate
(tracks + residual = input), one-window files equal whole-file separation, blob tracks in
chunks, and memory flat in duration."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torchaudio.functional as AF
from test_localization import one_thread  # noqa: F401  (the autouse one-thread fixture)
from test_separation_train import _config

from avlearn.io import probe, read_clip, write_av
from avlearn.tasks.base import build_task
from avlearn.tasks.separation.inference import BlobTracker, detect_sources, separate_file
from avlearn.tasks.separation.streaming import ChunkResampler, OverlapAdd, ola_weights


def _media(path, seconds: float, *, fps: int = 10, size=(48, 64), rate: int = 22050, channels: int = 2, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    video = np.full((n, *size, 3), 40, np.uint8)
    for i in range(n):  # a bright square moving right: one salient blob
        x = 4 + i % (size[1] - 20)
        video[i, 10:26, x : x + 16] = (250, 220, 30)
    t = np.arange(int(round(seconds * rate))) / rate
    tones = [0.2 * np.sin(2 * np.pi * f * t) for f in (330, 550)][:channels]
    audio = (np.stack(tones) + 0.05 * rng.standard_normal((channels, t.size))).astype(np.float32)
    return write_av(path, video, audio, fps=fps, sample_rate=rate)


@pytest.fixture(scope="module")
def pit(tmp_path_factory):
    torch.manual_seed(0)
    cfg = _config(tmp_path_factory.mktemp("noworld"), {"name": "audio_only_pit"}, {})
    return build_task(cfg).eval(), cfg


@pytest.mark.parametrize("rates", [(8000, 44100), (8000, 16000), (16000, 8000), (8000, 8000), (11025, 48000)])
def test_chunked_resampling_equals_one_call(rates):
    x = torch.randn(2, 12345)
    r = ChunkResampler(*rates, channels=2)
    parts, i = [], 0
    for n in (1, 100, 777, 3000, 5000, 3467):
        parts.append(r.push(x[:, i : i + n]))
        i += n
    parts.append(r.flush())
    torch.testing.assert_close(torch.cat(parts, 1), AF.resample(x, *rates), atol=0, rtol=0)


@pytest.mark.parametrize("length", [4000, 1000, 1500, 2600])
def test_overlap_add_of_identical_windows_reproduces_the_whole(length):
    full, hop = 1000, 500
    x = torch.randn(3, length)
    starts = list(range(0, max(length - full, 0) + 1, hop))
    if starts[-1] + full < length:
        starts.append(starts[-1] + hop)
    ola, got = OverlapAdd(3), []
    for k, a in enumerate(starts):
        seg = x[:, a : a + full]
        last = k == len(starts) - 1
        ola.add(a, seg, ola_weights(seg.shape[1], full, first=k == 0, last=last))
        got.append(ola.pop(None if last else a + hop))
    torch.testing.assert_close(torch.cat(got, 1), x)
    w = ola_weights(full, full, first=False, last=False)
    torch.testing.assert_close(w[:hop] + w[hop:], torch.ones(hop))  # sum-to-one weights at 50% overlap


def test_outputs_at_the_input_rate_and_tracks_plus_residual_is_the_input(pit, tmp_path):
    task, cfg = pit
    media = _media(tmp_path / "in.mp4", 2.3)
    report = separate_file(task, cfg, media, tmp_path / "sep", window=1.0, batch_size=2)
    assert report["sample_rate"] == 22050 and report["channels"] == 2 and report["model_sample_rate"] == 8000
    src = read_clip(media).audio  # (2, N)
    tracks = [read_clip(s["wav"], video=False) for s in report["sources"]]
    assert len(tracks) == 3 and all(t.sample_rate == 22050 and t.audio.shape == (1, src.shape[1]) for t in tracks)
    resid = read_clip(report["residual"], video=False).audio
    assert resid.shape == src.shape
    total = sum(t.audio for t in tracks) + resid  # (2, N)
    torch.testing.assert_close(total, src, atol=1e-6, rtol=0)
    assert sum(float(t.audio.abs().max()) for t in tracks) > 1e-3  # the tracks are not silence
    v = probe(report["sources"][0]["video"])
    assert (v.video.width, v.video.height, v.audio.sample_rate) == (64, 48, 22050)
    assert v.video.fps == pytest.approx(10)


def test_a_file_as_long_as_one_window_equals_whole_file_separation(pit, tmp_path):
    task, cfg = pit
    media = _media(tmp_path / "one.mp4", 1.0, rate=16000, channels=1)
    report = separate_file(task, cfg, media, tmp_path / "sep", window=1.0, videos=False)
    clip = read_clip(media, video=False, sample_rate=8000, mono=True)
    batch = {"mixture": clip.audio, "valid": torch.ones(1, 3, dtype=torch.bool)}
    whole = AF.resample(task.separate(batch)["estimates"][0], 8000, 16000)  # (3, 16000)
    for k, s in enumerate(report["sources"]):
        got = read_clip(s["wav"], video=False).audio[0]
        n = min(got.shape[0], whole.shape[1])
        torch.testing.assert_close(got[:n], whole[k, :n], atol=2e-3, rtol=0)  # decode vs stream resampler edges ~1e-4
        assert s["video"] is None


def test_blob_tracks_fed_in_chunks_equal_the_whole_clip(tmp_path):
    clip = read_clip(_media(tmp_path / "b.mp4", 2.0), fps=16, size=(32, 32))
    frames = clip.video.numpy()
    whole = detect_sources(frames)
    tracker = BlobTracker()
    for a in range(0, len(frames), 7):
        tracker.feed(frames[a : a + 7])
    chunked = [b for b, _ in tracker.result()]
    assert len(whole) == len(chunked) == 1
    np.testing.assert_array_equal(whole[0], chunked[0])


def test_blob_detector_reports_the_box_in_input_pixels(tmp_path):
    torch.manual_seed(0)
    cfg = _config(tmp_path / "noworld", {"name": "sop"}, {"visual": "frames"})
    task = build_task(cfg).eval()
    media = _media(tmp_path / "c.mp4", 2.0, size=(96, 128))
    report = separate_file(task, cfg, media, tmp_path / "sep", window=1.0, videos=False)
    assert report["detector"] == "blob" and len(report["sources"]) == 1
    x1, y1, x2, y2 = report["sources"][0]["box"]
    assert 6 <= y1 <= 14 and 22 <= y2 <= 30 and x2 - x1 >= 14  # the 16 px square at rows 10..26 (input pixels)
    assert report["sources"][0]["span"][1] >= 1.5
    with pytest.raises(ValueError, match="--face-weights"):
        separate_file(task, cfg, media, tmp_path / "f", detector="face", face_weights=tmp_path)


_RSS = r"""
import sys, torch
sys.path.insert(0, "tests")
torch.set_num_threads(1)
from pathlib import Path
from test_localization import one_thread  # noqa: F401  (the autouse one-thread fixture)
from test_separation_train import _config
from avlearn.tasks.base import build_task
from avlearn.tasks.separation.inference import separate_file
torch.manual_seed(0)
cfg = _config(Path(sys.argv[2]), {"name": "audio_only_pit"}, {})
separate_file(build_task(cfg).eval(), cfg, sys.argv[1], sys.argv[2], window=1.0, videos=False)
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM")))  # kB, this program only
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_duration(tmp_path):
    """A 10 s and a 60 s file: the peak RSS of the whole separation differs by < 60 MB."""
    peaks = {}
    for seconds in (10, 60):
        media = _media(tmp_path / f"{seconds}.mp4", seconds, rate=44100)
        res = subprocess.run([sys.executable, "-c", _RSS, media, str(tmp_path / f"o{seconds}")], capture_output=True,
                             text=True, check=True, cwd=Path(__file__).parent.parent)
        peaks[seconds] = int(res.stdout.split()[-1]) / 1024  # MB
    assert peaks[60] - peaks[10] < 60, peaks
