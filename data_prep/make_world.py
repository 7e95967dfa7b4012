"""Write a procedural audio-visual world from a checkout, without installing the command.

Same options and behaviour as ``avlearn make-world`` (see avlearn/cli/make_world.py and
docs/world.md):

    python data_prep/make_world.py --out data/world --clips 200 --seed 0 [--kind speakers --solo]
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avlearn.cli.make_world import build_parser, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and generate the world; returns the exit status."""
    parser = build_parser(argparse.ArgumentParser(prog="make_world.py", description=__doc__,
                                                  formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
