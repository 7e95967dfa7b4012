"""``voxceleb2`` and ``lrs3``: talking-face datasets laid out as speaker/video/utterance trees.

VoxCeleb2 (Chung et al., Interspeech 2018): ``dev/mp4/<speaker id>/<youtube id>/<utt>.mp4`` and
``test/mp4/...`` (the audio release: ``dev/aac/.../<utt>.m4a``). Every utterance file is a
sample of split ``dev`` or ``test`` (the first folder below ROOT, or the folder above
``mp4``/``aac``); where both an ``.mp4`` and an ``.m4a`` exist the video is kept. Fields:
``speaker`` (the ``idNNNNN`` folder, also the label), ``video_id``, ``utterance``.

LRS3-TED (Afouras et al., arXiv 2018): ``pretrain/``, ``trainval/``, ``test/``, each
``<video id>/<utt>.mp4`` with ``<utt>.txt`` beside it (``Text:  THE WORDS``, ``Conf:``, then a
word table ``WORD START END ASDSCORE``). The transcripts are the annotations: an utterance whose
``.mp4`` is absent is ``missing``. Fields: ``video_id``, ``utterance``, ``text``, ``words``
(``[[word, start, end], ...]`` in seconds, when the table is present).
"""

from __future__ import annotations

import re
from pathlib import Path

from avlearn.data.prepare._core import Entry, PrepareError, annotation_files, register_preparer
from avlearn.io.scan import iter_media, media_kind

__all__ = ["prepare_voxceleb2", "prepare_lrs3", "read_lrs3_text"]

_SPEAKER = re.compile(r"^id\d+$")


@register_preparer("voxceleb2", "VoxCeleb2 trees {dev,test}/{mp4,aac}/<idNNNNN>/<video>/<utt>.mp4")
def prepare_voxceleb2(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of every utterance file under ``root``."""
    chosen: dict[tuple[str, str, str, str], str] = {}
    for media in iter_media(root):
        parts = Path(media).relative_to(root).parts
        if len(parts) < 3 or not _SPEAKER.match(parts[-3]):
            continue
        speaker, video, utt = parts[-3], parts[-2], Path(parts[-1]).stem
        above = [p for p in parts[:-3] if p.lower() not in ("mp4", "aac", "video", "audio")]
        split = above[-1].lower() if above else "all"
        key = (split, speaker, video, utt)
        if key not in chosen or (media_kind(media) == "video" and media_kind(chosen[key]) != "video"):
            chosen[key] = media
    if not chosen:
        raise PrepareError(root, "no VoxCeleb2 utterance (<idNNNNN>/<video>/<utt>.mp4) found")
    return [Entry(id=f"{spk}/{vid}/{utt}", split=split, labels=[spk], path=path,
                  extra={"speaker": spk, "video_id": vid, "utterance": utt})
            for (split, spk, vid, utt), path in sorted(chosen.items())]


def read_lrs3_text(path: Path) -> tuple[str, list[list]]:
    """(transcript, word table) of an LRS3 ``.txt`` file.

    Raises:
        PrepareError: no ``Text:`` line, or a malformed word-table row.
    """
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    text = next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("Text:")), None)
    if text is None:
        raise PrepareError(path, "no 'Text:' line (not an LRS3 transcript)")
    words, table = [], False
    for n, ln in enumerate(lines, 1):
        if ln.startswith("WORD START END"):
            table = True
            continue
        if table and ln.strip():
            cols = ln.split()
            try:
                words.append([cols[0], float(cols[1]), float(cols[2])])
            except (IndexError, ValueError):
                raise PrepareError(path, f"bad word-table row {ln.strip()!r}", n) from None
    return text, words


@register_preparer("lrs3", "LRS3 {pretrain,trainval,test}/<video>/<utt>.mp4 + .txt transcripts")
def prepare_lrs3(root: Path, annotations: Path, **_: object) -> list[Entry]:
    """Entries of every LRS3 transcript under ``annotations`` (default ``root``)."""
    base = annotations if annotations.is_dir() else annotations.parent
    files = annotation_files(annotations, "*.txt", keep=lambda p: len(p.relative_to(base).parts) >= 3,
                             required="LRS3 transcript (<split>/<video>/<utt>.txt)")
    entries = []
    for path in files:
        rel = path.relative_to(base)
        split, video, utt = rel.parts[-3], rel.parts[-2], path.stem
        text, words = read_lrs3_text(path)
        entries.append(Entry(id=f"{video}/{utt}", split=split.lower(), relative=(rel.with_suffix("").as_posix(),),
                             extra={"video_id": video, "utterance": utt, "text": text, "words": words}))
    return entries
