"""``avlearn make-world``: write a procedural audio-visual world (clips, stems, truth, lists).

    avlearn make-world --out data/world --clips 200 --seed 0
    avlearn make-world --out data/voices --clips 200 --kind speakers --solo
    avlearn make-world --out data/actions --clips 40 --kind actions

Writes the layout of docs/world.md: N train clips and, unless given, a tenth as many (at
least 2) val and test clips; frozen evaluation lists for val and test; ``world.json`` last.
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run", "add_world_arguments", "config_from_args"]


def add_world_arguments(parser: argparse.ArgumentParser) -> None:
    """The :class:`~avlearn.data.synthetic.WorldConfig` options (shared with data_prep/make_world.py)."""
    g = parser.add_argument_group("world")
    from avlearn.data.synthetic import KINDS

    g.add_argument("--kind", choices=KINDS, default="objects",
                   help="objects: sprites that bounce/pulse/move; speakers: talking faces; "
                        "actions: long untrimmed videos of action segments; actors: several actors with "
                        "overlapping per-actor actions (spatio-temporal detection); av_classes: clips whose "
                        "class is carried by sound, motion or both (audio-visual fusion) (default: objects)")
    g.add_argument("--size", type=A.positive_int(maximum=4096), nargs="+", default=[64], metavar="PX",
                   help="frame size: one value for square frames or HEIGHT WIDTH (even; default 64)")
    g.add_argument("--fps", type=A.positive_int(maximum=240), default=16, help="frame rate (default 16)")
    g.add_argument("--sample-rate", type=A.positive_int(maximum=192_000), default=16000, help="audio sample rate in Hz (default 16000)")
    g.add_argument("--duration", type=A.positive_float(maximum=3600.0), default=None,
                   help="clip length in seconds (default 2.0; 30.0 for actions)")
    g.add_argument("--channels", type=int, choices=(1, 2), default=1, help="1 mono, 2 stereo panned by position")
    g.add_argument("--min-objects", type=A.positive_int(maximum=64), default=1, help="fewest visible objects per scene (default 1)")
    g.add_argument("--max-objects", type=A.positive_int(maximum=64), default=4, help="most visible objects per scene (default 4)")
    g.add_argument("--families", nargs="+", choices=("impacts", "tones", "textures", "speakers"), default=None,
                   help="sound families (default: impacts tones textures; speakers for --kind speakers)")
    g.add_argument("--distractor-rate", type=A.unit_float, default=0.25,
                   help="probability that each extra visible object is silent (default 0.25)")
    g.add_argument("--offscreen-rate", type=A.unit_float, default=0.1,
                   help="probability of an off-screen sound per scene (default 0.1)")
    g.add_argument("--solo", action="store_true", help="exactly one sounding source per clip (mix-and-separate)")
    g.add_argument("--action-classes", type=A.int_range(2, 8), default=8, help="action classes in actions worlds (2-8)")


def config_from_args(args: argparse.Namespace):
    """Build the :class:`~avlearn.data.synthetic.WorldConfig` from parsed options.

    Raises:
        ValueError: an invalid combination (the message names the option).
    """
    from avlearn.data.synthetic import WorldConfig

    if len(args.size) > 2:
        raise ValueError(f"--size takes one value or HEIGHT WIDTH, got {len(args.size)} values")
    size = args.size[0] if len(args.size) == 1 else tuple(args.size)
    return WorldConfig(
        kind=args.kind, size=size, fps=args.fps, sample_rate=args.sample_rate, duration=args.duration,
        channels=args.channels, min_objects=args.min_objects, max_objects=args.max_objects,
        families=tuple(args.families) if args.families else None, distractor_rate=args.distractor_rate,
        offscreen_rate=args.offscreen_rate, solo=args.solo, action_classes=args.action_classes, seed=args.seed,
    )


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every make-world option to ``parser``."""
    parser.add_argument("--out", required=True, help="the world's root folder (created)")
    parser.add_argument("--clips", type=A.nonnegative_int(maximum=1_000_000), required=True, help="number of train clips")
    parser.add_argument("--val-clips", type=A.nonnegative_int(maximum=1_000_000), default=None, help="val clips (default max(2, clips // 10))")
    parser.add_argument("--test-clips", type=A.nonnegative_int(maximum=1_000_000), default=None, help="test clips (default max(2, clips // 10))")
    parser.add_argument("--seed", type=A.nonnegative_int(), default=0, help="world seed (default 0)")
    parser.add_argument("--workers", type=A.positive_int(maximum=256), default=2, help="generator processes (default 2)")
    parser.add_argument("--overwrite", action="store_true", help="replace a different world already in --out")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print world.json's summary as JSON")
    add_world_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Generate the world; 0 on success, 2 on invalid options or an existing different world."""
    from avlearn.data.synthetic import make_world

    if args.clips < 0 or (args.val_clips or 0) < 0 or (args.test_clips or 0) < 0:
        print("avlearn make-world: clip counts must be >= 0", file=sys.stderr)
        return 2
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"avlearn make-world: {exc}", file=sys.stderr)
        return 2
    held_out = max(2, args.clips // 10)
    clips = {"train": args.clips,
             "val": held_out if args.val_clips is None else args.val_clips,
             "test": held_out if args.test_clips is None else args.test_clips}
    try:
        meta = make_world(args.out, config, clips=clips, seed=args.seed, workers=args.workers,
                          progress=not args.no_progress, overwrite=args.overwrite)
    except FileExistsError as exc:
        print(f"avlearn make-world: {exc}", file=sys.stderr)
        return 2
    summary = {"out": args.out, "kind": meta["kind"], "seed": meta["seed"],
               "splits": {k: v["clips"] for k, v in meta["splits"].items()}, "lists": meta.get("lists", {})}
    if args.json:
        print(json.dumps(summary))
    else:
        counts = ", ".join(f"{k} {v}" for k, v in summary["splits"].items())
        print(f"world ({meta['kind']}) in {args.out}: {counts}; lists: {', '.join(summary['lists']) or 'none'}")
    return 0


def register(subparsers) -> None:
    """Add ``make-world`` to the ``avlearn`` command."""
    parser = subparsers.add_parser(
        "make-world", help="generate a synthetic audio-visual world (clips, stems, truth, lists)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build_parser(parser)
    parser.set_defaults(func=run, output_dir_args=("out",))
