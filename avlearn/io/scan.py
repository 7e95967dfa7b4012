"""Find media files in a folder tree by extension (one walk, sorted, no decoding).

Downloaders of the audio-visual datasets lay files out in many ways (flat folders, one folder
per class or per split, ``.mp4`` next to extracted ``.wav``); :func:`iter_media` lists every
file whose extension is a common video or audio container, in a deterministic order.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

__all__ = ["VIDEO_EXTENSIONS", "AUDIO_EXTENSIONS", "MEDIA_EXTENSIONS", "IMAGE_EXTENSIONS", "iter_media", "media_kind"]

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".flv", ".mpg", ".mpeg", ".3gp", ".ogv", ".ts", ".wmv")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".aac", ".ogg", ".opus")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
MEDIA_EXTENSIONS = VIDEO_EXTENSIONS + AUDIO_EXTENSIONS


def media_kind(path: str) -> str | None:
    """``"video"``, ``"audio"``, ``"image"`` by the file's extension, or None for other files."""
    ext = os.path.splitext(path)[1].lower()
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    if ext in IMAGE_EXTENSIONS:
        return "image"
    return None


def iter_media(root: str | os.PathLike, *, images: bool = False) -> Iterator[str]:
    """Every media file under ``root`` (any depth), sorted by path; hidden entries skipped.

    Args:
        root: the folder to walk (symbolic links to folders are followed).
        images: list still images (``.jpg``, ``.png``) too.

    Raises:
        NotADirectoryError: ``root`` is not a folder.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a folder")
    kinds = ("video", "audio", "image") if images else ("video", "audio")
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and media_kind(name) in kinds:
                yield os.path.join(folder, name)
