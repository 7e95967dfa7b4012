"""Run folders that cannot be confused: each run records its recipe fingerprint.

A run folder (``train.out_dir``) holds the files of exactly one run. When a run starts, the
folder's ``run.json`` records the *recipe fingerprint*: a SHA-256 of the recipe (as the plain
dict :func:`avlearn.train.config.to_dict` gives) with the run-length and bookkeeping fields of
:data:`IGNORED_KEYS` removed. Every checkpoint carries the same fingerprint. So:

* a fresh run in a folder that holds another run's files is refused
  (:func:`prepare_run_folder`; the ``avlearn train`` command names ``--resume`` and
  ``--overwrite``) or, when the caller asks for it, the old run's files are removed first:
  two runs' checkpoints are never mixed (``fit(cfg)`` from Python replaces, as the demo does);
* resuming refuses a checkpoint whose recipe differs in anything but those fields, naming the
  keys that differ (:func:`check_resume`);
* ``--overwrite`` removes the old run's own files (:data:`RUN_FILES`, ``checkpoints/step_*.pt``
  and their temporary files, TensorBoard event files), never anything else the user put there.

Ignored fields (they change how long a run is, how often it logs, checkpoints and evaluates, or
where and on what it runs, not what it learns): ``train.steps``, ``train.log_every``,
``train.ckpt_every``, ``train.keep_ckpts``, ``train.eval_every``, ``train.final_eval``,
``train.eval_batch_size``, ``train.out_dir``, ``train.num_workers``, ``train.device``,
``train.tensorboard``, ``train.progress``, ``train.dist_timeout``,
``train.max_nonfinite_steps``. ``train.steps`` is among them so a finished run can be extended;
with a cosine or step schedule the learning rate after the resume point follows the new length.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Any, Literal

from avlearn.errors import UsageError, short

__all__ = [
    "IGNORED_KEYS",
    "RUN_FILES",
    "RunFolderError",
    "recipe_fingerprint",
    "recipe_diff",
    "read_run_fingerprint",
    "write_run_record",
    "run_files",
    "remove_run_files",
    "prepare_run_folder",
    "check_resume",
]

IGNORED_KEYS: tuple[str, ...] = (
    "train.steps",
    "train.log_every",
    "train.ckpt_every",
    "train.keep_ckpts",
    "train.eval_every",
    "train.final_eval",
    "train.eval_batch_size",
    "train.out_dir",
    "train.num_workers",
    "train.device",
    "train.tensorboard",
    "train.progress",
    "train.dist_timeout",
    "train.max_nonfinite_steps",
)
"""Dotted recipe keys left out of the fingerprint (module docstring)."""

RUN_FILES: tuple[str, ...] = ("run.json", "config.yaml", "metrics.jsonl", "weights.pt", "final_metrics.json")
"""The files a run writes at the top of its folder."""

RUN_RECORD = "run.json"
_FORMAT = "avlearn-run"


class RunFolderError(UsageError):
    """The run folder holds another run (or a checkpoint of a different recipe)."""


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out or {prefix[:-1]: {}}
    if isinstance(d, tuple):
        d = list(d)
    return {prefix[:-1]: d}


DEFAULTED_KEYS: dict[str, Any] = {"optim.groups": [], "schedule.milestones": [], "data.flip": False}
"""Keys added to the recipe after runs were first recorded (``data.flip`` of the sync tasks),
left out of the fingerprint while they hold that default, so a run recorded before them keeps its
fingerprint (and resumes). A key is dropped only at that one value, so two recipes that differ
in it still differ."""


def _significant(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in _flatten(raw).items()
            if k not in IGNORED_KEYS and not (k in DEFAULTED_KEYS and v == DEFAULTED_KEYS[k])}


def recipe_fingerprint(raw: dict[str, Any]) -> str:
    """SHA-256 (hex) of a plain-dict recipe without the :data:`IGNORED_KEYS`."""
    text = json.dumps(_significant(raw), sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def recipe_diff(old: dict[str, Any], new: dict[str, Any], limit: int = 8) -> list[str]:
    """``["task.hidden: 16 -> 32", ...]``: the significant keys that differ (at most ``limit``,
    then ``"... and N more"``)."""
    a, b = _significant(old), _significant(new)
    lines = []
    for key in sorted(set(a) | set(b)):
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if va != vb:
            lines.append(f"{key}: {short(va, 40)} -> {short(vb, 40)}")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... and {len(lines) - limit} more"]
    return lines


def read_run_fingerprint(out_dir: str | os.PathLike) -> tuple[str | None, dict[str, Any] | None]:
    """``(fingerprint, recipe)`` of the run in ``out_dir``: from ``run.json``, else from the
    ``config.yaml`` of a run written before run records existed; ``(None, None)`` if neither."""
    out_dir = os.fspath(out_dir)
    try:
        with open(os.path.join(out_dir, RUN_RECORD), encoding="utf-8") as f:
            rec = json.load(f)
        if isinstance(rec, dict) and rec.get("format") == _FORMAT and isinstance(rec.get("recipe"), dict):
            return str(rec.get("fingerprint")), rec["recipe"]
    except (OSError, ValueError):
        pass
    cfg_path = os.path.join(out_dir, "config.yaml")
    if os.path.isfile(cfg_path):
        from avlearn.train.config import ConfigError, safe_load_yaml

        try:
            with open(cfg_path, encoding="utf-8") as f:
                raw = safe_load_yaml(f.read(), source=cfg_path)
        except (OSError, UnicodeDecodeError, ConfigError):
            return None, None
        if isinstance(raw, dict):
            return recipe_fingerprint(raw), raw
    return None, None


def write_run_record(out_dir: str | os.PathLike, raw: dict[str, Any]) -> str:
    """Write ``<out_dir>/run.json`` (fingerprint, ignored keys, recipe); returns the fingerprint."""
    fp = recipe_fingerprint(raw)
    rec = {"format": _FORMAT, "fingerprint": fp, "ignored_keys": list(IGNORED_KEYS), "recipe": raw}
    path = os.path.join(os.fspath(out_dir), RUN_RECORD)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(rec, f, indent=1, default=str)
    os.replace(tmp, path)
    return fp


def run_files(out_dir: str | os.PathLike) -> list[str]:
    """The paths of a run's own files in ``out_dir`` (those :func:`remove_run_files` deletes)."""
    out_dir = os.fspath(out_dir)
    found = [os.path.join(out_dir, n) for n in RUN_FILES if os.path.isfile(os.path.join(out_dir, n))]
    ck = os.path.join(out_dir, "checkpoints")
    found += sorted(glob.glob(os.path.join(ck, "step_*.pt")) + glob.glob(os.path.join(ck, ".step_*.pt.*.tmp")))
    found += sorted(glob.glob(os.path.join(out_dir, "tb", "events.out.tfevents.*")))
    return found


