"""Reading a written world back: ``world.json``, per-clip truth, manifests and frozen lists.

The format is described in docs/world.md and in :mod:`avlearn.data.synthetic`. Paths inside
``manifest.jsonl`` are relative to the manifest's folder (``OUT/<split>/``); paths inside the
frozen lists (``OUT/lists/*.jsonl``) are relative to the world root ``OUT``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from avlearn.data.errors import WorldFormatError
from avlearn.data.lists import read_frozen_list, read_json_lines
from avlearn.data.synthetic.config import WORLD_VERSION, WorldConfig

__all__ = ["WorldFormatError", "load_truth", "load_world", "load_list", "read_jsonl", "write_jsonl", "list_path"]

LIST_TASKS: tuple[str, ...] = ("sync", "separation", "localization", "segments", "detection", "classify")


def _read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise WorldFormatError(path, "no such file") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WorldFormatError(path, f"not readable as JSON ({exc})") from None


def _check_version(path: str | os.PathLike, data: dict[str, Any]) -> None:
    version = data.get("version")
    if not isinstance(version, int):
        raise WorldFormatError(path, "no integer 'version' field")
    if version > WORLD_VERSION:
        raise WorldFormatError(path, f"version {version} is newer than this avlearn reads ({WORLD_VERSION})")


def load_truth(path: str | os.PathLike) -> dict[str, Any]:
    """Read one clip's ground truth (``OUT/<split>/truth/<id>.json``).

    Args:
        path: the truth file.

    Returns:
        The truth dict (fps, sample_rate, duration, sources with per-frame boxes and active
        flags, events; segments for action videos). See docs/world.md.

    Raises:
        WorldFormatError: missing file, bad JSON, a newer version, or no ``sources``.
    """
    data = _read_json(path)
    if not isinstance(data, dict):
        raise WorldFormatError(path, "truth must be a JSON object")
    _check_version(path, data)
    for key in ("fps", "sample_rate", "duration", "sources"):
        if key not in data:
            raise WorldFormatError(path, f"missing field {key!r}")
    return data


def load_world(root: str | os.PathLike) -> dict[str, Any]:
    """Read ``OUT/world.json``; ``config`` comes back as a :class:`WorldConfig`.

    Raises:
        WorldFormatError: missing or malformed ``world.json``.
    """
    path = Path(root) / "world.json"
    data = _read_json(path)
    if not isinstance(data, dict) or "config" not in data:
        raise WorldFormatError(path, "no 'config' object")
    _check_version(path, data)
    try:
        data["config"] = WorldConfig.from_dict(data["config"])
    except (TypeError, ValueError) as exc:
        raise WorldFormatError(path, f"bad config ({exc})") from None
    return data


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a JSON-lines file (blank lines skipped) with the frozen-list reader's checks.

    Raises:
        WorldFormatError: missing file or a line that is not a JSON object (an
            :class:`avlearn.data.lists.FrozenListError` naming the file and the line).
    """
    return [row for _, row in read_json_lines(path)]


def write_jsonl(path: str | os.PathLike, rows: list[dict[str, Any]]) -> None:
    """Write rows as JSON lines, atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    os.replace(tmp, path)


def list_path(root: str | os.PathLike, task: str, split: str = "test") -> Path:
    """``OUT/lists/<task>_<split>.jsonl``.

    Raises:
        ValueError: unknown task.
    """
    if task not in LIST_TASKS:
        raise ValueError(f"unknown list task {task!r}; one of {LIST_TASKS}")
    return Path(root) / "lists" / f"{task}_{split}.jsonl"


def load_list(root: str | os.PathLike, task: str, split: str = "test") -> list[dict[str, Any]]:
    """Read a frozen evaluation list, adding absolute paths.

    Every ``"clip"`` / ``"truth"`` field (also inside ``"clips"`` entries of separation rows)
    gets an absolute twin ``"clip_path"`` / ``"truth_path"``.

    Args:
        root: the world root ``OUT``.
        task: ``"sync"``, ``"separation"``, ``"localization"``, ``"segments"``,
            ``"detection"`` (actors worlds) or ``"classify"`` (av_classes worlds).
        split: ``"val"`` or ``"test"``.

    Returns:
        The rows.

    Raises:
        avlearn.data.lists.FrozenListError: the list does not exist (e.g. segments in an objects
            world) or has a bad line (a :class:`WorldFormatError`).
    """
    return read_frozen_list(list_path(root, task, split), root=root)
