"""Preview videos in the one decode cache: whole-video entries equal to read_clip, the on-disk
tier, bounded memory, unreadable videos skipped and counted."""

import json

import pytest
import torch

from avlearn.io import read_clip
from avlearn.tasks.preview.data import PreviewData, VideoWindows, GridWindowDataset


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from avlearn.data.synthetic import WorldConfig, make_world

    root = tmp_path_factory.mktemp("preview_windows") / "w"
    cfg = WorldConfig(kind="actions", size=32, fps=8, sample_rate=8000, duration=3.0, action_classes=2)
    make_world(root, cfg, clips={"train": 2, "val": 1, "test": 2}, seed=3, workers=1, progress=False)
    return root


def _data(world, cache, **kw):
    return PreviewData(world=str(world), fps=8.0, size=16, sample_rate=8000, window=1.0, hop=0.5, cache=str(cache), **kw)


def _windows(store, v):
    starts = store.starts(v, 0.5, 1.0)
    return (store.clips(v, starts, 1.0), store.images(v, starts, 1.0), store.audio(v, starts, 1.0),
            store.labels(v, starts, 1.0))


def test_entries_equal_read_clip_and_come_back_from_disk(world, tmp_path):
    data = _data(world, tmp_path / "cache")
    store = VideoWindows.load(data, "test")
    assert len(store) == 2 and store.cache.decoded == 2 and store.bad == 0 and store.num_classes == 2
    for v, rec in enumerate(store.records):
        ref = read_clip(rec.path, 0.0, None, fps=8.0, size=(16, 16), sample_rate=8000, mono=True)
        frames, pcm = store.video(v)
        assert frames.dtype == torch.uint8 and pcm.dtype == torch.int16
        assert torch.equal(frames, ref.video) and frames.shape == (24, 16, 16, 3)
        assert torch.equal(pcm, (ref.audio[0].clamp(-1, 1) * 32767).round().to(torch.int16))
        assert rec.duration == pytest.approx(ref.duration)
    assert len(list((tmp_path / "cache" / "videos").glob("*.pt"))) == 2
    again = VideoWindows.load(data, "test")  # a later run: every video read back from the on-disk tier
    assert again.cache.decoded == 0 and again.key == store.key
    for v in range(len(store)):
        for a, b in zip(_windows(store, v), _windows(again, v)):
            assert torch.equal(a, b)


def test_memory_is_bounded_by_the_limit(world, tmp_path):
    data = _data(world, tmp_path / "cache")
    full = VideoWindows.load(data, "train")
    small = VideoWindows.load(data, "train", limit=1)
    assert small.cache.in_memory() == 1 and full.cache.in_memory() == 2 and small.cache.decoded == 0
    for v in (0, 1, 0, 1):  # each visit drops the other video from memory; it comes back from disk
        for a, b in zip(_windows(full, v), _windows(small, v)):
            assert torch.equal(a, b)
        assert small.cache.in_memory() == 1
    assert small.cache.decoded == 0
    ds = GridWindowDataset(small, hop=0.5, window=1.0, inputs="pair")
    ref = GridWindowDataset(full, hop=0.5, window=1.0, inputs="pair")
    assert len(ds) == len(ref) == 2 * 5
    for i in (0, 7, 3):
        assert torch.equal(ds[i]["audio"], ref[i]["audio"]) and torch.equal(ds[i]["image"], ref[i]["image"])


def test_a_rewritten_file_is_decoded_again(world, tmp_path):
    import os

    from avlearn.tasks.preview.data import video_records

    data = _data(world, tmp_path / "cache", max_videos=1)
    VideoWindows.load(data, "val")
    path = video_records(world, "val")[0].path
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert VideoWindows.load(data, "val").cache.decoded == 1


def test_manifest_videos_unreadable_ones_skipped_and_counted(world, tmp_path, caplog):
    from avlearn.tasks.preview.data import video_records

    rec = video_records(world, "test")[0]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    rows = [{"path": rec.path, "label": "a", "segments": [{"start": 0.5, "end": 2.5, "label": "a"}]},
            {"path": str(bad), "label": "b", "segments": [{"start": 0.0, "end": 1.0, "label": "b"}]}]
    manifest = tmp_path / "train.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = PreviewData(train=str(manifest), fps=8.0, size=16, sample_rate=8000, cache=str(tmp_path / "cache"))
    store = VideoWindows.load(data, "train")
    assert len(store) == 1 and store.bad == 1 and store.records[0].path == rec.path and "bad.mp4" in caplog.text
    assert store.records[0].segments == [(0.5, 2.5, 0)] and store.records[0].duration == pytest.approx(3.0)
    assert len(list((tmp_path / "cache" / "videos").glob("*.pt"))) == 1  # nothing saved for the bad file


def test_from_arrays_and_from_files(world, tmp_path):
    from avlearn.io import MediaError
    from avlearn.tasks.preview.data import VideoRecord, video_records

    rec = video_records(world, "test")[0]
    files = VideoWindows.from_files([rec.path], fps=8.0, size=16, sample_rate=8000, window=1.0, num_classes=2)
    loaded = VideoWindows.load(_data(world, tmp_path / "cache", max_videos=1), "test")
    assert files.records[0].duration == loaded.records[0].duration
    for a, b in zip(_windows(files, 0), _windows(loaded, 0)[:3]):
        assert torch.equal(a, b)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    with pytest.raises(MediaError, match="bad.mp4"):
        VideoWindows.from_files([str(bad)], fps=8.0, size=16, sample_rate=8000, window=1.0, num_classes=2)
    with pytest.raises(ValueError, match="1 records, 0 frame arrays"):
        VideoWindows.from_arrays([VideoRecord("v", "v.mp4", 1.0)], [], [], fps=8, sample_rate=8000, num_classes=2)



def test_cached_for_weights_computes_once_per_weights_and_settings(tmp_path):
    import os

    from avlearn.tasks.preview.data import cached_for_weights

    data = PreviewData(world=str(tmp_path / "w"), cache=str(tmp_path / "cache"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "weights.pt").write_bytes(b"w")
    calls = []

    def compute():
        calls.append(1)
        return [torch.full((2,), float(len(calls)))]

    first = cached_for_weights(data, "teacher", run, "key|0.5|1.0", compute)
    again = cached_for_weights(data, "teacher", run / "weights.pt", "key|0.5|1.0", compute)  # the folder or its file
    assert len(calls) == 1 and torch.equal(first[0], again[0]) and len(list((tmp_path / "cache").glob("teacher_*.pt"))) == 1
    cached_for_weights(data, "teacher", run, "key|1.0|1.0", compute)  # other settings
    st = os.stat(run / "weights.pt")
    os.utime(run / "weights.pt", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # retrained weights
    assert cached_for_weights(data, "teacher", run, "key|0.5|1.0", compute)[0].tolist() == [3.0, 3.0] and len(calls) == 3
