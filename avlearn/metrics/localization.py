"""Sound-source localization metrics: cIoU, its AUC, the pointing game, and baselines.

The protocol of Senocak et al., "Learning to Localize Sound Source in Visual Scenes",
CVPR 2018 (Sec. 5, "consensus IoU"), as the later Flickr-SoundNet / VGG-SS evaluations
(LVS, EZ-VSL) run it:

1. **Binarisation rule.** The heatmap is resized to the image (bilinear), min-max normalised
   to [0, 1], and binarised at its median: with the H·W values sorted ascending, the
   threshold is the value at index ⌊H·W / 2⌋ and the prediction is ``P = heat >= threshold``
   (the top 50% of pixels; all pixels when the map is constant). This is ``rule="median"``,
   the protocol's. With a ground truth G covering a fraction g < 1/2 of the image no heatmap
   can score more than cIoU = 2g under it (P has H·W/2 pixels, at most |G| inside G), so on
   images whose sources are small (the synthetic world's cover about a tenth of the frame)
   it cannot tell a perfect heatmap from a poor one. ``rule="area"`` keeps the top-|G|
   pixels instead (:func:`binarize_area`): it equals the median rule when G covers half the
   image and gives a perfect heatmap cIoU = 1 whatever the size of G. Reports state the rule.
2. **cIoU** = |P ∩ G| / (|G| + |P \\ G|) for a ground-truth mask G (binary, or the annotators'
   consensus weights in [0, 1], where |G| is the sum of weights and P \\ G counts predicted
   pixels with zero weight).
3. **Summaries.** "cIoU" in tables is the fraction of samples with cIoU >= 0.5; "AUC" is the
   area under the curve of that fraction over thresholds 0, 0.05, ..., 1 (trapezoid rule).
4. **Pointing game** (Zhang et al., "Top-down neural attention by excitation backprop",
   ECCV 2016): a hit when the heatmap's maximum falls inside the ground truth (optionally
   within ``tolerance`` pixels of it).

Predicting the whole image already scores well on some sets, so always report the baselines
beside a model: :func:`whole_image_heatmap`, :func:`center_prior_heatmap`,
:func:`random_heatmap` (:func:`evaluate_baselines` runs all three).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "normalize_heatmap",
    "binarize_heatmap",
    "binarize_area",
    "oracle_heatmap",
    "RULES",
    "ciou",
    "ciou_auc",
    "pointing_game",
    "boxes_to_mask",
    "whole_image_heatmap",
    "center_prior_heatmap",
    "random_heatmap",
    "BASELINES",
    "LocalizationScores",
    "evaluate_localization",
    "evaluate_baselines",
    "CIOU_THRESHOLDS",
]

CIOU_THRESHOLDS = np.round(np.arange(21) * 0.05, 2)  # 0:0.05:1
RULES = ("median", "area")  # binarisation rules of :func:`ciou`


def _as_maps(x, name: str) -> Tensor:
    t = torch.as_tensor(np.asarray(x)) if not isinstance(x, Tensor) else x.detach().cpu()
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise ValueError(f"{name} must be (H, W) or (B, H, W), got shape {tuple(t.shape)}")
    return t


def normalize_heatmap(heatmap, size: tuple[int, int] | None = None) -> Tensor:
    """Resize heatmaps to ``size`` (bilinear) and min-max normalise each to [0, 1].

    Args:
        heatmap: (h, w) or (B, h, w), numpy or torch.
        size: target (H, W); default: keep the size.

    Returns:
        float32 (B, H, W); a constant map becomes all zeros.
    """
    heat = _as_maps(heatmap, "heatmap").float()
    if size is not None and tuple(heat.shape[-2:]) != tuple(size):
        heat = F.interpolate(heat[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]  # (B, H, W)
    lo = heat.amin((1, 2), keepdim=True)  # (B, 1, 1)
    span = heat.amax((1, 2), keepdim=True) - lo  # (B, 1, 1)
    return torch.where(span > 0, (heat - lo) / span.clamp_min(1e-12), torch.zeros_like(heat))


def binarize_heatmap(heatmap, size: tuple[int, int] | None = None) -> Tensor:
    """The median binarisation of the protocol: resize, min-max normalise, keep the top half.

    Args:
        heatmap: (h, w) or (B, h, w).
        size: image size (H, W) to resize to.

    Returns:
        bool (B, H, W): ``heat >= sorted(heat)[⌊H·W/2⌋]``.
    """
    heat = normalize_heatmap(heatmap, size)  # (B, H, W)
    flat = heat.flatten(1)  # (B, H·W)
    thr = flat.kthvalue(flat.shape[1] // 2 + 1, dim=1).values  # (B,): 0-based index ⌊HW/2⌋ of the sorted values
    return heat >= thr[:, None, None]


def binarize_area(heatmap, gt_mask) -> Tensor:
    """The area rule: keep the top-|G| pixels of each heatmap (resized to the mask, bilinear).

    Args:
        heatmap: (h, w) or (B, h, w) scores.
        gt_mask: (H, W) or (B, H, W) masks; |G| is each mask's count of non-zero pixels.

    Returns:
        bool (B, H, W): ``heat >= the |G|-th largest value`` (ties kept, so a constant map keeps
        every pixel; an empty G keeps the maximum's ties).
    """
    gt = _as_maps(gt_mask, "gt_mask") > 0  # (B, H, W)
    heat = normalize_heatmap(heatmap, tuple(gt.shape[-2:]))  # (B, H, W)
    k = gt.flatten(1).sum(1).clamp_min(1)  # (B,)
    ranked = heat.flatten(1).sort(dim=1, descending=True).values  # (B, H·W)
    thr = ranked.gather(1, (k - 1)[:, None])  # (B, 1)
    return heat >= thr[:, :, None]


def oracle_heatmap(gt_mask) -> Tensor:
    """The best heatmap for a mask (the ceiling of either rule): 0 inside G, minus the
    Euclidean distance to G outside. float32 (B, H, W)."""
    from scipy.ndimage import distance_transform_edt

    gt = (_as_maps(gt_mask, "gt_mask") > 0).numpy()  # (B, H, W)
    out = np.stack([-distance_transform_edt(~g) if g.any() else np.zeros(g.shape) for g in gt])
    return torch.from_numpy(out.astype(np.float32))


def ciou(heatmap, gt_mask, *, rule: str = "median", binarize: bool = True) -> Tensor:
    """Consensus IoU per sample: |P ∩ G| / (|G| + |P \\ G|) (Senocak et al. 2018).

    Args:
        heatmap: (h, w) or (B, h, w) scores, resized to the mask and binarised by ``rule``
            (see the module docstring); with ``binarize=False`` an already binary (B, H, W) map.
        gt_mask: (H, W) or (B, H, W), binary or consensus weights in [0, 1].
        rule: ``"median"`` (the protocol's top half of the pixels, :func:`binarize_heatmap`) or
            ``"area"`` (the top-|G| pixels, :func:`binarize_area`).
        binarize: binarise the heatmap by ``rule``.

    Returns:
        float32 (B,) in [0, 1].
    """
    if rule not in RULES:
        raise ValueError(f"unknown binarisation rule {rule!r}; expected one of {RULES}")
    gt = _as_maps(gt_mask, "gt_mask").float()  # (B, H, W)
    if not binarize:
        pred = _as_maps(heatmap, "heatmap").bool()
    else:
        pred = binarize_heatmap(heatmap, gt.shape[-2:]) if rule == "median" else binarize_area(heatmap, gt)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {tuple(pred.shape)} and gt_mask {tuple(gt.shape)} differ in shape")
    pred = pred.float()
    inter = (pred * gt).sum((1, 2))  # (B,)
    outside = (pred * (gt == 0)).sum((1, 2))  # (B,)
    denom = gt.sum((1, 2)) + outside
    return torch.where(denom > 0, inter / denom.clamp_min(1e-12), torch.zeros_like(inter))


def ciou_auc(cious, thresholds: Sequence[float] = CIOU_THRESHOLDS) -> float:
    """Area under "fraction of samples with cIoU >= t" over ``thresholds`` (trapezoid rule)."""
    c = np.asarray(torch.as_tensor(cious).cpu(), dtype=np.float64).reshape(-1)
    thr = np.asarray(thresholds, dtype=np.float64)
    frac = (c[None, :] >= thr[:, None]).mean(1) if c.size else np.zeros_like(thr)  # (T,)
    return float(np.sum((frac[1:] + frac[:-1]) * np.diff(thr)) / 2)


def pointing_game(heatmap, gt_mask, *, tolerance: float = 0.0) -> Tensor:
    """Pointing-game hits: is the heatmap's maximum inside the ground truth?

    Args:
        heatmap: (h, w) or (B, h, w), resized (bilinear) to the mask's size first.
        gt_mask: (H, W) or (B, H, W) binary mask (see :func:`boxes_to_mask` for boxes).
        tolerance: also a hit when a ground-truth pixel lies within this many pixels
            (Euclidean) of the maximum (Zhang et al. use 15 px).

    Returns:
        bool (B,). The first maximum in row-major order is used when there are ties.
    """
    gt = _as_maps(gt_mask, "gt_mask") > 0  # (B, H, W)
    heat = normalize_heatmap(heatmap, tuple(gt.shape[-2:]))  # (B, H, W)
    h, w = gt.shape[-2:]
    idx = heat.flatten(1).argmax(1)  # (B,)
    py, px = idx // w, idx % w
    if tolerance <= 0:
        return gt[torch.arange(gt.shape[0]), py, px]
    ys = torch.arange(h, dtype=torch.float32)[None, :, None]
    xs = torch.arange(w, dtype=torch.float32)[None, None, :]
    dist2 = (ys - py[:, None, None]) ** 2 + (xs - px[:, None, None]) ** 2  # (B, H, W)
    return (gt & (dist2 <= tolerance**2)).flatten(1).any(1)


def boxes_to_mask(boxes, size: tuple[int, int], *, normalized: bool = False) -> Tensor:
    """Union of boxes as a binary mask.

    Args:
        boxes: (K, 4) ``x1, y1, x2, y2`` boxes of one image, or a sequence of such arrays
            (one per image) for a batch. Pixel coordinates, ``x2``/``y2`` exclusive, unless
            ``normalized`` (fractions of the width / height).
        size: image (H, W).
        normalized: boxes are in [0, 1].

    Returns:
        bool (H, W) for one image, (B, H, W) for a sequence.
    """
    h, w = size
    if isinstance(boxes, (list, tuple)) and boxes and np.ndim(boxes[0]) == 2:
        return torch.stack([boxes_to_mask(b, size, normalized=normalized) for b in boxes])
    arr = np.asarray(torch.as_tensor(boxes).cpu(), dtype=np.float64).reshape(-1, 4)
    if normalized:
        arr = arr * np.array([w, h, w, h])
    mask = torch.zeros(h, w, dtype=torch.bool)
    for x1, y1, x2, y2 in np.round(arr).astype(int):
        mask[max(y1, 0) : max(min(y2, h), 0), max(x1, 0) : max(min(x2, w), 0)] = True
    return mask


def whole_image_heatmap(batch: int, size: tuple[int, int], **_) -> Tensor:
    """Baseline: the same score everywhere (binarises to the whole image). (B, H, W)."""
    return torch.ones(batch, *size)


def center_prior_heatmap(batch: int, size: tuple[int, int], *, sigma: float = 0.25, **_) -> Tensor:
    """Baseline: an isotropic Gaussian at the image centre, ``sigma`` in units of each side."""
    h, w = size
    ys = (torch.arange(h, dtype=torch.float32) + 0.5) / h - 0.5
    xs = (torch.arange(w, dtype=torch.float32) + 0.5) / w - 0.5
    g = torch.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma**2))  # (H, W)
    return g.expand(batch, h, w).clone()


def random_heatmap(batch: int, size: tuple[int, int], *, generator: torch.Generator | None = None, **_) -> Tensor:
    """Baseline: i.i.d. uniform scores (a random half of the pixels after binarisation)."""
    return torch.rand(batch, *size, generator=generator)


BASELINES: dict[str, Callable[..., Tensor]] = {
    "whole image": whole_image_heatmap,
    "centre prior": center_prior_heatmap,
    "random": random_heatmap,
}


class LocalizationScores(NamedTuple):
    """Summaries of one method over a test set.

    Attributes:
        ciou_at_05: fraction of samples with cIoU >= 0.5 (the "cIoU" of papers' tables).
        auc: AUC of that fraction over thresholds 0:0.05:1.
        pointing: pointing-game accuracy.
        mean_ciou: mean cIoU.
        per_sample: the cIoU of each sample, (B,).
    """

    ciou_at_05: float
    auc: float
    pointing: float
    mean_ciou: float
    per_sample: Tensor


def evaluate_localization(heatmaps, gt_masks, *, rule: str = "median", tolerance: float = 0.0) -> LocalizationScores:
    """All localization summaries of (B, h, w) heatmaps against (B, H, W) ground-truth masks,
    cIoU under the binarisation ``rule``."""
    c = ciou(heatmaps, gt_masks, rule=rule)
    hits = pointing_game(heatmaps, gt_masks, tolerance=tolerance)
    return LocalizationScores(
        ciou_at_05=float((c >= 0.5).float().mean()),
        auc=ciou_auc(c),
        pointing=float(hits.float().mean()),
        mean_ciou=float(c.mean()),
        per_sample=c,
    )


def evaluate_baselines(gt_masks, *, seed: int = 0, rule: str = "median", tolerance: float = 0.0) -> dict[str, LocalizationScores]:
    """Scores of every baseline in :data:`BASELINES` on the same ground truth."""
    gt = _as_maps(gt_masks, "gt_masks")
    gen = torch.Generator().manual_seed(seed)
    size = tuple(gt.shape[-2:])
    return {
        name: evaluate_localization(fn(gt.shape[0], size, generator=gen), gt, rule=rule, tolerance=tolerance)
        for name, fn in BASELINES.items()
    }
