"""Offset estimation measured on a frozen sync list: share of estimates within one video frame.

Each row of the world's ``sync_<split>.jsonl`` names a clip and an offset; the clip's audio is
made late by that offset and the trained network's SyncNet-style search
(:func:`avlearn.tasks.sync.inference.sync_file`; Chung & Zisserman, ACCV 2016 workshops,
Sec. 4) estimates it back. Reported: the share within one video frame, mean and median absolute
error, over all rows and over the shifted ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import nn

from avlearn.tasks.sync.inference import sync_file

__all__ = ["evaluate_offsets"]


def evaluate_offsets(
    model: nn.Module,
    rows: list[dict[str, Any]],
    *,
    fps: float,
    size,
    sample_rate: int,
    window: float = 1.0,
    max_offset: float = 1.0,
    hop: float | None = None,
    progress: bool = False,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Offset estimation on a frozen sync list: each clip's audio made late by the row's offset.

    Args:
        model: a trained sync network.
        rows: from :func:`avlearn.tasks.sync.data.load_sync_list` (``path``, ``offset``).
        fps, size, sample_rate: decoding options the model was trained with.
        window, max_offset, hop: passed to :func:`sync_file` (hop None: the window).
        progress: show a tqdm bar.
        threshold: a calibrated confidence threshold
            (:func:`avlearn.tasks.sync.reliability.load_reliability`): each row gets ``reliable``
            and the result a ``"reliable"`` summary (share marked reliable and their precision).

    Returns:
        ``{"within_one_frame": share, "mean_abs_error": s, "median_abs_error": s, "count": n,
        "shifted": the same four over the rows with a non-zero offset, "rows": [{"path",
        "offset", "estimate", "confidence", "margin", "agreement", "at_edge", "error"}, ...]}`` (rows whose clip cannot be read
        are left out and counted in ``"skipped"``).
    """
    from tqdm import tqdm

    from avlearn.data import ManifestRow
    from avlearn.io import AVClip
    from avlearn.tasks.sync.data import av_clips, shift_audio

    paths = sorted({r["path"] for r in rows})
    store = av_clips([ManifestRow(path=p) for p in paths], fps=fps, size=size, sample_rate=sample_rate, cache=False)
    index = {p: i for i, p in enumerate(paths)}
    results, skipped = [], 0
    for row in tqdm(rows, desc="sync offsets", disable=not progress):
        clip = store.get(index[row["path"]])
        if clip is None:
            skipped += 1
            continue
        video, audio, path = clip
        av = AVClip(
            video=video.permute(1, 2, 3, 0), audio=shift_audio(audio, row["offset"], sample_rate), fps=fps,
            sample_rate=sample_rate, start=0.0, duration=video.shape[1] / fps, path=path,
        )
        r = sync_file(model, av, max_offset, window=window, hop=hop)
        results.append({
            "path": path, "offset": row["offset"], "estimate": r.offset, "confidence": r.confidence, "margin": r.margin,
            "agreement": r.agreement, "at_edge": r.at_edge, "error": r.offset - row["offset"],
        })
        if threshold is not None:
            results[-1]["reliable"] = bool(r.confidence >= threshold and not r.at_edge)
    def summary(rs: list[dict[str, Any]]) -> dict[str, float]:
        err = np.abs([r["error"] for r in rs])
        if not len(err):
            return {"within_one_frame": float("nan"), "mean_abs_error": float("nan"), "median_abs_error": float("nan"), "count": 0}
        return {
            "within_one_frame": float(np.mean(err <= 1.0 / fps + 1e-9)), "mean_abs_error": float(err.mean()),
            "median_abs_error": float(np.median(err)), "count": len(rs),
        }

    shifted = summary([r for r in results if r["offset"] != 0.0])
    out = {**summary(results), "shifted": shifted, "skipped": skipped, "rows": results}
    if threshold is not None:
        marked = [r for r in results if r["reliable"]]
        out["reliable"] = {
            "threshold": threshold, "share": len(marked) / max(len(results), 1),
            "precision": summary(marked)["within_one_frame"], "count": len(marked),
        }
    return out
