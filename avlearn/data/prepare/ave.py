"""``ave``: the Audio-Visual Event dataset (Tian et al., ECCV 2018).

``Annotations.txt`` (and the split files ``trainSet.txt``, ``valSet.txt``, ``testSet.txt`` in
the same format): a header line ``Category&VideoID&Quality&StartTime&EndTime``, then one
``&``-separated line per video, e.g. ``Church bell&RUhOCu3LNXM&good&0&10``: the event class and
the whole seconds ``[StartTime, EndTime)`` of the 10 s video where it is both seen and heard.
When the split files are present they give the ``train``/``val``/``test`` manifests; otherwise
``Annotations.txt`` gives ``all``. Media: ``{VideoID}.mp4`` anywhere. Rows: ``label`` the
category, ``quality``, ``segments`` ``[{start, end, label}]`` (the event), and a
``<split>_segments.jsonl`` of the events as trimmed rows.
"""

from __future__ import annotations

from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer

__all__ = ["prepare_ave", "read_ave"]

_SPLITS = {"trainSet.txt": "train", "valSet.txt": "val", "testSet.txt": "test"}


def read_ave(path: Path, split: str) -> list[Entry]:
    """Entries of one AVE annotation file.

    Raises:
        PrepareError: a line without five ``&`` fields or with non-numeric times.
    """
    entries = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("Category&"):
            continue
        fields = line.strip().split("&")
        if len(fields) != 5:
            raise PrepareError(path, f"expected Category&VideoID&Quality&StartTime&EndTime, got {line.strip()!r}", n)
        cat, vid, quality, s, e = (f.strip() for f in fields)
        try:
            start, end = float(s), float(e)
        except ValueError:
            raise PrepareError(path, f"StartTime/EndTime {s!r}/{e!r} are not numbers", n) from None
        entries.append(Entry(id=vid, split=split, labels=[cat], stems=(vid,),
                             extra={"quality": quality, "segments": [{"start": start, "end": end, "label": cat}]}))
    return entries


@register_preparer("ave", "AVE Annotations.txt / trainSet.txt valSet.txt testSet.txt (Category&VideoID&Quality&StartTime&EndTime)")
def prepare_ave(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of the AVE split files (or of ``Annotations.txt`` when they are absent)."""
    if annotations.is_file():
        return read_ave(annotations, _SPLITS.get(annotations.name, "all"))
    split_files = annotation_files(annotations, *_SPLITS, keep=lambda p: p.name in _SPLITS)
    if split_files:
        return [e for p in split_files for e in read_ave(p, _SPLITS[p.name])]
    files = annotation_files(annotations, "Annotations.txt", required="AVE Annotations.txt or trainSet/valSet/testSet.txt")
    return read_ave(files[0], "all")
