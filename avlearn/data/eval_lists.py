"""Frozen evaluation lists from any manifest (``avlearn make-lists``), in the row format of the
synthetic world's lists, so one evaluator scores both.

* **sync** -- per manifest row, windows whose audio is aligned (offset 0) or shifted: the
  shifted-audio negatives of Owens & Efros (ECCV 2018, Sec. 3.2) and the offset protocol of
  SyncNet (Chung & Zisserman, ACCV-W 2016, Sec. 4). A row: ``{"id", "clip", "start",
  "audio_start", "duration", "offset", "aligned", "label", "source_id"}``; video plays
  ``[start, start + duration)``, audio ``[audio_start, audio_start + duration)`` with
  ``audio_start = start - offset`` (a positive offset: the audio is late), both inside the
  manifest row's span. Half the windows of a row are aligned, half shifted; offsets are drawn
  from ``shifts`` when given, else uniformly in magnitude from ``[0.04, 1.0]`` s with a random
  sign (the world's rule).
* **separation** -- mixtures for mix-and-separate (Zhao et al., ECCV 2018, Sec. 3.1): groups of
  ``num_mix`` rows with different labels (when labelled) and from different videos. A row:
  ``{"id", "num_mix", "clips": [{"id", "clip", "truth", "stems", "label", "label_name",
  "start", "duration"}]}``: each clip's own audio is its source (``stems = {"s0": clip}``) and
  ``truth`` is a small JSON written beside the list (``truth/<clip id>.json``: duration, fps,
  size, label, one on-screen sounding source ``s0``), the fields the world's separation
  evaluator reads. A row with ``boxes`` (a box/track file or inline boxes,
  :mod:`avlearn.data.box_tracks`; ``track`` picks one) is checked here against the video's
  frame size, and its source carries ``box_tracks`` / ``track`` so evaluation crops the
  source's region.

Paths (``clip``, ``truth``, stems) are relative to the list's grandparent folder when the file
lies below it (the world's ``OUT/lists/<task>_<split>.jsonl`` convention), else absolute.
Everything is a function of the manifest and the seed: row ``i`` draws from
``default_rng([seed, i])``, mixture ``g`` of size ``n`` from ``default_rng([seed, n, g])``.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avlearn import io as avio
from avlearn.data.box_tracks import load_box_tracks, pick_track, track_spec
from avlearn.data.manifest import LabelVocab, ManifestRow, known_length

__all__ = ["sync_list", "separation_list", "write_list", "fitting_span", "MIN_OFFSET", "MAX_OFFSET"]

MIN_OFFSET, MAX_OFFSET = 0.04, 1.0


def _span(row: ManifestRow) -> tuple[float, float]:
    """(begin, length) of a row's span; probes the file when the manifest does not say."""
    begin, length = row.start or 0.0, known_length(row)
    return begin, length if length is not None else float(avio.probe(row.path).duration) - begin


def fitting_span(row: ManifestRow, window: float, counts: dict[str, int]) -> tuple[float, float] | None:
    """``(begin, length)`` of a row's span when a ``window`` fits in it, else None, counting the
    row in ``counts["unreadable"]`` (its file cannot be probed) or ``counts["too_short"]``."""
    try:
        begin, length = _span(row)
    except avio.MediaError:
        counts["unreadable"] += 1
        return None
    if length + 1e-9 < window:
        counts["too_short"] += 1
        return None
    return begin, length


def _ref(row: ManifestRow, index: int, base: Path) -> dict[str, Any]:
    rid = row.extra.get("id")
    return {"id": str(rid) if rid is not None else f"row{index:07d}", "clip": _rel(row.path, base)}


def _rel(path: str, base: Path) -> str:
    path = os.path.abspath(path)
    rel = os.path.relpath(path, base)
    return path if rel.startswith("..") else rel


def _pick(rows: Sequence[ManifestRow], limit: int | None, seed: int) -> list[int]:
    if limit is None or limit >= len(rows):
        return list(range(len(rows)))
    return sorted(np.random.default_rng([seed, 2**31 - 1]).choice(len(rows), size=limit, replace=False).tolist())


