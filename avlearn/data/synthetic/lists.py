"""Frozen evaluation lists: the fixed test (and val) items every task reports on.

Built once, when the world is written, from a seed, so that every result in the project is
measured on the same items:

- ``sync_<split>.jsonl``: a window of a clip with its audio aligned (offset 0) or shifted by
  ``+-[0.04, 1.0]`` s. Offsets are uniform in magnitude with a random sign, following the
  shifted-audio negatives of Owens & Efros (ECCV 2018, Sec. 3.2) and the offset-estimation
  protocol of SyncNet (Chung & Zisserman, ACCV-W 2016, Sec. 4). A positive offset means the
  audio is late: the window plays video from ``start`` and audio from
  ``audio_start = start - offset``; both lie inside the clip.
- ``separation_<split>.jsonl``: groups of 2 and 3 clips whose audio is mixed and separated
  again (mix-and-separate, Zhao et al. ECCV 2018, Sec. 3.1); clips in a group have different
  labels.
- ``localization_<split>.jsonl``: a frame, the audio window around it, the boxes of the
  objects sounding in that window, and the boxes of the visible silent ones (Senocak et al.
  CVPR 2018 protocol: cIoU against the sounding objects' boxes).
- ``segments_<split>.jsonl`` (actions worlds): each video's labelled segments, for temporal
  localization (mAP at tIoU 0.3/0.5/0.7).
- ``detection_<split>.jsonl`` (actors worlds): one row per keyframe with every actor's box and
  label set, for spatio-temporal action detection measured by frame-mAP at IoU 0.5 (Gu et al.
  CVPR 2018, Sec. 5).
- ``classify_<split>.jsonl`` (av_classes worlds): each clip with its class and where the class
  is carried, for audio-only / video-only / fusion accuracy (Nagrani et al. NeurIPS 2021, Sec. 4).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["sync_rows", "separation_rows", "localization_rows", "segment_rows", "detection_rows", "classify_rows",
           "build_lists"]

MIN_OFFSET, MAX_OFFSET = 0.04, 1.0


def _ref(rec: dict[str, Any]) -> dict[str, Any]:
    return {"id": rec["id"], "clip": rec["clip"], "truth": rec["truth"]}


def sync_rows(rng: np.random.Generator, records: list[dict[str, Any]], windows_per_clip: int = 2) -> list[dict[str, Any]]:
    """Aligned and shifted windows: per clip, half the windows aligned, half shifted.

    The window is ``min(1.0, duration / 2)`` seconds long; the largest offset is
    ``min(1.0, duration - window)``.
    """
    rows = []
    for rec in records:
        dur = rec["truth_data"]["duration"]
        fps = rec["truth_data"]["fps"]
        win = min(1.0, dur / 2)
        most = min(MAX_OFFSET, dur - win)
        for k in range(windows_per_clip):
            offset = 0.0
            if k % 2 == 1 and most >= MIN_OFFSET:
                offset = float(rng.uniform(MIN_OFFSET, most)) * (1.0 if rng.random() < 0.5 else -1.0)
            lo, hi = max(0.0, offset), min(dur - win, dur - win + offset)
            start = max(float(np.floor(rng.uniform(lo, hi) * fps) / fps), lo)  # on a frame where it can be
            rows.append({**_ref(rec), "start": round(start, 6), "audio_start": round(start - offset, 6),
                         "duration": round(win, 6), "offset": round(offset, 6), "aligned": offset == 0.0})
    return rows


def separation_rows(rng: np.random.Generator, records: list[dict[str, Any]], sizes: tuple[int, ...] = (2, 3),
                    per_size: int | None = None) -> list[dict[str, Any]]:
    """Groups of clips to mix; a group's labels differ wherever the split allows it.

    Args:
        rng: random generator.
        records: the split's clips.
        sizes: group sizes.
        per_size: groups of each size (default: one per clip).
    """
    rows = []
    for size in sizes:
        if len(records) < size:
            continue
        count = per_size or len(records)
        for g in range(count):
            for _ in range(20):  # retry a few draws for distinct labels
                pick = rng.choice(len(records), size=size, replace=False)
                labels = {records[i]["truth_data"]["label"] for i in pick}
                if len(labels) == size:
                    break
            clips = [{**_ref(records[i]), "label": records[i]["truth_data"]["label"], "stems": records[i]["stems"]}
                     for i in pick]
            rows.append({"id": f"mix{size}_{g:05d}", "num_mix": size, "clips": clips})
    return rows


def localization_rows(rng: np.random.Generator, records: list[dict[str, Any]],
                      frames_per_clip: int = 2) -> list[dict[str, Any]]:
    """Frames where an on-screen source sounds, with the boxes of sounding and silent objects."""
    rows = []
    for rec in records:
        truth = rec["truth_data"]
        fps, dur, T = truth["fps"], truth["duration"], truth["num_frames"]
        visible = [s for s in truth["sources"] if s["onscreen"]]
        sounding = [s for s in visible if s["sounding"]]
        active = np.array([s["active"] for s in sounding], bool).reshape(len(sounding), T)
        candidates = np.flatnonzero(active.any(axis=0))
        if len(candidates) == 0:
            continue
        chosen = np.sort(rng.choice(candidates, size=min(frames_per_clip, len(candidates)), replace=False))
        win = min(1.0, dur)
        for frame in chosen:
            t = frame / fps
            t0 = min(max(0.0, t - win / 2), dur - win)
            f0, f1 = int(np.ceil(t0 * fps - 1e-9)), min(T, int(np.ceil((t0 + win) * fps - 1e-9)))
            heard = [s for k, s in enumerate(sounding) if active[k, f0:f1].any()]
            quiet = [s for s in visible if s not in heard]
            rows.append({
                **_ref(rec), "frame": int(frame), "time": round(t, 6), "window": [round(t0, 6), round(t0 + win, 6)],
                "boxes": [s["boxes"][frame] for s in heard], "source_ids": [s["id"] for s in heard],
                "silent_boxes": [s["boxes"][frame] for s in quiet], "silent_ids": [s["id"] for s in quiet],
                "distractors": any(s["distractor"] for s in visible),
            })
    return rows


def segment_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each action video with its segments (start, end, label)."""
    rows = []
    for rec in records:
        truth = rec["truth_data"]
        segs = [{k: s[k] for k in ("start", "end", "label", "label_name")} for s in truth["segments"]]
        rows.append({**_ref(rec), "duration": truth["duration"], "label": truth["label"],
                     "label_name": truth["label_name"], "segments": segs})
    return rows


