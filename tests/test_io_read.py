"""read_clip: frames chosen by presentation time, audio cut by sample, on one clock.

Every clip is made here by tests/media.py: frame i carries the counter i in its pixels, the
audio has clicks at known times. Audio tolerances were measured, not assumed: PCM (AVI, WAV),
FLAC and AAC-in-MP4 land within the half sample that a start between two samples implies
(FFmpeg's MP4 edit list removes the AAC priming exactly); Matroska/WebM store times in whole
milliseconds, so after a seek Opus lands within 1.5 ms (FFmpeg re-applies the 312-sample codec
delay after a seek and the pts are rounded to ms) and FLAC at 44.1 kHz within 0.5 ms.
"""

from __future__ import annotations

import random

import av
import numpy as np
import pytest
import torch
from media import (
    Media,
    click_positions,
    click_track,
    read_counters,
    write_clip,
    write_timed,
)

from avlearn.io import ClipOutOfRangeError, read_audio, read_clip
from avlearn.io._collect import Collector

EXTS = ["mp4", "webm", "mkv", "avi"]
# click position tolerance in samples beyond the +-0.5 of a start between samples
CODEC_TOL = {"mp4": 1.0, "webm": 0.0015 * 48000, "mkv": 0.0, "avi": 0.0}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Media]:
    """3 s at 10 fps (keyframe every second), 16 kHz stereo, clicks at 1.3 s and 2.2 s."""
    root = tmp_path_factory.mktemp("clips")
    return {
        ext: write_clip(root / f"c.{ext}", seconds=3.0, fps=10, channels=2, clicks=(1.3, 2.2), gop=10) for ext in EXTS
    }


@pytest.mark.parametrize("ext", EXTS)
def test_whole_file_every_frame_and_click(clips, ext):
    m = clips[ext]
    clip = read_clip(m.path)
    assert clip.video.dtype == torch.uint8 and clip.video.shape == (30, 32, 32, 3)
    assert read_counters(clip.video) == list(range(30))
    assert np.allclose(clip.meta["frame_times"], m.frame_times, atol=1e-3)
    assert clip.fps == pytest.approx(10.0)
    assert clip.audio.dtype == torch.float32 and clip.audio.shape[0] == 2
    assert clip.audio.shape[-1] == round(clip.duration * clip.sample_rate)
    assert float(clip.audio.abs().max()) <= 1.0
    rate = clip.sample_rate
    for found, t in zip(click_positions(clip.audio, 2), m.clicks):
        assert abs(found - t * rate) <= 0.5 + CODEC_TOL[ext]


@pytest.mark.parametrize("ext", EXTS)
@pytest.mark.parametrize("fps", [10, 4, 12.5, 30])
def test_frame_shown_at_each_sample_time(clips, ext, fps):
    """fps equal to, below and above the native 10 fps; starts on and between frame times."""
    m = clips[ext]
    rng = random.Random(fps)
    starts = [0.0, 0.7, 1.0, 1.05] + [rng.uniform(0.0, 1.9) for _ in range(4)]
    for start in starts:
        clip = read_clip(m.path, start, 1.0, fps=fps, audio=False)
        want = [m.shown_at(start + i / fps) for i in range(round(fps))]
        assert read_counters(clip.video) == want, (start, fps)
        assert np.allclose(clip.meta["frame_times"], [m.frame_times[i] for i in want], atol=1e-3)
        assert clip.meta["video_pad"] == (0, 0)


@pytest.mark.parametrize("ext", EXTS)
def test_without_fps_all_frames_in_window(clips, ext):
    clip = read_clip(clips[ext].path, 0.95, 1.0, audio=False)
    assert read_counters(clip.video) == list(range(10, 20))  # frames at 1.0 ... 1.9 s
    assert clip.fps == pytest.approx(10.0)
    clip = read_clip(clips[ext].path, 1.0, 0.3, audio=False)  # a window starting on a frame
    assert read_counters(clip.video) == [10, 11, 12]


