"""The one base class of every error avlearn reports to a user, and how the command maps it to
an exit status.

Every layer may import this module (it imports nothing of avlearn). ``avlearn`` commands catch
:class:`AvlearnError` in one place (:func:`avlearn.cli.main`) and print one line,
``avlearn <command>: <message>``, with exit status :attr:`AvlearnError.exit_code`: 2 for a
usage error (an invalid option, recipe or weights file given by the user), 1 for a data error
(a file that cannot be read or written, a training run that went wrong). Operating-system
errors of a full, read-only or forbidden disk are described in words by :func:`describe_os_error`.
"""

from __future__ import annotations

import errno
import os

__all__ = ["AvlearnError", "UsageError", "DataError", "TrainingError", "describe_os_error", "short", "summary"]

# How much of a user-supplied value an error message quotes.
MAX_QUOTE = 80


def short(value: object, limit: int = MAX_QUOTE) -> str:
    """``repr(value)`` cut to at most ``limit`` characters (``...`` and the full length appended).

    Error messages quote the values they reject; a hostile or huge value must not make the
    message itself huge.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def summary(exc: BaseException, limit: int = 120) -> str:
    """``"Type: first line of the message"``, the line cut to ``limit`` characters: how an
    error message quotes a library's exception (torch's unpickling errors run to paragraphs)."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first[:limit]}" + ("..." if len(first) > limit else "")


class AvlearnError(Exception):
    """Base class of the errors avlearn reports in one line.

    Attributes:
        exit_code: the ``avlearn`` command's exit status for this error (1: data, 2: usage).
    """

    exit_code: int = 1


class UsageError(AvlearnError):
    """The user asked for something invalid (an option, a recipe value, an output path)."""

    exit_code = 2


class DataError(AvlearnError):
    """Input or output data is unusable (unreadable, missing, inconsistent)."""

    exit_code = 1


class TrainingError(AvlearnError):
    """A training run cannot produce a meaningful result (no optimizer step, losses that stay
    non-finite, a process of a distributed run that stopped answering)."""

    exit_code = 1


_OS_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
}


def describe_os_error(exc: OSError) -> str:
    """One line for an OSError: the file, then what happened in words for a full, read-only
    or forbidden disk, else the system's message.

    >>> describe_os_error(OSError(28, "No space left on device", "out/w.pt"))
    'out/w.pt: disk full (No space left on device)'
    """
    reason = _OS_REASONS.get(exc.errno or -1)
    if reason is None:
        lines = str(exc).strip().splitlines()
        text = exc.strerror or (lines[0] if lines else type(exc).__name__)
        where = os.fspath(exc.filename) if isinstance(exc.filename, (str, os.PathLike)) else ""
        return f"{where + ': ' if where else ''}{text[:200]}"
    where = exc.filename if exc.filename is not None else ""
    where = os.fspath(where) if isinstance(where, os.PathLike) else str(where)
    detail = f" ({exc.strerror})" if exc.strerror else ""
    return f"{where + ': ' if where else ''}{reason}{detail}"
