"""Tar shards: write from a manifest, read back every row exactly once per epoch across
2 ranks x 2 DataLoader workers, shuffle buffers, windows decoded from the bytes."""

from __future__ import annotations

import json
import shutil
import tarfile
from collections import Counter

import pytest
import torch
from media import write_clip, write_garbage

from avlearn.data import ClipDecoder, ManifestRow, ShardDataset, make_stream_loader, parse_size, save_manifest, write_shards
from avlearn.io import read_clip


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    d = tmp_path_factory.mktemp("shards")
    src = write_clip(d / "src.mp4", seconds=1.0, fps=8, sample_rate=8000).path
    rows = []
    for i in range(22):
        p = d / "media" / f"c{i:02d}.mp4"
        p.parent.mkdir(exist_ok=True)
        shutil.copy(src, p)
        rows.append(ManifestRow(path=str(p), label=f"k{i % 3}", extra={"id": f"c{i:02d}"}))
    rows.append(ManifestRow(path=str(d / "media" / "gone.mp4"), extra={"id": "gone"}))
    rows.append(ManifestRow(path=write_garbage(d / "media" / "junk.mp4"), extra={"id": "junk"}))
    save_manifest(rows, d / "m.jsonl")
    size = (d / "media" / "c00.mp4").stat().st_size
    index = write_shards(d / "m.jsonl", d / "out", shard_size=3 * size + 4000)
    return d, index


def test_parse_size():
    assert parse_size("1GB") == 10**9 and parse_size("64MiB") == 64 * 2**20 and parse_size("1000") == 1000
    with pytest.raises(ValueError, match="not a size: '1 parsec'"):
        parse_size("1 parsec")


def test_written_layout(tree):
    d, index = tree
    assert index["samples"] == 22 and index["missing"] == 1 and index["unreadable"] == 1
    assert len(index["shards"]) >= 5 and sum(s["samples"] for s in index["shards"]) == 22
    with tarfile.open(d / "out" / index["shards"][0]["name"]) as tar:
        names = tar.getnames()
        assert names[:2] == ["000000000.mp4", "000000000.json"]
        row = json.loads(tar.extractfile("000000000.json").read())
        media = tar.extractfile("000000000.mp4").read()
    assert row["id"] == "c00" and row["label"] == "k0" and row["source_path"].endswith("c00.mp4")
    assert media == (d / "media" / "c00.mp4").read_bytes()
    assert read_clip(media, 0.0, 0.5, fps=8).video.shape[0] == 4  # bytes decode directly


@pytest.mark.parametrize("shuffle_buffer", [0, 4])
def test_every_row_once_per_epoch_across_ranks_and_workers(tree, shuffle_buffer):
    d, index = tree
    for epoch in (0, 1):
        seen = Counter()
        orders = []
        for rank in (0, 1):
            ds = ShardDataset(d / "out", shuffle_buffer=shuffle_buffer, seed=5, rank=rank, world_size=2,
                              decode=lambda s: {"id": s["row"]["id"], "n": len(s["media"])})
            ds.set_epoch(epoch)
            ids = [i for batch in make_stream_loader(ds, 3, num_workers=2) for i in batch["id"]]
            orders.append(ids)
            seen.update(ids)
        assert seen == Counter(f"c{i:02d}" for i in range(22))  # each exactly once
        assert all(orders), "both ranks read something"


def test_fewer_shards_than_parts_still_no_duplicates(tree):
    d, index = tree
    first = d / "out" / index["shards"][0]["name"]
    seen = Counter()
    for rank in (0, 1):
        ds = ShardDataset([first], rank=rank, world_size=2, decode=lambda s: {"id": s["row"]["id"]})
        seen.update(i for b in make_stream_loader(ds, 2, num_workers=2) for i in b["id"])
    assert seen == Counter(f"c{i:02d}" for i in range(index["shards"][0]["samples"]))


def test_shuffle_buffer_changes_order_deterministically(tree):
    d, _ = tree
    def ids(buf, seed, epoch=0):
        ds = ShardDataset(d / "out", shuffle_buffer=buf, seed=seed, shuffle_shards=False, decode=lambda s: s["row"]["id"])
        ds.set_epoch(epoch)
        return list(ds)
    plain = ids(0, 0)
    assert plain == sorted(plain)
    assert ids(8, 1) == ids(8, 1) != plain and sorted(ids(8, 1)) == plain and ids(8, 1, epoch=1) != ids(8, 1)


def test_clip_decoder_windows(tree):
    d, _ = tree
    dec = ClipDecoder(0.5, fps=8, size=(16, 16), sample_rate=8000)
    ds = ShardDataset(d / "out", decode=dec)
    samples = list(ds)
    assert len(samples) == 22 and dec.too_short == 0
    assert all(s["video"].shape == (4, 16, 16, 3) and s["audio"].shape == (1, 4000) for s in samples)
    assert all(0.0 <= s["start"] <= 0.5 for s in samples)
    long = ClipDecoder(2.0, fps=8)
    assert list(ShardDataset(d / "out", decode=long)) == [] and long.too_short == 22
    assert isinstance(samples[0]["video"], torch.Tensor)


def test_damaged_shard_is_skipped_and_counted(tree, tmp_path):
    d, index = tree
    good = d / "out" / index["shards"][0]["name"]
    cut = tmp_path / "cut.tar"
    data = good.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 100])  # a shard cut short in a sample
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 64)
    ds = ShardDataset([good, cut, junk], shuffle_shards=False, decode=lambda s: s["row"]["id"])
    got = list(ds)
    assert got[: index["shards"][0]["samples"]] == [f"c{i:02d}" for i in range(index["shards"][0]["samples"])]
    assert ds.bad_shards == 2
