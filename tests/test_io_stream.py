"""Streaming window reader: windows equal read_clip of the same spans; odd inputs; errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from media import counter_frames, read_counters, truncate, write_clip, write_garbage, write_timed

from avlearn.io import CorruptMediaError, MissingStreamError, read_clip, write_av
from avlearn.io.stream import StreamReader, stream_windows

SR = 44100


def _tones(seconds: float, rate: int = SR) -> np.ndarray:
    """Two tonal channels (a chirp and a sine): no noise, which AAC's decoder would re-randomise."""
    t = np.arange(round(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * (440 + 200 * t) * t), 0.2 * np.sin(2 * np.pi * 300 * t)]).astype(np.float32)


@pytest.fixture(scope="module")
def av_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    frames = counter_frames(75, 48, 64)  # 3 s at 25 fps
    write_av(d / "a.mp4", frames, _tones(3.0), 25, SR)
    write_av(d / "a.mkv", frames, _tones(3.0), 25, SR)  # lossless audio
    return d


def _compare(path, clip, kw, atol, whole=None):
    ref = read_clip(path, clip.start, clip.duration, **kw)
    if whole is not None:  # Matroska's 1 ms timestamps shift read_clip's seeks by a few samples:
        first = round(clip.start * clip.sample_rate)  # compare with the whole stream, sliced
        ref.audio = whole[:, first : first + clip.audio.shape[1]]
    assert clip.video.shape == ref.video.shape
    assert torch.equal(clip.video, ref.video), f"frames differ at t0={clip.start}"
    np.testing.assert_allclose(clip.meta["frame_times"], ref.meta["frame_times"], atol=1e-6)
    assert clip.meta["video_pad"] == ref.meta["video_pad"]
    assert clip.audio.shape == ref.audio.shape and clip.sample_rate == ref.sample_rate
    assert float((clip.audio - ref.audio).abs().max()) < atol
    assert clip.meta["audio_pad"] == ref.meta["audio_pad"]
    assert clip.fps == ref.fps


@pytest.mark.parametrize("ext,atol", [("mkv", 1e-4), ("mp4", 1e-3)])
@pytest.mark.parametrize(
    "kw,window,hop,last",
    [
        (dict(fps=8, size=(32, 32), sample_rate=16000, mono=True), 1.0, None, "pad"),
        (dict(fps=None, size=24, sample_rate=None), 0.7, 0.3, "pad"),
        (dict(fps=30, size=(48, 64), sample_rate=22050), 0.8, 1.0, "shorten"),
        (dict(fps=8, size=(32, 32), sample_rate=16000, mono=True), 1.3, None, "shorten"),
    ],
)
def test_windows_equal_read_clip(av_files, ext, atol, kw, window, hop, last):
    path = av_files / f"a.{ext}"
    reader = StreamReader(path, window, hop, last=last, **kw)
    clips = list(reader)
    assert len(clips) == reader.count()
    hop = hop or window
    whole = None
    if ext == "mkv":
        whole = read_clip(path, 0.0, 5.0, video=False, sample_rate=kw["sample_rate"], mono=kw.get("mono", False)).audio
    for k, clip in enumerate(clips):
        assert clip.meta["index"] == k and clip.start == pytest.approx(k * hop, abs=1e-9)
        _compare(path, clip, kw, atol, whole)


def test_last_window_rules(av_files):
    path = av_files / "a.mkv"
    kw = dict(fps=10, size=(16, 16), sample_rate=8000)
    pad = list(stream_windows(path, 1.3, **kw))
    short = list(stream_windows(path, 1.3, last="shorten", **kw))
    drop = list(stream_windows(path, 1.3, last="drop", **kw))
    assert [c.start for c in pad] == pytest.approx([0.0, 1.3, 2.6])
    assert [c.duration for c in pad] == pytest.approx([1.3] * 3)
    assert pad[-1].meta["valid"] == pytest.approx(0.4) and pad[-1].video.shape[0] == 13
    assert pad[-1].meta["audio_pad"][1] == round(0.9 * 8000)  # zeros after the data
    assert short[-1].duration == pytest.approx(0.4) and short[-1].video.shape[0] == 4
    assert short[-1].audio.shape[1] == round(0.4 * 8000)
    assert len(drop) == 2
    # an earlier window reaching the end leaves no partial window: 0.5 hop, 1.0 s windows
    starts = [c.start for c in stream_windows(path, 1.0, 0.5, **kw)]
    assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5, 2.0])


