"""``avlearn train``: train a recipe (YAML) with overrides; resumable; torchrun-aware.

    avlearn train classify_world                      # a recipe shipped with the package, by name
    avlearn train avlearn/recipes/classify_world.yaml   # or any recipe file
    avlearn train avlearn/recipes/classify_world.yaml --set train.steps=200 --set optim.lr=0.01
    avlearn train avlearn/recipes/classify_world.yaml --resume          # continue after a crash
    torchrun --nproc_per_node 2 -m avlearn train avlearn/recipes/classify_world.yaml   # DDP

The recipe is validated completely (unknown keys, wrong types) before anything is built. The
run folder (``train.out_dir``, or ``--out``) receives run.json (the recipe fingerprint),
config.yaml, metrics.jsonl, TensorBoard events, checkpoints/, weights.pt and final_metrics.json.
A folder that already holds a run is refused unless ``--resume`` (continue it: the recipe must
match but for run-length and logging fields) or ``--overwrite`` (replace it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

__all__ = ["register", "run", "add_recipe_arguments", "load_recipe", "format_metrics"]


def add_recipe_arguments(parser: argparse.ArgumentParser) -> None:
    """The RECIPE positional and ``--set`` / ``--out`` options (shared with ``evaluate``)."""
    parser.add_argument("recipe", help="a YAML recipe file, or the name of a packaged recipe (e.g. sync_multisensory)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe value, e.g. --set train.steps=200 (repeatable; values parsed as YAML)",
    )
    parser.add_argument("--out", default=None, help="run folder (overrides train.out_dir)")


def load_recipe(args: argparse.Namespace):
    """The validated ExperimentConfig of ``args``, or None after printing the error."""
    from avlearn.train.config import ConfigError, load_config

    overrides = list(args.overrides) + ([f"train.out_dir={args.out}"] if args.out else [])
    try:
        return load_config(args.recipe, overrides)
    except ConfigError as exc:
        print(f"avlearn {args.command}: {exc}", file=sys.stderr)
        return None


def format_metrics(metrics: dict) -> str:
    """``loss=0.1234, top1=0.95, samples=20``: one line for the terminal."""
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in metrics.items())


def run(args: argparse.Namespace) -> int:
    """Train; 0 on success, 2 on an invalid recipe, missing data or an unusable checkpoint.

    Under torchrun only rank 0 prints the results.
    """
    cfg = load_recipe(args)
    if cfg is None:
        return 2
    from avlearn.train import CheckpointError, Trainer

    try:  # building the task and datasets is where missing files and bad values surface
        trainer = Trainer(cfg)
    except (FileNotFoundError, ValueError) as exc:
        print(f"avlearn train: {exc}", file=sys.stderr)
        return 2
    try:
        results = trainer.fit(resume=args.resume, existing="overwrite" if args.overwrite else "refuse")
    except CheckpointError as exc:
        print(f"avlearn train: {exc}", file=sys.stderr)
        return 2
    finally:
        trainer.close()
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    if args.json:
        print(json.dumps({"out_dir": cfg.train.out_dir, **results}))
    else:
        for split, metrics in results.items():
            print(f"{split}: {format_metrics(metrics)}")
        print(f"run folder: {cfg.train.out_dir}")
    return 0


def register(subparsers) -> None:
    """Add ``train`` to the ``avlearn`` command."""
    parser = subparsers.add_parser(
        "train",
        help="train a recipe (checkpoints, logs, resumable, torchrun for DDP)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_recipe_arguments(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue from the newest complete checkpoint in the run folder"
    )
    parser.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in the run folder (its checkpoints, logs, weights; nothing else there)",
    )
    parser.add_argument("--json", action="store_true", help="print the final metrics as one JSON object")
    parser.set_defaults(func=run, input_args=("recipe",), output_dir_args=("out",))
