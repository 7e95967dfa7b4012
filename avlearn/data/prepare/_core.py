"""The builder behind ``avlearn prepare``: annotation entries -> media files -> manifests + report.

A dataset family is one function registered with :func:`register_preparer`. It reads the
dataset's published annotation files and yields :class:`Entry` objects (one per annotated
sample: an id, its split, its labels, its segment and the keys to find its media by). The
builder then, for every entry, finds the media in one :class:`~._index.MediaIndex` of the
download folder, probes it with :func:`avlearn.io.probe` (headers only), and writes

* ``OUT/<split>.jsonl`` -- the readable samples of each official split (an avlearn manifest);
* ``OUT/report.json`` -- per split: ``entries`` (annotated), ``found`` (written rows),
  ``missing`` (no file), ``unreadable`` (a file that does not probe, or has no audio or video
  stream), ``skipped`` (entries the annotation marks unused), plus the options used;
* ``OUT/missing.txt`` -- ``<split>\\t<id>`` per missing entry; ``OUT/unreadable.txt`` --
  ``<split>\\t<id>\\t<path>\\t<reason>``.

A missing or unreadable file is counted and listed, never fatal. An annotation file that cannot
be parsed raises :class:`PrepareError` naming the file and line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avlearn import io as avio
from avlearn.data.manifest import ManifestRow, save_manifest
from avlearn.data.prepare._index import Match, MediaIndex

__all__ = ["Entry", "PrepareError", "register_preparer", "list_preparers", "get_preparer", "prepare", "SPLIT_NAMES",
           "annotation_files", "segment_rows", "split_name"]

#: How annotation files name splits -> the manifest file names.
SPLIT_NAMES = {"training": "train", "train": "train", "validation": "val", "validate": "val", "val": "val",
               "testing": "test", "test": "test"}


def split_name(name: str) -> str:
    """A split as annotation files name it (``training``, ``validate``...) -> its manifest name."""
    return SPLIT_NAMES.get(name.strip().lower(), name.strip().lower())


class PrepareError(ValueError):
    """An annotation file cannot be read; the message names the file (and line) and the reason."""

    def __init__(self, path: str | os.PathLike, reason: str, line: int | None = None):
        self.path, self.reason, self.line = os.fspath(path), reason, line
        super().__init__(f"{self.path}{'' if line is None else f':{line}'}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason, self.line))


@dataclass(slots=True)
class Entry:
    """One annotated sample of a dataset, before its media is looked up.

    Attributes:
        id: the dataset's id of the sample (unique within its split).
        split: the split's manifest name (``train``, ``val``, ``test``, ...).
        labels: class names (empty when unlabelled); one name makes the row's ``label``.
        segment: ``(start, end)`` seconds of the sample in the source video, when annotated.
        youtube: the YouTube id to look the media up by (with ``segment[0]``), or None.
        stems: file names (no extension) to look the media up by, in order.
        relative: paths below the root (no extension) to look the media up by, in order.
        path: the media file itself, when the preparer found it by walking the tree.
        extra: dataset-specific fields copied to the row (boxes, speaker, segments, ...).
        skip: the annotation marks this entry unused (counted as ``skipped``).
    """

    id: str
    split: str
    labels: list[str] = field(default_factory=list)
    segment: tuple[float, float] | None = None
    youtube: str | None = None
    stems: tuple[str, ...] = ()
    relative: tuple[str, ...] = ()
    path: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    skip: bool = False


#: A preparer reads the annotation files under ``annotations`` and returns the entries.
Preparer = Callable[..., Iterable[Entry]]
_PREPARERS: dict[str, tuple[Preparer, str]] = {}


def register_preparer(name: str, summary: str) -> Callable[[Preparer], Preparer]:
    """Decorator: make ``fn(root, annotations, **options) -> entries`` the preparer ``name``."""

    def add(fn: Preparer) -> Preparer:
        if name in _PREPARERS:
            raise ValueError(f"register_preparer: {name!r} is registered twice")
        _PREPARERS[name] = (fn, summary)
        return fn

    return add


def list_preparers() -> dict[str, str]:
    """Registered dataset names -> one-line summaries, sorted by name."""
    return {k: _PREPARERS[k][1] for k in sorted(_PREPARERS)}


def get_preparer(name: str) -> Preparer:
    """The preparer registered as ``name``.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return _PREPARERS[name][0]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; known: {', '.join(sorted(_PREPARERS))}") from None


