"""Choosing where inference runs, and its precision: ``--device {auto,cpu,cuda,cuda:N}``.

``resolve_device("auto")`` is CUDA when a GPU is visible and the CPU otherwise; an explicit
``cuda`` / ``cuda:N`` that does not exist is an error naming what is there, never a silent fall
back to the CPU. :func:`autocast` is mixed precision for inference as in Micikevicius et al.,
"Mixed Precision Training", ICLR 2018: bfloat16 on GPUs that support it (no loss scaling needed;
Kalamkar et al., 2019), float16 on older GPUs, and full float32 on the CPU, where reduced
precision is slower on most processors and changes results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

__all__ = ["DeviceError", "resolve_device", "autocast", "autocast_dtype"]


class DeviceError(ValueError):
    """A device string that is malformed, or names a device this machine does not have."""


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch device for ``"auto"``, ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (a torch.device passes through).

    Raises:
        DeviceError: an unknown spec, or a CUDA device that is not available (the message says
            how many GPUs are visible).
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    spec = "auto" if spec is None else str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    kind, _, index = spec.partition(":")
    if kind != "cuda" or (index and not index.isdigit()):
        raise DeviceError(f"unknown device {spec!r}; use auto, cpu, cuda or cuda:N")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceError(f"device {spec!r} asked for, but no CUDA GPU is available here (use --device cpu or auto)")
    n = int(index) if index else 0
    if n >= count:
        raise DeviceError(f"device {spec!r} asked for, but only {count} CUDA GPU(s) are visible (cuda:0..cuda:{count - 1})")
    return torch.device("cuda", n)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """The reduced precision used on ``device``: bfloat16 / float16 on CUDA, None (float32) on the CPU."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


@contextlib.contextmanager
def autocast(device: torch.device | str, enabled: bool = True) -> Iterator[torch.dtype | None]:
    """Mixed-precision inference context for ``device``; yields the dtype in use (None: float32).

        >>> with torch.inference_mode(), autocast(device):
        ...     out = model(x.to(device))
    """
    dtype = autocast_dtype(device) if enabled else None
    if dtype is None:
        yield None
        return
    with torch.autocast(device_type=torch.device(device).type, dtype=dtype):
        yield dtype