def remove_run_files(out_dir: str | os.PathLike) -> list[str]:
    """Delete the old run's files (:func:`run_files`), then ``checkpoints/`` and ``tb/`` if
    that left them empty. Anything else in the folder stays. Returns the deleted paths."""
    gone = run_files(out_dir)
    for path in gone:
        os.unlink(path)
    for sub in ("checkpoints", "tb"):
        try:
            os.rmdir(os.path.join(os.fspath(out_dir), sub))
        except OSError:  # absent or holding the user's own files
            pass
    return gone


def _has_run(out_dir: str) -> bool:
    """Whether the folder holds a run's results (a record and a config alone do not count:
    a run that died before writing anything else left nothing to lose)."""
    return any(os.path.basename(p) not in ("config.yaml", RUN_RECORD) for p in run_files(out_dir))


def prepare_run_folder(
    out_dir: str | os.PathLike,
    raw: dict[str, Any],
    *,
    resume: bool = False,
    existing: Literal["refuse", "same-recipe", "overwrite"] = "refuse",
) -> None:
    """Make ``out_dir`` ready for the run of recipe ``raw`` (rank 0 only; before training).

    Args:
        out_dir: the run folder.
        raw: the run's recipe as a plain dict.
        resume: the run continues from the folder's checkpoints (checked by :func:`check_resume`).
        existing: what a fresh run does when the folder holds a run's files: ``refuse``
            (always), ``same-recipe`` (replace a run of the same fingerprint, refuse another
            one) or ``overwrite`` (replace whatever run is there).

    Raises:
        RunFolderError: the folder holds another run (message names ``--resume`` and ``--overwrite``).
    """
    out_dir = os.fspath(out_dir)
    if resume or not os.path.isdir(out_dir) or not _has_run(out_dir):
        return
    if existing == "overwrite":
        remove_run_files(out_dir)
        return
    old_fp, old_raw = read_run_fingerprint(out_dir)
    same = old_fp is not None and old_fp == recipe_fingerprint(raw)
    if existing == "same-recipe" and same:
        remove_run_files(out_dir)
        return
    what = "a run of the same recipe" if same else "another run" + (
        f" ({'; '.join(recipe_diff(old_raw, raw, limit=3))})" if old_raw is not None else "")
    raise RunFolderError(
        f"{out_dir}: already holds {what}; pass --resume to continue it or --overwrite to replace it"
        " (or choose another --out)")


def check_resume(path: str, state: dict[str, Any], raw: dict[str, Any], steps: int) -> None:
    """Refuse resuming from checkpoint ``path`` (its loaded ``state``) with recipe ``raw``.

    Raises:
        RunFolderError: the checkpoint's recipe differs in a significant key (they are named),
            or it is already past ``train.steps``.
    """
    saved = state.get("config")
    if isinstance(saved, dict):
        fp = state.get("fingerprint") or recipe_fingerprint(saved)
        if fp != recipe_fingerprint(raw):
            diff = recipe_diff(saved, raw) or ["(fingerprint differs)"]
            raise RunFolderError(
                f"{path}: this checkpoint was trained with a different recipe: {'; '.join(diff)}; "
                "resume with the recipe it was trained with, or start a new run with --overwrite or another --out")
    step = int(state.get("step", 0))
    if step > steps:
        raise RunFolderError(
            f"{path}: the checkpoint is at step {step}, past train.steps={steps}; raise train.steps to continue it")
