"""Gradient saliency of video models over (T, H, W), and a grid image of it over the frames.

* Vanilla gradient (Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks",
  ICLR workshop 2014, Sec. 3.1): the saliency of a pixel is the largest absolute gradient of
  the target score over the colour channels, ``M = max_c |∂S_target / ∂x_c|``.
* SmoothGrad (Smilkov et al., 2017, Eq. 3): the gradient averaged over ``n`` copies of the
  input with Gaussian noise of std ``noise · (max(x) - min(x))`` added (10-20% is their
  recommendation); the maximum over channels of its absolute value is taken last.
"""

from __future__ import annotations

import os
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor, nn

from avlearn.io import AVClip
from avlearn.viz.images import image_grid, save_image
from avlearn.viz.overlay import overlay_heatmap

__all__ = ["saliency", "save_saliency_grid"]


def _model_input(clip: AVClip | Tensor | np.ndarray, preprocess: Callable[[Tensor], Tensor] | None) -> Tensor:
    """(C, T, H, W) float input from an AVClip, uint8 (T, H, W, 3) frames or a ready tensor."""
    if isinstance(clip, AVClip):
        if clip.video is None:
            raise ValueError(f"{clip.path or 'clip'}: saliency needs video frames, the clip has none")
        clip = clip.video
    x = torch.as_tensor(clip)
    if x.dtype == torch.uint8:
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"uint8 frames must be (T, H, W, 3), got shape {tuple(x.shape)}")
        if preprocess is not None:
            return preprocess(x)
        return x.permute(3, 0, 1, 2).float() / 255.0  # (3, T, H, W) in [0, 1], as avlearn's tasks train
    if x.ndim != 4:
        raise ValueError(f"a float clip must be the model's (C, T, H, W) input, got shape {tuple(x.shape)}")
    return x.float()


def _score(out: Tensor, target: int | Callable[[Tensor], Tensor] | None) -> Tensor:
    """Sum over the batch of each item's target score (so each gradient is its own)."""
    if callable(target):
        return target(out).sum()
    logits = out.reshape(out.shape[0], -1)  # (B, K)
    idx = logits.detach().argmax(1) if target is None else torch.full((out.shape[0],), int(target))
    return logits.gather(1, idx[:, None].to(logits.device)).sum()


def saliency(
    model: nn.Module,
    clip: AVClip | Tensor | np.ndarray,
    target: int | Callable[[Tensor], Tensor] | None = None,
    *,
    smoothgrad: int = 0,
    noise: float = 0.15,
    batch_size: int = 8,
    preprocess: Callable[[Tensor], Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Gradient saliency map of a video model.

    Args:
        model: takes (B, C, T, H, W) and returns scores (B, K) (or (B,) for one logit).
        clip: an :class:`~avlearn.io.AVClip`, uint8 frames (T, H, W, 3) (scaled to [0, 1] or
            passed through ``preprocess``), or the model's float (C, T, H, W) input.
        target: class index whose score is explained; a function ``scores (B, ...) -> (B,)``
            for anything else (e.g. a sync logit); None explains the top class.
        smoothgrad: number of noisy copies to average (0: the plain gradient).
        noise: SmoothGrad noise level as a fraction of the input's value range.
        batch_size: noisy copies per backward pass.
        preprocess: ``uint8 (T, H, W, 3) -> (C, T, H, W)`` float input (e.g. with normalisation).
        generator: random generator for the SmoothGrad noise.

    Returns:
        float32 (T, H, W) saliency on the CPU (the model's input time/size). The model is put
        in eval mode for the computation and its mode restored after.
    """
    x = _model_input(clip, preprocess)  # (C, T, H, W)
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    x = x.to(device)
    was_training = model.training
    model.eval()
    try:
        n = max(int(smoothgrad), 1)
        sigma = float(noise) * float(x.max() - x.min()) if smoothgrad else 0.0
        grad = torch.zeros_like(x)
        for i in range(0, n, batch_size):
            b = min(batch_size, n - i)
            inp = x.expand(b, *x.shape).clone()  # (b, C, T, H, W)
            if sigma > 0:
                inp += sigma * torch.randn(inp.shape, generator=generator).to(device)
            inp.requires_grad_(True)
            with torch.enable_grad():
                score = _score(model(inp), target)
                (g,) = torch.autograd.grad(score, inp)
            grad += g.sum(0)
    finally:
        model.train(was_training)
    return (grad / n).abs().amax(0).float().cpu()  # (T, H, W)


def save_saliency_grid(
    path: str | os.PathLike,
    clip: AVClip | Tensor | np.ndarray,
    sal: Tensor | np.ndarray,
    *,
    every: int = 1,
    alpha: float = 0.6,
    scale: int = 1,
) -> str:
    """A PNG of three rows: the frames, the saliency maps, and the maps over the frames.

    Args:
        path: output image.
        clip: the frames: AVClip, uint8 (T, H, W, 3), or a float (3, T, H, W) clip in [0, 1].
        sal: (T', H', W') saliency (from :func:`saliency`); resized to the frames, and its
            frames matched to the clip's by nearest time when the counts differ.
        every: show every ``every``-th frame.
        alpha: colour weight of the overlay row.
        scale: integer upscaling of the whole grid (for tiny clips).
    """
    frames = _frames(clip)  # (T, H, W, 3) uint8
    s = torch.as_tensor(np.asarray(sal) if not isinstance(sal, Tensor) else sal.detach().cpu()).float()
    idx = (torch.arange(frames.shape[0]) * s.shape[0] // frames.shape[0]).clamp(max=s.shape[0] - 1)
    s = s[idx]  # (T, H', W') aligned to frames
    shown = list(range(0, frames.shape[0], max(int(every), 1)))
    heat = overlay_heatmap(np.zeros_like(frames), s, alpha=1.0)  # resized, coloured, shared range
    over = overlay_heatmap(frames, s, alpha=alpha)
    rows = [frames[shown], heat[shown], over[shown]]
    grid = image_grid([im for row in rows for im in row], ncols=len(shown))
    return save_image(path, grid, scale=scale)


def _frames(clip: Any) -> np.ndarray:
    if isinstance(clip, AVClip):
        clip = clip.video
    x = torch.as_tensor(np.asarray(clip) if not isinstance(clip, Tensor) else clip.detach().cpu())
    if x.dtype != torch.uint8:
        x = (x.float().clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 3, 0)  # (C,T,H,W) -> (T,H,W,C)
    return x.numpy()