def detection_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per keyframe of each clip: every actor's box and label set at that frame."""
    rows = []
    for rec in records:
        truth = rec["truth_data"]
        actors = truth["actors"]
        for frame in truth["keyframes"]:
            rows.append({**_ref(rec), "frame": int(frame), "time": round(frame / truth["fps"], 6),
                         "size": truth["size"], "actor_ids": [a["id"] for a in actors],
                         "boxes": [a["boxes"][frame] for a in actors], "labels": [a["actions"][frame] for a in actors]})
    return rows


_CLASSIFY_KEYS = ("carrier", "motion", "sound", "motion_from", "sound_from", "synchronous")


def classify_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each clip with its class and where the class is carried (whole clip)."""
    return [{**_ref(rec), "label": rec["truth_data"]["label"], "label_name": rec["truth_data"]["label_name"],
             "start": 0.0, "end": rec["truth_data"]["duration"], **{k: rec["truth_data"][k] for k in _CLASSIFY_KEYS}}
            for rec in records]


def build_lists(kind: str, records: list[dict[str, Any]], seed: int) -> dict[str, list[dict[str, Any]]]:
    """All frozen lists of one split.

    Args:
        kind: the world kind (``"actions"`` gets sync and segments lists, ``"actors"`` sync
            and detection, ``"av_classes"`` sync and classify; the others sync, separation and
            localization).
        records: the split's clips in order, each with ``id``, ``clip``, ``truth``, ``stems``
            (root-relative paths) and ``truth_data`` (the truth dict).
        seed: the lists' seed.

    Returns:
        task name -> rows.
    """
    ss = np.random.SeedSequence(seed)
    rng_sync, rng_sep, rng_loc = (np.random.default_rng(s) for s in ss.spawn(3))
    if kind == "actions":
        return {"sync": sync_rows(rng_sync, records, windows_per_clip=4), "segments": segment_rows(records)}
    if kind == "actors":
        return {"sync": sync_rows(rng_sync, records), "detection": detection_rows(records)}
    if kind == "av_classes":
        return {"sync": sync_rows(rng_sync, records), "classify": classify_rows(records)}
    return {"sync": sync_rows(rng_sync, records), "separation": separation_rows(rng_sep, records),
            "localization": localization_rows(rng_loc, records)}
