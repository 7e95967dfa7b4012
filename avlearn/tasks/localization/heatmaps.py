"""Heatmap operations of sound-source localization: CAMs of a sync network and guided refinement.

* :func:`cam_heatmaps`: class activation maps (Zhou et al., CVPR 2016) of the multisensory
  network's "aligned" classifier (Owens & Efros, ECCV 2018, Sec. 5 and Fig. 5), one per frame at
  the input resolution;
* :func:`guided_filter` / :func:`refine_heatmaps`: the colour guided filter (He, Sun & Tang,
  ECCV 2010, Sec. 3.5 for colour guides) with each frame, so maps follow object outlines.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models.av.attention_loc import upsample_aligned

__all__ = ["cam_heatmaps", "guided_filter", "refine_heatmaps"]


def cam_heatmaps(model: nn.Module, video: Tensor, audio: Tensor, *, class_index: int = 0, size: tuple[int, int] | None = None) -> Tensor:
    """Class activation maps of a sync network, one per frame at the input resolution.

    Args:
        model: a network with ``cam(video, audio, class_index=)`` returning (B, T', h, w)
            (:class:`~avlearn.models.av.multisensory.MultisensoryNet`).
        video: (B, 3, T, H, W) frames in [0, 1].
        audio: (B, C, N) waveform of the same stretch of time.
        class_index: the output whose map is taken (0: "aligned").
        size: resize the frames to this (H', W') before the network (e.g. the size it was
            trained at); the maps still come back at (H, W).

    Returns:
        (B, T, H, W) class activation (logit units, not normalised); each map cell lands on the
        pixels at the centre of its receptive field (:func:`~avlearn.models.av.attention_loc.upsample_aligned`).
    """
    if not hasattr(model, "cam"):
        raise TypeError(f"{type(model).__name__} has no cam(video, audio); CAMs need a multisensory sync network")
    b, _, t, h, w = video.shape
    x = video
    if size is not None and tuple(size) != (h, w):
        x = F.interpolate(video.flatten(1, 2), size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
        x = x.view(b, 3, t, *size)  # (B, 3, T, H', W')
    maps = model.cam(x, audio, class_index=class_index).float()  # (B, T', h', w')
    if maps.shape[1] != t:  # the network pooled time: stretch the maps back to one per frame
        _, t2, h2, w2 = maps.shape
        seq = maps.permute(0, 2, 3, 1).reshape(b * h2 * w2, 1, t2)  # (B h' w', 1, T')
        maps = F.interpolate(seq, size=t, mode="linear", align_corners=False).view(b, h2, w2, t).permute(0, 3, 1, 2)
    reduction = x.shape[-1] / maps.shape[-1]  # input pixels per map cell
    return upsample_aligned(maps, (h, w), reduction, scale=w / x.shape[-1])  # (B, T, H, W)


def _box_mean(x: Tensor, radius: int) -> Tensor:
    """Mean over the (2r+1)^2 window around each pixel of (N, C, H, W), windows cut at the border."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_filter(guide: Tensor, src: Tensor, *, radius: int = 4, eps: float = 1e-2) -> Tensor:
    """Colour guided filter (He, Sun & Tang, "Guided Image Filtering", ECCV 2010, Eq. 19-21).

    In every (2r+1)^2 window the output is a linear function of the guide's colour fitted to
    the source, ``q = a . I + b``, so a coarse map takes on the edges of the image: a peak on
    part of an object spreads over the pixels of the object's colour and stops at its outline.

    Args:
        guide: (N, 3, H, W) images in [0, 1].
        src: (N, 1, H, W) maps to filter.
        radius: window radius r in pixels.
        eps: regulariser of the fit (larger: smoother, less edge-aware).

    Returns:
        (N, 1, H, W) filtered maps.
    """
    guide, src = guide.float(), src.float()
    m_i, m_p = _box_mean(guide, radius), _box_mean(src, radius)  # (N, 3, H, W), (N, 1, H, W)
    cov_ip = _box_mean(guide * src, radius) - m_i * m_p  # (N, 3, H, W)
    outer = guide[:, :, None] * guide[:, None]  # (N, 3, 3, H, W)
    n, _, h, w = guide.shape
    var = _box_mean(outer.reshape(n, 9, h, w), radius).view(n, 3, 3, h, w) - m_i[:, :, None] * m_i[:, None]
    sigma = var.permute(0, 3, 4, 1, 2) + eps * torch.eye(3, device=guide.device)  # (N, H, W, 3, 3)
    a = torch.linalg.solve(sigma, cov_ip.permute(0, 2, 3, 1)[..., None])[..., 0].permute(0, 3, 1, 2)  # (N, 3, H, W)
    b = m_p - (a * m_i).sum(1, keepdim=True)  # (N, 1, H, W)
    return (_box_mean(a, radius) * guide).sum(1, keepdim=True) + _box_mean(b, radius)


def refine_heatmaps(heat: Tensor, video: Tensor, *, radius: int = 4, eps: float = 1e-2) -> Tensor:
    """Guided-filter (B, T, H, W) heatmaps with their frames (B, 3, T, H, W) (:func:`guided_filter`)."""
    b, t, h, w = heat.shape
    guide = video.permute(0, 2, 1, 3, 4).reshape(b * t, 3, h, w)  # (BT, 3, H, W)
    return guided_filter(guide, heat.reshape(b * t, 1, h, w), radius=radius, eps=eps).view(b, t, h, w)
