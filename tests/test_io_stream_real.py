"""The streaming reader on real media at real sizes: 720p film clip, a minutes-long 1080p loop.

Memory is measured as the peak RSS of a child process that streams the file (its own VmHWM,
fresh at exec; ru_maxrss would start from the parent's at fork), so the test sees what a user's
process would. The inputs are made in another child, keeping big buffers out of this process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from realmedia import cache_dir, loop_reencode_in_child

from avlearn.io import probe, read_clip
from avlearn.io.stream import StreamReader

pytestmark = pytest.mark.realmedia

_CHILD = """
import json, sys, time
from avlearn.io.stream import StreamReader
t = time.perf_counter()
n = sum(1 for _ in StreamReader(sys.argv[1], 1.0, fps=8, size=(112, 112), sample_rate=16000, mono=True))
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"windows": n, "seconds": time.perf_counter() - t, "rss_mb": hwm / 1024}))
"""


def _stream_in_child(path) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_720p_film_clip_windows_equal_read_clip(realmedia_file):
    path = realmedia_file("bigbuckbunny.mp4")  # 1280x720 H.264, AAC 5.1 48 kHz
    kw = dict(fps=8, size=(112, 112), sample_rate=16000, mono=True)
    clips = list(StreamReader(path, 1.0, 0.5, **kw))
    assert len(clips) == StreamReader(path, 1.0, 0.5, **kw).count(probe(path).duration)
    for clip in clips[::3]:
        ref = read_clip(path, clip.start, clip.duration, **kw)
        assert torch.equal(clip.video, ref.video)
        assert clip.audio.shape == (1, 16000)
        assert float((clip.audio - ref.audio).abs().max()) < 2e-3  # AAC decoded after a seek vs. in one pass
    assert all(c.video.shape == (8, 112, 112, 3) for c in clips)


@pytest.mark.slow
def test_long_1080p_memory_is_flat(realmedia_file):
    src = realmedia_file("bigbuckbunny.mp4")
    short = loop_reencode_in_child(src, cache_dir() / "bbb_1080p30_30s.mp4", 30, size=(1080, 1920))
    long = loop_reencode_in_child(src, cache_dir() / "bbb_1080p30_150s.mp4", 150, size=(1080, 1920))
    a, b = _stream_in_child(short), _stream_in_child(long)
    assert (a["windows"], b["windows"]) == (30, 150)
    assert b["rss_mb"] < a["rss_mb"] + 100, (a, b)  # 5x the duration, the same memory
    assert b["rss_mb"] < 1500, b


def test_real_speech_wav_windows(realmedia_file):
    """LibriVox read speech (16 kHz mono WAV): windows at 8 kHz equal read_clip's, speech is there."""
    path = realmedia_file("librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
    clips = list(StreamReader(path, 1.0, 0.5, video=False, sample_rate=8000, last="shorten"))
    duration = probe(path).duration
    assert len(clips) == StreamReader(path, 1.0, 0.5, video=False, last="shorten").count(duration)
    assert clips[-1].start + clips[-1].duration == pytest.approx(duration, abs=1e-3)
    for clip in clips:
        ref = read_clip(path, clip.start, clip.duration, video=False, sample_rate=8000)
        assert float((clip.audio - ref.audio).abs().max()) < 1e-4
    loud = [float(c.audio.pow(2).mean().sqrt()) for c in clips]
    assert max(loud) > 0.02  # real speech, not silence
