"""Crash-safe training checkpoints.

A checkpoint is one ``torch.save``-d dict of tensors and plain containers (readable with
``torch.load(weights_only=True)``)::

    {"format": "avlearn-checkpoint", "version": 1,
     "model": task state dict, "optimizer": ..., "scheduler": ..., "scaler": ...,
     "step": optimizer steps done, "epoch": current epoch,
     "batch_in_epoch": micro-batches of that epoch already consumed (the data-loader position),
     "rng": [per-rank {"torch", "cuda", "numpy", "python"} states],
     "world_size": W, "config": the recipe as a plain dict}

Files are ``<out>/checkpoints/step_0000100.pt``. They are written atomically: the bytes go to
a temporary file in the same folder (``.step_0000100.pt.<random>.tmp``), which is flushed and
fsync-ed, then ``os.replace``-d onto the final name, and the folder is fsync-ed so the rename
itself survives a power cut. A process killed at any moment therefore leaves either the old set
of checkpoints or the old set plus a complete new one (and maybe a stray ``.tmp`` file, which
:func:`latest_checkpoint` never considers).
"""

from __future__ import annotations

import glob
import logging
import os
import random
import re
import tempfile
from typing import Any

import numpy as np
import torch

from avlearn.tasks.runs import CHECKPOINT_FORMAT as FORMAT
from avlearn.tasks.runs import load_task_weights, network_state, run_recipe  # noqa: F401  (re-exported)

__all__ = [
    "CheckpointError",
    "atomic_save",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "load_checkpoint",
    "prune_checkpoints",
    "rng_state",
    "set_rng_state",
    "load_task_weights",
    "run_recipe",
    "network_state",
]

_NAME = re.compile(r"^step_(\d+)\.pt$")
log = logging.getLogger(__name__)


class CheckpointError(RuntimeError):
    """A checkpoint cannot be read or does not fit; the message names the file and the reason."""


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_save(obj: Any, path: str | os.PathLike) -> str:
    """``torch.save(obj)`` to ``path`` atomically (temp file, flush, fsync, rename, fsync dir).

    Returns:
        the final path.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    return path


def checkpoint_path(ckpt_dir: str | os.PathLike, step: int) -> str:
    """``<ckpt_dir>/step_<step:07d>.pt``."""
    return os.path.join(os.fspath(ckpt_dir), f"step_{step:07d}.pt")


def list_checkpoints(ckpt_dir: str | os.PathLike) -> list[tuple[int, str]]:
    """``(step, path)`` of the complete checkpoint files in ``ckpt_dir``, oldest first."""
    out = []
    for p in glob.glob(os.path.join(os.fspath(ckpt_dir), "step_*.pt")):
        m = _NAME.match(os.path.basename(p))
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a training checkpoint with ``torch.load(weights_only=True)`` onto the CPU.

    Raises:
        CheckpointError: the file is missing, unreadable or not an avlearn checkpoint.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, unpickling error...
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an avlearn training checkpoint (no format={FORMAT!r} entry)")
    return obj


def latest_checkpoint(ckpt_dir: str | os.PathLike) -> tuple[str, dict[str, Any]] | None:
    """The newest checkpoint in ``ckpt_dir`` that loads, as ``(path, state)``; None if none.

    Temporary files of interrupted writes are never considered; a final-named file that fails
    to load (e.g. a disk that lost data) is skipped with a warning in favour of the previous one.
    """
    for _, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            return path, load_checkpoint(path)
        except CheckpointError as exc:
            log.warning("skipping checkpoint: %s", exc)
    return None


def prune_checkpoints(ckpt_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (``keep <= 0`` keeps all)."""
    if keep <= 0:
        return
    for _, path in list_checkpoints(ckpt_dir)[:-keep]:
        os.unlink(path)


def rng_state() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / python RNG states as tensors and plain lists."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else [],
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": [version, list(state), gauss_next],
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, st, gauss_next = state["python"]
    random.setstate((version, tuple(st), gauss_next))
