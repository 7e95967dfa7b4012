"""``music``: MUSIC / MUSIC-21 (Zhao et al., "The Sound of Pixels", ECCV 2018).

The published JSON lists (``MUSIC_solo_videos.json``, ``MUSIC_duet_videos.json``,
``MUSIC21_solo_videos.json``) map instruments to YouTube ids: ``{"videos": {"accordion":
["ytid", ...], ...}}``; duets are keyed by the two instruments (``"acoustic_guitar violin"``).
A combined ``{"videos": {"solo": {instrument: [ids]}, "duet": {pair: [ids]}}}`` is read too.
MUSIC has no official train/test split: the manifests are ``solo`` and ``duet`` (the paper
held out videos at random; ``avlearn make-lists`` freezes evaluation mixtures from a manifest).
Media: ``{ytid}.<ext>`` anywhere (e.g. ``solo/<instrument>/<ytid>.mp4``). A video listed under
several instruments or files is kept once per kind (first listing wins).
"""

from __future__ import annotations

import json
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer

__all__ = ["prepare_music"]


def _lists(path: Path) -> dict[str, dict[str, list[str]]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        videos = data["videos"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise PrepareError(path, f"not a MUSIC video list ({{\"videos\": {{instrument: [ids]}}}}): {exc}") from None
    if not isinstance(videos, dict):
        raise PrepareError(path, "\"videos\" must map instruments to lists of ids")
    if set(videos) <= {"solo", "duet"} and all(isinstance(v, dict) for v in videos.values()):
        return videos
    kind = "duet" if "duet" in path.name.lower() else "solo"
    return {kind: videos}


@register_preparer("music", "MUSIC / MUSIC21 JSON ({\"videos\": {instrument: [ids]}}), solo and duet; {ytid}.mp4")
def prepare_music(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of the MUSIC JSON lists under ``annotations``."""
    files = annotation_files(annotations, "MUSIC*.json", "music*.json", required="MUSIC*_videos.json")
    entries, seen = [], set()
    for path in files:
        for kind, groups in _lists(path).items():
            for key, ids in groups.items():
                if not isinstance(ids, list):
                    raise PrepareError(path, f"{kind}/{key}: expected a list of video ids")
                instruments = key.split() if kind == "duet" else [key]
                for vid in ids:
                    if (kind, vid) in seen:
                        continue
                    seen.add((kind, vid))
                    entries.append(Entry(id=vid, split=kind, labels=instruments, youtube=vid, stems=(vid,),
                                         extra={"kind": kind}))
    return entries
