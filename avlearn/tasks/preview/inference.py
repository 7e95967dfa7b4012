"""Whole-file action recognition and temporal action localization with the preview models.

Dense recognition averages the 3D clip classifier's action probabilities over evenly spaced
clips; the audio preview of Listen to Look (Gao, Oh, Grauman & Torresani, CVPR 2020, Sec. 3.2)
computes the image+audio student's features of every time step and lets IMGAUD-SKIMMING look
at a few moments. Segments: windows every ``hop`` seconds scored and grouped into proposals with
1D NMS (:func:`avlearn.tasks.preview.temporal_localization.localize`).

    >>> models = preview_models(avlearn.load_run("runs/preview/eval/preview.pt"))
    >>> classify_file(models, "video.mp4", preview=True, segments=True)["top_k"][0]["name"]
"""

from __future__ import annotations

from typing import Any

import torch

from avlearn.tasks.preview.budget import strategy_gflops, unit_costs
from avlearn.tasks.preview.bundle import PreviewModels
from avlearn.tasks.preview.evaluate import preview_predict
from avlearn.tasks.preview.task import window_logits
from avlearn.tasks.preview.proposals import localize_proposals, window_features
from avlearn.tasks.preview.temporal_localization import localize
from avlearn.tasks.preview.data import VideoStore, uniform_starts

__all__ = ["classify_file"]


def classify_file(models: PreviewModels, path: str, *, preview: bool = False, segments: bool = False, top_k: int = 5,
                  clips: int = 10, moments: int | None = None, min_score: float = 0.3, method: str = "windows",
                  proposal_net: Any = None) -> dict[str, Any]:
    """Classify one whole file with the preview models.

    Args:
        models: the trained models (:func:`~avlearn.tasks.preview.bundle.preview_models` of a run).
        path: a media file with video and audio.
        preview: audio preview + skimming instead of dense clips.
        segments: also detect action segments.
        top_k: labels returned.
        clips: clips of dense recognition.
        moments: moments the preview looks at (default: as trained).
        min_score: smallest segment score returned.
        method: segments by ``windows`` (grouped window scores + 1D NMS) or ``proposals``
            (TAL-Net on the teacher's window features, :mod:`~avlearn.tasks.preview.proposals`).
        proposal_net: the trained TAL-Net of ``proposals``.

    Returns:
        ``{"file", "duration", "mode", "gflops", "top_k": [{"label", "name", "score"}], "moments"
        (preview), "segments" (with ``segments``)}``.

    Raises:
        avlearn.io.MediaError: the file cannot be read.
        ValueError: ``proposals`` without a ``proposal_net``, or an unknown ``method``.
    """
    if method not in ("windows", "proposals") or (segments and method == "proposals" and proposal_net is None):
        raise ValueError(f"segments method {method!r} needs 'windows', or 'proposals' with a proposal network")
    d, names = models.data, models.classes
    K, w = len(names), d["window"]
    store = VideoStore.from_files([path], fps=d["fps"], size=d["size"], sample_rate=d["sample_rate"], window=w,
                                  num_classes=K, mean=d["mean"], std=d["std"])
    duration = store.records[0].duration
    T = len(store.starts(0, d["step"], w))
    result: dict[str, Any] = {"file": path, "duration": duration, "mode": "preview" if preview else "dense"}
    with torch.no_grad():
        if preview:
            out = preview_predict(models, store, 0, steps=moments)
            probs = out["probs"]
            result["moments"] = [{"start": s, "end": min(s + w, duration), "image_weight": iw}
                                 for s, iw in zip(out["chosen"], out["image_weight"])]
            result["gflops"] = strategy_gflops(unit_costs(models, T=T, N=len(out["chosen"])), "preview")
        else:
            logits = window_logits(models.teacher, store, 0, uniform_starts(duration, w, clips), w)
            p = logits.softmax(1)[:, :K].mean(0)  # (K,)
            probs = p / p.sum().clamp_min(1e-12)
            result["gflops"] = strategy_gflops(unit_costs(models, T=T), "dense", clips)
        k = max(1, min(top_k, K))
        top = probs.topk(k)
        result["top_k"] = [{"label": int(i), "name": names[int(i)], "score": float(s)} for s, i in zip(top.values, top.indices)]
        if segments and method == "proposals":
            starts, feats = window_features(models, store, 0)
            segs = localize_proposals(proposal_net, feats, starts, window=w, hop=d["hop"], duration=duration)
            result["segments"] = [{"start": s, "end": e, "label": c, "name": names[c], "score": sc}
                                  for s, e, c, sc in segs if sc >= min_score]
        elif segments:
            starts = store.starts(0, d["hop"], w)
            model, inputs = (models.student, "pair") if preview else (models.teacher, "clip")
            wp = window_logits(model, store, 0, starts, w, inputs=inputs).softmax(1)  # (J, K+1)
            segs = localize(wp, starts, window=w, hop=d["hop"], duration=duration, num_actions=K)
            result["segments"] = [{"start": s, "end": e, "label": c, "name": names[c], "score": sc}
                                  for s, e, c, sc in segs if sc >= min_score]
    return result
