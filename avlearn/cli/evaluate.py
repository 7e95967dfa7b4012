"""``avlearn evaluate`` (alias ``eval``): score trained weights on a split of a recipe's data.

    avlearn evaluate avlearn/recipes/classify_world.yaml --weights runs/classify_world/weights.pt
    avlearn eval avlearn/recipes/classify_world.yaml --weights runs/classify_world/checkpoints/step_0000100.pt --json

``--weights`` takes a training checkpoint or an exported ``weights.pt``; weights that do not
fit the recipe's model are rejected with the missing and unexpected keys named.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from avlearn.cli.train import add_recipe_arguments, format_metrics, load_recipe

__all__ = ["register", "run"]


def run(args: argparse.Namespace) -> int:
    """Evaluate; 0 on success, 2 on an invalid recipe, missing files or unfitting weights."""
    cfg = load_recipe(args)
    if cfg is None:
        return 2
    cfg.train.progress = False
    from avlearn.train import evaluate

    try:
        metrics = evaluate(cfg, args.weights, split=args.split)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"avlearn evaluate: {exc}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    if args.json:
        print(json.dumps({"split": args.split, "weights": args.weights, **metrics}))
    else:
        print(f"{args.split}: {format_metrics(metrics)}")
    return 0


def register(subparsers) -> None:
    """Add ``evaluate`` (and its alias ``eval``) to the ``avlearn`` command."""
    parser = subparsers.add_parser(
        "evaluate",
        aliases=["eval"],
        help="evaluate trained weights on a recipe's val/test split",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_arguments(parser)
    parser.add_argument("--weights", required=True, help="a training checkpoint or an exported weights.pt")
    parser.add_argument("--split", default="test", help="which split to score (default: test)")
    parser.add_argument("--json", action="store_true", help="print the metrics as one JSON object")
    parser.set_defaults(func=run, input_args=("recipe", "weights"))
