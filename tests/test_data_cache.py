"""The one decode cache (avlearn.data.cache.ClipCache) and the tasks' caches built on it."""

import logging

import numpy as np
import pytest

from avlearn.data.cache import ClipCache
from avlearn.io import MediaError


def test_decodes_once_keeps_and_counts_bad_clips(caplog):
    calls = []

    def decode(row):
        calls.append(row["id"])
        if row["id"] == "bad":
            raise MediaError(f"{row['id']}.mp4", "no video stream")
        return {"frames": row["id"] * 2}

    cache = ClipCache([{"id": "a"}, {"id": "bad"}], decode=decode, key=lambda r: r["id"], fps=16, sample_rate=8000)
    assert len(cache) == 2 and "a" in cache and cache.fps == 16.0 and cache.sample_rate == 8000
    first = cache.get("a")
    assert cache.get("a") is first and calls == ["a"]
    with caplog.at_level(logging.WARNING):
        assert cache.get("bad") is None and cache.get("bad") is None
    assert cache.bad == 1 and calls == ["a", "bad"] and "no video stream" in caplog.text
    cache.add([{"id": "a", "other": 1}, {"id": "c"}])  # a known key keeps its first row
    assert len(cache) == 3 and "other" not in cache.rows["a"]
    with pytest.raises(KeyError, match="no clip 'zzz'"):
        cache.get("zzz")


def test_positions_without_cache():
    cache = ClipCache(["x.mp4", "y.mp4"], decode=lambda p: object(), cache=False)
    assert list(cache.rows) == [0, 1] and cache.get(1) is not cache.get(1)


def test_sync_and_separation_use_it(tmp_path):
    from avlearn.data import ManifestRow
    from avlearn.io import write_av
    from avlearn.tasks.separation.data import stem_clips
    from avlearn.tasks.sync.data import av_clips

    rng = np.random.default_rng(0)
    path = write_av(tmp_path / "a.mp4", rng.integers(0, 255, (8, 16, 16, 3), dtype=np.uint8),
                    (rng.standard_normal((1, 8000)) * 0.1).astype(np.float32), fps=16, sample_rate=16000)
    clips = av_clips([ManifestRow(path=str(path)), ManifestRow(path=str(tmp_path / "gone.mp4"))], fps=16, size=(16, 16),
                     sample_rate=16000)
    assert isinstance(clips, ClipCache) and len(clips) == 2
    video, audio, p = clips.get(0)
    assert video.shape == (3, 8, 16, 16) and audio.shape[0] == 1 and p == str(path)
    assert clips.get(1) is None
    bank = stem_clips([{"id": "g", "clip": str(tmp_path / "gone.mp4"), "truth": str(tmp_path / "gone.json"), "stems": {}}],
                      sample_rate=8000, fps=16, size=16)
    assert isinstance(bank, ClipCache) and bank.get("g") is None and bank.bad == 1


def test_limit_drops_the_least_recently_used():
    calls = []
    cache = ClipCache(["a", "b", "c"], decode=lambda r: calls.append(r) or r.upper(), key=lambda r: r, limit=2)
    assert [cache.get(k) for k in ("a", "b", "a", "c")] == ["A", "B", "A", "C"]
    assert cache.in_memory() == 2 and calls == ["a", "b", "c"]  # "b" was the least recently used
    assert cache.get("a") == "A" and calls == ["a", "b", "c"]
    assert cache.get("b") == "B" and calls == ["a", "b", "c", "b"] and cache.decoded == 4
    with pytest.raises(ValueError, match="limit"):
        ClipCache([], decode=str, limit=0)


def test_disk_tier_saves_once_and_reads_back(tmp_path, caplog):
    import torch

    calls = []

    def decode(row):
        calls.append(row)
        if row == "bad":
            raise MediaError("bad.mp4", "no video stream")
        return (torch.full((2, 3), ord(row[0]), dtype=torch.uint8), 1.5)

    def make(**kw):
        return ClipCache(["x", "y", "bad"], decode=decode, disk=tmp_path / "tier", disk_key=lambda r: f"{r}|fps=8", **kw)

    first = make(limit=1)
    x = first.get(0)
    assert first.get(1)[1] == 1.5 and first.get(2) is None and first.bad == 1
    assert len(list((tmp_path / "tier").glob("*.pt"))) == 2  # an unreadable clip saves nothing
    assert torch.equal(first.get(0)[0], x[0]) and calls == ["x", "y", "bad"]  # dropped from memory, read from disk
    second = make()
    assert torch.equal(second.get(0)[0], x[0]) and second.decoded == 0 and calls == ["x", "y", "bad"]
    for f in (tmp_path / "tier").glob("*.pt"):
        f.write_bytes(b"torn")
    with caplog.at_level(logging.WARNING):
        third = make()
        assert torch.equal(third.get(0)[0], x[0]) and third.decoded == 1 and "unreadable cache file" in caplog.text
    assert make().get(0)[1] == 1.5 and calls == ["x", "y", "bad", "x"]  # the torn file was rewritten
    with pytest.raises(ValueError, match="disk_key"):
        ClipCache([], decode=str, disk=tmp_path)
