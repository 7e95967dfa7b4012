"""``audioset``: AudioSet (Gemmeke et al., ICASSP 2017) segment lists.

``balanced_train_segments.csv``, ``unbalanced_train_segments.csv``, ``eval_segments.csv`` as
published: three ``#`` header lines (creation date, counts, ``# YTID, start_seconds,
end_seconds, positive_labels``), then ``YTID, start_seconds, end_seconds, "mid1,mid2"``.
Class names come from ``class_labels_indices.csv`` (``index,mid,display_name``) or
``ontology.json`` (a list of ``{"id": mid, "name": ...}``) when either is found; otherwise the
labels stay machine ids. The split is the file name without ``_segments``
(``balanced_train``, ``unbalanced_train``, ``eval``). Media: ``{YTID}_{start}...``,
``Y{YTID}_{start}_{end}`` or the whole video ``{YTID}.<ext>``, any folder.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer

__all__ = ["prepare_audioset", "audioset_class_names"]


def audioset_class_names(annotations: Path) -> dict[str, str]:
    """mid -> display name, from ``class_labels_indices.csv`` or ``ontology.json`` (empty if neither)."""
    names: dict[str, str] = {}
    for path in annotation_files(annotations.parent if annotations.is_file() else annotations, "class_labels_indices.csv"):
        with open(path, newline="", encoding="utf-8") as fh:
            for rec in csv.DictReader(fh):
                names[rec["mid"].strip()] = rec["display_name"].strip()
    for path in annotation_files(annotations.parent if annotations.is_file() else annotations, "ontology.json"):
        try:
            for node in json.loads(path.read_text(encoding="utf-8")):
                names.setdefault(node["id"], node["name"])
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise PrepareError(path, f"not an AudioSet ontology (a list of {{id, name}}): {exc}") from None
    return names


def _read_segments(path: Path, names: dict[str, str]) -> list[Entry]:
    split = path.stem.removesuffix("_segments")
    entries = []
    with open(path, newline="", encoding="utf-8") as fh:
        lines = [(n, line) for n, line in enumerate(fh, 1) if line.strip() and not line.startswith("#")]
    for (n, _), rec in zip(lines, csv.reader([line for _, line in lines], skipinitialspace=True)):
        if len(rec) != 4:
            raise PrepareError(path, f"expected YTID, start_seconds, end_seconds, \"positive_labels\"; got {len(rec)} fields", n)
        try:
            start, end = float(rec[1]), float(rec[2])
        except ValueError:
            raise PrepareError(path, f"start/end {rec[1]!r}/{rec[2]!r} are not numbers", n) from None
        ytid = rec[0].strip()
        mids = [m.strip() for m in rec[3].split(",") if m.strip()]
        entries.append(Entry(id=f"{ytid}_{int(start)}", split=split, labels=[names.get(m, m) for m in mids],
                             segment=(start, end), youtube=ytid, stems=(f"{ytid}_{int(start)}", ytid, f"Y{ytid}"),
                             extra={"mids": mids}))
    return entries


@register_preparer("audioset", "AudioSet *_segments.csv (# headers; YTID, start, end, \"mids\"); names from class_labels_indices.csv/ontology.json")
def prepare_audioset(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of every ``*_segments.csv`` under ``annotations``."""
    files = annotation_files(annotations, "*_segments.csv", required="AudioSet *_segments.csv")
    names = audioset_class_names(annotations)
    return [e for p in files for e in _read_segments(p, names)]
