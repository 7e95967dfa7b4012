"""Run logs: one JSON object per line in ``metrics.jsonl``, TensorBoard scalars, a progress bar.

``metrics.jsonl`` lines look like::

    {"split": "train", "step": 20, "loss": 1.73, "lr": 0.00098, "clips_per_s": 41.2, "skipped": 0}
    {"split": "val", "step": 20, "loss": 1.51, "top1": 0.41, "top5": 0.93}

and are what :func:`read_metrics` returns (the demo's training curves are drawn from them).
Only rank 0 writes. When a run resumes from step ``s``, lines with ``step > s`` written by the
interrupted process are dropped first, so the file tells one consistent story.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

__all__ = ["MetricLogger", "read_metrics", "make_progress"]

log = logging.getLogger(__name__)


def read_metrics(path: str | os.PathLike, split: str | None = None) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` file (optionally only one split), in file order.

    A partial last line (a process killed mid-write) is ignored.
    """
    out = []
    if not os.path.isfile(path):
        return out
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if split is None or rec.get("split") == split:
                out.append(rec)
    return out


class MetricLogger:
    """Write metric records to ``<out_dir>/metrics.jsonl`` and, if available, TensorBoard.

    Args:
        out_dir: the run folder.
        enabled: False on ranks other than 0 (then every method is a no-op).
        tensorboard: also write TensorBoard scalars ``<split>/<name>`` under ``<out_dir>/tb``.
        resume_step: drop existing records with ``step`` greater than this (None keeps all).
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        *,
        enabled: bool = True,
        tensorboard: bool = True,
        resume_step: int | None = None,
    ):
        self.enabled = enabled
        self.path = os.path.join(os.fspath(out_dir), "metrics.jsonl")
        self._tb = None
        self._file = None
        if not enabled:
            return
        os.makedirs(out_dir, exist_ok=True)
        if resume_step is not None:
            self._truncate(resume_step)
        elif os.path.exists(self.path):
            os.unlink(self.path)  # a fresh run in a reused folder
        self._file = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(os.path.join(os.fspath(out_dir), "tb"), purge_step=resume_step)
            except ImportError:
                log.info("tensorboard is not installed; metrics go to %s only", self.path)

    def _truncate(self, step: int) -> None:
        keep = [r for r in read_metrics(self.path) if r.get("step", 0) <= step]
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            for r in keep:
                f.write(json.dumps(r) + "\n")
        os.replace(tmp, self.path)

    def log(self, split: str, step: int, metrics: dict[str, Any]) -> None:
        """Append one record ``{"split", "step", **metrics}`` (numbers become floats/ints)."""
        if not self.enabled:
            return
        rec: dict[str, Any] = {"split": split, "step": int(step)}
        for k, v in metrics.items():
            rec[k] = v if isinstance(v, (int, str, bool)) or v is None else float(v)
        self._file.write(json.dumps(rec) + "\n")
        self._file.flush()
        if self._tb is not None:
            for k, v in rec.items():
                if k not in ("split", "step") and isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._tb.add_scalar(f"{split}/{k}", v, step)

    def close(self) -> None:
        """Flush and close the files."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def make_progress(total: int, initial: int = 0, *, enabled: bool = True, desc: str = "train"):
    """A tqdm bar over optimizer steps (a disabled bar when not ``enabled``)."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        initial=initial,
        desc=desc,
        disable=not enabled,
        dynamic_ncols=True,
        mininterval=1.0,
        file=sys.stderr,
        unit="step",
    )
