"""Data for sound-source localization: training windows and the frozen test frames.

Training (Arandjelović & Zisserman, ECCV 2018, Sec. 3-4): the audio-visual correspondence task
needs only unlabelled clips -- a window of frames with the audio that plays during it; the
negatives (another clip's audio) are formed in the batch by :mod:`avlearn.tasks.localization`.

Evaluation (Senocak et al., CVPR 2018, Sec. 5): the synthetic world's frozen list
``lists/localization_<split>.jsonl`` names, per row, a frame of a clip, the one-second audio
``window`` around it, the boxes of the objects sounding in that window and the boxes of the
visible silent ones. A sample is the window's audio with frames at the model's rate placed so
that the row's frame is exactly one of them (``target``), plus the ground-truth masks drawn at
the world's own frame size (the boxes' pixel grid), so heatmaps are scored at full resolution
whatever size the network sees.

Clips are decoded once with :func:`avlearn.tasks.sync.data.av_clips` (the decode cache) (bad files come back
None and are skipped by the collate) and cached in memory as uint8 frames.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Sequence

import numpy as np
import torch

from avlearn.metrics import boxes_to_mask
from avlearn.tasks.sync.data import FrozenPairDataset

__all__ = ["load_localization_list", "box_manifest_rows", "localization_eval_rows", "FrozenFrameDataset", "frame_indices"]


def load_localization_list(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a frozen localization list, with absolute ``path`` (the clip) and ``truth_path``.

    Paths in the list are relative to the world folder (the list's parent's parent).

    Raises:
        avlearn.data.lists.FrozenListError: no such list, or a line that is not a JSON object or
            lacks ``clip``, ``frame``, ``time``, ``window`` or ``boxes`` (the message names the
            file and the line).
    """
    from avlearn.data.lists import read_frozen_list

    rows = read_frozen_list(path, required=("clip", "frame", "time", "window", "boxes"), floats=("time",))
    for rec in rows:
        rec["path"] = rec["clip_path"]
        rec.setdefault("truth_path", None)
    return rows


