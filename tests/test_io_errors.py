"""Damaged and unusual files give typed errors that name the file and the reason; never a bare
FFmpeg exception, a crash or a hang. A cut-short file still yields the windows it holds."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from media import read_counters, truncate, write_clip, write_empty, write_garbage

from avlearn.io import (
    ClipOutOfRangeError,
    CorruptMediaError,
    MediaError,
    MissingStreamError,
    probe,
    read_audio,
    read_clip,
)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    out = {ext: write_clip(root / f"ok.{ext}", seconds=4.0, fps=8, gop=8, clicks=(0.5, 3.5)).path for ext in ("mp4", "mkv", "webm", "avi")}
    out["root"] = root
    return out


def _assert_names_file(exc: MediaError, path) -> None:
    assert exc.path == os.fspath(path)
    assert str(exc).startswith(f"{os.fspath(path)}: ") and exc.reason


@pytest.mark.parametrize("reader", [probe, read_clip, read_audio])
def test_missing_empty_directory_and_random_bytes(tmp_path, reader):
    cases = {
        tmp_path / "missing.mp4": "no such file",
        tmp_path: "directory",
        write_empty(tmp_path / "empty.mp4"): "empty",
        write_garbage(tmp_path / "noise.mp4"): "not a readable media container",
        write_garbage(tmp_path / "noise.wav", nbytes=100, seed=1): "not a readable media container",
    }
    for path, reason in cases.items():
        with pytest.raises(CorruptMediaError) as info:
            reader(path)
        _assert_names_file(info.value, path)
        assert reason in info.value.reason


def test_truncated_mp4_without_index_is_corrupt(media):
    path = truncate(media["mp4"], media["root"] / "cut.mp4", 0.6)  # the moov index is at the end
    with pytest.raises(CorruptMediaError) as info:
        read_clip(path, 0.0, 0.5)
    _assert_names_file(info.value, path)


@pytest.mark.parametrize("ext", ["mkv", "webm"])
def test_truncated_file_yields_intact_windows_and_errors_past_the_cut(media, ext):
    path = truncate(media[ext], media["root"] / f"cut.{ext}", 0.5)
    clip = read_clip(path, 0.25, 0.5, fps=8, video=True, audio=False)
    assert read_counters(clip.video) == [2, 3, 4, 5]
    with pytest.raises(CorruptMediaError) as info:
        read_clip(path, 3.0, 0.5, fps=8)
    _assert_names_file(info.value, path)
    assert "truncated" in info.value.reason


def test_damaged_bytes_never_escape_as_ffmpeg_errors(media):
    """Overwrite stretches of valid files with noise: each read returns or raises MediaError."""
    rng = np.random.default_rng(0)
    outcomes = []
    for ext in ("mp4", "mkv", "webm", "avi"):
        with open(media[ext], "rb") as f:
            data = f.read()
        for k in range(3):
            broken = bytearray(data)
            at = int(rng.integers(len(broken) // 8, len(broken) - 64))
            broken[at : at + 48] = rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
            path = media["root"] / f"damaged{k}.{ext}"
            path.write_bytes(bytes(broken))
            for start in (0.0, 2.0):
                try:
                    clip = read_clip(path, start, 1.0, fps=8, sample_rate=8000)
                    assert clip.video.shape == (8, 32, 32, 3) and clip.audio.shape[-1] == 8000
                    outcomes.append("ok")
                except MediaError as exc:
                    _assert_names_file(exc, path)
                    outcomes.append(type(exc).__name__)
    assert "ok" in outcomes  # most damage lands in frames the decoder conceals


def test_missing_streams(tmp_path):
    silent = write_clip(tmp_path / "silent.mp4", audio=False)
    with pytest.raises(MissingStreamError) as info:
        read_clip(silent.path)
    _assert_names_file(info.value, silent.path)
    assert "no audio stream" in info.value.reason
    assert read_clip(silent.path, audio=False).video.shape == (8, 32, 32, 3)
    with pytest.raises(MissingStreamError):
        read_audio(silent.path)

    stem = write_clip(tmp_path / "stem.wav", video=False)
    with pytest.raises(MissingStreamError) as info:
        read_clip(stem.path)
    assert "no video stream" in info.value.reason
    audio, rate = read_audio(stem.path)
    assert audio.shape == (1, 16000) and rate == 16000


def test_windows_outside_the_media(media):
    path = media["mkv"]
    for start, duration in [(4.0, 1.0), (10.0, None), (-2.0, 1.0), (-1.0, 1.0)]:
        with pytest.raises(ClipOutOfRangeError) as info:
            read_clip(path, start, duration)
        _assert_names_file(info.value, path)
    clip = read_clip(path, -0.5, 1.0, fps=8)  # overlapping the start: padded, not an error
    assert clip.meta["audio_pad"] == (8000, 0) and clip.meta["video_pad"] == (4, 0)


def test_errors_survive_pickling_across_workers(tmp_path):
    with pytest.raises(MediaError) as info:
        read_clip(write_empty(tmp_path / "e.mp4"))
    again = pickle.loads(pickle.dumps(info.value))
    assert type(again) is CorruptMediaError and str(again) == str(info.value)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration": 0},
        {"duration": -1.0},
        {"fps": 0},
        {"sample_rate": 0},
        {"sample_rate": 8000.5},
        {"threads": 0},
        {"size": (0, 8)},
        {"size": (8, 8, 8)},
        {"video": False, "audio": False},
    ],
)
def test_bad_arguments_are_value_errors(media, kwargs):
    with pytest.raises(ValueError):
        read_clip(media["mp4"], **kwargs)
