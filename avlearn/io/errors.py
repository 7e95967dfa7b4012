"""Typed media errors. Every message names the file and the reason.

``avlearn.io.DecodeError: clips/a.mp4: no audio stream`` is the shape users see; nothing in
avlearn.io lets a bare FFmpeg exception escape.
"""

from __future__ import annotations

import os

from avlearn.errors import DataError

__all__ = [
    "MediaError",
    "CorruptMediaError",
    "MissingStreamError",
    "ClipOutOfRangeError",
    "DecodeError",
    "EncodeError",
]


class MediaError(DataError):
    """Base class of every error avlearn.io raises about a media file (an
    :class:`avlearn.errors.DataError`: exit status 1 in the ``avlearn`` command).

    Attributes:
        path: the file the error is about.
        reason: a short human-readable reason.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # picklable across DataLoader workers
        return (type(self), (self.path, self.reason))


class CorruptMediaError(MediaError):
    """The file is missing, empty, not a media container, or its data cannot be decoded."""


DecodeError = CorruptMediaError


class MissingStreamError(MediaError):
    """The file has no stream of the kind asked for (e.g. no audio stream)."""


class ClipOutOfRangeError(MediaError):
    """The requested [start, start + duration) does not overlap the media at all."""


class EncodeError(MediaError):
    """Writing a file failed (bad arguments, unknown container, codec unavailable)."""
