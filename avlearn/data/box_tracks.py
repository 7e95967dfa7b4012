"""Box and track files: where each visible source (a face, an instrument, a player) is, over time.

Visually guided separation needs a visual input per source: the face crop of a speaker
(VisualVoice, Gao & Grauman, CVPR 2021, Sec. 3.1: face track crops; Looking to Listen, Ephrat
et al., SIGGRAPH 2018, Sec. 3: one face track per speaker) or the crop of a detected object
(Co-Separation, Gao & Grauman, ICCV 2019, Sec. 3.1: "each detected object is a source"). This
module reads a user's own annotations of those regions, one **track** per source, in one of two
formats, and validates them.

**CSV** (one keyframe per row; a header row naming the columns, in any order; ``label``
optional; lines starting with ``#`` before the header may set ``units`` and ``frame_size``)::

    # units: pixels
    # frame_size: 1280x720
    track_id,time_s,x0,y0,x1,y1,label
    alice,0.0,410,120,530,270,speaker
    alice,2.0,430,118,550,268,speaker
    bob,1.0,800,140,910,280,speaker

**JSON** (the same keyframes grouped by track; also accepted inline as a manifest row's
``boxes`` value)::

    {"units": "normalized",
     "tracks": [{"id": "alice", "label": "speaker",
                 "keyframes": [{"time": 0.0, "box": [0.32, 0.17, 0.41, 0.38]},
                               {"time": 2.0, "box": [0.34, 0.16, 0.43, 0.37]}]}]}

Meaning:

* ``time_s`` / ``time``: seconds from the start of the media file (not of a manifest span);
  strictly increasing within a track (rows of different tracks may interleave).
* ``x0, y0, x1, y1``: the box's left, top, right and bottom edges, ``x0 < x1`` and ``y0 < y1``,
  inside the frame: in ``pixels`` (the default units) of the video's frames, ``0 <= x <= W``,
  ``0 <= y <= H``, or ``normalized`` to the frame, in ``[0, 1]``. Pixel boxes refer to the
  video's own frame size unless ``frame_size`` (``WxH``) names the size they were drawn on
  (annotations of a 1080p original used on a 360p copy).
* A track exists from its first to its last keyframe (tracks may start and end mid-clip);
  between keyframes its box is interpolated linearly, outside them the nearest keyframe's box
  is held (:meth:`BoxTrack.box_at`); :meth:`BoxTrack.present` says where it was annotated.
* ``track_id``: letters, digits, ``_``, ``-`` and ``.`` (at most 64 characters, not starting
  with ``.`` or ``-``): it names the source's output files (``<stem>_<track_id>.wav``).

Every problem raises :class:`BoxTrackError` naming the file, the line (CSV) or the track and
keyframe (JSON), and the reason: a negative or out-of-frame box, ``x1 <= x0``, an unknown or
missing column, a time that does not increase within its track.

    >>> tracks = load_box_tracks("talk.boxes.csv", frame_size=(1280, 720))
    >>> tracks[0].id, tracks[0].span, tracks[0].box_at([0.5, 1.0])   # boxes in [0, 1]
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from avlearn.errors import DataError

__all__ = ["BoxTrack", "BoxTrackError", "load_box_tracks", "pick_track", "track_spec", "CSV_COLUMNS", "UNITS"]

#: The CSV columns (``label`` optional).
CSV_COLUMNS = ("track_id", "time_s", "x0", "y0", "x1", "y1", "label")
#: The units a file may use.
UNITS = ("pixels", "normalized")
_REQUIRED = CSV_COLUMNS[:6]
_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX, ]\s*(\d+)\s*$")


class BoxTrackError(DataError, ValueError):
    """A box/track file (or inline boxes) is missing or malformed: ``boxes.csv: line 4: x1 12 <= x0 30``.

    Attributes:
        path: the file (``<inline>`` for boxes given inside a manifest row).
        where: ``line N``, ``tracks[i].keyframes[k]``, or empty for the whole file.
        problem: what is wrong (the message adds the file and ``where``).
    """

    def __init__(self, path: str | os.PathLike, where: str, problem: str):
        self.path, self.where, self.problem = os.fspath(path), where, problem
        super().__init__(f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}")

    def __reduce__(self):  # picklable across DataLoader workers
        return (type(self), (self.path, self.where, self.problem))


@dataclass
class BoxTrack:
    """One source's track: keyframe times and boxes normalized to the frame.

    Attributes:
        id: the track id (names the source's outputs).
        times: float (n,) keyframe times in seconds from the file's start, increasing.
        boxes: float (n, 4) ``[x0, y0, x1, y1]`` in ``[0, 1]`` of the frame's width / height.
        label: an optional class name.
    """

    id: str
    times: np.ndarray
    boxes: np.ndarray
    label: str | None = None

    @property
    def span(self) -> tuple[float, float]:
        """(first, last) keyframe time in seconds."""
        return float(self.times[0]), float(self.times[-1])

    def box_at(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """Boxes (k, 4) in ``[0, 1]`` at ``times`` (seconds): linear between keyframes, the
        nearest keyframe's box held before the first and after the last."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        return np.stack([np.interp(t, self.times, self.boxes[:, j]) for j in range(4)], axis=1)  # (k, 4)

    def present(self, times: Sequence[float] | np.ndarray) -> np.ndarray:
        """bool (k,): whether each time lies within the track's span."""
        t = np.asarray(times, dtype=np.float64).reshape(-1)
        return (t >= self.times[0] - 1e-9) & (t <= self.times[-1] + 1e-9)

    def median(self) -> np.ndarray:
        """The median box (4,) over the keyframes, in ``[0, 1]``."""
        return np.median(self.boxes, axis=0)


def _fail_at(path: str, where: str):
    """A ``fail(reason)`` that raises :class:`BoxTrackError` at ``where`` of ``path``."""

    def fail(reason: str):
        raise BoxTrackError(path, where, reason)

    return fail


def _number(text: Any, name: str, fail) -> float:
    if isinstance(text, bool):
        fail(f"{name} {text!r} is not a number")
    try:
        value = float(text)
    except (TypeError, ValueError):
        fail(f"{name} {text!r} is not a number")
    if not math.isfinite(value):
        fail(f"{name} {text!r} is not a finite number")
    return value


def _frame_size(value: Any, fail) -> tuple[float, float]:
    if isinstance(value, str):
        m = _SIZE.match(value)
        if not m:
            fail(f"frame_size {value!r}: expected WIDTHxHEIGHT, e.g. 1280x720")
        value = [m.group(1), m.group(2)]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        fail(f"frame_size {value!r}: expected [width, height]")
    w, h = (_number(v, "frame_size", fail) for v in value)
    if w <= 0 or h <= 0:
        fail(f"frame_size {value!r} must be positive")
    return w, h


class _Builder:
    """Collects keyframes per track, checking each as it comes (one place for both formats)."""

    def __init__(self, path: str, units: str, size: tuple[float, float] | None):
        self.path, self.units, self.size = path, units, size
        self.tracks: dict[str, dict[str, Any]] = {}

    def fail(self, where: str, reason: str):
        raise BoxTrackError(self.path, where, reason)

    def add(self, where: str, track_id: Any, time: Any, box: Sequence[Any], label: Any = None) -> None:
        fail = _fail_at(self.path, where)

        tid = str(track_id).strip() if track_id is not None else ""
        if not _ID.match(tid):
            fail(f"track id {tid!r}: use 1-64 letters, digits, '_', '-' or '.' (not starting with '.' or '-')")
        t = _number(time, "time", fail)
        if t < 0:
            fail(f"time {t:g} is negative")
        x0, y0, x1, y1 = (_number(v, k, fail) for v, k in zip(box, ("x0", "y0", "x1", "y1")))
        if min(x0, y0, x1, y1) < 0:
            fail(f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] has a negative coordinate")
        if x1 <= x0:
            fail(f"x1 {x1:g} <= x0 {x0:g} (an empty box)")
        if y1 <= y0:
            fail(f"y1 {y1:g} <= y0 {y0:g} (an empty box)")
        w, h = (1.0, 1.0) if self.units == "normalized" else self.size
        if x1 > w + 1e-6 or y1 > h + 1e-6:
            frame = "[0, 1]" if self.units == "normalized" else f"the {w:g}x{h:g} frame"
            fail(f"box [{x0:g}, {y0:g}, {x1:g}, {y1:g}] lies outside {frame}")
        tr = self.tracks.setdefault(tid, {"times": [], "boxes": [], "label": None})
        if tr["times"] and t <= tr["times"][-1]:
            fail(f"time {t:g} of track {tid!r} does not come after its previous keyframe ({tr['times'][-1]:g}); "
                 "times must increase within a track")
        tr["times"].append(t)
        tr["boxes"].append([x0 / w, y0 / h, x1 / w, y1 / h])
        if label not in (None, ""):
            tr["label"] = str(label)

    def result(self) -> list[BoxTrack]:
        if not self.tracks:
            self.fail("", "no tracks (no keyframe rows)")
        return [BoxTrack(tid, np.asarray(tr["times"], dtype=np.float64), np.asarray(tr["boxes"], dtype=np.float64),
                         tr["label"]) for tid, tr in self.tracks.items()]


def _units(value: Any, path: str, where: str) -> str:
    units = str(value).strip().lower() if value is not None else "pixels"
    if units not in UNITS:
        raise BoxTrackError(path, where, f"units {value!r}: expected pixels or normalized")
    return units


def _need_size(path: str, units: str, declared, frame_size) -> tuple[float, float] | None:
    if units == "normalized":
        return None
    if declared is None and callable(frame_size):
        frame_size = frame_size()
    size = declared or (None if frame_size is None else (float(frame_size[0]), float(frame_size[1])))
    if size is None:
        raise BoxTrackError(path, "", "pixel boxes need the frame size: read them with the video's frame size, "
                            "add a frame_size (WIDTHxHEIGHT), or use normalized units")
    return size


def _read_csv(path: str, frame_size) -> list[BoxTrack]:
    directives: dict[str, tuple[int, str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    first = 0
    for n, line in enumerate(lines, start=1):
        text = line.strip()
        if not text:
            continue
        if not text.startswith("#"):
            first = n
            break
        body = text.lstrip("#").strip()
        if ":" in body:
            key, value = (s.strip() for s in body.split(":", 1))
            if key.lower() in ("units", "frame_size"):
                directives[key.lower()] = (n, value)
            elif re.match(r"^[A-Za-z_]+$", key):
                raise BoxTrackError(path, f"line {n}", f"unknown setting {key!r} (units or frame_size)")
    if not first:
        raise BoxTrackError(path, "", "no header row (track_id,time_s,x0,y0,x1,y1[,label])")
    units = _units(directives["units"][1], path, f"line {directives['units'][0]}") if "units" in directives else "pixels"
    declared = None
    if "frame_size" in directives:
        n, value = directives["frame_size"]
        declared = _frame_size(value, _fail_at(path, f"line {n}"))
    reader = csv.reader(lines[first - 1 :])
    header = [h.strip() for h in next(reader)]
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown:
        raise BoxTrackError(path, f"line {first}", f"unknown column(s) {', '.join(map(repr, unknown))} "
                            f"(columns: {', '.join(CSV_COLUMNS)})")
    missing = [c for c in _REQUIRED if c not in header]
    if missing:
        raise BoxTrackError(path, f"line {first}", f"missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise BoxTrackError(path, f"line {first}", "a column is named twice")
    b = _Builder(path, units, _need_size(path, units, declared, frame_size))
    col = {h: i for i, h in enumerate(header)}
    for k, cells in enumerate(reader):
        n = first + 1 + k
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if len(cells) != len(header):
            b.fail(f"line {n}", f"{len(cells)} fields, the header has {len(header)}")
        get = {h: cells[i].strip() for h, i in col.items()}
        b.add(f"line {n}", get["track_id"], get["time_s"], [get[c] for c in ("x0", "y0", "x1", "y1")], get.get("label"))
    return b.result()


def _read_json(obj: Any, path: str, frame_size) -> list[BoxTrack]:
    if not isinstance(obj, dict) or not isinstance(obj.get("tracks"), list):
        raise BoxTrackError(path, "", 'expected {"units": ..., "tracks": [{"id", "keyframes": [{"time", "box"}]}]}')
    unknown = sorted(set(obj) - {"units", "frame_size", "tracks"})
    if unknown:
        raise BoxTrackError(path, "", f"unknown key(s) {', '.join(map(repr, unknown))} (units, frame_size, tracks)")
    units = _units(obj.get("units"), path, "units")
    declared = None
    if obj.get("frame_size") is not None:
        declared = _frame_size(obj["frame_size"], _fail_at(path, "frame_size"))
    b = _Builder(path, units, _need_size(path, units, declared, frame_size))
    for i, tr in enumerate(obj["tracks"]):
        if not isinstance(tr, dict) or not isinstance(tr.get("keyframes"), list) or "id" not in tr:
            b.fail(f"tracks[{i}]", 'expected {"id": ..., "keyframes": [{"time": t, "box": [x0, y0, x1, y1]}]}')
        extra = sorted(set(tr) - {"id", "label", "keyframes"})
        if extra:
            b.fail(f"tracks[{i}]", f"unknown key(s) {', '.join(map(repr, extra))} (id, label, keyframes)")
        if str(tr["id"]) in b.tracks:
            b.fail(f"tracks[{i}]", f"track id {tr['id']!r} appears twice")
        if not tr["keyframes"]:
            b.fail(f"tracks[{i}]", "no keyframes")
        for k, kf in enumerate(tr["keyframes"]):
            where = f"tracks[{i}].keyframes[{k}]"
            if not isinstance(kf, dict) or set(kf) != {"time", "box"}:
                b.fail(where, 'expected {"time": t, "box": [x0, y0, x1, y1]}')
            if not isinstance(kf["box"], (list, tuple)) or len(kf["box"]) != 4:
                b.fail(where, f"box {kf['box']!r}: expected [x0, y0, x1, y1]")
            b.add(where, tr["id"], kf["time"], kf["box"], tr.get("label"))
    return b.result()


def load_box_tracks(source: str | os.PathLike | dict, *,
                    frame_size: Sequence[float] | Callable[[], Sequence[float]] | None = None) -> list[BoxTrack]:
    """The tracks of a box/track file (``.csv`` or ``.json``) or of inline boxes (a dict).

    Args:
        source: a ``.csv`` / ``.json`` path, or the JSON form as a dict (a manifest row's
            inline ``boxes``).
        frame_size: (width, height) of the video's frames, needed for pixel boxes unless the
            file declares ``frame_size``; or a function returning it, called only then (a
            probe of the video).

    Returns:
        The tracks in file order, boxes normalized to ``[0, 1]``.

    Raises:
        BoxTrackError: no such file, an unknown extension, or any bad row (see the module docstring).
    """
    if isinstance(source, dict):
        return _read_json(source, "<inline>", frame_size)
    path = os.fspath(source)
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".json"):
        raise BoxTrackError(path, "", f"unknown box file extension {ext!r} (use .csv or .json)")
    if not os.path.isfile(path):
        raise BoxTrackError(path, "", "no such box file")
    if ext == ".csv":
        return _read_csv(path, frame_size)
    try:
        with open(path, encoding="utf-8") as fh:
            obj = json.load(fh)
    except json.JSONDecodeError as exc:
        raise BoxTrackError(path, f"line {exc.lineno}", f"not JSON ({exc.msg})") from None
    return _read_json(obj, path, frame_size)


def track_spec(value: Any) -> str | dict | None:
    """A manifest row's ``boxes`` value when it names tracks (a file path, or the JSON form as a
    dict), else None: a list of static boxes is the localization manifests' ``boxes``
    (``avlearn prepare flickr-soundnet``), not a track."""
    if isinstance(value, str) and value.strip():
        return value
    return value if isinstance(value, dict) else None


def pick_track(tracks: Sequence[BoxTrack], track_id: str | None, where: str) -> BoxTrack:
    """The track named ``track_id`` (None: the first), for a solo clip whose one source is one track.

    Raises:
        BoxTrackError: no track of that id (``where`` names the box file).
    """
    if track_id is None or track_id == "":
        return tracks[0]
    for tr in tracks:
        if tr.id == str(track_id):
            return tr
    raise BoxTrackError(where, "", f"no track {str(track_id)!r} (tracks: {', '.join(t.id for t in tracks)})")
