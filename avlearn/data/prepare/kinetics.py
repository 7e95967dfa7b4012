"""``kinetics``: Kinetics-400/600/700 (Kay et al., arXiv 2017; Carreira et al. 2018, 2019).

Annotation CSVs as published (``train.csv``, ``validate.csv``, ``test.csv``, or the combined
``kinetics_400_*.csv``), header ``label,youtube_id,time_start,time_end,split`` (later
releases add ``is_cc``; the test CSV may lack ``label``). A clip is the 10 s segment
``[time_start, time_end]`` of YouTube video ``youtube_id``. Media is found as the download
scripts name it, ``{youtube_id}_{time_start:06d}_{time_end:06d}.mp4`` (trimmed, any folder:
``train/<label>/...`` or flat), or as the whole video ``{youtube_id}.<ext>`` (then the row's
``start``/``end`` cut the segment). The split comes from the ``split`` column (``validate``
becomes ``val``), else from the file name.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer, split_name

__all__ = ["prepare_kinetics", "read_kinetics_csv"]

_REQUIRED = ("youtube_id", "time_start", "time_end")


def read_kinetics_csv(path: Path) -> list[Entry]:
    """Entries of one Kinetics annotation CSV.

    Raises:
        PrepareError: a missing column or a non-numeric time (file:line named).
    """
    entries = []
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        head = [h.strip() for h in reader.fieldnames or []]
        if any(c not in head for c in _REQUIRED):
            raise PrepareError(path, f"header {head} lacks one of {list(_REQUIRED)}", 1)
        reader.fieldnames = head
        default_split = split_name(path.stem.split("_")[-1])
        for rec in reader:
            try:
                start, end = float(rec["time_start"]), float(rec["time_end"])
            except (TypeError, ValueError):
                raise PrepareError(path, f"time_start/time_end {rec['time_start']!r}/{rec['time_end']!r} are not numbers",
                                   reader.line_num) from None
            ytid = rec["youtube_id"].strip()
            label = (rec.get("label") or "").strip()
            split = split_name(rec.get("split") or default_split)
            clip_id = f"{ytid}_{int(start):06d}_{int(end):06d}"
            entries.append(Entry(id=clip_id, split=split, labels=[label] if label else [], segment=(start, end),
                                 youtube=ytid, stems=(clip_id, ytid)))
    return entries


@register_preparer("kinetics", "Kinetics CSVs (label,youtube_id,time_start,time_end,split); {ytid}_{start:06d}_{end:06d}.mp4")
def prepare_kinetics(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of every Kinetics CSV under ``annotations``."""
    files = annotation_files(annotations, "*.csv", keep=_is_kinetics,
                             required="Kinetics CSV (header label,youtube_id,time_start,time_end,split)")
    return [e for p in files for e in read_kinetics_csv(p)]


def _is_kinetics(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        head = fh.readline()
    return all(c in head for c in _REQUIRED)
