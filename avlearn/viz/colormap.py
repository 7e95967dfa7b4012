"""Perceptual colormaps as 256-entry lookup tables (numpy only, no matplotlib).

``viridis`` (van der Walt & Smith, the matplotlib 2.0 default, designed in CAM02-UCS so that
lightness rises monotonically and evenly) is generated from a degree-6 polynomial fit per
channel of the published table (within a few 1/255 steps of it), so no data table is shipped. ``gray`` is the plain ramp. :func:`apply_colormap` maps any array to uint8 RGB.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["apply_colormap", "colormap_lut", "COLORMAPS"]

# Polynomial coefficients c0..c6 (constant first) of viridis per channel, t in [0, 1].
_VIRIDIS_POLY = np.array(
    [
        [0.2777273272234177, 0.005407344544966578, 0.3340998053353061],
        [0.1050930431085774, 1.404613529898575, 1.384590162594685],
        [-0.3308618287255563, 0.214847559468213, 0.09509516302823659],
        [-4.634230498983486, -5.799100973351585, -19.33244095627987],
        [6.228269936347081, 14.17993336680509, 56.69055260068105],
        [4.776384997670288, -13.74514537774601, -65.35303263337234],
        [-5.435455855934631, 4.645852612178535, 26.3124352495832],
    ]
)


def _viridis() -> np.ndarray:
    t = np.linspace(0.0, 1.0, 256)[:, None]  # (256, 1)
    rgb = sum(c[None, :] * t**i for i, c in enumerate(_VIRIDIS_POLY))  # (256, 3)
    return np.clip(np.round(rgb * 255), 0, 255).astype(np.uint8)


def _gray() -> np.ndarray:
    return np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)


COLORMAPS: dict[str, np.ndarray] = {"viridis": _viridis(), "gray": _gray()}


def colormap_lut(name: str = "viridis") -> np.ndarray:
    """The (256, 3) uint8 table of a colormap in :data:`COLORMAPS`."""
    if name not in COLORMAPS:
        raise ValueError(f"unknown colormap {name!r}; one of {sorted(COLORMAPS)}")
    return COLORMAPS[name]


def apply_colormap(x, *, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Map values to colours.

    Args:
        x: array or tensor of any shape (...).
        cmap: a name from :data:`COLORMAPS`.
        vmin, vmax: the value range mapped to the ends of the table (default: the data's
            finite min / max; a constant array maps to the low end). Values outside are clipped,
            NaN maps to the low end.

    Returns:
        uint8 RGB (..., 3).
    """
    a = x.detach().float().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    finite = a[np.isfinite(a)]
    lo = float(finite.min()) if vmin is None and finite.size else float(vmin or 0.0)
    hi = float(finite.max()) if vmax is None and finite.size else float(vmax if vmax is not None else 1.0)
    scaled = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    idx = np.round(np.clip(np.nan_to_num(scaled, nan=0.0), 0.0, 1.0) * 255).astype(np.intp)
    return colormap_lut(cmap)[idx]
