"""make-lists: frozen sync and separation lists from a manifest, deterministic in the seed, in
the synthetic world's row format (read back by the world's list readers)."""

from __future__ import annotations

import json
import shutil

import pytest
from media import write_clip, write_garbage

from avlearn.data import ManifestRow, save_manifest
from avlearn.data.eval_lists import separation_list, sync_list, write_list


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("lists")
    src = write_clip(d / "src.mp4", seconds=2.0, fps=8, sample_rate=8000).path
    rows = []
    for i, (label, vid) in enumerate([("a", "v0"), ("a", "v1"), ("b", "v2"), ("c", "v3"), ("b", "v2")]):
        p = d / "media" / f"c{i}.mp4"
        p.parent.mkdir(exist_ok=True)
        shutil.copy(src, p)
        rows.append(ManifestRow(path=str(p), label=label, extra={"id": f"c{i}", "video_id": vid}))
    rows.append(ManifestRow(path=str(d / "media" / "c0.mp4"), label="d", start=0.5, end=1.0, extra={"id": "tiny"}))
    rows.append(ManifestRow(path=write_garbage(d / "media" / "bad.mp4"), label="e", extra={"id": "bad"}))
    save_manifest(rows, d / "m.jsonl")
    return d, rows


def test_sync_list(data):
    d, rows = data
    items, counts = sync_list(rows, seed=3, base=d, window=1.0, windows_per_row=4, fps=8)
    assert counts == {"rows": 5, "windows": 20, "too_short": 1, "unreadable": 1}
    assert items == sync_list(rows, seed=3, base=d, window=1.0, windows_per_row=4, fps=8)[0]
    assert items != sync_list(rows, seed=4, base=d, window=1.0, windows_per_row=4, fps=8)[0]
    assert [r["aligned"] for r in items[:4]] == [True, False, True, False]
    for r in items:
        assert r["clip"].startswith("media/") and r["duration"] == 1.0
        assert 0.0 <= r["start"] and r["start"] + 1.0 <= 2.0 + 1e-9  # video inside the clip
        assert 0.0 <= r["audio_start"] and r["audio_start"] + 1.0 <= 2.0 + 1e-9  # and the shifted audio
        assert r["audio_start"] == pytest.approx(r["start"] - r["offset"])
        assert r["start"] * 8 == pytest.approx(round(r["start"] * 8))  # on the frame grid
        assert r["aligned"] or 0.04 <= abs(r["offset"]) <= 1.0
    fixed, _ = sync_list(rows, seed=0, base=d, shifts=[-0.5, 0.25])
    assert {r["offset"] for r in fixed if not r["aligned"]} <= {-0.5, 0.25}


def test_separation_list(data, tmp_path):
    d, rows = data
    items, truths, counts = separation_list(rows, seed=1, base=d, sizes=(2, 3), per_size=6)
    assert counts["mixtures"] == 12 and counts["unmatched"] == 0
    for mix in items:
        labels = [c["label_name"] for c in mix["clips"]]
        assert len(set(labels)) == mix["num_mix"] == len(mix["clips"])  # different labels
        assert "bad" not in [c["id"] for c in mix["clips"]]
        videos = {rows[int(c["id"][1:])].extra["video_id"] for c in mix["clips"] if c["id"].startswith("c")}
        assert len(videos) == len([c for c in mix["clips"] if c["id"].startswith("c")])
        for c in mix["clips"]:
            assert c["stems"] == {"s0": c["clip"]} and c["truth"] in truths
    again = separation_list(rows, seed=1, base=d, sizes=(2, 3), per_size=6)[0]
    assert again == items


def test_lists_load_with_the_world_readers(data):
    from avlearn.tasks.separation.data import load_separation_list, stem_clips
    from avlearn.tasks.sync.data import load_sync_list

    d, rows = data
    sync, _ = sync_list(rows, seed=0, base=d)
    path = write_list(d / "lists" / "sync_test.jsonl", sync)
    loaded = load_sync_list(path)
    assert loaded[0]["path"] == str(d / sync[0]["clip"]) and loaded[1]["offset"] == sync[1]["offset"]
    mixes, truths, _ = separation_list(rows, seed=0, base=d, sizes=(2,), per_size=3)
    path = write_list(d / "lists" / "separation_test.jsonl", mixes, truths)
    groups = load_separation_list(path)
    clip = groups[0]["clips"][0]
    truth = json.loads(open(clip["truth"]).read())
    assert clip["stems"]["s0"] == clip["clip"] and truth["size"] == [32, 32] and truth["fps"] == 8
    assert truth["duration"] == pytest.approx(2.0, abs=0.1) and truth["sources"][0]["id"] == "s0"
    bank = stem_clips(groups[0]["clips"], sample_rate=8000, fps=8, size=16)  # the separation evaluator's reader
    rec = bank.get(clip["id"])
    assert rec is not None and rec.frames.shape == (16, 16, 16, 3) and rec.audio.shape == (16000,)
    assert rec.label == clip["label"]