@pytest.mark.parametrize("ext", EXTS)
@pytest.mark.parametrize("rate", [None, 22050])
def test_click_lands_on_its_sample_after_a_seek(clips, ext, rate):
    m = clips[ext]
    rng = random.Random(7)
    for _ in range(6):
        click = rng.choice(m.clicks)
        start = click - rng.uniform(0.05, 0.45)
        clip = read_clip(m.path, start, 0.5, sample_rate=rate, video=False)
        out_rate = clip.sample_rate
        assert clip.audio.shape == (2, round(0.5 * out_rate))
        tol = 0.5 + CODEC_TOL[ext] * (out_rate / 48000 if ext == "webm" else 1.0) + (1.0 if rate else 0.0)
        (found,) = click_positions(clip.audio, 1)
        assert abs(found - (click - start) * out_rate) <= tol, (start, found)


def test_flac_in_matroska_at_44k_is_within_half_a_millisecond(tmp_path):
    m = write_clip(tmp_path / "a.mkv", seconds=2.0, fps=10, sample_rate=44100, clicks=(1.234,), gop=10)
    for start in (0.75, 0.81, 0.93, 1.1):
        clip = read_clip(m.path, start, 0.5, video=False)
        (found,) = click_positions(clip.audio, 1)
        assert abs(found - (1.234 - start) * 44100) <= 0.5 + 0.0005 * 44100


@pytest.mark.parametrize(
    "ext,rate,channels",
    [("mp4", 8000, 1), ("mp4", 44100, 2), ("mp4", 48000, 6), ("avi", 16000, 6), ("mkv", 44100, 2), ("webm", 16000, 1)],
)
def test_rates_and_channel_layouts(tmp_path, ext, rate, channels):
    m = write_clip(tmp_path / f"a.{ext}", seconds=1.0, fps=8, sample_rate=rate, channels=channels, clicks=(0.5,))
    native = read_clip(m.path, 0.1, 0.7, video=False)
    expected_rate = 48000 if ext == "webm" else rate  # Opus always decodes at 48 kHz
    assert native.sample_rate == expected_rate
    assert native.audio.shape == (channels, round(0.7 * expected_rate))
    for out in (16000, 11025):
        clip = read_clip(m.path, 0.1, 0.7, sample_rate=out, video=False)
        assert clip.audio.shape == (channels, round(0.7 * out)) and clip.sample_rate == out
    mono = read_clip(m.path, 0.1, 0.7, mono=True, video=False)
    assert mono.audio.shape == (1, native.audio.shape[1])
    assert torch.allclose(mono.audio[0], native.audio.mean(0), atol=1e-6)
    if ext in ("avi", "mkv"):  # lossless: channel c carries the click at gain 1 - 0.1 c
        peaks = native.audio.abs().amax(dim=1)
        assert torch.allclose(peaks, 0.8 * (1 - 0.1 * torch.arange(channels)), atol=1e-3)


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_variable_frame_rate(tmp_path, ext):
    times = [0.0, 0.1, 0.15, 0.4, 0.45, 0.5, 0.9, 1.0, 1.3, 1.32, 1.7]
    m = write_timed(tmp_path / f"vfr.{ext}", times, seconds=1.8, clicks=(0.6,))
    clip = read_clip(m.path)
    assert read_counters(clip.video) == list(range(len(times)))
    assert np.allclose(clip.meta["frame_times"], times, atol=1e-3)
    for start in (0.0, 0.05, 0.42, 0.95):
        clip = read_clip(m.path, start, 0.8, fps=10, audio=False)
        assert read_counters(clip.video) == [m.shown_at(start + i / 10) for i in range(8)]
    clip = read_clip(m.path, 0.4, 0.6, audio=False)
    assert read_counters(clip.video) == [3, 4, 5, 6]  # 0.4, 0.45, 0.5, 0.9; not 1.0


def test_audio_starting_after_the_video_is_padded_not_shifted(tmp_path):
    m = write_timed(tmp_path / "late.mkv", [i / 8 for i in range(16)], seconds=2.0, clicks=(0.75, 1.5), audio_start=0.5)
    clip = read_clip(m.path, 0.0, 1.0, fps=8)
    assert clip.meta["audio_pad"] == (8000, 0)
    assert float(clip.audio[:, :8000].abs().max()) == 0.0
    assert click_positions(clip.audio, 1) == [12000]
    assert read_counters(clip.video) == list(range(8))
    clip = read_clip(m.path, 0.6, 1.0, sample_rate=8000)
    assert clip.meta["audio_pad"] == (0, 0)
    assert click_positions(clip.audio, 2) == [round(0.15 * 8000), round(0.9 * 8000)]


