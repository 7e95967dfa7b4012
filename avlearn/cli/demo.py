"""``avlearn demo``: the one-command tour: generate a small synthetic world, train each task
briefly, evaluate on the frozen test lists, write OUT/report.html.

    avlearn demo                      # under 15 minutes on 2 CPU cores
    avlearn demo --out runs/demo --stages action_classification
    avlearn demo --quick --json       # tiny version (seconds; numbers not meaningful)
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Run the demo; 0 when every stage succeeded, 1 if any failed, 2 on bad arguments."""
    from avlearn.demo import list_demo_stages, run_demo

    if args.list:
        for s in list_demo_stages():
            print(f"{s.order:4d}  {s.name}  (worlds: {', '.join(s.worlds) or '-'}; {s.module})")
        return 0
    stages = [s for part in args.stages for s in part.split(",") if s] if args.stages else None
    try:
        summary = run_demo(
            args.out, quick=args.quick, stages=stages, seed=args.seed, workers=args.workers, progress=True
        )
    except KeyError as exc:
        print(f"avlearn demo: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary))
    else:
        for name, st in summary["stages"].items():
            status = "FAILED" if st["error"] else ", ".join(f"{k}={v:.3g}" for k, v in st["metrics"].items())
            print(f"{name} ({st['seconds']:.0f} s): {status}")
        print(f"report: {summary['report']}")
    return 1 if any(st["error"] for st in summary["stages"].values()) else 0


def register(subparsers) -> None:
    """Add ``demo`` to the ``avlearn`` command."""
    parser = subparsers.add_parser(
        "demo",
        help="generate a world, train every task briefly, write report.html",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="runs/demo", help="output folder (default: runs/demo)")
    parser.add_argument("--quick", action="store_true", help="tiny worlds and runs (for tests)")
    parser.add_argument("--stages", action="append", metavar="NAME[,NAME]", help="run only these stages")
    parser.add_argument("--list", action="store_true", help="list the registered stages and exit")
    parser.add_argument("--seed", type=A.nonnegative_int(), default=0, help="world and training seed (default 0)")
    parser.add_argument("--workers", type=A.positive_int(maximum=256), default=2, help="world-generation processes (default 2)")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON (progress goes to stderr)")
    parser.set_defaults(func=run, output_dir_args=("out",))
