"""``folder``: any tree of videos (your own recordings, a class-per-folder download).

Every video or audio file below ROOT is a sample; its id is its path relative to ROOT without
extension. When the top-level folders are named like splits (``train``, ``val``/``validation``,
``test``), each becomes a manifest; otherwise every file goes to ``all.jsonl``. With
``labels_from_parent`` a file's label is its parent folder's name (UCF101-style class
folders, Kinetics downloads sorted by class).
"""

from __future__ import annotations

from pathlib import Path

from avlearn.data.prepare._core import SPLIT_NAMES, Entry, PrepareError, register_preparer
from avlearn.io.scan import iter_media

__all__ = ["prepare_folder"]


@register_preparer("folder", "any tree of videos; top folders train/val/test become splits; --labels-from-parent")
def prepare_folder(root: Path, annotations: Path, *, labels_from_parent: bool = False, **_: object) -> list[Entry]:
    """Entries of every media file under ``root`` (``annotations`` is not used)."""
    files = [Path(p) for p in iter_media(root)]
    tops = {p.relative_to(root).parts[0].lower() for p in files if len(p.relative_to(root).parts) > 1}
    by_split = bool(tops) and tops <= set(SPLIT_NAMES) and all(len(p.relative_to(root).parts) > 1 for p in files)
    entries = []
    for p in files:
        rel = p.relative_to(root)
        split = SPLIT_NAMES[rel.parts[0].lower()] if by_split else "all"
        labels = []
        if labels_from_parent:
            inner = rel.parts[1:] if by_split else rel.parts
            if len(inner) < 2:
                raise PrepareError(p, "--labels-from-parent: the file is not inside a class folder")
            labels = [rel.parent.name]
        entries.append(Entry(id=rel.with_suffix("").as_posix(), split=split, labels=labels, path=str(p)))
    return entries
