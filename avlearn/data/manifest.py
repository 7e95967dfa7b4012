"""Manifests: the list of media files (and clip spans, labels, extra fields) a dataset reads.

A manifest is a CSV file with a header row, a JSONL file (one JSON object per line), a JSON
file holding a list of such objects, or a folder (every video or audio file under it, at any
depth, becomes a row; with ``labels_from_parent`` its parent folder's name is the label). Each
row names a ``path`` (relative to the manifest's folder, or absolute) and optionally a
``label`` (str or int), a ``start`` and an ``end`` in seconds (the span of an untrimmed video
to sample clips from); every other column/key is kept in :attr:`ManifestRow.extra` (a
``boxes`` path, a box/track file of :mod:`avlearn.data.box_tracks`, is resolved like ``path``).

    path,label,start,end,speaker
    clips/a.mp4,dog,0.0,4.5,
    clips/b.mp4,cat,,,alice

The layout follows the annotation files of the common video datasets (Kinetics and
ActivityNet CSVs: a video id, a label and a segment ``start``/``end``), so a builder in
``data_prep/`` only has to write rows. A malformed row raises :class:`ManifestError`, a
``ValueError`` whose message names the manifest file and the line: ``train.csv:7: start
'abc' is not a number``.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "ManifestRow",
    "ManifestError",
    "LabelVocab",
    "load_manifest",
    "save_manifest",
    "MANIFEST_FIELDS",
    "known_length",
]

#: The columns with a meaning; every other column is an extra field.
MANIFEST_FIELDS = ("path", "label", "start", "end")

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}


class ManifestError(ValueError):
    """A manifest file cannot be read: a malformed row, a missing column, a bad value.

    Attributes:
        path: the manifest file.
        line: the 1-based line of the offending row (None for file-level problems).
        reason: a short human-readable reason.
    """

    def __init__(self, path: str | os.PathLike, line: int | None, reason: str):
        self.path = os.fspath(path)
        self.line = line
        self.reason = reason
        where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {reason}")

    def __reduce__(self):  # picklable across DataLoader workers
        return (type(self), (self.path, self.line, self.reason))


@dataclass
class ManifestRow:
    """One media file (or one span of it) listed in a manifest.

    Attributes:
        path: the media file; :func:`load_manifest` makes it absolute.
        label: class label (str or int), or None when unlabelled.
        start: start of the span to sample clips from, in seconds (None: the file's start).
        end: end of the span, in seconds (None: the file's end).
        extra: every other field of the row, by column name.
    """

    path: str
    label: str | int | None = None
    start: float | None = None
    end: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def known_length(row: ManifestRow) -> float | None:
    """Seconds of a row's span when the manifest says: ``end - start``, else the file's
    ``media_duration`` (written by ``avlearn prepare``) minus ``start``; None when unknown
    (the file must be probed)."""
    begin = row.start or 0.0
    if row.end is not None:
        return row.end - begin
    media = row.extra.get("media_duration")
    if isinstance(media, (int, float)) and not isinstance(media, bool) and media > 0:
        return float(media) - begin
    return None


class LabelVocab:
    """A fixed mapping between string labels and class indices.

    Integer labels pass through :meth:`encode` unchanged, so a manifest may already hold
    class indices. String labels are numbered in sorted order by :meth:`from_rows`, which
    makes the mapping independent of row order.

    Args:
        names: the class names; ``names[i]`` is class ``i``.
    """

    def __init__(self, names: Sequence[str]):
        self.names = [str(n) for n in names]
        self._index = {n: i for i, n in enumerate(self.names)}
        if len(self._index) != len(self.names):
            raise ValueError(f"LabelVocab: duplicate class names in {self.names}")

    @classmethod
    def from_rows(cls, rows: Iterable[ManifestRow]) -> LabelVocab:
        """Build the vocabulary of the string labels found in ``rows`` (sorted)."""
        return cls(sorted({r.label for r in rows if isinstance(r.label, str)}))

    def encode(self, label: str | int | None) -> int:
        """Class index of ``label``: ints unchanged, None -> -1, strings looked up.

        Raises:
            ValueError: the string label is not in the vocabulary.
        """
        if label is None:
            return -1
        if isinstance(label, int):
            return label
        try:
            return self._index[label]
        except KeyError:
            raise ValueError(f"LabelVocab: unknown label {label!r} (known: {self.names})") from None

    def decode(self, index: int) -> str:
        """Class name of class ``index``."""
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, label: object) -> bool:
        return label in self._index

    def __repr__(self) -> str:
        return f"LabelVocab({self.names!r})"

    def save(self, path: str | os.PathLike) -> None:
        """Write the class names as a JSON list."""
        Path(path).write_text(json.dumps(self.names, indent=0) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike) -> LabelVocab:
        """Read a vocabulary written by :meth:`save`."""
        return cls(json.loads(Path(path).read_text()))


def _format_of(path: Path) -> str:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ManifestError(path, None, f"unknown manifest extension {path.suffix!r} (use .csv, .jsonl, .json or a folder)")
    return fmt


def _time(value: Any, name: str, where: tuple[Path, int]) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ManifestError(*where, f"{name} {value!r} is not a number")
    try:
        t = float(value)
    except (TypeError, ValueError):
        raise ManifestError(*where, f"{name} {value!r} is not a number") from None
    if not math.isfinite(t) or t < 0:
        raise ManifestError(*where, f"{name} {value!r} must be a finite number >= 0")
    return t


def _label(value: Any, from_text: bool, where: tuple[Path, int]) -> str | int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ManifestError(*where, f"label {value!r} must be a string or an integer")
    if from_text and value.lstrip("-").isdigit():
        return int(value)  # CSV holds text: "3" is class 3
    return value


def _row(record: Mapping[str, Any], base: Path, where: tuple[Path, int], from_text: bool) -> ManifestRow:
    raw_path = record.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        raise ManifestError(*where, "row has no 'path'")
    path = Path(os.path.expanduser(raw_path.strip()))
    start = _time(record.get("start"), "start", where)
    end = _time(record.get("end"), "end", where)
    if end is not None and end <= (start or 0.0):
        raise ManifestError(*where, f"end {end} is not after start {start or 0.0}")
    extra = {k: v for k, v in record.items() if k not in MANIFEST_FIELDS}
    boxes = extra.get("boxes")
    if isinstance(boxes, str) and boxes.strip():  # a box/track file, relative to the manifest like ``path``
        boxes = Path(os.path.expanduser(boxes.strip()))
        extra["boxes"] = os.path.abspath(boxes if boxes.is_absolute() else base / boxes)
    return ManifestRow(
        path=os.path.abspath(path if path.is_absolute() else base / path),
        label=_label(record.get("label"), from_text, where),
        start=start,
        end=end,
        extra=extra,
    )


def _read_csv(path: Path) -> list[ManifestRow]:
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, restkey="\0rest")
        if reader.fieldnames is None or "path" not in reader.fieldnames:
            raise ManifestError(path, 1, f"header {reader.fieldnames} has no 'path' column")
        for record in reader:
            where = (path, reader.line_num)
            if "\0rest" in record:
                raise ManifestError(*where, f"row has more fields than the header's {len(reader.fieldnames)}")
            if any(v is None for v in record.values()):
                raise ManifestError(*where, f"row has fewer fields than the header's {len(reader.fieldnames)}")
            record = {k: (None if v == "" else v) for k, v in record.items()}
            rows.append(_row(record, path.absolute().parent, where, from_text=True))
    return rows


def _read_jsonl(path: Path) -> list[ManifestRow]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                continue
            where = (path, line_no)
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ManifestError(*where, f"invalid JSON ({e.msg})") from None
            if not isinstance(record, dict):
                raise ManifestError(*where, f"expected a JSON object, got {type(record).__name__}")
            rows.append(_row(record, path.absolute().parent, where, from_text=False))
    return rows


def _read_json(path: Path) -> list[ManifestRow]:
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ManifestError(path, e.lineno, f"invalid JSON ({e.msg})") from None
    if isinstance(records, dict) and isinstance(records.get("rows"), list):
        records = records["rows"]
    if not isinstance(records, list):
        raise ManifestError(path, None, "a .json manifest holds a list of row objects (or {\"rows\": [...]})")
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise ManifestError(path, None, f"row {i}: expected a JSON object, got {type(record).__name__}")
        rows.append(_row(record, path.absolute().parent, (path, None), from_text=False))
    return rows


def _read_folder(path: Path, labels_from_parent: bool) -> list[ManifestRow]:
    from avlearn.io.scan import iter_media

    rows = []
    for media in iter_media(path):
        rel = Path(media).relative_to(path)
        label = rel.parent.name or None if labels_from_parent else None
        if labels_from_parent and label is None:
            raise ManifestError(path, None, f"{rel}: --labels-from-parent needs every file inside a class folder")
        rows.append(ManifestRow(path=os.path.abspath(media), label=label, extra={"id": rel.with_suffix("").as_posix()}))
    if not rows:
        raise ManifestError(path, None, "no video or audio files in this folder")
    return rows


def load_manifest(path: str | os.PathLike, *, labels_from_parent: bool = False) -> list[ManifestRow]:
    """Read a CSV, JSONL or JSON manifest, or list the media files of a folder.

    Args:
        path: a ``.csv`` (header row required, ``path`` column required), ``.jsonl`` or
            ``.json`` (a list of row objects) file, or a folder. Relative media paths are
            resolved against the file's folder.
        labels_from_parent: for a folder, label each file with its parent folder's name
            (class folders, as in UCF101's or Kinetics' downloads).

    Returns:
        The rows in file order (a folder: sorted by path, with an ``id`` extra field, the path
        relative to the folder without extension), with absolute paths. In a CSV, empty cells
        are None and a label made of digits becomes an int.

    Raises:
        ManifestError: the file is missing, a folder holds no media, or a row is malformed
            (the message names ``file:line`` and the reason).
    """
    path = Path(path)
    if path.is_dir():
        return _read_folder(path, labels_from_parent)
    fmt = _format_of(path)
    if not path.is_file():
        raise ManifestError(path, None, "no such manifest file")
    return {"csv": _read_csv, "jsonl": _read_jsonl, "json": _read_json}[fmt](path)


def _relative(media: str, base: Path) -> str:
    try:
        return os.path.relpath(media, base)
    except ValueError:  # another drive on Windows
        return media


def save_manifest(
    rows: Iterable[ManifestRow], path: str | os.PathLike, *, relative: bool = True
) -> None:
    """Write rows as a CSV, JSONL or JSON manifest (by ``path``'s extension).

    Args:
        rows: the rows to write.
        path: the manifest file; its folder is created if needed.
        relative: write media paths relative to the manifest's folder, so the folder can be
            moved as a whole. Relative paths in ``rows`` are taken as relative to the current
            working directory.
    """
    path = Path(path)
    fmt = _format_of(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    base = Path(os.path.abspath(path.parent))
    records = []
    for r in rows:
        media = os.path.abspath(r.path)
        clash = sorted(set(r.extra) & set(MANIFEST_FIELDS))
        if clash:
            raise ValueError(f"save_manifest: extra fields {clash} of {r.path} clash with manifest columns")
        extra = dict(r.extra)
        if relative and isinstance(extra.get("boxes"), str):
            extra["boxes"] = _relative(os.path.abspath(extra["boxes"]), base)
        records.append(
            {
                "path": _relative(media, base) if relative else media,
                "label": r.label,
                "start": r.start,
                "end": r.end,
                **extra,
            }
        )
    if fmt == "jsonl":
        with open(path, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
        return
    if fmt == "json":
        path.write_text(json.dumps(records, indent=1) + "\n", encoding="utf-8")
        return
    columns = list(MANIFEST_FIELDS)
    for rec in records:
        columns += [k for k in rec if k not in columns]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for rec in records:
            writer.writerow({k: ("" if rec.get(k) is None else rec[k]) for k in columns})
