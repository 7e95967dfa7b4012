"""Folders (recursive scan) and .json lists are manifests too."""

from __future__ import annotations

import json
import shutil

import pytest
from media import write_clip

from avlearn.data import ManifestError, ManifestRow, load_manifest, save_manifest


def test_folder_is_a_manifest(tmp_path):
    src = write_clip(tmp_path / "src.mp4", seconds=0.25).path
    root = tmp_path / "videos"
    for rel in ("dog/a.mp4", "dog/x/b.webm", "cat/c.wav"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / rel)
    (root / "readme.txt").write_text("skip me")
    rows = load_manifest(root)
    assert [r.extra["id"] for r in rows] == ["cat/c", "dog/a", "dog/x/b"] and all(r.label is None for r in rows)
    assert rows[1].path == str(root / "dog" / "a.mp4")
    labelled = load_manifest(root, labels_from_parent=True)
    assert [r.label for r in labelled] == ["cat", "dog", "x"]
    with pytest.raises(ManifestError, match="no video or audio files"):
        load_manifest(_empty(tmp_path))


def _empty(tmp_path):
    (tmp_path / "empty").mkdir()
    return tmp_path / "empty"


def test_json_list_round_trip(tmp_path):
    rows = [ManifestRow(path=str(tmp_path / "a.mp4"), label="x", start=1.0, end=2.0, extra={"boxes": [[0, 0, 1, 1]]})]
    save_manifest(rows, tmp_path / "m.json")
    assert isinstance(json.loads((tmp_path / "m.json").read_text()), list)
    assert load_manifest(tmp_path / "m.json") == rows
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(ManifestError, match="bad.json: a .json manifest holds a list"):
        load_manifest(tmp_path / "bad.json")
