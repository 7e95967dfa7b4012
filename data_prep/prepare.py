"""Build a dataset's manifests from a checkout, without installing the command.

Same options and behaviour as ``avlearn prepare`` (see avlearn/cli/prepare.py and
docs/datasets.md):

    python data_prep/prepare.py kinetics ~/kinetics400 --out data/k400
    python data_prep/prepare.py --list
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avlearn.cli.prepare import build_parser, run  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and build the manifests; returns the exit status."""
    parser = build_parser(argparse.ArgumentParser(prog="prepare.py", description=__doc__,
                                                  formatter_class=argparse.RawDescriptionHelpFormatter))
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
