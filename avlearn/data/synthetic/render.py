"""Vectorised sprite rendering: textured noisy backgrounds, shapes, faces, exact boxes.

Every sprite is drawn for all frames at once from per-frame parameters (centre, half sizes,
brightness) as an anti-aliased coverage map: ``alpha = clip(0.5 - d, 0, 1)`` where ``d`` is
the (approximate) signed distance in pixels from the pixel centre to the shape's outline
(the usual signed-distance-field rendering, Green, "Improved alpha-tested magnification",
SIGGRAPH 2007 course notes, Sec. 2). Boxes are read back from the coverage itself, so a box
holds every pixel its object touched, no more.

Coordinates: pixel ``(row i, column j)`` covers ``[j, j+1) x [i, i+1)``; its centre is
``(j + 0.5, i + 0.5)``. Boxes are ``[x0, y0, x1, y1]`` pixel edges with ``x1``/``y1``
exclusive, so a box's width is ``x1 - x0``. Sprites are computed only inside a
:data:`Region` (the object's cell), which keeps the cost of a scene near one frame's worth of
pixels however many objects it holds; the boxes are read from the same coverage that is
drawn, so they stay exact even if a sprite were cut at its region's edge.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "Region",
    "region_of",
    "make_background",
    "shape_alpha",
    "shaded_colour",
    "composite",
    "face_layers",
    "boxes_from_alpha",
    "to_uint8",
]


Region = tuple[int, int, int, int]  # x0, y0, x1, y1: the pixel columns/rows a sprite is computed on


def region_of(cell: tuple[float, float, float, float], height: int, width: int, pad: int = 1) -> Region:
    """The integer pixel region covering ``cell`` plus ``pad`` pixels, inside the frame."""
    x0, y0, x1, y1 = cell
    return (max(0, int(np.floor(x0)) - pad), max(0, int(np.floor(y0)) - pad),
            min(width, int(np.ceil(x1)) + pad), min(height, int(np.ceil(y1)) + pad))


def _clip01(x: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] in place (much faster than ``np.clip`` on float32)."""
    np.maximum(x, 0.0, out=x)
    return np.minimum(x, 1.0, out=x)


def make_background(rng: np.random.Generator, num_frames: int, height: int, width: int,
                    noise: float = 0.02) -> np.ndarray:
    """A muted, textured background with per-frame sensor noise.

    The texture is a low-saturation base colour plus two random oriented gratings and a
    bilinearly upsampled coarse noise field; each frame adds independent Gaussian luminance
    noise (the same on the three channels).

    Args:
        rng: random generator (consumed in a fixed order).
        num_frames, height, width: output shape.
        noise: standard deviation of the per-frame pixel noise (in [0, 1] units).

    Returns:
        float32 (T, H, W, 3) in [0, 1].
    """
    base = rng.uniform(0.22, 0.42) + rng.uniform(-0.05, 0.05, size=3)  # (3,) muted colour
    ys = (np.arange(height, dtype=np.float32) + 0.5)[:, None] / height  # (H, 1)
    xs = (np.arange(width, dtype=np.float32) + 0.5)[None, :] / width  # (1, W)
    tex = np.zeros((height, width), np.float32)
    for _ in range(2):
        theta, freq, phase = rng.uniform(0, np.pi), rng.uniform(2.0, 7.0), rng.uniform(0, 2 * np.pi)
        tex += 0.035 * np.sin(2 * np.pi * freq * (xs * np.cos(theta) + ys * np.sin(theta)) + phase)
    coarse = rng.standard_normal((5, 5, 3)).astype(np.float32) * 0.04  # (5, 5, 3)
    yi = np.linspace(0, 4, height, dtype=np.float32)
    xi = np.linspace(0, 4, width, dtype=np.float32)
    y0 = np.minimum(yi.astype(int), 3)
    x0 = np.minimum(xi.astype(int), 3)
    fy, fx = (yi - y0)[:, None, None], (xi - x0)[None, :, None]
    blotch = ((1 - fy) * (1 - fx) * coarse[y0][:, x0] + (1 - fy) * fx * coarse[y0][:, x0 + 1]
              + fy * (1 - fx) * coarse[y0 + 1][:, x0] + fy * fx * coarse[y0 + 1][:, x0 + 1])  # (H, W, 3)
    still = base.astype(np.float32) + tex[..., None] + blotch  # (H, W, 3)
    grain = rng.standard_normal((num_frames, height, width, 1), dtype=np.float32) * noise  # luminance noise
    return _clip01(grain + still[None])  # (T, H, W, 3)


