"""Manifests: CSV/JSONL round trips, relative paths, extra fields, errors naming file:line."""

from __future__ import annotations

import os

import pytest

from avlearn.data import LabelVocab, ManifestError, ManifestRow, load_manifest, save_manifest


@pytest.fixture
def rows(tmp_path):
    media = tmp_path / "media"
    return [
        ManifestRow(path=str(media / "a.mp4"), label="dog", start=0.5, end=3.25, extra={"speaker": "alice"}),
        ManifestRow(path=str(media / "sub" / "b.webm"), label=3, extra={"speaker": "bob"}),
        ManifestRow(path=str(media / "c.mkv")),
    ]


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_round_trip(tmp_path, rows, ext):
    path = tmp_path / "lists" / f"train.{ext}"
    save_manifest(rows, path)
    text = path.read_text()
    assert str(tmp_path) not in text  # written relative to the manifest's folder
    assert os.path.join("..", "media", "a.mp4") in text
    loaded = load_manifest(path)
    assert [r.path for r in loaded] == [r.path for r in rows]
    if ext == "jsonl":  # JSON keeps types and absent keys exactly
        assert loaded == rows
    assert [r.label for r in loaded] == ["dog", 3, None]
    assert [(r.start, r.end) for r in loaded] == [(0.5, 3.25), (None, None), (None, None)]
    assert loaded[0].extra["speaker"] == "alice" and loaded[1].extra["speaker"] == "bob"
    assert loaded[2].extra.get("speaker") is None


@pytest.mark.parametrize("ext", ["csv", "jsonl"])
def test_moved_folder_still_resolves(tmp_path, ext):
    save_manifest([ManifestRow(str(tmp_path / "old" / "media" / "a.mp4"))], tmp_path / "old" / f"m.{ext}")
    os.rename(tmp_path / "old", tmp_path / "new")
    assert load_manifest(tmp_path / "new" / f"m.{ext}")[0].path == str(tmp_path / "new" / "media" / "a.mp4")


def test_absolute_paths_kept(tmp_path, rows):
    save_manifest(rows, tmp_path / "abs.jsonl", relative=False)
    assert str(tmp_path / "media" / "a.mp4") in (tmp_path / "abs.jsonl").read_text()
    assert load_manifest(tmp_path / "abs.jsonl") == rows


def test_handwritten_csv(tmp_path):
    (tmp_path / "m.csv").write_text("path,label,start,end,split\nx.mp4,7,,2.0,train\n/abs/y.mp4,cat,1,,val\n")
    a, b = load_manifest(tmp_path / "m.csv")
    assert a == ManifestRow(str(tmp_path / "x.mp4"), 7, None, 2.0, {"split": "train"})
    assert b == ManifestRow("/abs/y.mp4", "cat", 1.0, None, {"split": "val"})


@pytest.mark.parametrize(
    "name, text, line, reason",
    [
        ("m.csv", "path,label,start\na.mp4,x,0\nb.mp4,y,abc\n", 3, "start 'abc' is not a number"),
        ("m.csv", "path,label\na.mp4,x\nb.mp4,y,extra\n", 3, "more fields"),
        ("m.csv", "path,label,start\na.mp4\n", 2, "fewer fields"),
        ("m.csv", "file,label\na.mp4,x\n", 1, "no 'path' column"),
        ("m.csv", "path,start,end\na.mp4,2,1\n", 2, "end 1.0 is not after start 2.0"),
        ("m.jsonl", '{"path": "a.mp4"}\n\n{"path": "b.mp4", "start": -1}\n', 3, "must be a finite number >= 0"),
        ("m.jsonl", '{"path": "a.mp4"}\n{"path": "b.mp4",\n', 2, "invalid JSON"),
        ("m.jsonl", '["a.mp4"]\n', 1, "expected a JSON object"),
        ("m.jsonl", '{"label": 1}\n', 1, "row has no 'path'"),
        ("m.jsonl", '{"path": "a.mp4", "label": 1.5}\n', 1, "must be a string or an integer"),
    ],
)
def test_malformed_rows_name_file_and_line(tmp_path, name, text, line, reason):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert isinstance(info.value, ValueError)
    assert info.value.line == line
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert reason in str(info.value)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(ManifestError, match="no such manifest file"):
        load_manifest(tmp_path / "nope.csv")
    with pytest.raises(ManifestError, match="unknown manifest extension"):
        load_manifest(tmp_path / "m.txt")


def test_extra_field_clash_rejected(tmp_path):
    with pytest.raises(ValueError, match="clash"):
        save_manifest([ManifestRow("a.mp4", extra={"label": 1})], tmp_path / "m.csv")


def test_label_vocab(tmp_path):
    rows = [ManifestRow(p, label) for p, label in [("a", "dog"), ("b", "cat"), ("c", 5), ("d", None), ("e", "dog")]]
    vocab = LabelVocab.from_rows(rows)
    assert vocab.names == ["cat", "dog"] and len(vocab) == 2 and "dog" in vocab
    assert [vocab.encode(r.label) for r in rows] == [1, 0, 5, -1, 1]
    assert vocab.decode(1) == "dog"
    with pytest.raises(ValueError, match="unknown label 'cow'"):
        vocab.encode("cow")
    vocab.save(tmp_path / "classes.json")
    assert LabelVocab.load(tmp_path / "classes.json").names == vocab.names
    with pytest.raises(ValueError, match="duplicate"):
        LabelVocab(["a", "a"])
