"""avlearn.tasks.sources: world xor manifests, and the map-style window view (short clips
skipped and counted, never fatal)."""

from __future__ import annotations

import pytest
from media import write_clip

from avlearn.tasks.config import ConfigError
from avlearn.tasks.sources import DataSource, uses_manifests, window_samples
from avlearn.tasks.sync.data import WindowPairs


def test_exactly_one_of_world_and_train(tmp_path):
    (tmp_path / "m.jsonl").write_text("")
    assert uses_manifests(DataSource(world="w")) is False
    assert uses_manifests(DataSource(train=str(tmp_path / "m.jsonl"))) is True
    with pytest.raises(ConfigError, match="not both"):
        uses_manifests(DataSource(world="w", train=str(tmp_path / "m.jsonl")))
    with pytest.raises(ConfigError, match="neither is given"):
        uses_manifests(DataSource())
    with pytest.raises(ConfigError, match="data.val is given without data.train"):
        uses_manifests(DataSource(val="v.jsonl"))
    with pytest.raises(ConfigError, match="no such manifest or folder"):
        uses_manifests(DataSource(train=str(tmp_path / "nope.jsonl")))
    with pytest.raises(ConfigError, match="data.test: no such file"):
        uses_manifests(DataSource(train=str(tmp_path / "m.jsonl"), test=str(tmp_path / "t.jsonl")))


def test_short_clip_in_a_folder_is_skipped_and_counted(tmp_path):
    """A folder has no recorded lengths: the 0.5 s clip is found short when drawn, comes back
    None (dropped by the collate, logged as skipped) and is counted; the 3 s clips give pairs."""
    for i, seconds in enumerate((3.0, 3.0, 0.5)):
        write_clip(tmp_path / "v" / f"c{i}.mp4", seconds=seconds, fps=8, sample_rate=8000)
    pairs = WindowPairs(clip_duration=1.0, min_shift=0.25, max_shift=1.0)
    ds = window_samples(tmp_path / "v", window=pairs.span(8), windows_per_epoch=12, transform=pairs, seed=0,
                        fps=8, size=(32, 32), sample_rate=8000, mono=True)
    assert len(ds) == 12
    samples = [ds[i] for i in range(len(ds))]
    skipped = sum(s is None for s in samples)
    assert 0 < skipped < 12 and ds.counters()["too_short"] == skipped
    good = next(s for s in samples if s is not None)
    assert good["video"].shape == (3, 8, 32, 32) and good["audio"].shape == (1, 8000)
    assert good["audio_shifted"].shape == (1, 8000) and 0.25 <= abs(good["shift"]) <= 1.0
    again = [ds[i] for i in range(12)]  # the same epoch draws the same windows
    assert [None if s is None else s["start"] for s in again] == [None if s is None else s["start"] for s in samples]


def test_known_short_rows_are_left_out_at_build(tmp_path, caplog):
    import json

    for i, seconds in enumerate((3.0, 0.5)):
        write_clip(tmp_path / f"c{i}.mp4", seconds=seconds, fps=8, sample_rate=8000)
    rows = [{"path": f"c{i}.mp4", "media_duration": d} for i, d in enumerate((3.0, 0.5))]
    (tmp_path / "m.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    pairs = WindowPairs(clip_duration=1.0, max_shift=1.0)
    with caplog.at_level("WARNING"):
        ds = window_samples(tmp_path / "m.jsonl", window=pairs.span(8), windows_per_epoch=4, transform=pairs, seed=0,
                            fps=8, size=(32, 32), sample_rate=8000, mono=True)
    assert "skipped 1 of 2 rows shorter than the 2.000 s window" in caplog.text
    assert ds.counters()["too_short_rows"] == 1 and all(ds[i] is not None for i in range(4))
    with pytest.raises(ValueError, match="m.jsonl"):
        window_samples(tmp_path / "m.jsonl", window=9.0, windows_per_epoch=4, transform=pairs, seed=0, fps=8,
                       size=(32, 32), sample_rate=8000)

