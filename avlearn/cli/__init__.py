"""The ``avlearn`` command.

Each subcommand lives in its own module under ``avlearn/cli/`` and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``. Heavy imports
happen inside ``func`` so ``avlearn --help`` stays fast. Add a command by listing its module in
:data:`COMMANDS`.
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
    "train",
    "evaluate",
    "extract_features",
    "probe",
    "sync",
    "localize",
    "separate",
    "classify",
    "preview",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="avlearn",
        description="Learning from paired video and audio: self-supervised sync, sound-source "
        "localization, visually guided separation and audio-preview recognition.",
    )
    parser.add_argument("--version", action="version", version=f"avlearn {avlearn.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"avlearn.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"avlearn.cli.{name}":
                continue  # command not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
