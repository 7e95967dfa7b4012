"""``activitynet`` and ``thumos``: untrimmed videos with labelled temporal segments.

ActivityNet v1.2/v1.3 (Caba Heilbron et al., CVPR 2015), ``activity_net.v1-3.min.json``:
``{"database": {"<id>": {"subset": "training"|"validation"|"testing", "duration": s, "url":
..., "annotations": [{"segment": [start, end], "label": "..."}]}}}``. Media: ``v_<id>.<ext>``
(the common download name) or ``<id>.<ext>``, anywhere.

THUMOS'14 (Jiang et al., 2014) temporal annotations: one text file per class and set,
``<Class>_val.txt`` / ``<Class>_test.txt``, each line ``<video name> <start> <end>`` (seconds);
``Ambiguous_*.txt`` marks spans excluded from scoring and is kept as ``ambiguous``, not as
segments. The JSON variant of the annotations (the ActivityNet layout above, subsets
``validation``/``test``) is read too. Media: ``<video name>.<ext>``
(``video_validation_0000051.mp4``), anywhere.

Rows are whole videos (``start``/``end`` empty) with ``labels`` (the classes present, sorted),
``segments`` ``[{start, end, label}]`` in time order and ``annotated_duration`` (ActivityNet);
a ``<split>_segments.jsonl`` holds one trimmed row per segment, for clip classification.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer, split_name

__all__ = ["prepare_activitynet", "prepare_thumos", "read_segment_json"]


def read_segment_json(path: Path) -> list[Entry]:
    """Entries of an ActivityNet-layout JSON (``database`` -> id -> subset, annotations).

    Raises:
        PrepareError: not that layout (the message says which part is wrong).
    """
    try:
        database = json.loads(path.read_text(encoding="utf-8"))["database"]
    except json.JSONDecodeError as exc:
        raise PrepareError(path, f"invalid JSON ({exc.msg})", exc.lineno) from None
    except (KeyError, TypeError):
        raise PrepareError(path, "no \"database\" object (ActivityNet layout)") from None
    entries = []
    for vid, item in database.items():
        try:
            segs = [{"start": float(a["segment"][0]), "end": float(a["segment"][1]), "label": str(a["label"])}
                    for a in item.get("annotations", [])]
            subset = split_name(item["subset"])
        except (KeyError, TypeError, ValueError, IndexError):
            raise PrepareError(path, f"video {vid}: expected subset and annotations [{{segment: [s, e], label}}]") from None
        segs.sort(key=lambda s: (s["start"], s["end"]))
        extra = {"segments": segs}
        if "duration" in item:
            extra["annotated_duration"] = float(item["duration"])
        entries.append(Entry(id=vid, split=subset, labels=sorted({s["label"] for s in segs}),
                             stems=(f"v_{vid}", vid), extra=extra))
    return entries


@register_preparer("activitynet", "ActivityNet JSON (database -> id -> subset, annotations [{segment, label}]); v_<id>.mp4")
def prepare_activitynet(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of the ActivityNet JSON under ``annotations``."""
    files = annotation_files(annotations, "*.json", keep=_has_database, required="ActivityNet JSON (with a \"database\" object)")
    return [e for p in files for e in read_segment_json(p)]


def _has_database(path: Path) -> bool:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return '"database"' in fh.read(4096)


_THUMOS = re.compile(r"^(?P<cls>.+)_(?P<set>val|test)\.txt$")


@register_preparer("thumos", "THUMOS'14 <Class>_val.txt / <Class>_test.txt (video start end), or the JSON variant")
def prepare_thumos(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of the THUMOS'14 per-class annotation files (or the JSON variant)."""
    files = annotation_files(annotations, "*_val.txt", "*_test.txt", keep=lambda p: bool(_THUMOS.match(p.name)))
    if not files:
        json_files = annotation_files(annotations, "*.json", keep=_has_database,
                                      required="THUMOS <Class>_val.txt / <Class>_test.txt or JSON annotations")
        return [e for p in json_files for e in read_segment_json(p)]
    videos: dict[tuple[str, str], dict] = {}
    for path in files:
        m = _THUMOS.match(path.name)
        cls, split = m["cls"], m["set"]
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            cols = line.split()
            if not cols:
                continue
            try:
                name, start, end = cols[0], float(cols[1]), float(cols[2])
            except (IndexError, ValueError):
                raise PrepareError(path, f"expected '<video> <start> <end>', got {line.strip()!r}", n) from None
            rec = videos.setdefault((split, name), {"segments": [], "ambiguous": []})
            if cls == "Ambiguous":
                rec["ambiguous"].append([start, end])
            else:
                rec["segments"].append({"start": start, "end": end, "label": cls})
    entries = []
    for (split, name), rec in sorted(videos.items()):
        if not rec["segments"]:
            continue  # only ambiguous spans: nothing to learn or score
        rec["segments"].sort(key=lambda s: (s["start"], s["end"]))
        rec["ambiguous"].sort()
        entries.append(Entry(id=name, split=split, labels=sorted({s["label"] for s in rec["segments"]}), stems=(name,),
                             extra=rec))
    return entries
