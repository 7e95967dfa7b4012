"""``avlearn make-lists MANIFEST --task {sync,separation} --seed S --out LIST``: freeze an
evaluation list from any manifest, deterministic in the seed.

    avlearn make-lists data/vggsound/test.jsonl --task sync --seed 0 --out data/vggsound/lists/sync_test.jsonl
    avlearn make-lists data/music/solo.jsonl --task separation --num-mix 2 3 --seed 0 \\
        --out data/music/lists/separation_test.jsonl

sync: per row, windows with aligned or shifted audio (``--shifts`` to draw offsets from a set);
separation: mixtures of rows with different labels and videos, plus truth/<id>.json beside the
list. The rows have the format of the synthetic world's frozen lists (docs/datasets.md), with
paths relative to the list's grandparent folder (``OUT/lists/x.jsonl`` -> ``OUT``) when the
media lies below it.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add ``make-lists`` to the ``avlearn`` command."""
    parser = subparsers.add_parser("make-lists", help="freeze sync / separation evaluation lists from a manifest",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="a manifest (.jsonl/.csv/.json) or a folder of media")
    parser.add_argument("--task", required=True, choices=("sync", "separation"))
    parser.add_argument("--seed", type=int, required=True, help="the list's seed")
    parser.add_argument("--out", required=True, help="the list file (.jsonl)")
    parser.add_argument("--window", type=float, default=None,
                        help="seconds per window (sync default 1.0; separation default: the whole clip)")
    parser.add_argument("--windows-per-row", type=int, default=2, help="sync: windows per row, half shifted (default 2)")
    parser.add_argument("--shifts", type=float, nargs="+", default=None,
                        help="sync: signed offsets (s) shifted windows draw from (default: +-[0.04, 1.0] uniform)")
    parser.add_argument("--fps", type=float, default=None, help="sync: put window starts on this frame grid")
    parser.add_argument("--max-rows", type=int, default=None, help="sync: use this many rows, picked by the seed")
    parser.add_argument("--num-mix", type=int, nargs="+", default=[2, 3], help="separation: clips per mixture (default 2 3)")
    parser.add_argument("--mixtures", type=int, default=None, help="separation: mixtures per size (default: one per row)")
    parser.add_argument("--labels-from-parent", action="store_true", help="folder manifests: label by parent folder")
    parser.add_argument("--json", action="store_true", help="print the counts as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the list; 0 on success, 2 on a bad manifest or options, 1 when the list is empty."""
    from pathlib import Path

    from avlearn.data import ManifestError, load_manifest
    from avlearn.data.eval_lists import separation_list, sync_list, write_list

    try:
        rows = load_manifest(args.manifest, labels_from_parent=args.labels_from_parent)
    except ManifestError as exc:
        print(f"avlearn make-lists: {exc}", file=sys.stderr)
        return 2
    base = Path(args.out).absolute().parent.parent
    if args.task == "sync":
        window = args.window or 1.0
        if window <= 0 or args.windows_per_row < 1:
            print("avlearn make-lists: --window must be > 0 and --windows-per-row >= 1", file=sys.stderr)
            return 2
        items, counts = sync_list(rows, seed=args.seed, base=base, window=window, windows_per_row=args.windows_per_row,
                                  shifts=args.shifts, fps=args.fps, max_rows=args.max_rows)
        truths = None
    else:
        if any(n < 2 for n in args.num_mix):
            print("avlearn make-lists: --num-mix sizes must be >= 2", file=sys.stderr)
            return 2
        items, truths, counts = separation_list(rows, seed=args.seed, base=base, sizes=args.num_mix,
                                                per_size=args.mixtures, window=args.window)
    write_list(args.out, items, truths)
    if args.json:
        print(json.dumps({"out": args.out, "items": len(items), **counts}))
    else:
        print(f"{len(items)} {args.task} items in {args.out} ({', '.join(f'{k} {v}' for k, v in counts.items())})")
    return 0 if items else 1