def test_end_limits_the_span(av_files):
    clips = list(stream_windows(av_files / "a.mkv", 0.5, start=0.25, end=1.5, fps=8, size=(16, 16), last="shorten"))
    assert [c.start for c in clips] == pytest.approx([0.25, 0.75, 1.25])
    assert clips[-1].duration == pytest.approx(0.25)
    ref = read_clip(av_files / "a.mkv", 1.25, 0.25, fps=8, size=(16, 16))
    assert torch.equal(clips[-1].video, ref.video)


def test_frame_content_is_right(tmp_path):
    m = write_clip(tmp_path / "c.mp4", seconds=2.0, fps=10, size=(32, 32))
    clips = list(stream_windows(m.path, 0.5, fps=4, size=(32, 32), audio=False))
    got = [n for c in clips for n in read_counters(c.video)]
    want = [m.shown_at(k * 0.5 + i / 4) for k in range(4) for i in range(2)]
    assert got == want


def test_no_audio_stream(tmp_path):
    m = write_clip(tmp_path / "v.mp4", seconds=1.0, audio=False)
    with pytest.raises(MissingStreamError, match="v.mp4: no audio stream"):
        next(stream_windows(m.path, 0.5))
    clips = list(stream_windows(m.path, 0.5, audio=False, fps=8))
    assert len(clips) == 2 and all(c.audio is None for c in clips)


def test_audio_only_file(tmp_path):
    m = write_clip(tmp_path / "a.wav", seconds=1.5, sample_rate=16000, clicks=(0.3, 1.2))
    with pytest.raises(MissingStreamError, match="no video stream"):
        next(stream_windows(m.path, 0.5))
    clips = list(stream_windows(m.path, 0.5, video=False, sample_rate=8000))
    assert len(clips) == 3 and all(c.video is None for c in clips)
    for c in clips:
        ref = read_clip(m.path, c.start, 0.5, video=False, sample_rate=8000)
        assert float((c.audio - ref.audio).abs().max()) < 2e-4


def test_variable_frame_rate(tmp_path):
    times = [0.0, 0.05, 0.1, 0.3, 0.35, 0.7, 0.75, 0.8, 1.2, 1.25, 1.5, 1.6]
    m = write_timed(tmp_path / "vfr.mp4", times, seconds=1.8, clicks=(0.6,))
    for clip in stream_windows(m.path, 0.6, 0.4, fps=10, size=(32, 32), sample_rate=16000):
        got = read_counters(clip.video)
        assert got == [m.shown_at(clip.start + i / 10) for i in range(6)]
        ref = read_clip(m.path, clip.start, clip.duration, fps=10, size=(32, 32), sample_rate=16000)
        assert torch.equal(clip.video, ref.video)
        assert float((clip.audio - ref.audio).abs().max()) < 1e-3


@pytest.mark.parametrize("name", ["late.mkv", "a.ts"])
def test_nonzero_start_and_late_audio(tmp_path, name):
    if name == "late.mkv":
        m = write_timed(tmp_path / name, [i / 8 for i in range(16)], seconds=2.0, clicks=(0.75, 1.5), audio_start=0.5)
    else:  # transport stream: timestamps start at 1.4 s, the reader's clock at 0
        m = write_timed(tmp_path / name, [i / 10 for i in range(40)], seconds=4.0, clicks=(1.3, 2.7))
    clips = list(stream_windows(m.path, 0.5, fps=8, size=(32, 32), sample_rate=16000))
    assert clips[0].start == 0.0
    for clip in clips:
        ref = read_clip(m.path, clip.start, clip.duration, fps=8, size=(32, 32), sample_rate=16000)
        assert torch.equal(clip.video, ref.video)
        assert clip.meta["audio_pad"] == ref.meta["audio_pad"]
        assert float((clip.audio - ref.audio).abs().max()) < 1e-3
    if name == "late.mkv":
        assert clips[0].meta["audio_pad"][0] == 8000  # the audio begins at 0.5 s


def test_damaged_files(tmp_path):
    with pytest.raises(CorruptMediaError, match="g.mp4"):
        next(stream_windows(write_garbage(tmp_path / "g.mp4"), 1.0))
    m = write_clip(tmp_path / "long.mp4", seconds=4.0, fps=10, size=(32, 32))
    cut = truncate(m.path, tmp_path / "cut.mp4", 0.6)
    got = []
    with pytest.raises(CorruptMediaError, match="cut.mp4"):
        for clip in stream_windows(cut, 0.5, fps=10, size=(32, 32)):
            got.append(clip)