def _find(entry: Entry, index: MediaIndex) -> Match | None:
    if entry.path is not None:
        return Match(os.path.abspath(entry.path))
    if entry.youtube is not None:
        hit = index.youtube(entry.youtube, entry.segment[0] if entry.segment else None)
        if hit:
            return hit
    return index.relative(*entry.relative) or index.stem(*entry.stems)


def _probe(path: str) -> tuple[avio.MediaInfo | None, str | None]:
    try:
        info = avio.probe(path)
    except avio.MediaError as exc:
        return None, exc.reason
    if info.video is None and info.audio is None:
        return None, "no audio or video stream"
    return info, None


def segment_rows(rows: Iterable[ManifestRow]) -> list[ManifestRow]:
    """One trimmed row per annotated segment of the rows that have ``segments`` (temporal
    annotations: ActivityNet, THUMOS, AVE): ``start``/``end`` the segment on the file's clock,
    ``label`` its class, ``video_id`` the row's ``id``, ``segment_index`` its position."""
    out = []
    for row in rows:
        for k, seg in enumerate(row.extra.get("segments") or ()):
            if seg["end"] <= seg["start"]:
                continue
            out.append(ManifestRow(path=row.path, label=seg["label"], start=float(seg["start"]), end=float(seg["end"]),
                                   extra={"id": f"{row.extra['id']}#{k}", "video_id": row.extra["id"], "labels": [seg["label"]],
                                          "segment_index": k, "split": row.extra.get("split")}))
    return out


def annotation_files(annotations: Path, *patterns: str, keep: Callable[[Path], bool] | None = None,
                     required: str | None = None) -> list[Path]:
    """The annotation files: ``annotations`` itself when it is a file, else every file below it
    matching one of the glob ``patterns`` (sorted), filtered by ``keep``.

    Raises:
        PrepareError: none found and ``required`` (what to name in the message) is given.
    """
    if annotations.is_file():
        found = [annotations]
    else:
        found = sorted({p for pat in patterns for p in annotations.rglob(pat) if p.is_file()})
    if keep is not None:
        found = [p for p in found if keep(p)]
    if not found and required:
        raise PrepareError(annotations, f"no {required} found")
    return found


def _row(entry: Entry, match: Match, info: avio.MediaInfo | None) -> ManifestRow:
    start = end = None
    if entry.segment is not None and not match.trimmed:
        start, end = float(entry.segment[0]), float(entry.segment[1])
    if start is not None and info is not None and info.duration > 0 and start >= info.duration:
        start = end = None  # a clip that was cut to the segment without saying so in its name
    extra: dict[str, Any] = {"id": entry.id, "split": entry.split, "labels": list(entry.labels)}
    if entry.youtube is not None:
        extra["video_id"] = entry.youtube
    if entry.segment is not None:
        extra["segment"] = [float(entry.segment[0]), float(entry.segment[1])]
    if info is not None:
        extra.update(media_duration=round(info.duration, 6), has_video=info.video is not None, has_audio=info.audio is not None)
    extra.update(entry.extra)
    label = entry.labels[0] if len(entry.labels) == 1 else None
    if end is not None and end <= (start or 0.0):
        start = end = None  # an empty annotated segment: the whole file
    return ManifestRow(path=match.path, label=label, start=start, end=end, extra=extra)


