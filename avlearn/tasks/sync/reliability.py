"""Is an offset estimate to be trusted? A confidence threshold calibrated on held-out offsets.

A sync network shown content unlike its training data (out-of-domain footage, noise) still
returns an argmax, often with a large SyncNet confidence (best minus median score, Chung &
Zisserman, ACCV 2016 workshops, Sec. 4.2). The confidence used here
(:class:`avlearn.tasks.sync.inference.SyncResult`) asks two things of the score curves instead:
a clear peak (the best shift's mean score above the second-best shift more than one frame away,
in units of the curve's spread) and agreement across time (the share of windows whose own best
shift is within one frame of the file's); their product is thresholded.

The threshold is chosen like an operating point on a precision/coverage curve: on the run's
validation list of clips with injected offsets (:func:`avlearn.tasks.sync.evaluate.evaluate_offsets`),
the smallest threshold at which at least ``precision`` (95%) of the estimates marked reliable are
within one video frame. It is stored beside the run's weights in ``reliability.json`` and read
back by :func:`load_reliability`; estimates whose best shift is the first or last searched are
never reliable (the true offset may lie outside the search range).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from avlearn.tasks.sync.inference import SyncResult

__all__ = [
    "DEFAULT_THRESHOLD",
    "RELIABILITY_FILE",
    "pick_threshold",
    "calibrate_reliability",
    "load_reliability",
    "judge",
    "reliability_path",
    "unreliable_reason",
]

RELIABILITY_FILE = "reliability.json"
DEFAULT_THRESHOLD = 1.0  # uncalibrated runs: a peak one spread above the runner-up, all windows agreeing


def pick_threshold(confidence, correct, at_edge=None, *, precision: float = 0.95) -> tuple[float | None, float, float]:
    """The smallest confidence threshold whose reliable estimates are at least ``precision`` correct.

    Args:
        confidence: (R,) confidences.
        correct: (R,) booleans: the estimate is within one frame.
        at_edge: (R,) booleans: never reliable (default none).
        precision: required share of correct estimates among the reliable ones.

    Returns:
        ``(threshold, precision reached, coverage)``; ``(None, nan, 0.0)`` when no threshold
        reaches ``precision`` (nothing is ever reliable).
    """
    conf = np.asarray(confidence, dtype=float)
    ok = np.asarray(correct, dtype=bool)
    usable = np.isfinite(conf) & ~(np.zeros(len(conf), bool) if at_edge is None else np.asarray(at_edge, dtype=bool))
    for t in np.unique(conf[usable]):  # ascending: the first hit keeps the most estimates
        sel = usable & (conf >= t)
        p = float(ok[sel].mean())
        if p >= precision:
            return float(t), p, float(sel.sum() / max(len(conf), 1))
    return None, float("nan"), 0.0


def reliability_path(run: Any) -> Path:
    """``reliability.json`` beside a run's weights file (``run.path``), or inside a run folder path."""
    p = Path(run.path if hasattr(run, "path") else run)
    return (p if p.is_dir() else p.parent) / RELIABILITY_FILE


def calibrate_reliability(
    run: Any,
    val_list: str | os.PathLike,
    *,
    precision: float = 0.95,
    max_offset: float = 1.0,
    window: float | None = None,
    hop: float | None = None,
    progress: bool = False,
    write: bool = True,
) -> dict[str, Any]:
    """Calibrate the confidence threshold of a sync run on a list of clips with known offsets.

    Args:
        run: a sync run (:func:`avlearn.load_run`).
        val_list: a frozen sync list (``sync_val.jsonl``: clip, start, offset), e.g. the run's val list.
        precision: required share within one frame among the estimates marked reliable.
        max_offset, window, hop: the search settings (use those of inference; window defaults to
            the run's clip length, hop to the window).
        progress: show a progress bar.
        write: store the result in ``reliability.json`` beside the run's weights.

    Returns:
        ``{"threshold" (None: never reliable), "precision", "coverage", "count", "within_one_frame",
        "target_precision", "val_list", "max_offset", "window", "hop", "path"}``.

    Raises:
        ValueError: the list has no readable clip.
        FileNotFoundError: the list does not exist.
    """
    from avlearn.tasks.sync.data import load_sync_list
    from avlearn.tasks.sync.evaluate import evaluate_offsets
    from avlearn.tasks.sync.inference import sync_inputs

    data = sync_inputs(run)
    window = float(data["clip_duration"] if window is None else window)
    res = evaluate_offsets(
        run.network, load_sync_list(val_list), fps=data["fps"], size=tuple(data["size"]), sample_rate=data["sample_rate"],
        window=window, max_offset=max_offset, hop=hop, progress=progress,
    )
    rows = res["rows"]
    if not rows:
        raise ValueError(f"{val_list}: no readable clip to calibrate on")
    frame = 1.0 / data["fps"]
    correct = [abs(r["error"]) <= frame + 1e-9 for r in rows]
    threshold, reached, coverage = pick_threshold(
        [r["confidence"] for r in rows], correct, [r["at_edge"] for r in rows], precision=precision
    )
    out = {
        "threshold": threshold, "precision": reached, "coverage": coverage, "count": len(rows),
        "within_one_frame": float(np.mean(correct)), "target_precision": precision, "val_list": os.fspath(val_list),
        "max_offset": max_offset, "window": window, "hop": window if hop is None else hop,
    }
    path = reliability_path(run)
    if write:
        path.write_text(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}, indent=2))
    out["path"] = str(path)
    return out


def load_reliability(run: Any) -> dict[str, Any]:
    """The stored calibration of a run, ``{"threshold", "calibrated": True, ...}``; without a
    ``reliability.json``: ``{"threshold": DEFAULT_THRESHOLD, "calibrated": False}``.

    Raises:
        ValueError: the file exists but is not a calibration (names the file).
    """
    path = reliability_path(run)
    if not path.is_file():
        return {"threshold": DEFAULT_THRESHOLD, "calibrated": False}
    try:
        info = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable reliability calibration ({exc})") from None
    t = info.get("threshold") if isinstance(info, dict) else "missing"
    if not (t is None or (isinstance(t, (int, float)) and math.isfinite(t))):
        raise ValueError(f"{path}: 'threshold' must be a number or null, got {t!r}")
    return {**info, "calibrated": True}


def judge(result: SyncResult, calibration: dict[str, Any]) -> SyncResult:
    """Set ``result.reliable`` and ``result.threshold`` from a calibration (:func:`load_reliability`).

    Reliable: the confidence reaches the threshold and the best shift is not at the edge of the
    search range. A calibration whose threshold is None (no threshold reached the required
    precision on val) marks nothing reliable.
    """
    t = calibration.get("threshold")
    result.threshold = t
    result.reliable = bool(t is not None and result.confidence >= t and not result.at_edge)
    return result


def unreliable_reason(result: SyncResult) -> str:
    """Why an estimate is not reliable, in words (empty when it is)."""
    if result.reliable:
        return ""
    if result.at_edge:
        return "the best shift is at the edge of the search range (raise --max-offset)"
    if result.threshold is None:
        return "the run's calibration found no confidence that is right 95% of the time"
    if result.agreement < 0.5:
        return (f"the windows disagree (only {result.agreement:.0%} find this offset): "
                "content unlike the training data, or no visible sound source")
    return "no clear best offset (the score curve is flat): content unlike the training data?"
