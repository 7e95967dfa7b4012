"""Box/track files: the CSV and JSON forms, units, interpolation, tracks that start and end
mid-clip, and one typed error naming the file and line for every kind of bad row."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from avlearn.data.box_tracks import BoxTrackError, load_box_tracks, pick_track, track_spec
from avlearn.errors import DataError

CSV = """# units: pixels
track_id,time_s,x0,y0,x1,y1,label
alice,0.0,10,20,30,40,speaker
bob,1.0,60,0,100,50,
alice,2.0,30,20,50,40,speaker
bob,3.0,60,10,100,50,
"""


def _write(tmp_path, text, name="boxes.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_tracks_interpolate_and_hold_outside_their_span(tmp_path):
    tracks = load_box_tracks(_write(tmp_path, CSV), frame_size=(100, 50))
    assert [t.id for t in tracks] == ["alice", "bob"] and tracks[0].label == "speaker" and tracks[1].label is None
    alice, bob = tracks
    assert alice.span == (0.0, 2.0) and bob.span == (1.0, 3.0)  # bob starts and ends mid-clip
    np.testing.assert_allclose(alice.box_at([0.0, 1.0, 2.0]) * [100, 50, 100, 50],
                               [[10, 20, 30, 40], [20, 20, 40, 40], [30, 20, 50, 40]])  # linear between keyframes
    np.testing.assert_allclose(bob.box_at([0.0, 5.0]) * [100, 50, 100, 50], [[60, 0, 100, 50], [60, 10, 100, 50]])  # held
    assert bob.present([0.5, 1.0, 2.0, 3.0, 3.5]).tolist() == [False, True, True, True, False]


def test_json_inline_and_normalized_forms_give_the_same_tracks(tmp_path):
    obj = {"units": "normalized", "tracks": [
        {"id": "alice", "label": "speaker", "keyframes": [{"time": 0.0, "box": [0.1, 0.4, 0.3, 0.8]},
                                                          {"time": 2.0, "box": [0.3, 0.4, 0.5, 0.8]}]},
        {"id": "bob", "keyframes": [{"time": 1.0, "box": [0.6, 0.0, 1.0, 1.0]}, {"time": 3.0, "box": [0.6, 0.2, 1.0, 1.0]}]}]}
    from_csv = load_box_tracks(_write(tmp_path, CSV), frame_size=(100, 50))
    from_file = load_box_tracks(_write(tmp_path, json.dumps(obj), "b.json"))  # normalized: no frame size needed
    inline = load_box_tracks(obj)
    for a, b, c in zip(from_csv, from_file, inline):
        assert a.id == b.id == c.id
        np.testing.assert_allclose(a.times, b.times)
        np.testing.assert_allclose(a.boxes, b.boxes)
        np.testing.assert_allclose(b.boxes, c.boxes)


def test_declared_frame_size_scales_pixel_boxes(tmp_path):
    text = "# frame_size: 200x100\ntrack_id,time_s,x0,y0,x1,y1\nt1,0.5,100,50,200,100\n"
    (t,) = load_box_tracks(_write(tmp_path, text), frame_size=(64, 32))  # drawn on 200x100, used on any size
    np.testing.assert_allclose(t.boxes, [[0.5, 0.5, 1.0, 1.0]])
    text = "# units: normalized\ntime_s,track_id,y0,x0,y1,x1\n0,t2,0.1,0.2,0.5,0.6\n"
    (n,) = load_box_tracks(_write(tmp_path, text, "n.csv"))  # columns in any order
    np.testing.assert_allclose(n.boxes, [[0.2, 0.1, 0.6, 0.5]])


HEADER = "track_id,time_s,x0,y0,x1,y1\n"


@pytest.mark.parametrize("body, where, words", [
    (HEADER + "a,0,10,10,20,20\na,1,-1,10,20,20\n", "line 3", "negative"),
    (HEADER + "a,0,10,10,120,20\n", "line 2", "outside the 100x50 frame"),
    (HEADER + "a,0,10,10,20,51\n", "line 2", "outside"),
    (HEADER + "a,0,30,10,20,20\n", "line 2", "x1 20 <= x0 30"),
    (HEADER + "a,0,10,10,10,20\n", "line 2", "x1 10 <= x0 10"),
    (HEADER + "a,0,10,30,20,20\n", "line 2", "y1 20 <= y0 30"),
    ("track_id,time_s,x0,y0,x1,y1,score\na,0,1,1,2,2,0.9\n", "line 1", "unknown column(s) 'score'"),
    ("track_id,time,x0,y0,x1,y1\n", "line 1", "unknown column"),
    ("track_id,x0,y0,x1,y1\n", "line 1", "missing column(s) time_s"),
    (HEADER + "a,1,1,1,2,2\nb,0,1,1,2,2\na,0.5,1,1,2,2\n", "line 4", "does not come after"),
    (HEADER + "a,1,1,1,2,2\na,1,1,1,2,2\n", "line 3", "does not come after"),
    (HEADER + "a,x,1,1,2,2\n", "line 2", "time 'x' is not a number"),
    (HEADER + "a,nan,1,1,2,2\n", "line 2", "not a finite number"),
    (HEADER + "a,-1,1,1,2,2\n", "line 2", "negative"),
    (HEADER + "a b,0,1,1,2,2\n", "line 2", "track id 'a b'"),
    (HEADER + "a,0,1,1,2\n", "line 2", "5 fields"),
    ("# units: inches\n" + HEADER + "a,0,1,1,2,2\n", "line 1", "units 'inches'"),
    ("# colour: red\n" + HEADER, "line 1", "unknown setting 'colour'"),
    (HEADER, "", "no tracks"),
    ("# units: pixels\n", "", "no header row"),
])
def test_bad_csv_rows_name_the_file_and_line(tmp_path, body, where, words):
    path = _write(tmp_path, body)
    with pytest.raises(BoxTrackError) as info:
        load_box_tracks(path, frame_size=(100, 50))
    err = info.value
    assert err.path == str(path) and err.where == where and words in err.problem, str(err)
    assert str(err).startswith(f"{path}: {where}") and isinstance(err, DataError) and isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))  # crosses DataLoader workers intact
    assert str(again) == str(err) and type(again) is BoxTrackError


@pytest.mark.parametrize("obj, where, words", [
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"time": 0, "box": [0.1, 0.1, 1.2, 0.5]}]}]},
     "tracks[0].keyframes[0]", "outside [0, 1]"),
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"time": 0, "box": [0.1, 0.1, 0.2, 0.5]}]},
                                        {"id": "a", "keyframes": [{"time": 0, "box": [0.1, 0.1, 0.2, 0.5]}]}]},
     "tracks[1]", "appears twice"),
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"time": 0, "box": [0.1, 0.1, 0.2]}]}]},
     "tracks[0].keyframes[0]", "expected [x0, y0, x1, y1]"),
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"t": 0, "box": [0.1, 0.1, 0.2, 0.3]}]}]},
     "tracks[0].keyframes[0]", "expected"),
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"time": 1, "box": [0.1, 0.1, 0.2, 0.3]},
                                                                  {"time": 0.5, "box": [0.1, 0.1, 0.2, 0.3]}]}]},
     "tracks[0].keyframes[1]", "does not come after"),
    ({"units": "normalized", "tracks": [{"id": "a", "keyframes": []}]}, "tracks[0]", "no keyframes"),
    ({"units": "normalized", "tracks": [{"id": "a", "colour": 1, "keyframes": []}]}, "tracks[0]", "unknown key(s) 'colour'"),
    ({"tracks": [], "fps": 3}, "", "unknown key(s) 'fps'"),
    ({"boxes": []}, "", "expected"),
    ({"tracks": [{"id": "a", "keyframes": [{"time": 0, "box": [1, 1, 2, 2]}]}]}, "", "need the frame size"),
])
def test_bad_json_names_the_track_and_keyframe(tmp_path, obj, where, words):
    path = _write(tmp_path, json.dumps(obj), "b.json")
    with pytest.raises(BoxTrackError) as info:
        load_box_tracks(path)
    assert info.value.where == where and words in info.value.problem, str(info.value)
    with pytest.raises(BoxTrackError, match="<inline>"):
        load_box_tracks(obj)


def test_missing_unknown_and_malformed_files(tmp_path):
    with pytest.raises(BoxTrackError, match="no such box file"):
        load_box_tracks(tmp_path / "nope.csv")
    with pytest.raises(BoxTrackError, match="unknown box file extension '.txt'"):
        load_box_tracks(_write(tmp_path, CSV, "b.txt"))
    with pytest.raises(BoxTrackError, match=r"line 2: not JSON"):
        load_box_tracks(_write(tmp_path, '{"tracks":\n [,]}', "bad.json"))
    tracks = load_box_tracks(_write(tmp_path, CSV), frame_size=(100, 50))
    assert pick_track(tracks, None, "f").id == "alice" and pick_track(tracks, "bob", "f").id == "bob"
    with pytest.raises(BoxTrackError, match="no track 'carol' \\(tracks: alice, bob\\)"):
        pick_track(tracks, "carol", "f.csv")
    calls = []
    load_box_tracks({"units": "normalized", "tracks": [{"id": "a", "keyframes": [{"time": 0, "box": [0, 0, 1, 1]}]}]},
                    frame_size=lambda: calls.append(1))
    assert not calls  # a probe of the video only when pixel boxes need it


def test_manifest_resolves_a_box_file_like_path_and_keeps_localization_boxes(tmp_path):
    from avlearn.data import load_manifest, save_manifest

    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "m.csv").write_text("path,label,boxes,track\nclips/a.mp4,x,boxes/a.csv,alice\nclips/b.mp4,y,,\n")
    rows = load_manifest(tmp_path / "m" / "m.csv")
    assert rows[0].extra["boxes"] == str(tmp_path / "m" / "boxes" / "a.csv") and rows[0].extra["track"] == "alice"
    assert rows[1].extra["boxes"] is None and track_spec(rows[1].extra["boxes"]) is None
    assert track_spec([[0.1, 0.1, 0.2, 0.2]]) is None  # flickr/vggss static boxes are not tracks
    save_manifest(rows, tmp_path / "out" / "m.jsonl")
    again = load_manifest(tmp_path / "out" / "m.jsonl")
    assert again[0].extra["boxes"] == rows[0].extra["boxes"]  # written relative, read back to the same file
    assert '"boxes": "../m/boxes/a.csv"' in (tmp_path / "out" / "m.jsonl").read_text()