def test_audio_offset_in_mp4_keeps_clicks_in_place(tmp_path):
    m = write_timed(tmp_path / "late.mp4", [i / 8 for i in range(16)], seconds=2.0, clicks=(0.75, 1.5), audio_start=0.5)
    clip = read_clip(m.path, 0.25, 1.5)
    before = clip.meta["audio_pad"][0]
    assert 0 < before <= 0.25 * 16000 and float(clip.audio[:, :before].abs().max()) == 0.0
    found = click_positions(clip.audio, 2)
    assert all(abs(f - (t - 0.25) * 16000) <= 1.5 for f, t in zip(found, m.clicks))


def test_transport_stream_offset_clock_and_imprecise_seeks(tmp_path):
    """MPEG-TS timestamps start late and its seeks land after the target: the reader retries
    earlier until the first decoded frame is not later than the first one needed."""
    m = write_timed(tmp_path / "a.ts", [i / 10 for i in range(40)], seconds=4.0, clicks=(1.3, 2.7))
    clip = read_clip(m.path)
    assert clip.meta["clock_origin"] > 0
    video_start = clip.meta["frame_times"][0]  # AAC priming sits before the first frame
    assert read_counters(clip.video) == list(range(40))
    for start in (0.7, 0.75, 1.85, 2.05, 3.3):
        clip = read_clip(m.path, start, 0.5, fps=10)
        assert read_counters(clip.video) == [m.shown_at(start - video_start + i / 10) for i in range(5)]
    clip = read_clip(m.path, 2.5, 0.5)
    assert abs(click_positions(clip.audio, 1)[0] - (2.7 + video_start - 2.5) * 16000) <= 1.5


def test_zero_padding_at_both_edges_is_reported(clips):
    m = clips["mkv"]
    clip = read_clip(m.path, -0.25, 1.0, fps=10)
    assert clip.meta["audio_pad"] == (4000, 0)
    assert float(clip.audio[:, :4000].abs().max()) == 0.0
    assert clip.meta["video_pad"] == (3, 0)
    assert read_counters(clip.video) == [0, 0, 0] + list(range(7))
    clip = read_clip(m.path, 2.5, 1.0, fps=10)
    assert clip.meta["audio_pad"] == (0, 8000)
    assert float(clip.audio[:, 8000:].abs().max()) == 0.0
    assert clip.meta["video_pad"] == (0, 5)
    assert read_counters(clip.video) == [25, 26, 27, 28, 29] + [29] * 5


@pytest.mark.parametrize("ext", ["mkv", "mp4"])
def test_length_invariant_over_random_windows(clips, ext):
    m = clips[ext]
    rng = random.Random(ext)
    for _ in range(25):
        start, duration = rng.uniform(-0.6, 3.3), rng.uniform(0.03, 1.6)
        rate, fps = rng.choice([None, 8000, 22050, 44100]), rng.choice([None, 7.5, 10, 24])
        if start >= 3.0 or start + duration <= 0:
            with pytest.raises(ClipOutOfRangeError):
                read_clip(m.path, start, duration, fps=fps, sample_rate=rate)
            continue
        clip = read_clip(m.path, start, duration, fps=fps, sample_rate=rate)
        out_rate = rate or 16000
        n = round(duration * out_rate)
        assert clip.audio.shape == (2, n)
        before, after = clip.meta["audio_pad"]  # outside [0, 3) s, to the nearest input sample
        tol = 1 + 0.5 * out_rate / 16000
        assert abs(before - min(n, max(0.0, -start * out_rate))) <= tol
        assert abs(after - min(n, max(0.0, start + duration - 3.0) * out_rate)) <= tol
        assert float(clip.audio[:, :before].abs().sum() + clip.audio[:, n - after :].abs().sum()) == 0.0
        if fps:
            assert clip.video.shape[0] == round(duration * fps)
            assert read_counters(clip.video) == [m.shown_at(start + i / fps) for i in range(round(duration * fps))]


def test_threads_never_lose_the_last_frames(clips):
    path = clips["mp4"].path
    one = read_clip(path, audio=False)
    for threads in (2, 3):
        many = read_clip(path, audio=False, threads=threads)
        assert read_counters(many.video) == list(range(30))
        assert torch.equal(many.video, one.video)
    tail = read_clip(path, 2.55, None, fps=10, audio=False, threads=2)
    assert read_counters(tail.video) == [25, 26, 27, 28, 29]


