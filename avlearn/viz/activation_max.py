"""Activation maximization for video models: the input clip a unit likes best.

Feichtenhofer, Pinz, Wildes & Zisserman, "What have we learned from deep representations for
action recognition?" (CVPR 2018), Sec. 3: starting from noise, gradient ascent on an input clip
``x`` maximises one unit's activation ``a(x)`` under regularizers that keep the clip natural:

    x* = argmax_x  a(x) - λ_app ||x||² - λ_tv TV_space(x) - λ_t ||∂x/∂t||²

* an appearance prior: an L2 penalty on the pixels (their p-norm term with p = 2) and the
  spatial total variation (squared differences of neighbouring pixels), which keeps images
  smooth;
* a temporal-variation penalty on the frame-to-frame differences with its own weight λ_t.
  Its strength sets how fast the visualised motion may change: a strong λ_t gives the paper's
  "slow" motion, a weak one its "fast" motion (their Fig. 3-4 compare the two);
* as in the paper (after Yosinski et al., ICML-W 2015), every step sees the clip randomly
  translated (*jitter*) and every few steps the clip is Gaussian-blurred in space.

The unit is a channel of any submodule's output (averaged over its time and space positions), or
one output of the model itself. The model is any ``nn.Module`` taking ``(B, C, T, H, W)``;
this module does not depend on avlearn's model zoo. :func:`save_clip_strip` writes the clip as
one PNG row of frames and :func:`save_clip_gif` as an animated GIF.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor, nn

from avlearn.viz.images import save_image_grid, to_uint8_image

__all__ = [
    "MOTION_SETTINGS",
    "ActivationMaxResult",
    "activation_maximization",
    "unit_activation",
    "temporal_variation",
    "clip_frames",
    "save_clip_strip",
    "save_clip_gif",
]

#: Regularizer weights of the two motion settings (temporal-variation weight λ_t; λ_app, λ_tv shared).
MOTION_SETTINGS: dict[str, dict[str, float]] = {
    "slow": {"temporal": 1.0},
    "fast": {"temporal": 0.01},
}


@dataclass
class ActivationMaxResult:
    """Attributes:
    clip: the optimised clip ``(C, T, H, W)`` (the model's input space).
    history: the unit's activation at every step (before the update).
    initial: the activation of the starting clip.
    final: the activation of the returned clip.
    """

    clip: Tensor
    history: list[float] = field(default_factory=list)
    initial: float = float("nan")
    final: float = float("nan")


def _resolve(model: nn.Module, layer: nn.Module | str | None) -> nn.Module | None:
    if layer is None or isinstance(layer, nn.Module):
        return layer
    try:
        return model.get_submodule(layer)
    except AttributeError:
        raise ValueError(f"activation_maximization: {type(model).__name__} has no submodule {layer!r}") from None


def unit_activation(model: nn.Module, x: Tensor, *, layer: nn.Module | str | None = None, channel: int = 0) -> Tensor:
    """Activation ``(B,)`` of ``channel`` of ``layer``'s output (mean over its other positions),
    or of the model's output ``channel`` when ``layer`` is None.

    Raises:
        ValueError: unknown layer name, or a channel beyond the output's channels.
    """
    module = _resolve(model, layer)
    store: list[Tensor] = []
    handle = module.register_forward_hook(lambda _m, _i, out: store.append(out)) if module is not None else None
    try:
        out = model(x)
    finally:
        if handle is not None:
            handle.remove()
    y = store[-1] if module is not None else out
    if not isinstance(y, Tensor) or y.dim() < 2:
        raise ValueError(f"activation_maximization: the unit's output must be a (B, C, ...) tensor, got {type(y).__name__}")
    if not 0 <= channel < y.shape[1]:
        raise ValueError(f"activation_maximization: channel {channel} out of range for {y.shape[1]} channels")
    return y[:, channel].reshape(y.shape[0], -1).mean(1)  # (B,)


def temporal_variation(clip: Tensor) -> Tensor:
    """Mean squared frame-to-frame difference of ``(..., C, T, H, W)``: the motion energy."""
    return (clip[..., 1:, :, :] - clip[..., :-1, :, :]).square().mean()


def _spatial_tv(clip: Tensor) -> Tensor:
    return (clip[..., 1:, :] - clip[..., :-1, :]).square().mean() + (clip[..., :, 1:] - clip[..., :, :-1]).square().mean()


def _blur(clip: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur over H and W of ``(B, C, T, H, W)`` (each frame on its own)."""
    radius = max(1, math.ceil(2 * sigma))
    k = torch.exp(-(torch.arange(-radius, radius + 1, dtype=clip.dtype, device=clip.device) ** 2) / (2 * sigma**2))
    k = k / k.sum()
    b, c, t, h, w = clip.shape
    x = clip.permute(0, 2, 1, 3, 4).reshape(b * t * c, 1, h, w)  # (BTC, 1, H, W)
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    x = F.conv2d(F.pad(x, (0, 0, radius, radius), mode="replicate"), k.view(1, 1, -1, 1))
    return x.reshape(b, t, c, h, w).permute(0, 2, 1, 3, 4)


def activation_maximization(
    model: nn.Module,
    shape: tuple[int, int, int, int],
    *,
    layer: nn.Module | str | None = None,
    channel: int = 0,
    motion: str | None = "slow",
    steps: int = 100,
    lr: float = 0.05,
    appearance: float = 0.01,
    total_variation: float = 0.05,
    temporal: float | None = None,
    jitter: int = 2,
    blur_every: int = 4,
    blur_sigma: float = 0.5,
    init: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> ActivationMaxResult:
    """Optimise a clip to maximise one unit of ``model`` (Feichtenhofer et al. 2018, Sec. 3).

    Args:
        model: any module taking ``(B, C, T, H, W)``; it is put in eval mode and not changed.
        shape: ``(C, T, H, W)`` of the clip.
        layer: a submodule or its dotted name; None for the model's output.
        channel: the unit (channel of ``layer``'s output, or output index).
        motion: ``"slow"`` / ``"fast"`` (:data:`MOTION_SETTINGS`) or None (give ``temporal``).
        steps: Adam steps.
        lr: Adam learning rate.
        appearance: weight of the L2 appearance prior.
        total_variation: weight of the spatial total variation.
        temporal: weight of the temporal-variation penalty (overrides ``motion``).
        jitter: largest random translation in pixels per step (0: none).
        blur_every: blur the clip every this many steps (0: never).
        blur_sigma: the blur's standard deviation in pixels.
        init: starting clip ``(C, T, H, W)`` (default: small Gaussian noise from ``generator``).
        generator: random source of the noise and the jitter.

    Returns:
        :class:`ActivationMaxResult`.

    Raises:
        ValueError: unknown ``motion``, no temporal weight, bad layer or channel.
    """
    if temporal is None:
        if motion not in MOTION_SETTINGS:
            raise ValueError(f"activation_maximization: motion must be one of {sorted(MOTION_SETTINGS)} or temporal given, got {motion!r}")
        temporal = MOTION_SETTINGS[motion]["temporal"]
    was_training = model.training
    model.eval()
    params = list(model.parameters())
    device = params[0].device if params else torch.device("cpu")
    start = init.detach().clone() if init is not None else 0.1 * torch.randn(*shape, generator=generator)
    x = start.to(device).unsqueeze(0).clone().requires_grad_(True)  # (1, C, T, H, W), not sharing start
    opt = torch.optim.Adam([x], lr=lr)
    history: list[float] = []
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        for step in range(steps):
            xin = x
            if jitter > 0:
                dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
                xin = torch.roll(x, shifts=(dy, dx), dims=(3, 4))
            act = unit_activation(model, xin, layer=layer, channel=channel)[0]
            history.append(float(act.detach()))
            loss = -act + appearance * x.square().mean() + total_variation * _spatial_tv(x) + temporal * temporal_variation(x)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if blur_every and (step + 1) % blur_every == 0:
                with torch.no_grad():
                    x.copy_(_blur(x, blur_sigma))
        with torch.no_grad():
            initial = float(unit_activation(model, start.to(device).unsqueeze(0), layer=layer, channel=channel)[0])
            final = float(unit_activation(model, x, layer=layer, channel=channel)[0])
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
        model.train(was_training)
    return ActivationMaxResult(clip=x.detach()[0].cpu(), history=history, initial=initial, final=final)


def clip_frames(clip: Tensor, *, mean=None, std=None) -> np.ndarray:
    """A clip ``(C, T, H, W)`` as uint8 frames ``(T, H, W, 3)``: un-normalised by ``mean``/``std``
    when given, else stretched to [0, 1] by its own 1st-99th percentile (optimised clips have no
    natural range)."""
    x = clip.detach().float().cpu()
    if mean is not None and std is not None:
        x = x * torch.as_tensor(std).view(-1, 1, 1, 1) + torch.as_tensor(mean).view(-1, 1, 1, 1)
    else:
        lo, hi = torch.quantile(x.flatten(), 0.01), torch.quantile(x.flatten(), 0.99)
        x = (x - lo) / (hi - lo).clamp_min(1e-8)
    frames = x.clamp(0, 1).permute(1, 2, 3, 0)  # (T, H, W, C)
    return np.stack([to_uint8_image(f.numpy()) for f in frames])


def save_clip_strip(path: str | os.PathLike, clip: Tensor, *, ncols: int | None = None, scale: int = 1, **kwargs) -> str:
    """Write the frames of ``clip`` side by side (one row, or ``ncols`` per row) as a PNG."""
    return save_image_grid(path, clip_frames(clip, **kwargs), ncols=ncols, scale=scale)


def save_clip_gif(path: str | os.PathLike, clip: Tensor, *, fps: float = 8.0, scale: int = 1, **kwargs) -> str:
    """Write ``clip`` as a looping animated GIF (``scale``: integer pixel magnification)."""
    frames = clip_frames(clip, **kwargs)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    images = [Image.fromarray(f) for f in frames]
    path = os.fspath(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
    return path