def test_bad_arguments(av_files):
    path = av_files / "a.mkv"
    for kwargs, match in [
        (dict(window=0), "window"),
        (dict(window=1, hop=-1), "hop"),
        (dict(window=1, last="wrap"), "last"),
        (dict(window=1, fps=0), "StreamReader: fps"),
        (dict(window=1, start=2.0, end=1.0), "end"),
    ]:
        with pytest.raises(ValueError, match=match):
            StreamReader(path, **kwargs)


class _Windows(torch.utils.data.IterableDataset):
    def __init__(self, path):
        self.reader = StreamReader(path, 0.5, fps=8, size=(16, 16), sample_rate=8000, threads=1)

    def __iter__(self):
        for clip in self.reader:
            yield {"video": clip.video, "audio": clip.audio, "t0": clip.start}


def test_dataloader_worker(av_files):
    loader = torch.utils.data.DataLoader(_Windows(av_files / "a.mkv"), batch_size=2, num_workers=1)
    batches = list(loader)
    assert [b["video"].shape[0] for b in batches] == [2, 2, 2]
    direct = list(StreamReader(av_files / "a.mkv", 0.5, fps=8, size=(16, 16), sample_rate=8000))
    assert torch.equal(batches[1]["video"][0], direct[2].video)


def _long_file(path, seconds: int, size=(360, 640), fps=30):
    from avlearn.io.writer import AVWriter

    rng = np.random.default_rng(0)
    tiles = rng.integers(0, 256, (8, size[0] // 8, size[1] // 8, 3), dtype=np.uint8)
    with AVWriter(path, fps=fps, size=size, sample_rate=SR, channels=2, video_options={"preset": "ultrafast"}) as w:
        for s in range(seconds):
            img = np.kron(tiles[s % 8], np.ones((8, 8, 1), np.uint8))  # (H, W, 3)
            w.write_video(np.repeat(img[None], fps, axis=0))
            w.write_audio(_tones(1.0))
    return path


@pytest.mark.slow
def test_memory_does_not_grow_with_duration(tmp_path):
    import tracemalloc

    peaks = []
    for seconds in (15, 60):
        path = _long_file(tmp_path / f"long{seconds}.mp4", seconds)
        tracemalloc.start()
        n = 0
        for clip in StreamReader(path, 1.0, 0.5, fps=8, size=(112, 112), sample_rate=16000):
            n += 1
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert n == 2 * seconds - 1
    # two overlapping windows of 8 x 112 x 112 x 3 bytes and ~1 s of audio: a few MB, whatever the length
    assert peaks[1] < peaks[0] + 2e6, peaks
    assert peaks[1] < 20e6, peaks


def test_audio_that_ends_early(tmp_path):
    """Audio 1 s, video 3 s: later windows get zeros (counted as padding), like read_clip's."""
    path = tmp_path / "short_audio.mkv"
    write_av(path, counter_frames(75, 32, 32), _tones(1.0), 25, SR)
    clips = list(stream_windows(path, 0.5, fps=10, size=(32, 32), sample_rate=16000))
    assert len(clips) == 6
    whole = read_clip(path, 0.0, 3.0, video=False, sample_rate=16000).audio
    for clip in clips:
        ref = read_clip(path, clip.start, 0.5, fps=10, size=(32, 32), audio=False)
        assert torch.equal(clip.video, ref.video)
        first = round(clip.start * 16000)
        assert float((clip.audio - whole[:, first : first + 8000]).abs().max()) < 1e-4
    assert clips[-1].meta["audio_pad"] == (0, 8000) and float(clips[-1].audio.abs().max()) == 0.0


def test_frame_threads_give_the_same_windows(av_files):
    kw = dict(fps=8, size=(32, 32), sample_rate=16000)
    one = list(stream_windows(av_files / "a.mp4", 0.5, **kw))
    two = list(stream_windows(av_files / "a.mp4", 0.5, threads=2, **kw))
    assert len(one) == len(two) == 6
    assert all(torch.equal(a.video, b.video) and torch.equal(a.audio, b.audio) for a, b in zip(one, two))
