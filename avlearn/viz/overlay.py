"""Heatmaps blended over video frames, boxes drawn on them, and the result written with its audio.

The sound-source localization figures of Owens & Efros (ECCV 2018, Fig. 5: class activation
maps over frames) and Senocak et al. (CVPR 2018, Fig. 1): a per-frame map, resized to the
frame, coloured, alpha-blended; ground-truth boxes outlined. :func:`write_heatmap_video`
keeps the clip's original audio so the result can be watched and listened to together.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from avlearn.io import write_av
from avlearn.viz.colormap import apply_colormap

__all__ = ["resize_maps", "overlay_heatmap", "draw_boxes", "write_heatmap_video"]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def resize_maps(maps, size: tuple[int, int]) -> np.ndarray:
    """Bilinearly resize (T, h, w) or (h, w) maps to (T, H, W) float32."""
    m = torch.as_tensor(_np(maps), dtype=torch.float32)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3:
        raise ValueError(f"heatmaps must be (T, h, w) or (h, w), got shape {tuple(m.shape)}")
    if tuple(m.shape[-2:]) != tuple(size):
        m = F.interpolate(m[:, None], size=tuple(size), mode="bilinear", align_corners=False)[:, 0]  # (T, H, W)
    return m.numpy()


def overlay_heatmap(
    frames,
    heatmaps,
    *,
    alpha: float = 0.5,
    cmap: str = "viridis",
    normalize: str = "clip",
) -> np.ndarray:
    """Blend coloured heatmaps over frames.

    Args:
        frames: uint8 (T, H, W, 3) (or one (H, W, 3) frame).
        heatmaps: (T, h, w), or (h, w) for every frame; resized to the frames.
        alpha: weight of the colour layer.
        cmap: colormap name.
        normalize: "clip" maps the min / max over the whole clip to the colormap's ends (so
            frames compare); "frame" normalises each frame on its own.

    Returns:
        uint8 (T, H, W, 3).
    """
    f = _np(frames)
    if f.ndim == 3:
        f = f[None]
    if f.ndim != 4 or f.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got shape {f.shape}")
    heat = resize_maps(heatmaps, f.shape[1:3])  # (T', H, W)
    if heat.shape[0] == 1 and f.shape[0] > 1:
        heat = np.repeat(heat, f.shape[0], axis=0)
    if heat.shape[0] != f.shape[0]:
        raise ValueError(f"{heat.shape[0]} heatmaps for {f.shape[0]} frames")
    if normalize == "frame":
        color = np.stack([apply_colormap(h, cmap=cmap) for h in heat])  # (T, H, W, 3)
    elif normalize == "clip":
        color = apply_colormap(heat, cmap=cmap)  # (T, H, W, 3)
    else:
        raise ValueError(f"normalize must be 'clip' or 'frame', got {normalize!r}")
    base = f.astype(np.float32) if f.dtype == np.uint8 else np.clip(f.astype(np.float32), 0, 1) * 255
    out = (1 - alpha) * base + alpha * color.astype(np.float32)  # (T, H, W, 3)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def draw_boxes(frames, boxes, *, color: tuple[int, int, int] = (255, 64, 64), thickness: int = 2) -> np.ndarray:
    """Outline boxes on frames (returns a copy).

    Args:
        frames: uint8 (T, H, W, 3) or (H, W, 3).
        boxes: (K, 4) ``x1, y1, x2, y2`` pixel boxes (``x2``/``y2`` exclusive) drawn on every
            frame, or a length-T sequence of per-frame (K_t, 4) arrays.
        color: RGB of the outline.
        thickness: line width in pixels (drawn inside the box).

    Returns:
        uint8 array of the input's shape.
    """
    f = _np(frames).astype(np.uint8, copy=True)
    single = f.ndim == 3
    if single:
        f = f[None]
    t, h, w = f.shape[:3]
    per_frame = isinstance(boxes, (list, tuple)) and len(boxes) == t and all(np.ndim(b) == 2 for b in boxes)
    for i in range(t):
        bx = np.asarray(_np(boxes[i] if per_frame else boxes), dtype=np.float64).reshape(-1, 4)
        for x1, y1, x2, y2 in np.round(bx).astype(int):
            x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
            if x2 <= x1 or y2 <= y1:
                continue
            k = min(thickness, x2 - x1, y2 - y1)
            f[i, y1 : y1 + k, x1:x2] = color
            f[i, y2 - k : y2, x1:x2] = color
            f[i, y1:y2, x1 : x1 + k] = color
            f[i, y1:y2, x2 - k : x2] = color
    return f[0] if single else f


def write_heatmap_video(
    path: str | os.PathLike,
    frames,
    heatmaps,
    audio,
    fps: float,
    sample_rate: int | None,
    *,
    alpha: float = 0.5,
    cmap: str = "viridis",
    normalize: str = "clip",
    boxes=None,
) -> str:
    """Write the frames with the heatmaps blended over them, keeping the original audio.

    Args:
        path: output video (.mp4 by default; any container :func:`avlearn.io.write_av` knows).
        frames: uint8 (T, H, W, 3).
        heatmaps: (T, h, w) or (h, w).
        audio: float (C, N) or (N,) samples of the same stretch of time, or None.
        fps: frame rate. sample_rate: the audio's rate (ignored without audio).
        alpha, cmap, normalize: as :func:`overlay_heatmap`.
        boxes: optional boxes for :func:`draw_boxes` (e.g. the ground truth).

    Returns:
        The path written. Odd frame sizes are padded by one edge pixel (h264 needs even sizes).

    Raises:
        avlearn.io.EncodeError: the file cannot be written.
    """
    out = overlay_heatmap(frames, heatmaps, alpha=alpha, cmap=cmap, normalize=normalize)  # (T, H, W, 3)
    if boxes is not None:
        out = draw_boxes(out, boxes)
    pad_h, pad_w = out.shape[1] % 2, out.shape[2] % 2
    if pad_h or pad_w:
        out = np.pad(out, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    return write_av(path, out, None if audio is None else _np(audio), fps=fps, sample_rate=sample_rate if audio is not None else None)
