"""Reusable argparse types and output-path checks for the ``avlearn`` commands.

Every option is validated where it is parsed, so a bad value ends the command with argparse's
usage message and exit status 2 before anything is read or computed::

    p.add_argument("--step", type=positive_float(maximum=10.0))
    p.add_argument("--size", type=positive_int(maximum=4096), nargs=2)
    p.add_argument("--device", type=device)

Output paths are checked after parsing by :func:`check_outputs` (called once in
:func:`avlearn.cli.main` for every command): a command declares its inputs and outputs with
``parser.set_defaults(input_args=(...), output_args=(...), output_dir_args=(...))``; an
output equal to an input (compared after resolving links) is refused, an existing output file is refused unless the
command has ``--overwrite`` and it was given, and an output folder that cannot be written is
reported in one line.
"""

from __future__ import annotations

import argparse
import math
import os
from typing import Callable

from avlearn.errors import UsageError, short

__all__ = [
    "positive_int",
    "nonnegative_int",
    "positive_float",
    "finite_float",
    "unit_float",
    "int_range",
    "with_suffix",
    "device",
    "check_outputs",
    "OutputPathError",
]


class OutputPathError(UsageError):
    """An output path would overwrite an input or an existing file, or cannot be written."""


def _int_in(lo: int, hi: int | None, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {short(text)}") from None
        if value < lo or (hi is not None and value > hi):
            bound = f" and <= {hi}" if hi is not None else ""
            raise argparse.ArgumentTypeError(f"must be >= {lo}{bound}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in "invalid <name> value" messages
    return parse


def positive_int(maximum: int | None = None) -> Callable[[str], int]:
    """An integer ``1 <= x <= maximum``."""
    return _int_in(1, maximum, "a positive integer")


def nonnegative_int(maximum: int | None = None) -> Callable[[str], int]:
    """An integer ``0 <= x <= maximum``."""
    return _int_in(0, maximum, "an integer >= 0")


def _float_in(lo: float | None, hi: float | None, *, open_lo: bool, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {short(text)}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
        if lo is not None and (value <= lo if open_lo else value < lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if open_lo else '>='} {lo:g}, got {value:g}")
        if hi is not None and value > hi:
            raise argparse.ArgumentTypeError(f"must be <= {hi:g}, got {value:g}")
        return value

    parse.__name__ = what
    return parse


def int_range(lo: int, hi: int) -> Callable[[str], int]:
    """An integer ``lo <= x <= hi``."""
    return _int_in(lo, hi, f"an integer from {lo} to {hi}")


def positive_float(maximum: float | None = None) -> Callable[[str], float]:
    """A finite number ``0 < x <= maximum``."""
    return _float_in(0.0, maximum, open_lo=True, what="a positive number")


def finite_float(minimum: float | None = None, maximum: float | None = None) -> Callable[[str], float]:
    """A finite number ``minimum <= x <= maximum``."""
    return _float_in(minimum, maximum, open_lo=False, what="a finite number")


def unit_float(text: str) -> float:
    """A finite number in ``[0, 1]`` (a weight, a probability, a blend factor)."""
    return _float_in(0.0, 1.0, open_lo=False, what="a number in [0, 1]")(text)


def with_suffix(suffix: str) -> Callable[[str], str]:
    """A path that gets ``suffix`` appended when it lacks it (the name the writer really uses,
    e.g. ``np.savez`` adds ``.npz``), so reports and checks name the file written."""

    def parse(text: str) -> str:
        if not text.strip():
            raise argparse.ArgumentTypeError("expected a path, got an empty string")
        return text if text.endswith(suffix) else text + suffix

    parse.__name__ = f"{suffix} path"
    return parse


def device(text: str) -> str:
    """``cpu``, ``cuda`` or ``cuda:N`` naming a device this machine has."""
    name = text.strip().lower()
    if name == "cpu":
        return name
    if name == "cuda" or name.startswith("cuda:"):
        import torch

        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = 0
        if name != "cuda":
            try:
                index = int(name.split(":", 1)[1])
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {short(text)}") from None
        if index < 0 or index >= count:
            have = f"{count} CUDA device(s)" if count else "no CUDA device"
            raise argparse.ArgumentTypeError(f"{text}: this machine has {have}")
        return name
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {short(text)}")


def _resolved(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _as_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [os.fspath(v) for v in value if v is not None]
    return [os.fspath(value)]


def _writable_dir(folder: str) -> str | None:
    """The reason ``folder`` (or the nearest existing parent) cannot receive files, or None."""
    probe = folder
    while probe and not os.path.exists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    probe = probe or "."
    if not os.path.isdir(probe):
        return f"{probe} is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe}: no permission to write there (or a read-only file system)"
    return None


def check_outputs(args: argparse.Namespace) -> None:
    """Check the output paths a command declared (module docstring).

    ``args.input_args`` / ``args.output_args`` / ``args.output_dir_args`` name attributes of
    ``args`` holding input paths, output file paths and output folders (an option whose
    writer appends a suffix parses with :func:`with_suffix`, so the path checked is the path
    written).

    Raises:
        OutputPathError: an output equals an input, an output file exists (without
            ``--overwrite``), or its folder cannot be written.
    """
    inputs = {}
    for attr in getattr(args, "input_args", ()):
        for path in _as_list(getattr(args, attr, None)):
            if os.path.exists(path):
                inputs[_resolved(path)] = path
    overwrite = bool(getattr(args, "overwrite", False))
    declared = [(a, False) for a in getattr(args, "output_args", ())]
    declared += [(a, True) for a in getattr(args, "output_dir_args", ())]
    for attr, is_dir in declared:
        for path in _as_list(getattr(args, attr, None)):
            flag, real = "--" + attr.replace("_", "-"), _resolved(path)
            if real in inputs:
                what = "folder" if is_dir else "path"
                raise OutputPathError(f"{flag} {path} is the input {inputs[real]}; choose another output {what}")
            if is_dir and os.path.exists(real) and not os.path.isdir(real):
                raise OutputPathError(f"{flag} {path} exists and is not a folder")
            if not is_dir and os.path.isdir(real):
                raise OutputPathError(f"{flag} {path} is a folder; give a file path")
            if not is_dir and os.path.exists(real) and not overwrite:
                hint = " (pass --overwrite to replace it)" if hasattr(args, "overwrite") else ""
                raise OutputPathError(f"{flag} {path} already exists{hint}")
            reason = _writable_dir(real if is_dir else os.path.dirname(real))
            if reason:
                raise OutputPathError(f"{flag} {path}: cannot write: {reason}")