def _grid(region: Region) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = region
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5)[None, :, None]  # (1, h, 1)
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5)[None, None, :]  # (1, 1, w)
    return ys, xs


def shape_alpha(shape: str, cx: np.ndarray, cy: np.ndarray, sx: np.ndarray, sy: np.ndarray,
                region: Region) -> np.ndarray:
    """Anti-aliased coverage of a shape in every frame.

    Args:
        shape: ``circle`` (an ellipse when ``sx != sy``), ``square``, ``triangle`` (pointing
            up), ``diamond``, ``ring`` or ``cross``.
        cx, cy: (T,) centre in pixels.
        sx, sy: (T,) half width and half height in pixels.
        region: the pixels to compute, ``(x0, y0, x1, y1)``.

    Returns:
        float32 (T, h, w) coverage in [0, 1] over the region.

    Raises:
        ValueError: unknown shape.
    """
    ys, xs = _grid(region)
    cx, cy, sx, sy = (np.asarray(a, np.float32)[:, None, None] for a in (cx, cy, sx, sy))  # (T, 1, 1)
    u = (xs - cx) / sx  # (T, 1, W) in shape units
    v = (ys - cy) / sy  # (T, H, 1)
    s = np.minimum(sx, sy)  # (T, 1, 1) pixels per shape unit (conservative)
    au, av = np.abs(u), np.abs(v)
    if shape == "circle":
        d = (np.sqrt(u * u + v * v) - 1.0) * s
    elif shape == "square":
        d = (np.maximum(au, av) - 1.0) * s
    elif shape == "diamond":
        d = (au + av - 1.0) * s / np.sqrt(2.0)
    elif shape == "triangle":
        d = np.maximum(v - 1.0, (2.0 * au - v - 1.0) / np.sqrt(5.0)) * s
    elif shape == "ring":
        d = (np.abs(np.sqrt(u * u + v * v) - 0.68) - 0.32) * s
    elif shape == "cross":
        d = np.minimum(np.maximum(au - 1.0, av - 0.36), np.maximum(au - 0.36, av - 1.0)) * s
    else:
        raise ValueError(f"unknown shape {shape!r}")
    return _clip01((0.5 - d).astype(np.float32))  # (T, h, w)


def shaded_colour(rgb: np.ndarray, cx: np.ndarray, cy: np.ndarray, sx: np.ndarray, sy: np.ndarray,
                  brightness: np.ndarray, region: Region) -> np.ndarray:
    """A sprite's colour in every frame, lit from the top left and scaled by ``brightness``.

    Args:
        rgb: (3,) base colour in [0, 1].
        cx, cy, sx, sy: (T,) sprite centre and half sizes in pixels.
        brightness: (T,) multiplier (1 = the base colour at the sprite's centre).
        region: the pixels to compute.

    Returns:
        float32 (T, h, w, 3).
    """
    ys, xs = _grid(region)
    cx, cy, sx, sy, b = (np.asarray(a, np.float32)[:, None, None] for a in (cx, cy, sx, sy, brightness))
    light = 1.0 - 0.18 * ((xs - cx) / sx + (ys - cy) / sy)  # (T, h, w)
    return (light * b)[..., None] * np.asarray(rgb, np.float32)  # (T, h, w, 3)


def composite(canvas: np.ndarray, alpha: np.ndarray, colour: np.ndarray, region: Region) -> None:
    """Alpha-blend ``colour`` over ``canvas`` in place, inside ``region``.

    Args:
        canvas: float32 (T, H, W, 3).
        alpha: (T, h, w) coverage over the region.
        colour: (T, h, w, 3) or broadcastable (e.g. (3,)).
        region: where ``alpha`` lies in the frame.
    """
    covered = alpha.max(axis=0) > 0  # (h, w): blend only where the layer ever shows
    rows, cols = np.flatnonzero(covered.any(axis=1)), np.flatnonzero(covered.any(axis=0))
    if rows.size == 0:
        return
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    x0, y0 = region[:2]
    view = canvas[:, y0 + r0 : y0 + r1, x0 + c0 : x0 + c1]  # (T, h', w', 3)
    a = alpha[:, r0:r1, c0:c1, None]  # (T, h', w', 1)
    if np.ndim(colour) == 4:
        colour = colour[:, r0:r1, c0:c1]
    view -= a * view
    view += a * colour


