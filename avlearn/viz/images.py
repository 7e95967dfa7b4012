"""Still images: frame and heatmap grids, spectrograms, time-frequency masks; PNG via PIL.

Spectrograms are shown as in the separation papers (Zhao et al. 2018, Fig. 4; Gao & Grauman
2019): log-magnitude in dB, clipped to a fixed range below the peak, low frequencies at the
bottom, through a perceptual colormap (:mod:`avlearn.viz.colormap`).
"""

from __future__ import annotations

import os
import numpy as np
import torch
from PIL import Image

from avlearn.viz.colormap import apply_colormap

__all__ = [
    "to_uint8_image",
    "image_grid",
    "save_image",
    "save_image_grid",
    "heatmap_images",
    "spectrogram_image",
    "save_spectrogram",
    "mask_image",
    "save_mask",
    "frames_grid",
]


def _np(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def to_uint8_image(x) -> np.ndarray:
    """One image as uint8 (H, W, 3).

    Accepts uint8 or float in [0, 1] (clipped), (H, W) gray, (H, W, 1|3|4) or channels-first
    (1|3, H, W); alpha is dropped.
    """
    a = _np(x)
    if a.ndim == 3 and a.shape[0] in (1, 3) and a.shape[-1] not in (1, 3, 4):
        a = a.transpose(1, 2, 0)  # (C, H, W) -> (H, W, C)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise ValueError(f"cannot read shape {a.shape} as an image (H, W), (H, W, C) or (C, H, W)")
    if a.dtype != np.uint8:
        a = np.round(np.clip(a.astype(np.float64), 0.0, 1.0) * 255).astype(np.uint8)
    a = a[..., :3]
    return np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a


def image_grid(images, *, ncols: int | None = None, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile images row by row into one uint8 (H', W', 3) image.

    Args:
        images: (N, H, W, 3) / (N, H, W) array or a sequence of images (sizes may differ:
            each cell is as large as the largest image, images sit at its top-left).
        ncols: images per row (default: all in one row).
        pad: pixels between cells and around the grid.
        pad_value: gray level of the padding.
    """
    imgs = [to_uint8_image(im) for im in images]
    if not imgs:
        raise ValueError("image_grid needs at least one image")
    ncols = max(1, min(ncols or len(imgs), len(imgs)))
    nrows = -(-len(imgs) // ncols)
    ch = max(im.shape[0] for im in imgs)
    cw = max(im.shape[1] for im in imgs)
    grid = np.full((pad + nrows * (ch + pad), pad + ncols * (cw + pad), 3), pad_value, dtype=np.uint8)
    for i, im in enumerate(imgs):
        r, c = divmod(i, ncols)
        y, x = pad + r * (ch + pad), pad + c * (cw + pad)
        grid[y : y + im.shape[0], x : x + im.shape[1]] = im
    return grid


def save_image(path: str | os.PathLike, image, *, scale: int = 1) -> str:
    """Write one image as PNG (or any format PIL infers from the extension).

    Args:
        path: output file; parent folders are created.
        image: anything :func:`to_uint8_image` accepts.
        scale: integer nearest-neighbour upscaling (for tiny maps).
    """
    path = os.fspath(path)
    img = to_uint8_image(image)
    if scale > 1:
        img = np.repeat(np.repeat(img, scale, axis=0), scale, axis=1)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    Image.fromarray(img).save(path)
    return path


def save_image_grid(path: str | os.PathLike, images, *, ncols: int | None = None, pad: int = 2, scale: int = 1) -> str:
    """:func:`image_grid` then :func:`save_image`."""
    return save_image(path, image_grid(images, ncols=ncols, pad=pad), scale=scale)


def heatmap_images(heatmaps, *, cmap: str = "viridis", vmin: float | None = None, vmax: float | None = None) -> np.ndarray:
    """Colour (N, h, w) maps with one shared value range, so frames compare. (N, h, w, 3)."""
    return apply_colormap(_np(heatmaps), cmap=cmap, vmin=vmin, vmax=vmax)


def _log_magnitude(audio_or_spec, n_fft: int, hop: int | None, spectrogram: bool) -> np.ndarray:
    """(F, T) magnitude in dB from audio (N,) / (C, N) (channels averaged) or a magnitude."""
    if spectrogram:
        mag = np.abs(_np(audio_or_spec)).astype(np.float64)
    else:
        wav = torch.as_tensor(_np(audio_or_spec), dtype=torch.float32)
        wav = wav.mean(0) if wav.ndim == 2 else wav.reshape(-1)  # (N,)
        if wav.numel() < n_fft:
            wav = torch.nn.functional.pad(wav, (0, n_fft - wav.numel()))
        spec = torch.stft(wav, n_fft, hop_length=hop or n_fft // 4, window=torch.hann_window(n_fft), return_complex=True)
        mag = spec.abs().double().numpy()  # (F, T)
    return 20 * np.log10(np.maximum(mag, 1e-10))


def spectrogram_image(
    audio_or_spec,
    *,
    n_fft: int = 512,
    hop: int | None = None,
    db_range: float = 80.0,
    spectrogram: bool = False,
    cmap: str = "viridis",
) -> np.ndarray:
    """A log-magnitude spectrogram as uint8 RGB (F, T, 3), low frequencies at the bottom.

    Args:
        audio_or_spec: waveform (N,) or (C, N); or, with ``spectrogram=True``, a (F, T)
            magnitude (or complex) spectrogram.
        n_fft, hop: STFT size and hop (default n_fft // 4), Hann window.
        db_range: dynamic range shown below the peak, in dB.
        spectrogram: the input is already a spectrogram.
        cmap: colormap name.
    """
    db = _log_magnitude(audio_or_spec, n_fft, hop, spectrogram)  # (F, T)
    top = float(db.max())
    return apply_colormap(db[::-1], cmap=cmap, vmin=top - db_range, vmax=top)


def save_spectrogram(path: str | os.PathLike, audio_or_spec, *, scale: int = 1, **kwargs) -> str:
    """:func:`spectrogram_image` written as PNG; ``kwargs`` go to it."""
    return save_image(path, spectrogram_image(audio_or_spec, **kwargs), scale=scale)


def mask_image(mask, *, cmap: str = "gray", vmax: float = 1.0) -> np.ndarray:
    """A time-frequency mask (F, T) as uint8 RGB, 0 black to ``vmax`` white, low frequencies at the bottom.

    Ratio masks above 1 (Sound of Pixels clamps them to 5) are clipped at ``vmax``.
    """
    m = _np(mask).astype(np.float64)
    if m.ndim != 2:
        raise ValueError(f"mask must be (F, T), got shape {m.shape}")
    return apply_colormap(m[::-1], cmap=cmap, vmin=0.0, vmax=vmax)


def save_mask(path: str | os.PathLike, mask, *, scale: int = 1, **kwargs) -> str:
    """:func:`mask_image` written as PNG."""
    return save_image(path, mask_image(mask, **kwargs), scale=scale)


def frames_grid(frames, *, ncols: int | None = None, every: int = 1, pad: int = 2) -> np.ndarray:
    """Frames (T, H, W, 3) as a grid, taking every ``every``-th frame."""
    f = _np(frames)[::every]
    return image_grid(list(f), ncols=ncols, pad=pad)

