"""The one reader of frozen evaluation lists (JSON lines), with one typed error.

Every task is measured on lists frozen when its world was made (``OUT/lists/<task>_<split>.jsonl``:
sync pairs with injected offsets, localization frames with boxes, separation groups, action
segments), so that numbers from different runs compare on the same items, as in the fixed test
protocols of Senocak et al. (CVPR 2018, the 250 annotated frames) and the MUSIC / AVE splits of
Zhao et al. (ECCV 2018). Each task's list reader is this function plus its own field names.

Paths inside a list are relative to the world root (the list's grandparent folder:
``OUT/lists/x.jsonl -> OUT``) unless given; each ``clip`` / ``truth`` field, also inside the
``clips`` of a group row, gets an absolute twin ``clip_path`` / ``truth_path``.

    >>> rows = read_frozen_list("OUT/lists/sync_test.jsonl", required=("clip", "offset"), floats=("offset",))
    >>> rows[0]["clip_path"]                     # absolute

A missing file, a line that is not a JSON object, a missing field or a field that is not a
number raises :class:`FrozenListError`, whose message names the file and the line.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

from avlearn.data.errors import WorldFormatError

__all__ = ["FrozenListError", "read_frozen_list", "read_json_lines"]

_PATH_KEYS = ("clip", "truth")


class FrozenListError(WorldFormatError):
    """A frozen list is missing or has a bad line: ``OUT/lists/sync_test.jsonl: line 3: lacks offset``.

    Attributes:
        path: the list file.
        line: the 1-based line at fault (0 for the whole file).
        problem: what is wrong with it.
    """

    def __init__(self, path: str | os.PathLike, line: int, problem: str):
        self.line, self.problem = int(line), problem
        super().__init__(path, f"line {line}: {problem}" if line else problem)

    def __reduce__(self):
        return (type(self), (self.path, self.line, self.problem))


def _resolve(entry: dict[str, Any], root: str) -> None:
    for key in _PATH_KEYS:
        value = entry.get(key)
        if isinstance(value, str):
            entry[f"{key}_path"] = os.path.abspath(os.path.join(root, value))  # an absolute path stays as it is


def read_json_lines(path: str | os.PathLike) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line of a JSON-lines file.

    Raises:
        FrozenListError: no such file, or a line that is not a JSON object (file and line named).
    """
    path = os.fspath(path)
    out = []
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise FrozenListError(path, 0, "no such file") from None
    with fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise FrozenListError(path, n, f"not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise FrozenListError(path, n, "not a JSON object")
            out.append((n, row))
    return out


def read_frozen_list(
    path: str | os.PathLike,
    *,
    required: Sequence[str] = (),
    floats: Sequence[str] = (),
    nested_required: Sequence[str] = (),
    root: str | os.PathLike | None = None,
) -> list[dict[str, Any]]:
    """Rows of a frozen list, checked and with absolute paths (blank lines skipped).

    Args:
        path: the list (JSON lines).
        required: keys every row must have.
        floats: keys converted to ``float`` where present.
        nested_required: keys every entry of a row's ``clips`` must have (group lists).
        root: the folder relative paths start from (default: the list's grandparent).

    Returns:
        the rows, each a dict with ``clip_path`` / ``truth_path`` added (also in ``clips``).

    Raises:
        FrozenListError: no such file, or a line that is not a JSON object, lacks a required
            key or holds a non-number where a number belongs (the message names file and line).
    """
    path = os.fspath(path)
    base = os.fspath(root) if root is not None else os.path.dirname(os.path.dirname(os.path.abspath(path)))
    rows = []
    for n, row in read_json_lines(path):
        missing = [k for k in required if k not in row]
        if missing:
            raise FrozenListError(path, n, f"lacks {', '.join(missing)}")
        for k in floats:
            if k in row:
                try:
                    row[k] = float(row[k])
                except (TypeError, ValueError):
                    raise FrozenListError(path, n, f"{k} is not a number: {row[k]!r}") from None
        _resolve(row, base)
        clips = row.get("clips", [])
        if nested_required and not isinstance(clips, list):
            raise FrozenListError(path, n, "clips is not a list")
        for i, entry in enumerate(clips if isinstance(clips, list) else []):
            if not isinstance(entry, dict):
                raise FrozenListError(path, n, f"clips[{i}] is not a JSON object")
            missing = [k for k in nested_required if k not in entry]
            if missing:
                raise FrozenListError(path, n, f"clips[{i}] lacks {', '.join(missing)}")
            _resolve(entry, base)
        rows.append(row)
    return rows
