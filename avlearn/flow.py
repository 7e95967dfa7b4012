"""Dense optical flow for the temporal stream of two-stream networks.

Two pure-torch estimators, batched over frame pairs and run coarse to fine on an image
pyramid with backward warping (Bouguet's pyramidal scheme):

* ``"lucas_kanade"``: Lucas & Kanade (IJCAI 1981), the windowed least-squares solution of the
  brightness-constancy equation ``Ix u + Iy v + It = 0`` (their eq. 10 in 2D: the 2x2 normal
  equations summed over a Gaussian window), iterated with warping at every level.
* ``"horn_schunck"``: Horn & Schunck (AI 1981), the global smoothness functional solved by
  their Jacobi iteration (eq. 12: ``u = u_bar - Ix (Ix u_bar + Iy v_bar + It) / (alpha^2 + Ix^2
  + Iy^2)``), here on the flow increment about the warped estimate.

When OpenCV is importable, ``method="farneback"`` (Farnebäck, SCIA 2003) and ``method="dis"``
(Kroeger et al., ECCV 2016, preset "medium") call ``cv2`` on uint8 grayscale frames.

Convention (the same as OpenCV's): ``flow[t]`` maps frame t to frame t+1, in pixels, channel 0
horizontal (x, to the right) and channel 1 vertical (y, down):
``frame[t](y, x) ~ frame[t+1](y + flow[t, 1], x + flow[t, 0])``.

Accuracy (``tests/test_models_flow.py``): on a smooth random texture translated by a known
sub-pixel shift of up to 6 px, both torch methods recover the shift within 0.5 px (median over
the interior, 64x64 frames); the measured median error is under 0.1 px for both.

Two-stream networks (Simonyan & Zisserman, NeurIPS 2014, Sec. 3.1) stack the x and y flow of
L consecutive pairs into 2L input channels: :func:`stack_flow`. Flow is cached to disk as
uint8 (TSN's quantisation: values clipped to ``[-bound, bound]`` and mapped to 0..255) in a
compressed npz by :func:`save_flow`; ``data_prep/cache_flow.py`` does that for a dataset.
"""

from __future__ import annotations

import os
import zipfile
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from avlearn.io.errors import MediaError

__all__ = [
    "FLOW_METHODS",
    "FlowFileError",
    "cv2_available",
    "dequantize_flow",
    "load_flow",
    "optical_flow",
    "quantize_flow",
    "save_flow",
    "stack_flow",
]

FLOW_METHODS = ("lucas_kanade", "horn_schunck", "farneback", "dis")
_LUMA = (0.299, 0.587, 0.114)


class FlowFileError(MediaError, ValueError):
    """A cached flow file is missing, unreadable or malformed; the message names the file.

    A :class:`~avlearn.io.MediaError`, so datasets that skip and count bad media skip it too.
    """


