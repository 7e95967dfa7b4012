"""The one frozen-list reader (avlearn.data.lists) and the task readers built on it."""

import json
import pickle

import pytest

from avlearn.data.errors import WorldFormatError
from avlearn.data.lists import FrozenListError, read_frozen_list
from avlearn.tasks.localization.data import load_localization_list
from avlearn.tasks.separation.data import load_separation_list
from avlearn.tasks.sync.data import load_sync_list


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


def test_paths_resolve_against_the_world_root(tmp_path):
    path = _write(tmp_path / "w" / "lists" / "sync_test.jsonl",
                  [{"clip": "test/clips/a.mp4", "offset": "0.25", "truth": "test/truth/a.json"}, "",
                   {"clip": "/abs/b.mp4", "offset": 0}])
    rows = read_frozen_list(path, required=("clip", "offset"), floats=("offset",))
    assert [r["offset"] for r in rows] == [0.25, 0.0]
    assert rows[0]["clip_path"] == str(tmp_path / "w" / "test" / "clips" / "a.mp4")
    assert rows[0]["truth_path"] == str(tmp_path / "w" / "test" / "truth" / "a.json")
    assert rows[1]["clip_path"] == "/abs/b.mp4"
    sync = load_sync_list(path)
    assert sync[0]["path"] == rows[0]["clip_path"] and sync[0]["start"] == 0.0


@pytest.mark.parametrize("reader, bad, message", [
    (load_sync_list, {"clip": "a.mp4"}, "line 2: lacks offset"),
    (load_sync_list, {"clip": "a.mp4", "offset": "late"}, "line 2: offset is not a number"),
    (load_localization_list, {"clip": "a.mp4", "frame": 1}, "line 2: lacks time, window, boxes"),
    (load_separation_list, {"id": "g1", "clips": [{"id": "c"}]}, r"line 2: clips\[0\] lacks clip, truth, stems"),
    (load_separation_list, "[1, 2]", "line 2: not a JSON object"),
    (load_sync_list, "{oops", "line 2: not JSON"),
])
def test_every_task_reader_names_the_file_and_line(tmp_path, reader, bad, message):
    good = {"clip": "a.mp4", "offset": 0.0, "frame": 0, "time": 0.5, "window": [0, 1], "boxes": [], "id": "g0",
            "clips": [{"id": "c", "clip": "a.mp4", "truth": "a.json", "stems": {}}]}
    path = _write(tmp_path / "w" / "lists" / "x_test.jsonl", [good, bad])
    with pytest.raises(FrozenListError, match=message) as exc:
        reader(path)
    assert str(exc.value).startswith(str(path)) and exc.value.line == 2
    assert isinstance(exc.value, WorldFormatError) and isinstance(exc.value, ValueError)


def test_missing_list_and_pickling(tmp_path):
    with pytest.raises(FrozenListError, match="nope.jsonl: no such file") as exc:
        load_localization_list(tmp_path / "nope.jsonl")
    back = pickle.loads(pickle.dumps(exc.value))  # crosses DataLoader worker boundaries intact
    assert str(back) == str(exc.value) and back.line == 0


def test_world_lists_use_the_same_reader(tmp_path):
    from avlearn.data.synthetic import load_list

    _write(tmp_path / "lists" / "separation_test.jsonl", [{"id": "g", "clips": [{"clip": "test/clips/a.mp4"}]}])
    rows = load_list(tmp_path, "separation")
    assert rows[0]["clips"][0]["clip_path"] == str(tmp_path / "test" / "clips" / "a.mp4")
    with pytest.raises(FrozenListError, match="sync_test.jsonl: no such file"):
        load_list(tmp_path, "sync")
