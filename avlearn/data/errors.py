"""Typed errors of the data layer: a dataset file that is missing or not in the expected format."""

from __future__ import annotations

import os

__all__ = ["WorldFormatError"]


class WorldFormatError(ValueError):
    """A world file is missing, unreadable or not in the expected format.

    The message names the file and the reason, e.g. ``OUT/world.json: version 9 is newer
    than this avlearn reads (1)``.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):
        return (type(self), (self.path, self.reason))
