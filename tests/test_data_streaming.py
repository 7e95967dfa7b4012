"""WindowDataset: an epoch is a number of windows; short and bad files are skipped and counted;
ranks and workers split the draws; memory stays flat on a 100k-row manifest."""

from __future__ import annotations

import json
import os
import shutil
import time
import tracemalloc

import pytest
import torch
from media import read_counters, write_clip, write_garbage

from avlearn.data import ManifestRow, WindowDataset, make_stream_loader
from avlearn.data.prepare import prepare


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("stream")
    long = write_clip(d / "long.mp4", seconds=2.0, fps=8, sample_rate=8000).path
    short = write_clip(d / "short.mp4", seconds=0.5, fps=8, sample_rate=8000).path
    bad = write_garbage(d / "bad.mp4")
    return d, long, short, bad


def test_epoch_is_windows_not_files_and_skips_are_counted(clips):
    d, long, short, bad = clips
    rows = [ManifestRow(path=long, label="a"), ManifestRow(path=short, label="b"),  # short: found when probed
            ManifestRow(path=long, label="a", start=0.0, end=0.5),  # known too short: left out up front
            ManifestRow(path=bad, label="b")]
    ds = WindowDataset(rows, window=1.0, windows_per_epoch=12, fps=8, size=(16, 16), sample_rate=8000, seed=3, cache=False)
    assert ds.too_short_rows == 1 and len(ds) == 12
    samples = list(ds)
    assert len(samples) == 12  # more windows than usable files
    assert all(s["path"] == long and s["video"].shape == (3, 8, 16, 16) and s["audio"].shape == (1, 8000) for s in samples)
    assert ds.too_short > 0 and ds.unreadable > 0 and ds.dropped == 0
    for s in samples:  # the frames are those of the window
        counters = read_counters(s["video"].permute(1, 2, 3, 0).mul(255).round().byte())
        assert counters == list(range(round(s["start"] * 8), round(s["start"] * 8) + 8))
    again = list(ds)
    assert [s["start"] for s in again] == [s["start"] for s in samples]  # deterministic in (seed, epoch)
    ds.set_epoch(1)
    assert [s["start"] for s in ds] != [s["start"] for s in samples]


def test_cache_gives_the_same_windows(clips):
    d, long, short, bad = clips
    rows = [ManifestRow(path=long), ManifestRow(path=long, start=0.25)]
    kw = dict(window=0.5, windows_per_epoch=6, fps=8, size=(16, 16), sample_rate=8000, seed=1)
    cached, plain = WindowDataset(rows, cache=True, **kw), WindowDataset(rows, cache=False, **kw)
    assert cached.cache and not plain.cache
    for a, b in zip(cached, plain):
        assert a["start"] == b["start"]
        assert torch.equal(a["video"], b["video"])
        assert torch.allclose(a["audio"], b["audio"], atol=1e-4)
    assert not WindowDataset(rows, cache_limit=1, **{**kw}).cache  # over the limit: nothing kept


def test_cached_unreadable_row_is_tried_once_and_counted_per_draw(clips):
    d, long, short, bad = clips
    rows = [ManifestRow(path=long), ManifestRow(path=bad, start=0.0, end=2.0)]  # a known span: no probe
    ds = WindowDataset(rows, window=0.5, windows_per_epoch=12, fps=8, size=(16, 16), sample_rate=8000, seed=0, cache=True)
    samples = list(ds)
    assert len(samples) == 12 and {s["path"] for s in samples} == {long}
    assert ds.unreadable > 1 and ds._decoded.bad == 1 and ds._decoded.decoded == 2  # each file decoded once


def test_ranks_and_workers_split_the_draws(clips):
    d, long, short, bad = clips
    rows = [ManifestRow(path=long, label=str(i)) for i in range(5)]
    kw = dict(window=0.5, windows_per_epoch=10, audio=False, fps=4, size=(8, 8), seed=0)
    seen = []
    for rank in (0, 1):
        ds = WindowDataset(rows, rank=rank, world_size=2, **kw)
        got = [int(i) for b in make_stream_loader(ds, 2, num_workers=2) for i in b["window_index"]]
        assert len(got) == len(ds) == 5
        seen += got
    assert sorted(seen) == list(range(10))


def test_prepared_manifest_streams(tmp_path, clips):
    d, long, short, bad = clips
    root = tmp_path / "videos"
    for rel in ("x/a.mp4", "x/b.mp4", "y/c.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(long if rel != "y/c.mp4" else short, root / rel)
    prepare("folder", root, tmp_path / "m", labels_from_parent=True)
    ds = WindowDataset(tmp_path / "m" / "all.jsonl", window=1.0, windows_per_epoch=4, fps=4, size=(8, 8), sample_rate=8000)
    assert ds.too_short_rows == 1  # y/c.mp4 is 0.5 s: known from media_duration, never probed
    batch = next(iter(make_stream_loader(ds, 4)))
    assert batch["video"].shape == (4, 3, 4, 8, 8) and set(batch["label"].tolist()) == {0}


def _rss_kb() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS"))


@pytest.mark.slow
def test_100k_rows_flat_memory_and_first_batch_fast(tmp_path, clips):
    d, long, short, bad = clips
    files = []
    for i in range(3):
        files.append(str(tmp_path / f"f{i}.mp4"))
        shutil.copy(long, files[-1])
    manifest = tmp_path / "big.jsonl"
    with open(manifest, "w") as fh:
        for i in range(100_000):
            fh.write(json.dumps({"path": os.path.basename(files[i % 3]), "label": f"c{i % 50}", "id": f"r{i}"}) + "\n")
    t0 = time.monotonic()
    ds = WindowDataset(manifest, window=0.5, windows_per_epoch=400, fps=4, size=(16, 16), sample_rate=8000, seed=0)
    assert not ds.cache  # 100k rows: no decode cache
    loader = make_stream_loader(ds, 8, num_workers=2)
    it = iter(loader)
    first = next(it)
    assert time.monotonic() - t0 < 60 and first["video"].shape == (8, 3, 2, 16, 16)
    # flat memory in the process that reads (no workers, so tracemalloc sees the decoding)
    single = iter(make_stream_loader(ds, 8, num_workers=0))
    for _ in range(5):
        next(single)
    tracemalloc.start()
    rss0 = _rss_kb()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(40):  # 320 windows over ~300 distinct rows
        next(single)
    grown, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert grown - base < 2_000_000, f"python heap grew by {grown - base} bytes"
    assert _rss_kb() - rss0 < 50_000
    rest = sum(b["video"].shape[0] for b in it)
    assert first["video"].shape[0] + rest == 400 and ds.bad_samples == 0