def prepare(
    dataset: str,
    root: str | os.PathLike,
    out: str | os.PathLike,
    *,
    annotations: str | os.PathLike | None = None,
    probe: bool = True,
    workers: int = 4,
    **options: Any,
) -> dict[str, Any]:
    """Build the manifests of ``dataset`` from a download folder.

    Args:
        dataset: a registered name (:func:`list_preparers`).
        root: the download folder; media is found anywhere below it.
        out: the output folder (created): ``<split>.jsonl``, ``report.json``, ``missing.txt``,
            ``unreadable.txt``.
        annotations: a file or folder holding the annotation files (default: ``root``).
        probe: check every found file with :func:`avlearn.io.probe` (False trusts the files:
            nothing is counted unreadable, and rows carry no ``duration``).
        workers: threads probing files.
        **options: dataset options (e.g. ``labels_from_parent``, ``fold``).

    Returns:
        The report (also written to ``report.json``).

    Raises:
        KeyError: unknown dataset.
        PrepareError: an annotation file is malformed, or none is found.
        NotADirectoryError: ``root`` is not a folder.
    """
    fn = get_preparer(dataset)
    root = Path(root).absolute()
    if not root.is_dir():
        raise NotADirectoryError(f"{root}: not a folder")
    ann = Path(annotations).absolute() if annotations is not None else root
    entries = list(fn(root=root, annotations=ann, **options))
    index = MediaIndex(root, images=dataset in ("flickr-soundnet", "vggss"))
    matches = [None if e.skip else _find(e, index) for e in entries]
    paths = sorted({m.path for m in matches if m is not None})
    if probe:
        with ThreadPoolExecutor(max(1, int(workers))) as pool:
            probed = dict(zip(paths, pool.map(_probe, paths)))
    else:
        probed = {p: (None, None) for p in paths}

    splits: dict[str, dict[str, Any]] = {}
    rows: dict[str, list[ManifestRow]] = {}
    missing, unreadable = [], []
    for entry, match in zip(entries, matches):
        counts = splits.setdefault(entry.split, {"entries": 0, "found": 0, "missing": 0, "unreadable": 0, "skipped": 0})
        rows.setdefault(entry.split, [])
        counts["entries"] += 1
        if entry.skip:
            counts["skipped"] += 1
        elif match is None:
            counts["missing"] += 1
            missing.append(f"{entry.split}\t{entry.id}")
        elif probed[match.path][1] is not None:
            counts["unreadable"] += 1
            unreadable.append(f"{entry.split}\t{entry.id}\t{match.path}\t{probed[match.path][1]}")
        else:
            if entry.path is None and dataset in ("flickr-soundnet", "vggss"):
                image = index.image(entry.id)
                if image is not None:
                    entry.extra.setdefault("image", os.path.relpath(image, Path(out).absolute()))
            counts["found"] += 1
            rows[entry.split].append(_row(entry, match, probed[match.path][0]))

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    manifests = {}
    for split in sorted(rows):
        if splits[split]["entries"] == splits[split]["skipped"]:
            continue  # a split the annotation marks unused (HMDB51's 0 entries): counted only
        save_manifest(rows[split], out / f"{split}.jsonl")
        manifests[split] = f"{split}.jsonl"
        segs = segment_rows(rows[split])
        if segs:
            save_manifest(segs, out / f"{split}_segments.jsonl")
            manifests[f"{split}_segments"] = f"{split}_segments.jsonl"
    (out / "missing.txt").write_text("".join(f"{m}\n" for m in missing), encoding="utf-8")
    (out / "unreadable.txt").write_text("".join(f"{u}\n" for u in unreadable), encoding="utf-8")
    report = {"dataset": dataset, "root": str(root), "annotations": str(ann), "media_files": len(index),
              "probed": bool(probe), "options": {k: v for k, v in options.items() if v is not None},
              "splits": {k: splits[k] for k in sorted(splits)}, "manifests": manifests}
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report