def box_manifest_rows(path: str | os.PathLike, *, window: float, size: Sequence[int]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Frozen-list rows from a box-annotation manifest (``avlearn prepare flickr-soundnet`` /
    ``vggss``: ``boxes`` as fractions of the frame).

    The annotated frame of these test sets is the clip's middle frame, and the audio is the
    ``window`` seconds around it (Senocak et al., CVPR 2018, Sec. 5; Mo & Morgado, ECCV 2022,
    Sec. 4.1 use the 3 s around the annotated frame); the boxes become pixels of the model's
    ``size`` (H, W), where the heatmaps are scored.

    Returns:
        (rows with ``path``, ``time``, ``window``, ``boxes``, ``truth_path=None``, counts
        ``{"rows", "too_short", "unreadable", "no_boxes"}``): a clip shorter than ``window``, an
        unreadable one or a row without boxes is counted and left out.
    """
    from avlearn.data import load_manifest
    from avlearn.data.eval_lists import fitting_span

    h, w = int(size[0]), int(size[1])
    out, counts = [], {"rows": 0, "too_short": 0, "unreadable": 0, "no_boxes": 0}
    for row in load_manifest(path):
        boxes = row.extra.get("boxes") or []
        if not boxes:
            counts["no_boxes"] += 1
            continue
        if row.extra.get("has_video") is False:  # an audio-only release of the sample: no frame to score
            counts["unreadable"] += 1
            continue
        span = fitting_span(row, window, counts)  # the manifest's span, else the probed file's
        if span is None:
            continue
        begin, length = span
        time = begin + length / 2
        t0 = min(max(begin, time - window / 2), begin + length - window)
        px = [[b[0] * w, b[1] * h, b[2] * w, b[3] * h] for b in boxes]
        out.append({"path": row.path, "clip": row.path, "time": time, "frame": None, "window": [t0, t0 + window],
                    "boxes": px, "truth_path": None, "id": row.extra.get("id", row.path)})
        counts["rows"] += 1
    return out, counts


def localization_eval_rows(path: str | os.PathLike, *, window: float, size: Sequence[int]) -> list[dict[str, Any]]:
    """Rows of a frozen localization list (a world's) or of a box-annotation manifest
    (:func:`box_manifest_rows`), told apart by the first row (``frame`` vs ``boxes`` only)."""
    import logging

    from avlearn.data.lists import read_json_lines

    if os.fspath(path).endswith(".jsonl"):
        first = next(iter(read_json_lines(path)), None)
        if first is not None and "frame" in first[1]:
            return load_localization_list(path)
    rows, counts = box_manifest_rows(path, window=window, size=size)
    logging.getLogger(__name__).info("%s: %s", path, counts)
    if not rows:
        raise ValueError(f"{path}: no row with boxes and a clip of at least {window} s ({counts})")
    return rows


def frame_indices(time: float, window: Sequence[float], *, fps: float, source_fps: float, num_frames: int) -> tuple[list[int], int]:
    """Frames (indices into a ``source_fps`` decode) at the model's ``fps`` covering ``window``,
    placed so that the frame shown at ``time`` is one of them.

    Returns:
        ``(indices, target)``: ``round(duration * fps)`` indices at ``time + (j - target) / fps``
        (clamped to the clip), and the position of ``time``'s frame among them.
    """
    t0, t1 = float(window[0]), float(window[1])
    nf = max(1, int(round((t1 - t0) * fps)))
    target = min(nf - 1, max(0, int(math.floor((time - t0) * fps + 1e-6))))
    idx = [int(round((time + (j - target) / fps) * source_fps)) for j in range(nf)]
    return [min(max(i, 0), num_frames - 1) for i in idx], target


class FrozenFrameDataset(FrozenPairDataset):
    """The rows of a frozen localization list as model inputs plus ground-truth masks.

    Clips are decoded at the world's own frame rate (from the rows' truth files) through the
    clip store of :class:`~avlearn.tasks.sync.data.FrozenPairDataset`, so every row's frame is
    available exactly.

    Args:
        rows: from :func:`load_localization_list`.
        fps: frame rate the model sees.
        size: (H, W) frames the model sees.
        sample_rate: audio rate (mono).
        cache: keep decoded clips in memory.

    A sample is ``{"video": (3, T, H, W) float, "audio": (1, N), "target": j (the row's frame
    among the T), "gt_mask": (Hw, Ww) bool (the sounding objects' boxes, at the world's frame
    size), "silent_mask": (Hw, Ww) bool (visible silent objects), "distractors": bool,
    "index": i, "path": str}``, or None for an unreadable clip.
    """

    def __init__(self, rows: list[dict[str, Any]], *, fps: float, size: Sequence[int], sample_rate: int, cache: bool = True):
        self.fps, self.size = float(fps), tuple(size)
        self._truth: dict[str, dict[str, Any]] = {}
        rates = {self.truth(r)["fps"] for r in rows}
        if len(rates) > 1:
            raise ValueError(f"localization list mixes frame rates {sorted(rates)}; give one world per list")
        self.source_fps = float(rates.pop()) if rates else self.fps
        super().__init__(rows, fps=self.source_fps, size=size, sample_rate=sample_rate, clip_duration=0.0, cache=cache)

    def truth(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's clip facts (``fps``, ``size``): its truth file, or the model's settings without one."""
        key = row.get("truth_path") or row["path"]
        if key not in self._truth:
            info = {"fps": self.fps, "size": list(self.size)}
            if row.get("truth_path"):
                try:
                    with open(row["truth_path"], encoding="utf-8") as fh:
                        data = json.load(fh)
                except (OSError, json.JSONDecodeError) as exc:
                    raise ValueError(f"{row['truth_path']}: cannot read the clip's truth ({exc})") from None
                info = {"fps": float(data["fps"]), "size": list(data["size"])}
            self._truth[key] = info
        return self._truth[key]

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        row, clip = self.row_clip(index)
        if clip is None:
            return None
        video, audio, path = clip
        idx, target = frame_indices(row["time"], row["window"], fps=self.fps, source_fps=self.source_fps, num_frames=video.shape[1])
        sr = self.store.sample_rate
        a0, na = int(round(row["window"][0] * sr)), int(round((row["window"][1] - row["window"][0]) * sr))
        a = audio[:, a0 : a0 + na]
        if a.shape[-1] < na:  # a decoder that returned a few samples short at the end
            a = torch.nn.functional.pad(a, (0, na - a.shape[-1]))
        world_size = tuple(self.truth(row)["size"])
        silent = row.get("silent_boxes") or []
        return {
            "video": video[:, idx].float().div_(255.0), "audio": a, "target": target,
            "gt_mask": boxes_to_mask(np.asarray(row["boxes"], dtype=np.float64).reshape(-1, 4), world_size),
            "silent_mask": boxes_to_mask(np.asarray(silent, dtype=np.float64).reshape(-1, 4), world_size),
            "distractors": bool(row.get("distractors", False)), "index": index, "path": path,
        }