def face_layers(cx: np.ndarray, cy: np.ndarray, half_w: np.ndarray, half_h: np.ndarray, mouth: np.ndarray,
                blink: np.ndarray, skin: tuple[float, float, float], hair: tuple[float, float, float],
                region: Region) -> tuple[list[tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """The layers of a face sprite: head, hair, eyes and a mouth that opens with ``mouth``.

    Args:
        cx, cy: (T,) face centre in pixels.
        half_w, half_h: (T,) half width and half height of the head.
        mouth: (T,) mouth opening in [0, 1] (0: closed, a thin line).
        blink: (T,) 1 where the eyes are shut.
        skin, hair: RGB in [0, 1].
        region: the pixels to compute.

    Returns:
        (layers, mouth_alpha): ``layers`` is a list of ``(alpha (T, h, w), colour)`` to
        composite in order; the second item is the mouth's coverage (T, h, w).
    """
    ones = np.ones_like(cx)
    head = shape_alpha("circle", cx, cy, half_w, half_h, region)
    head_colour = shaded_colour(np.asarray(skin), cx, cy, half_w, half_h, ones, region)
    hair_alpha = shape_alpha("circle", cx, cy - 0.28 * half_h, half_w * 1.04, half_h * 0.78, region)
    ys, _ = _grid(region)  # (1, h, 1)
    cut = _clip01(cy[:, None, None] - 0.42 * half_h[:, None, None] - ys + 0.5)  # (T, h, 1)
    hair_alpha = hair_alpha * cut  # hair only above the forehead line
    eye_h = np.maximum(0.12 * half_h * (1.0 - 0.8 * blink), 0.6)
    eye_w = np.maximum(0.14 * half_w, 0.8)
    dark = np.asarray((0.06, 0.04, 0.05), np.float32)
    eyes = [shape_alpha("circle", cx + side * 0.4 * half_w, cy - 0.12 * half_h, eye_w, eye_h, region)
            for side in (-1.0, 1.0)]
    mouth_h = 0.05 * half_h + 0.28 * half_h * np.clip(mouth, 0.0, 1.0)  # (T,)
    mouth_alpha = shape_alpha("circle", cx, cy + 0.5 * half_h, 0.38 * half_w, mouth_h, region)
    lips = np.asarray((0.35, 0.05, 0.08), np.float32)
    layers = [(head, head_colour), (hair_alpha, np.asarray(hair, np.float32)),
              (np.maximum(eyes[0], eyes[1]), dark), (mouth_alpha, lips)]
    return layers, mouth_alpha


def boxes_from_alpha(alpha: np.ndarray, region: Region, threshold: float = 0.0) -> np.ndarray:
    """Tight per-frame boxes (frame coordinates) of the pixels whose coverage exceeds ``threshold``.

    Args:
        alpha: (T, h, w) coverage over ``region``.
        region: where ``alpha`` lies in the frame.
        threshold: coverage a pixel must exceed to count.

    Returns:
        float32 (T, 4) boxes ``[x0, y0, x1, y1]`` (exclusive ends); NaN rows where nothing is
        covered.
    """
    on = alpha > threshold  # (T, h, w)
    cols = on.any(axis=1)  # (T, W)
    rows = on.any(axis=2)  # (T, H)
    width, height = cols.shape[1], rows.shape[1]
    x0 = cols.argmax(axis=1)
    x1 = width - cols[:, ::-1].argmax(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = height - rows[:, ::-1].argmax(axis=1)
    boxes = np.stack([x0, y0, x1, y1], axis=1).astype(np.float32)  # (T, 4) in the region
    boxes += np.asarray([region[0], region[1], region[0], region[1]], np.float32)
    boxes[~cols.any(axis=1)] = np.nan
    return boxes


def to_uint8(canvas: np.ndarray) -> np.ndarray:
    """float [0, 1] -> uint8 [0, 255], rounded."""
    return (_clip01(canvas) * 255.0 + 0.5).astype(np.uint8)