def cv2_available() -> bool:
    """Whether OpenCV (``cv2``) can be imported, i.e. "farneback" and "dis" work."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------- input handling
def _to_gray(frames: Tensor | np.ndarray) -> tuple[Tensor, bool]:
    """Frames to float grayscale ``(B, T, H, W)`` in [0, 1] (uint8) or as given (float).

    Returns the gray stack and whether the input was a single unbatched ``(T, H, W, 3)`` clip.
    """
    x = torch.as_tensor(frames)
    if x.dim() == 4 and x.shape[-1] in (1, 3):  # (T, H, W, C) one clip, channels last
        single = True
        x = x.permute(3, 0, 1, 2).unsqueeze(0)  # (1, C, T, H, W)
    elif x.dim() == 5:  # (B, C, T, H, W)
        single = False
    else:
        raise ValueError(f"frames must be (T, H, W, 3) or (B, C, T, H, W); got shape {tuple(x.shape)}")
    if x.shape[2] < 2:
        raise ValueError(f"optical flow needs at least 2 frames; got {x.shape[2]}")
    scale = 1.0 / 255.0 if x.dtype == torch.uint8 else 1.0
    x = x.float() * scale
    if x.shape[1] == 3:
        w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1, 1)
        gray = (x * w).sum(1)  # (B, T, H, W)
    elif x.shape[1] == 1:
        gray = x[:, 0]  # (B, T, H, W)
    else:
        raise ValueError(f"frames must have 1 or 3 channels; got {x.shape[1]}")
    return gray, single


# ----------------------------------------------------------------------------- building blocks
def _gaussian_kernel(sigma: float) -> Tensor:
    radius = max(1, round(2.5 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _blur(x: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with replicate borders."""
    k = _gaussian_kernel(sigma).to(x)
    r = k.numel() // 2
    c = x.shape[1]
    x = F.conv2d(F.pad(x, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _gradients(img: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences (Ix, Iy) of ``(N, 1, H, W)``, replicate borders."""
    p = F.pad(img, (1, 1, 1, 1), mode="replicate")
    ix = 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2])  # (N, 1, H, W)
    iy = 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])  # (N, 1, H, W)
    return ix, iy


def _warp(img: Tensor, flow: Tensor) -> tuple[Tensor, Tensor]:
    """Sample ``img`` (N, 1, H, W) at ``x + flow`` (N, 2, H, W): the backward warp.

    Returns the warped image and a (N, 1, H, W) mask, 1 where ``x + flow`` lies inside the image.
    """
    h, w = img.shape[-2:]
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=img.dtype, device=img.device),
        torch.arange(w, dtype=img.dtype, device=img.device),
        indexing="ij",
    )
    gx = (xs + flow[:, 0]) * (2.0 / max(w - 1, 1)) - 1.0  # (N, H, W)
    gy = (ys + flow[:, 1]) * (2.0 / max(h - 1, 1)) - 1.0  # (N, H, W)
    grid = torch.stack((gx, gy), dim=-1)  # (N, H, W, 2)
    inside = (grid.abs() <= 1.0).all(dim=-1, keepdim=True).permute(0, 3, 1, 2).to(img.dtype)  # (N, 1, H, W)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="border", align_corners=True), inside


def _pyramid(img: Tensor, levels: int) -> list[Tensor]:
    """Gaussian pyramid, finest first."""
    out = [img]
    for _ in range(levels - 1):
        out.append(F.avg_pool2d(_blur(out[-1], 1.0), 2))
    return out


def _num_levels(h: int, w: int, levels: int | None, min_size: int = 12) -> int:
    if levels is not None:
        return max(1, levels)
    n = 1
    while min(h, w) // (2**n) >= min_size and n < 6:
        n += 1
    return n


# ----------------------------------------------------------------------------- one-level solvers
def _lk_step(i0: Tensor, i1w: Tensor, inside: Tensor, window: float, eps: float) -> Tensor:
    """One Lucas-Kanade increment (N, 2, H, W) from i0 and the warped i1.

    Pixels whose match fell outside the image (``inside`` = 0) get no vote in the window sums.
    """
    ix, iy = _gradients(0.5 * (i0 + i1w))
    it = i1w - i0
    prods = torch.cat((ix * ix, ix * iy, iy * iy, ix * it, iy * it), dim=1) * inside  # (N, 5, H, W)
    sxx, sxy, syy, sxt, syt = _blur(prods, window).unbind(1)  # each (N, H, W)
    sxx, syy = sxx + eps, syy + eps  # Tikhonov term: flat regions stay put
    det = sxx * syy - sxy * sxy
    du = (-syy * sxt + sxy * syt) / det
    dv = (sxy * sxt - sxx * syt) / det
    return torch.stack((du, dv), dim=1)  # (N, 2, H, W)


def _hs_step(i0: Tensor, i1w: Tensor, inside: Tensor, flow: Tensor, alpha: float, iterations: int) -> Tensor:
    """Horn-Schunck increment about ``flow``: Jacobi iterations on the linearised functional.

    Where the match fell outside the image (``inside`` = 0) the data term is dropped and the
    smoothness term alone fills the flow in.
    """
    ix, iy = _gradients(0.5 * (i0 + i1w))
    ix, iy, it = ix * inside, iy * inside, (i1w - i0) * inside
    denom = alpha**2 + ix * ix + iy * iy  # (N, 1, H, W)
    avg = torch.tensor([[1, 2, 1], [2, 0, 2], [1, 2, 1]], dtype=i0.dtype, device=i0.device) / 12.0
    avg = avg.view(1, 1, 3, 3).expand(2, 1, 3, 3)
    delta = torch.zeros_like(flow)
    for _ in range(iterations):
        total = F.conv2d(F.pad(flow + delta, (1, 1, 1, 1), mode="replicate"), avg, groups=2)  # (N, 2, H, W)
        d_bar = total - flow
        resid = (ix * d_bar[:, :1] + iy * d_bar[:, 1:] + it) / denom  # (N, 1, H, W)
        delta = d_bar - torch.cat((ix, iy), dim=1) * resid
    return delta


def _torch_flow(
    i0: Tensor,
    i1: Tensor,
    *,
    method: str,
    levels: int | None,
    warps: int,
    window: float,
    alpha: float,
    iterations: int,
) -> Tensor:
    """Coarse-to-fine flow from i0 to i1, both (N, 1, H, W) in [0, 1]."""
    h, w = i0.shape[-2:]
    n_levels = _num_levels(h, w, levels)
    p0 = _pyramid(_blur(i0, 0.8), n_levels)
    p1 = _pyramid(_blur(i1, 0.8), n_levels)
    flow = torch.zeros(i0.shape[0], 2, *p0[-1].shape[-2:], dtype=i0.dtype, device=i0.device)
    for a, b in zip(reversed(p0), reversed(p1)):
        if flow.shape[-2:] != a.shape[-2:]:
            sy, sx = a.shape[-2] / flow.shape[-2], a.shape[-1] / flow.shape[-1]
            flow = F.interpolate(flow, size=a.shape[-2:], mode="bilinear", align_corners=False)
            flow = flow * torch.tensor([sx, sy], dtype=flow.dtype, device=flow.device).view(1, 2, 1, 1)
        for _ in range(warps):
            bw, inside = _warp(b, flow)
            if method == "lucas_kanade":
                flow = flow + _lk_step(a, bw, inside, window, eps=1e-6)
            else:
                flow = flow + _hs_step(a, bw, inside, flow, alpha, iterations)
    return flow


def _cv2_flow(g0: np.ndarray, g1: np.ndarray, method: str) -> np.ndarray:
    try:
        import cv2
    except ImportError:  # an optional extra
        raise ImportError(f"optical flow method {method!r} needs OpenCV: pip install 'avlearn[flow]'") from None

    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(g0, g1, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return dis.calc(g0, g1, None)


# ----------------------------------------------------------------------------- public API
@torch.no_grad()
def optical_flow(
    frames: Tensor | np.ndarray,
    *,
    method: str = "lucas_kanade",
    levels: int | None = None,
    warps: int = 3,
    window: float = 2.0,
    alpha: float = 0.05,
    iterations: int = 40,
) -> Tensor:
    """Dense optical flow between consecutive frames.

    Args:
        frames: one clip ``(T, H, W, 3)`` (uint8, as ``AVClip.video``) or a batch ``(B, C, T, H, W)``
            (float in [0, 1], or uint8) with C = 3 (RGB) or 1 (gray).
        method: "lucas_kanade" or "horn_schunck" (pure torch, any device), or "farneback" / "dis"
            (OpenCV, CPU; raise ImportError without ``cv2``).
        levels: pyramid levels (default: halve until the short side would drop below 12 px).
        warps: warping iterations per pyramid level (torch methods).
        window: Lucas-Kanade Gaussian window sigma in pixels.
        alpha: Horn-Schunck smoothness weight (intensities in [0, 1]).
        iterations: Horn-Schunck Jacobi iterations per warp.

    Returns:
        float32 flow in pixels, ``(T-1, 2, H, W)`` for one clip or ``(B, T-1, 2, H, W)`` for a
        batch; channel 0 is x (right), channel 1 is y (down).

    Raises:
        ValueError: unknown method, or frames of the wrong shape / fewer than 2 frames.
        ImportError: "farneback" / "dis" without OpenCV.
    """
    if method not in FLOW_METHODS:
        raise ValueError(f"unknown optical flow method {method!r}; choose one of {FLOW_METHODS}")
    gray, single = _to_gray(frames)  # (B, T, H, W)
    b, t, h, w = gray.shape
    if method in ("farneback", "dis"):
        if not cv2_available():
            raise ImportError(f"optical flow method {method!r} needs OpenCV: pip install 'avlearn[flow]'")
        g8 = (gray.clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()  # (B, T, H, W)
        out = np.stack([np.stack([_cv2_flow(g8[i, j], g8[i, j + 1], method) for j in range(t - 1)]) for i in range(b)])
        flow = torch.from_numpy(out).permute(0, 1, 4, 2, 3).float().to(gray.device)  # (B, T-1, 2, H, W)
    else:
        i0 = gray[:, :-1].reshape(b * (t - 1), 1, h, w)  # (B(T-1), 1, H, W)
        i1 = gray[:, 1:].reshape(b * (t - 1), 1, h, w)  # (B(T-1), 1, H, W)
        flow = _torch_flow(
            i0, i1, method=method, levels=levels, warps=warps, window=window, alpha=alpha, iterations=iterations
        )
        flow = flow.view(b, t - 1, 2, h, w)  # (B, T-1, 2, H, W)
    return flow[0] if single else flow


def stack_flow(flow: Tensor) -> Tensor:
    """Stack flow for a two-stream temporal input: ``(..., T-1, 2, H, W) -> (..., 2(T-1), H, W)``.

    Channels are interleaved ``[x_1, y_1, x_2, y_2, ...]`` (Simonyan & Zisserman eq. 1).
    """
    return flow.flatten(-4, -3)


def quantize_flow(flow: Tensor | np.ndarray, bound: float = 20.0) -> np.ndarray:
    """Flow in pixels to uint8: clip to ``[-bound, bound]`` and map linearly onto 0..255.

    The round trip through :func:`dequantize_flow` is exact to ``bound / 255`` px inside the bound.
    """
    f = torch.as_tensor(flow).detach().float().cpu().numpy()
    q = np.round((np.clip(f, -bound, bound) + bound) * (255.0 / (2.0 * bound)))
    return q.astype(np.uint8)


def dequantize_flow(q: np.ndarray | Tensor, bound: float = 20.0) -> Tensor:
    """uint8 flow from :func:`quantize_flow` back to float32 pixels."""
    q = torch.as_tensor(np.asarray(q)).float()
    return q * (2.0 * bound / 255.0) - bound


def save_flow(path: str | os.PathLike, flow: Tensor | np.ndarray, *, bound: float = 20.0, **meta: Any) -> None:
    """Write flow ``(T-1, 2, H, W)`` as a compressed npz of uint8 plus the bound and ``meta``.

    ``meta`` values (e.g. fps, source path) must be numbers or strings; they come back from
    :func:`load_flow` with ``return_meta=True``.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez_compressed(
        tmp, flow=quantize_flow(flow, bound), bound=np.float32(bound), **{k: np.asarray(v) for k, v in meta.items()}
    )
    os.replace(tmp, path)


def load_flow(path: str | os.PathLike, *, return_meta: bool = False) -> Tensor | tuple[Tensor, dict[str, Any]]:
    """Read a file written by :func:`save_flow` as float32 pixels ``(T-1, 2, H, W)``.

    Raises:
        FlowFileError: the file is missing, not an npz, or lacks the ``flow``/``bound`` arrays.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FlowFileError(path, "flow file not found")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise FlowFileError(path, f"not a readable npz ({type(exc).__name__}: {exc})") from None
    if "flow" not in arrays or "bound" not in arrays:
        raise FlowFileError(path, f"missing 'flow' or 'bound' array (has {sorted(arrays)})")
    q = arrays.pop("flow")
    if q.dtype != np.uint8 or q.ndim != 4 or q.shape[1] != 2:
        raise FlowFileError(path, f"flow array must be uint8 (T-1, 2, H, W); got {q.dtype} {q.shape}")
    bound = float(arrays.pop("bound"))
    flow = dequantize_flow(q, bound)
    if not return_meta:
        return flow
    meta = {k: v.item() if v.ndim == 0 else v for k, v in arrays.items()}
    meta["bound"] = bound
    return flow, meta
