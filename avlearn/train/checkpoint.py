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
:func:`latest_checkpoint` never considers and :func:`remove_stale_tmp` deletes when the next run
starts or prunes).

Each checkpoint also carries ``"fingerprint"``, the recipe fingerprint of its run
(:mod:`avlearn.train.runfolder`). Pruning (:func:`prune_checkpoints`) deletes only checkpoints
older than the one just written, and only after that one has been read back; a final-named file
that does not load is never counted as the newest.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import random
import re
import shutil
import tempfile
from typing import Any

import numpy as np
import torch

from avlearn.tasks.runs import CHECKPOINT_FORMAT as FORMAT
from avlearn.tasks.runs import CheckpointError  # noqa: F401  (re-exported)
from avlearn.tasks.runs import load_task_weights, network_state, run_recipe  # noqa: F401  (re-exported)

from avlearn.errors import summary

__all__ = [
    "remove_stale_tmp",
    "CheckpointError",
    "atomic_save",
    "checkpoint_path",
    "list_checkpoints",
    "latest_checkpoint",
    "load_checkpoint",
    "prune_checkpoints",
    "verify_checkpoint",
    "rng_state",
    "set_rng_state",
    "load_task_weights",
    "run_recipe",
    "network_state",
]

_NAME = re.compile(r"^step_(\d+)\.pt$")
log = logging.getLogger(__name__)


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk_full(folder: str, margin: int = 64 << 20) -> bool:
    """Whether the file system of ``folder`` has less than ``margin`` bytes free."""
    try:
        return shutil.disk_usage(folder).free < margin
    except OSError:  # pragma: no cover
        return False


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
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, RuntimeError) and _disk_full(folder):
            # torch's zip writer reports a full disk as "unexpected pos ..."; say what happened
            raise OSError(errno.ENOSPC, "No space left on device", path) from exc
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
        raise CheckpointError(f"{path}: unreadable checkpoint ({summary(exc)})") from None
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


_TMP = re.compile(r"^\.step_\d+\.pt\..+\.tmp$")


def remove_stale_tmp(ckpt_dir: str | os.PathLike) -> list[str]:
    """Delete the temporary files interrupted :func:`atomic_save` calls left in ``ckpt_dir``
    (``.step_*.pt.*.tmp``; call only while no checkpoint is being written). Returns them."""
    gone = []
    for p in glob.glob(os.path.join(os.fspath(ckpt_dir), ".step_*.pt.*.tmp")):
        if _TMP.match(os.path.basename(p)):
            try:
                os.unlink(p)
                gone.append(p)
            except FileNotFoundError:  # pragma: no cover - removed meanwhile
                pass
    return gone


def verify_checkpoint(path: str | os.PathLike) -> None:
    """Read ``path`` back (memory-mapped: the archive, its index and every record's header).

    Raises:
        CheckpointError: the file does not load as an avlearn checkpoint.
    """
    path = os.fspath(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({summary(exc)})") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an avlearn training checkpoint (no format={FORMAT!r} entry)")


def prune_checkpoints(ckpt_dir: str | os.PathLike, keep: int, newest: str | os.PathLike | None = None) -> list[str]:
    """Keep the ``keep`` newest checkpoints up to ``newest`` and delete the older ones.

    Args:
        ckpt_dir: the checkpoint folder.
        keep: how many to keep (``<= 0`` keeps all).
        newest: the checkpoint just written (default: the highest-numbered one). It is read
            back first; if it does not load nothing is deleted. Files numbered above it (left
            by another timeline, or unreadable) are not this run's newer checkpoints: they are
            neither counted nor deleted.

    Returns:
        the deleted paths.

    Raises:
        CheckpointError: ``newest`` does not load (nothing was deleted).
    """
    remove_stale_tmp(ckpt_dir)
    found = list_checkpoints(ckpt_dir)
    if keep <= 0 or not found:
        return []
    if newest is None:
        newest = found[-1][1]
    m = _NAME.match(os.path.basename(os.fspath(newest)))
    if m is None:
        raise CheckpointError(f"{os.fspath(newest)}: not a checkpoint file name (step_<N>.pt)")
    top = int(m.group(1))
    older = [(s, p) for s, p in found if s <= top]
    doomed = [p for _, p in older[:-keep]]
    if not doomed:
        return []
    verify_checkpoint(newest)
    for path in doomed:
        os.unlink(path)
    return doomed


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
