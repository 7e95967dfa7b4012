"""Streaming writer: chunked video and audio round trips, copied soundtracks, errors."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from media import click_track, counter_frames, read_counters, write_clip

from avlearn.io import EncodeError, read_audio, read_clip, write_audio
from avlearn.io.writer import AVWriter


@pytest.mark.parametrize("background", [False, True])
def test_chunked_video_and_audio_round_trip(tmp_path, background):
    frames = counter_frames(24, 32, 48)
    audio = click_track(3.0, 16000, clicks=(0.5, 2.2), channels=2)
    path = tmp_path / "out.mkv"  # h264 + flac: lossless audio
    with AVWriter(path, fps=8, sample_rate=16000, channels=2, background=background) as w:
        for i in range(0, 24, 5):  # uneven chunks, audio and video interleaved
            chunk = frames[i : i + 5].copy()
            w.write_video(torch.from_numpy(chunk))
            chunk[:] = 0  # the caller reuses its buffer: a background writer must have copied it
            w.write_audio(audio[:, i * 2000 : (i + 5) * 2000])
    clip = read_clip(path, 0.0, 3.0, fps=8)
    assert read_counters(clip.video) == list(range(24))
    assert clip.video.shape[1:3] == (32, 48)
    np.testing.assert_allclose(clip.audio.numpy(), np.round(audio * 32768) / 32768, atol=1e-6)


def test_incremental_wav_equals_write_audio(tmp_path):
    rng = np.random.default_rng(0)
    audio = np.clip(rng.normal(0, 0.2, (1, 12345)), -1, 1).astype(np.float32)
    write_audio(tmp_path / "whole.wav", audio, 22050)
    with AVWriter(tmp_path / "parts.wav", sample_rate=22050, channels=1) as w:
        for s in range(0, audio.shape[1], 1000):
            w.write_audio(audio[:, s : s + 1000])
    a, _ = read_audio(tmp_path / "whole.wav")
    b, rate = read_audio(tmp_path / "parts.wav")
    assert rate == 22050 and torch.equal(a, b)


@pytest.mark.parametrize("background", [False, True])
def test_copied_soundtrack_is_the_original(tmp_path, background):
    src = write_clip(tmp_path / "src.mp4", seconds=2.0, fps=10, size=(32, 32), channels=2, clicks=(0.4, 1.5))
    out = tmp_path / "overlay.mp4"
    with AVWriter(out, fps=10, audio_from=src.path, background=background) as w:
        for i in range(20):  # a "heatmap" at a different size than the source
            w.write_video(np.full((64, 96, 3), 10 * i, np.uint8))
    a = read_clip(src.path, 0.0, 2.0, video=False).audio
    b = read_clip(out, 0.0, 2.0, video=False).audio
    assert a.shape == b.shape and float((a - b).abs().max()) < 1e-6  # packets copied, not re-encoded
    v = read_clip(out, 0.0, 2.0, audio=False)
    assert v.video.shape == (20, 64, 96, 3)


def test_errors(tmp_path):
    with pytest.raises(EncodeError, match="unknown container"):
        AVWriter(tmp_path / "a.xyz", fps=8)
    with pytest.raises(EncodeError, match="nothing to write"):
        AVWriter(tmp_path / "a.mp4")
    with pytest.raises(EncodeError, match="no audio stream"):
        AVWriter(tmp_path / "b.mp4", fps=8, audio_from=write_clip(tmp_path / "v.mp4", audio=False).path)
    assert not (tmp_path / "b.mp4").exists()
    w = AVWriter(tmp_path / "c.mp4", fps=8, size=(32, 32))
    with pytest.raises(EncodeError, match="frames are 16x16"):
        w.write_video(np.zeros((2, 16, 16, 3), np.uint8))
    with pytest.raises(EncodeError, match="no encoded audio"):
        w.write_audio(np.zeros((1, 10), np.float32))
    w.close()
    with pytest.raises(EncodeError, match="closed"):
        w.write_video(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(RuntimeError):
        with AVWriter(tmp_path / "d.mp4", fps=8) as w:
            w.write_video(np.zeros((1, 32, 32, 3), np.uint8))
            raise RuntimeError("boom")
    assert not (tmp_path / "d.mp4").exists()


def test_background_failure_is_raised_by_the_next_call_and_the_file_removed(tmp_path):
    path = tmp_path / "e.mp4"
    w = AVWriter(path, fps=8, background=True)

    def full_disk(frames):
        raise OSError(28, "No space left on device")

    w._encode_frames = full_disk  # what the worker runs for the next frames
    w.write_video(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(EncodeError, match="No space left"):
        w.close()
    assert not path.exists() and w._worker is None
    w2 = AVWriter(tmp_path / "f.mp4", fps=8, background=True)
    w2._encode_frames = full_disk
    w2.write_video(np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(EncodeError, match="No space left"):
        for _ in range(50):  # the error surfaces at a later call, once the worker has run
            w2.write_video(np.zeros((2, 32, 32, 3), np.uint8))
            time.sleep(0.01)
    assert not (tmp_path / "f.mp4").exists()


def test_background_gives_the_same_frames(tmp_path):
    frames = counter_frames(16, 32, 32)
    for bg in (False, True):
        with AVWriter(tmp_path / f"bg{bg}.mp4", fps=8, background=bg) as w:
            for i in range(0, 16, 3):
                w.write_video(frames[i : i + 3])
    a = read_clip(tmp_path / "bgFalse.mp4", 0.0, 2.0, audio=False).video
    b = read_clip(tmp_path / "bgTrue.mp4", 0.0, 2.0, audio=False).video
    assert read_counters(b) == list(range(16)) and torch.equal(a, b)


def test_background_pending_bytes_are_bounded(tmp_path, monkeypatch):
    """A big call is taken over in pieces and blocks while more than the limit waits."""
    import avlearn.io.writer as W

    monkeypatch.setattr(W, "_PENDING_BYTES", 3 * 8 * 32 * 32 * 3)  # three pieces of 8 frames
    w = AVWriter(tmp_path / "g.mp4", fps=8, background=True)
    seen, real = [], w._encode_frames

    def slow(frames):
        seen.append((len(frames), w._pending))
        time.sleep(0.01)
        real(frames)

    w._encode_frames = slow
    frames = counter_frames(64, 32, 32)
    w.write_video(frames)
    w.close()
    assert [n for n, _ in seen] == [8] * 8 and max(p for _, p in seen) <= W._PENDING_BYTES
    assert read_counters(read_clip(tmp_path / "g.mp4", 0.0, 8.0, audio=False).video) == list(range(64))
