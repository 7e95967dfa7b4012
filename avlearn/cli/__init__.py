"""The ``avlearn`` command.

Each subcommand lives in its own module under ``avlearn/cli/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``. Heavy imports
happen inside ``func`` so ``avlearn --help`` stays fast. Add a command by listing its module in
:data:`COMMANDS`.

One error path for every command: options are validated as they are parsed (the types of
:mod:`avlearn.cli._args`; argparse exits with status 2), declared output paths are checked
before the command runs (:func:`avlearn.cli._args.check_outputs`), and :func:`main` turns any
:class:`avlearn.errors.AvlearnError` a command raises into one line ``avlearn <command>:
<message>`` with the error's exit status (2: usage, 1: data), and any OSError (a full,
read-only or forbidden disk in words) into one line with status 1.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import avlearn

__all__ = ["main", "build_parser", "COMMANDS"]

# Module names under avlearn.cli, in the order --help lists them.
COMMANDS: tuple[str, ...] = (
    "demo",
    "make_world",
    "prepare",
    "make_lists",
    "shard",
    "train",
    "evaluate",
    "extract_features",
    "probe",
    "sync",
    "localize",
    "separate",
    "classify",
    "preview",
    "export",
    "detect",
)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The ``avlearn`` parser with every command, or with only the command ``only`` (its name
    as typed, e.g. ``make-world``): a command's module may import heavy parts of the library
    while it registers its options (``make-world`` imports the world generators to list their
    kinds), so running one command registers only that one."""
    parser = argparse.ArgumentParser(
        prog="avlearn",
        description="Learning from paired video and audio: self-supervised sync, sound-source "
        "localization, visually guided separation and audio-preview recognition.",
    )
    parser.add_argument("--version", action="version", version=f"avlearn {avlearn.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS if only is None else [only.replace("-", "_")]:
        try:
            mod = importlib.import_module(f"avlearn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"avlearn.cli.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``avlearn`` command line; returns the exit status."""
    from avlearn.cli._args import check_outputs
    from avlearn.errors import AvlearnError, describe_os_error

    argv = sys.argv[1:] if argv is None else list(argv)
    first = argv[0] if argv else ""
    parser = build_parser(only=first if first.replace("-", "_") in COMMANDS else None)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    name = f"avlearn {args.command}"
    try:
        check_outputs(args)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except AvlearnError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # the file system said no: one line, never a traceback
        print(f"{name}: {describe_os_error(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