def sync_list(rows: Sequence[ManifestRow], *, seed: int, base: str | os.PathLike, window: float = 1.0,
              windows_per_row: int = 2, shifts: Sequence[float] | None = None, fps: float | None = None,
              max_rows: int | None = None) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Aligned and shifted windows of the rows (see the module docstring).

    Args:
        rows: manifest rows.
        seed: the list's seed.
        base: the folder paths are written relative to.
        window: window length in seconds.
        windows_per_row: windows per row; odd-numbered ones are shifted.
        shifts: the offsets (seconds, signed) shifted windows draw from; None: the world's rule.
        fps: put window starts on this frame grid (None: milliseconds).
        max_rows: use this many rows, picked by the seed (None: all).

    Returns:
        (list rows, counts ``{"rows", "windows", "too_short", "unreadable"}``).
    """
    base = Path(base).absolute()
    out, counts = [], {"rows": 0, "windows": 0, "too_short": 0, "unreadable": 0}
    grid = fps if fps else 1000.0
    for i in _pick(rows, max_rows, seed):
        row = rows[i]
        span = fitting_span(row, window, counts)
        if span is None:
            continue
        begin, length = span
        counts["rows"] += 1
        rng = np.random.default_rng([seed, i])
        room = length - window  # how far the audio can move and stay inside the span
        for k in range(windows_per_row):
            offset = 0.0
            if k % 2 == 1:
                if shifts:
                    fits = [s for s in shifts if abs(s) <= room + 1e-9 and s != 0]
                    offset = float(fits[rng.integers(len(fits))]) if fits else 0.0
                elif room >= MIN_OFFSET:
                    offset = float(rng.uniform(MIN_OFFSET, min(MAX_OFFSET, room))) * (1.0 if rng.random() < 0.5 else -1.0)
            lo, hi = max(0.0, offset), room + min(0.0, offset)  # video and audio windows inside the span
            rel = math.ceil(lo * grid - 1e-6) / grid
            last = math.floor(hi * grid + 1e-6) / grid
            rel = max(rel, min(last, math.floor(float(rng.uniform(lo, hi)) * grid) / grid))
            start = round(begin + rel, 6)
            out.append({**_ref(row, i, base), "start": start, "audio_start": round(start - offset, 6),
                        "duration": round(window, 6), "offset": round(offset, 6), "aligned": offset == 0.0,
                        "label": row.label, "source_id": row.extra.get("video_id")})
            counts["windows"] += 1
    return out, counts


def _labels(row: ManifestRow) -> set:
    labels = row.extra.get("labels")
    if isinstance(labels, list) and labels:
        return set(labels)
    return set() if row.label is None else {row.label}


def _video(row: ManifestRow) -> str:
    return str(row.extra.get("video_id") or row.extra.get("speaker") or row.path)


def separation_list(rows: Sequence[ManifestRow], *, seed: int, base: str | os.PathLike, sizes: Sequence[int] = (2, 3),
                    per_size: int | None = None, window: float | None = None, max_tries: int = 50,
                    ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]], dict[str, int]]:
    """Mixtures of rows with different labels and videos (see the module docstring).

    Args:
        rows: manifest rows (solo clips: one source each).
        seed: the list's seed.
        base: the folder paths are written relative to.
        sizes: clips per mixture.
        per_size: mixtures of each size (default: as many as rows).
        window: seconds of each clip, from its span's start (None: the whole span).
        max_tries: draws per mixture before it is given up (counted in ``unmatched``).

    Returns:
        (list rows, truth JSON per clip id, counts ``{"mixtures", "unmatched", "unreadable"}``).
    """
    base = Path(base).absolute()
    vocab = LabelVocab.from_rows(rows)
    infos: dict[int, dict[str, Any] | None] = {}

    def info(i: int) -> dict[str, Any] | None:
        if i not in infos:
            row = rows[i]
            try:
                begin, length = _span(row)
                media = avio.probe(row.path)
            except avio.MediaError:
                infos[i] = None
                return None
            v = media.video
            boxes = track_spec(row.extra.get("boxes"))
            if boxes is not None:  # checked now, against the video's frame size: a bad file names its line
                pick_track(load_box_tracks(boxes, frame_size=(v.width, v.height) if v else None), row.extra.get("track"),
                           boxes if isinstance(boxes, str) else row.path)
            dur = min(length, window) if window else length
            label = vocab.encode(row.label) if isinstance(row.label, (str, int)) else -1
            infos[i] = {"start": begin, "duration": round(dur, 6), "fps": v.fps if v else None,
                        "size": [v.height, v.width] if v else None, "label": label,
                        "label_name": row.label if isinstance(row.label, str) else None}
        return infos[i]

    out, truths = [], {}
    counts = {"mixtures": 0, "unmatched": 0, "unreadable": 0}
    bad: set[int] = set()
    for size in sizes:
        if len(rows) < size:
            continue
        for g in range(per_size or len(rows)):
            rng = np.random.default_rng([seed, size, g])
            group = None
            for _ in range(max_tries):
                pick = [int(k) for k in rng.choice(len(rows), size=size, replace=False)]
                labels = [_labels(rows[k]) for k in pick]
                if any(labels[a] & labels[b] for a in range(size) for b in range(a)):
                    continue
                if len({_video(rows[k]) for k in pick}) < size:
                    continue
                found = [info(k) for k in pick]
                if any(f is None for f in found):
                    bad.update(k for k, f in zip(pick, found) if f is None)
                    continue
                group = list(zip(pick, found))
                break
            if group is None:
                counts["unmatched"] += 1
                continue
            clips = []
            for k, f in group:
                ref = _ref(rows[k], k, base)
                truth_rel = f"truth/{ref['id'].replace('/', '__')}.json"
                truths[truth_rel] = {"version": 1, "id": ref["id"], "source": "manifest", "start": f["start"],
                                     "duration": f["duration"], "fps": f["fps"], "size": f["size"], "label": f["label"],
                                     "label_name": f["label_name"], "labels": sorted(map(str, _labels(rows[k]))),
                                     "sources": [{"id": "s0", "onscreen": True, "sounding": True, "label": f["label"],
                                                  **_box_fields(rows[k])}]}
                clips.append({**ref, "truth": truth_rel, "stems": {"s0": ref["clip"]}, "label": f["label"],
                              "label_name": f["label_name"], "start": f["start"], "duration": f["duration"]})
            out.append({"id": f"mix{size}_{g:05d}", "num_mix": size, "clips": clips})
            counts["mixtures"] += 1
    counts["unreadable"] = len(bad)
    return out, truths, counts


def _box_fields(row: ManifestRow) -> dict[str, Any]:
    """A truth source's ``box_tracks`` (the row's box/track file or inline boxes) and ``track``, if any."""
    boxes = track_spec(row.extra.get("boxes"))
    return {} if boxes is None else {"box_tracks": boxes, "track": row.extra.get("track")}


def write_list(path: str | os.PathLike, rows: Sequence[dict[str, Any]], truths: dict[str, dict] | None = None) -> Path:
    """Write a list (JSON lines) and, for separation lists, the truth files it names.

    Truth paths in the rows are relative to the list's grandparent folder; they are rewritten
    here to where the files go, ``<list folder>/truth/``, relative to that folder.
    """
    path = Path(path).absolute()
    root = path.parent.parent
    path.parent.mkdir(parents=True, exist_ok=True)
    if truths:
        where = {}
        for rel, truth in truths.items():
            target = path.parent / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(truth) + "\n", encoding="utf-8")
            where[rel] = os.path.relpath(target, root)
        rows = [{**r, "clips": [{**c, "truth": where.get(c["truth"], c["truth"])} for c in r["clips"]]} for r in rows]
    with open(path, "w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, separators=(",", ":")) + "\n")
    return path
