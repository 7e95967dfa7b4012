"""Scoring localization heatmaps against boxes, with the baselines always beside the model.

The protocol is Senocak et al., CVPR 2018 (Sec. 5) as implemented in
:mod:`avlearn.metrics.localization`: cIoU = |P ∩ G| / (|G| + |P \\ G|) per sample, its
summaries (the fraction of samples with cIoU >= 0.5 and the AUC over thresholds 0:0.05:1) and
the pointing game (Zhang et al., ECCV 2016). Two binarisation rules for P are reported:

* ``median`` -- the protocol's rule: resize the heatmap to the image (bilinear), min-max
  normalise, keep the pixels at or above the median (the top half of the image). With a
  ground truth G covering a fraction g < 1/2 of the image, no heatmap can score more than
  cIoU = 2g (P has |image|/2 pixels, at most |G| of them inside G). Flickr-SoundNet's boxes
  are large; in the synthetic world the sounding objects cover about a tenth of the frame, so
  this rule's ceiling (reported as the ``oracle`` row) is far below 0.5 for every sample.
* ``area`` -- the same rule with the median replaced by the quantile that keeps exactly |G|
  pixels (the top-|G| pixels of the heatmap; all pixels of a constant map). It equals the
  median rule when G covers half the image, and a perfect heatmap scores cIoU = 1 on it.
  Both rules live in :mod:`avlearn.metrics.localization` (``ciou(..., rule=...)``).

Methods scored on every sample: the model; the baselines of the protocol, ``whole image``,
``centre prior`` and ``random`` (:data:`avlearn.metrics.BASELINES`; the random map of sample
``i`` is drawn from a generator seeded with ``seed + i``, so scores do not depend on batching);
and the ``oracle``, a heatmap decreasing with the distance to G (the best any heatmap can do
under each rule). ``points_at_silent`` is the share of samples with a visible silent object
whose heatmap maximum falls on a silent object and not on a sounding one.

Everything is accumulated as sums and counts (:func:`score_sums`) so the training engine can
add them over batches and processes; :func:`summarize_scores` turns them into metrics and
:func:`results_table` into rows for reports.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from avlearn.metrics import (
    BASELINES,
    CIOU_THRESHOLDS,
    RULES,
    ciou,
    oracle_heatmap,
    pointing_game,
)

__all__ = [
    "METHODS",
    "baseline_heatmaps",
    "score_maps",
    "score_sums",
    "summarize_scores",
    "results_table",
]

METHODS = ("model", "whole image", "centre prior", "random", "oracle")
_THR = torch.as_tensor(CIOU_THRESHOLDS, dtype=torch.float64)  # (21,)


def baseline_heatmaps(name: str, gt_mask: Tensor, indices, *, seed: int = 0) -> Tensor:
    """The ``name`` baseline's maps (B, H, W) for masks (B, H, W); sample ``i`` of the list gets
    the random map of generator ``seed + indices[i]``."""
    b, h, w = gt_mask.shape
    if name == "oracle":
        return oracle_heatmap(gt_mask)
    if name == "random":
        return torch.stack([BASELINES[name](1, (h, w), generator=torch.Generator().manual_seed(seed + int(i)))[0] for i in indices])
    return BASELINES[name](b, (h, w))


def score_maps(heatmap: Tensor, gt_mask: Tensor, silent_mask: Tensor | None = None) -> dict[str, Tensor]:
    """Per-sample scores of (B, h, w) heatmaps against (B, H, W) masks.

    Returns:
        ``{"median": cIoU (B,), "area": cIoU (B,), "hit": pointing-game hit (B,) float,
        "silent_hit": max on a silent object and not on a sounding one (B,) float}``.
    """
    gt = gt_mask > 0
    heat = heatmap.detach().float().cpu()
    hit = pointing_game(heat, gt)
    out = {
        "median": ciou(heat, gt),
        "area": ciou(heat, gt, rule="area"),
        "hit": hit.float(),
    }
    if silent_mask is not None:
        out["silent_hit"] = (pointing_game(heat, silent_mask > 0) & ~hit).float()
    return out


def _add(sums: dict[str, Tensor], key: str, value: Tensor) -> None:
    value = value.to(torch.float64)
    sums[key] = sums[key] + value if key in sums else value


def score_sums(heatmap: Tensor, batch: dict[str, Any], *, seed: int = 0, methods=METHODS) -> dict[str, Tensor]:
    """Sums and counts of every method's scores on one batch (for :func:`summarize_scores`).

    Args:
        heatmap: the model's (B, h, w) map of each sample's target frame.
        batch: with ``gt_mask`` (B, H, W), optionally ``silent_mask``, ``distractors`` and
            ``index`` (the list row, which seeds the random baseline).
        seed: random-baseline seed.
        methods: which of :data:`METHODS` to score ("model" uses ``heatmap``).

    Returns:
        ``{"n", "<method>/<rule>/sum", "<method>/<rule>/ge" (21,), "<method>/hits",
        "<method>/silent_hits", "silent_n"}`` as float64 tensors.
    """
    gt = batch["gt_mask"].cpu() > 0
    silent = batch.get("silent_mask")
    silent = silent.cpu() > 0 if silent is not None else torch.zeros_like(gt)
    has_silent = silent.flatten(1).any(1)  # (B,)
    indices = batch.get("index", torch.arange(gt.shape[0]))
    indices = indices.tolist() if isinstance(indices, Tensor) else list(indices)
    sums: dict[str, Tensor] = {"n": torch.tensor(float(gt.shape[0]), dtype=torch.float64), "silent_n": has_silent.sum()}
    for method in methods:
        heat = heatmap if method == "model" else baseline_heatmaps(method, gt, indices, seed=seed)
        s = score_maps(heat, gt, silent)
        for rule in RULES:
            c = s[rule].to(torch.float64)  # (B,)
            _add(sums, f"{method}/{rule}/sum", c.sum())
            _add(sums, f"{method}/{rule}/ge", (c[None, :] >= _THR[:, None] - 1e-12).sum(1))
        _add(sums, f"{method}/hits", s["hit"].sum())
        _add(sums, f"{method}/silent_hits", (s["silent_hit"] * has_silent).sum())
    return sums


def _auc(frac: np.ndarray) -> float:
    thr = np.asarray(CIOU_THRESHOLDS, dtype=np.float64)
    return float(np.sum((frac[1:] + frac[:-1]) * np.diff(thr)) / 2)


def summarize_scores(sums: dict[str, Tensor]) -> dict[str, float]:
    """Metrics from :func:`score_sums` totals.

    Keys: the model's ``ciou50``, ``auc``, ``mean_ciou`` (median rule, the protocol),
    ``area_ciou50``, ``area_auc``, ``area_mean_ciou``, ``pointing`` and ``points_at_silent``;
    each other method's the same under ``"<method>.<key>"`` (e.g. ``"whole_image.ciou50"``).
    """
    n = max(float(sums["n"]), 1.0)
    silent_n = float(sums.get("silent_n", torch.tensor(0.0)))
    out: dict[str, float] = {}
    methods = [m for m in METHODS if f"{m}/hits" in sums]
    for method in methods:
        prefix = "" if method == "model" else method.replace(" ", "_") + "."
        for rule in RULES:
            ge = sums[f"{method}/{rule}/ge"].double().numpy() / n  # (21,) fraction with cIoU >= t
            tag = "" if rule == "median" else "area_"
            out[f"{prefix}{tag}ciou50"] = float(ge[10])  # t = 0.5
            out[f"{prefix}{tag}auc"] = _auc(ge)
            out[f"{prefix}{tag}mean_ciou"] = float(sums[f"{method}/{rule}/sum"]) / n
        out[f"{prefix}pointing"] = float(sums[f"{method}/hits"]) / n
        if silent_n:
            out[f"{prefix}points_at_silent"] = float(sums[f"{method}/silent_hits"]) / silent_n
    out["samples_with_silent"] = silent_n
    return out


def results_table(metrics: dict[str, float], *, name: str = "model") -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: one row per method (the model first, then the baselines and the oracle)."""
    header = ["method", "cIoU@0.5", "AUC", "area cIoU@0.5", "area AUC", "pointing", "points at silent"]
    rows = []
    for method in METHODS:
        prefix = "" if method == "model" else method.replace(" ", "_") + "."
        if f"{prefix}ciou50" not in metrics:
            continue
        keys = ("ciou50", "auc", "area_ciou50", "area_auc", "pointing", "points_at_silent")
        vals = [f"{metrics[prefix + k]:.3f}" if prefix + k in metrics else "-" for k in keys]
        label = name if method == "model" else method + (" (ceiling)" if method == "oracle" else " (baseline)")
        rows.append([label, *vals])
    return header, rows