def test_size_resizes_in_the_decoder(tmp_path, clips):
    clip = read_clip(clips["mp4"].path, 0.5, 0.5, size=(16, 24), audio=False)
    assert clip.video.shape == (5, 16, 24, 3)
    assert read_counters(clip.video) == [5, 6, 7, 8, 9]
    wide = write_clip(tmp_path / "wide.mp4", seconds=0.5, fps=8, size=(32, 48))
    clip = read_clip(wide.path, size=16, audio=False)
    assert clip.video.shape == (4, 16, 24, 3)
    assert read_counters(clip.video) == [0, 1, 2, 3]


def _naive(path: str, start: float, duration: float, fps: float | None, size: tuple[int, int]) -> torch.Tensor:
    """Decode every frame, convert with the same swscale settings, pick by the same rule."""
    with av.open(path) as container:
        stream = container.streams.video[0]
        frames = [(float(f.pts * stream.time_base), f.to_ndarray(width=size[1], height=size[0], format="rgb24")) for f in container.decode(stream)]
        eps = min(0.5 * float(stream.time_base), 1e-3)
    times = np.array([t for t, _ in frames])
    if fps:
        want = start + np.arange(round(duration * fps)) / fps
        idx = np.maximum(np.searchsorted(times, want + eps, side="right") - 1, 0)
    else:
        idx = np.nonzero((times >= start - eps) & (times < start + duration - eps))[0]
    return torch.from_numpy(np.stack([frames[i][1] for i in idx]))


def test_frames_identical_to_decoding_everything(tmp_path):
    """Seeking, skipping non-reference frames and converting only kept frames change no pixel."""
    frames = np.random.default_rng(0).integers(0, 256, (60, 48, 64, 3), dtype=np.uint8)
    frames = np.cumsum(frames // 32, axis=0).astype(np.uint8)  # textured, moving: B-frames
    path = str(tmp_path / "tex.mp4")
    from avlearn.io import write_av

    write_av(path, frames, None, fps=20, gop=40)
    for start, duration, fps in [(0.0, 1.0, None), (0.73, 1.1, 7), (1.4, 1.5, 20), (1.05, 0.8, 33), (2.2, 0.5, None)]:
        clip = read_clip(path, start, duration, fps=fps, size=(24, 40), audio=False)
        assert torch.equal(clip.video, _naive(path, start, duration, fps, (24, 40))), (start, fps)


@pytest.mark.parametrize("rate", [None, 16000, 22050])
def test_window_equals_slice_of_whole_stream(tmp_path, rate):
    """Any window is the matching slice of the whole stream (resampled as one piece)."""
    t = np.arange(3 * 44100) / 44100
    tone = (0.5 * np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 0.7 * t)).astype(np.float32)[None]
    path = str(tmp_path / "tone.flac")
    from avlearn.io import write_audio

    write_audio(path, tone, 44100)
    whole, out_rate = read_audio(path, sample_rate=rate)
    rng = random.Random(3)
    for _ in range(8):
        start, duration = rng.uniform(0.1, 2.0), rng.uniform(0.1, 0.8)
        part, _ = read_audio(path, start, duration, sample_rate=rate)
        k = int(np.floor(start * out_rate + 0.5))
        assert torch.allclose(part, whole[:, k : k + part.shape[1]], atol=1e-4), (start, duration)


@pytest.mark.parametrize("ext", ["wav", "flac"])
def test_read_audio_from_stems_is_exact(tmp_path, ext):
    m = write_clip(tmp_path / f"stem.{ext}", seconds=1.0, sample_rate=8000, channels=2, clicks=(0.3, 0.71))
    audio, rate = read_audio(m.path, 0.25, 0.5)
    assert rate == 8000 and audio.shape == (2, 4000)
    written = click_track(1.0, 8000, m.clicks, channels=2)[:, 2000:6000]
    assert np.array_equal(audio.numpy(), np.round(written * 32768) / 32768)  # s16 is k / 32768
    mono, _ = read_audio(m.path, sample_rate=16000, mono=True)
    assert mono.shape == (1, 16000)


def test_collector_without_hooks_cannot_be_built():
    class NoFeed(Collector):
        def need_time(self) -> float:
            return 0.0

        def reset(self) -> None:
            pass

    with pytest.raises(TypeError, match="feed"):
        NoFeed(path="x.mp4", stream=None, expected_end=1.0, media_start=0.0)
