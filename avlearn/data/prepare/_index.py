"""One pass over a download folder: every media file, findable by stem, relative path or
YouTube id and segment start.

Downloaders of YouTube-sourced datasets name a clip after its video id and the segment it was
cut from: ``{ytid}_{start:06d}_{end:06d}.mp4`` (the Kinetics download scripts),
``{ytid}_{start:06d}.mp4`` or ``{ytid}_{start}.mp4`` (VGGSound), ``Y{ytid}_{start}_{end}.wav``
or ``{ytid}_{start:.3f}.wav`` (AudioSet tools), or just ``{ytid}.mp4`` for a whole video.
:class:`MediaIndex` answers "which file holds this id / this segment" whatever the nesting and
the extension, and says whether the file is already trimmed to the segment (its clock starts
at the segment's start) or holds the whole video (the segment is cut from it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import PurePath

from avlearn.io.scan import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, iter_media

__all__ = ["MediaIndex", "Match"]

_YT = re.compile(r"^(?:Y)?(?P<id>[A-Za-z0-9_-]{11})(?:_(?P<s>\d+(?:\.\d+)?)(?:_(?P<e>\d+(?:\.\d+)?))?)?$")
_RANK = {ext: i for i, ext in enumerate(VIDEO_EXTENSIONS + AUDIO_EXTENSIONS)}


@dataclass(frozen=True)
class Match:
    """A file found for an annotation entry.

    Attributes:
        path: the media file (absolute).
        trimmed: the file holds only the annotated segment (its name carries the segment's
            start), so the segment starts at 0 on the file's clock.
    """

    path: str
    trimmed: bool = False


def _best(paths: list[str]) -> str:
    """Video before audio, then the common containers first, then the path (deterministic)."""
    return min(paths, key=lambda p: (_RANK.get(os.path.splitext(p)[1].lower(), 99), p))


class MediaIndex:
    """Every media file under ``root``, indexed once.

    Args:
        root: the download folder.
        images: index still images too (:meth:`image`), for datasets annotated on frames.
    """

    def __init__(self, root: str | os.PathLike, *, images: bool = False):
        self.root = os.path.abspath(os.fspath(root))
        self._stem: dict[str, list[str]] = {}
        self._rel: dict[str, list[str]] = {}
        self._yt: dict[tuple[str, int | None], list[str]] = {}
        self._images: dict[str, list[str]] = {}
        self.files = 0
        for path in iter_media(self.root, images=images):
            rel = PurePath(os.path.relpath(path, self.root)).with_suffix("").as_posix()
            stem = PurePath(path).stem
            if os.path.splitext(path)[1].lower() in (".jpg", ".jpeg", ".png"):
                self._images.setdefault(stem, []).append(path)
                continue
            self.files += 1
            self._stem.setdefault(stem, []).append(path)
            self._rel.setdefault(rel, []).append(path)
            m = _YT.match(stem)
            if m:
                start = None if m["s"] is None else int(float(m["s"]))
                self._yt.setdefault((m["id"], start), []).append(path)

    def __len__(self) -> int:
        return self.files

    def stem(self, *names: str) -> Match | None:
        """The file whose name (without extension) is the first of ``names`` found."""
        for name in names:
            if name in self._stem:
                return Match(_best(self._stem[name]))
        return None

    def relative(self, *names: str) -> Match | None:
        """The file at ``root/<name>.<any extension>`` for the first of ``names`` found."""
        for name in names:
            if name in self._rel:
                return Match(_best(self._rel[name]))
        return None

    def youtube(self, ytid: str, start: float | None = None) -> Match | None:
        """The clip of YouTube video ``ytid`` cut at ``start`` s (whole seconds; trimmed), else
        the whole video (a file named by the id alone), else None."""
        if start is not None:
            hit = self._yt.get((ytid, int(float(start))))
            if hit:
                return Match(_best(hit), trimmed=True)
        hit = self._yt.get((ytid, None)) or self._stem.get(ytid) or self._stem.get(f"v_{ytid}")
        return Match(_best(hit)) if hit else None

    def image(self, name: str) -> str | None:
        """A still image named ``name`` (any image extension), or None."""
        hit = self._images.get(name)
        return min(hit) if hit else None
