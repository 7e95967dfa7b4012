"""``vggsound``: VGGSound (Chen et al., ICASSP 2020).

``vggsound.csv`` as published: no header, one line per clip ``youtube_id,start_seconds,label,
split`` (split ``train`` or ``test``); a clip is the 10 s from ``start_seconds``. Media is
found as the usual downloads name it, ``{youtube_id}_{start:06d}.mp4`` or
``{youtube_id}_{start}.mp4`` (trimmed), or the whole video ``{youtube_id}.<ext>``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer, split_name

__all__ = ["prepare_vggsound", "CLIP_SECONDS"]

CLIP_SECONDS = 10.0


@register_preparer("vggsound", "VGGSound vggsound.csv (youtube_id,start_seconds,label,split); {ytid}_{start:06d}.mp4")
def prepare_vggsound(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of ``vggsound.csv``."""
    files = annotation_files(annotations, "vggsound*.csv", required="vggsound.csv")
    entries = []
    for path in files:
        with open(path, newline="", encoding="utf-8") as fh:
            for n, rec in enumerate(csv.reader(fh), 1):
                if not rec or (n == 1 and rec[0].strip().lower() in ("youtube_id", "# youtube_id", "ytid")):
                    continue  # a header some copies add
                if len(rec) != 4:
                    raise PrepareError(path, f"expected youtube_id,start_seconds,label,split; got {len(rec)} fields", n)
                try:
                    start = float(rec[1])
                except ValueError:
                    raise PrepareError(path, f"start_seconds {rec[1]!r} is not a number", n) from None
                ytid = rec[0].strip()
                clip_id = f"{ytid}_{int(start):06d}"
                entries.append(Entry(id=clip_id, split=split_name(rec[3]), labels=[rec[2].strip()],
                                     segment=(start, start + CLIP_SECONDS), youtube=ytid,
                                     stems=(clip_id, f"{ytid}_{int(start)}", ytid)))
    return entries
