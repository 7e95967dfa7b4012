"""``avlearn prepare DATASET ROOT --out DIR``: manifests from a dataset's download folder.

    avlearn prepare kinetics downloads/kinetics400 --out data/k400
    avlearn prepare ucf101 downloads/UCF-101 --annotations downloads/ucfTrainTestlist --fold 1 --out data/ucf
    avlearn prepare folder my_videos --labels-from-parent --out data/mine
    avlearn prepare --list

Reads the dataset's published annotation files (under ROOT, or --annotations), finds every
annotated sample's media anywhere under ROOT by its id, probes it, and writes OUT/<split>.jsonl
per official split, OUT/report.json (found / missing / unreadable per split), OUT/missing.txt
and OUT/unreadable.txt. Missing and unreadable files are counted, never fatal. Formats and file
naming per dataset: docs/datasets.md.
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "build_parser", "run"]


def register(subparsers) -> None:
    """Add ``prepare`` to the ``avlearn`` command."""
    parser = subparsers.add_parser(
        "prepare", help="write manifests (per split) + a missing-file report from a dataset's download folder",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    build_parser(parser)
    parser.set_defaults(func=run)


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add every prepare option to ``parser`` (shared with data_prep/prepare.py)."""
    parser.add_argument("dataset", nargs="?", help="dataset family (see --list)")
    parser.add_argument("root", nargs="?", help="the download folder (media anywhere below it)")
    parser.add_argument("--out", help="output folder (created)")
    parser.add_argument("--annotations", help="annotation file or folder (default: ROOT)")
    parser.add_argument("--labels-from-parent", action="store_true", help="folder: label = parent folder name")
    parser.add_argument("--fold", type=int, default=None, help="ucf101/hmdb51: split fold 1-3 (default 1)")
    parser.add_argument("--no-probe", action="store_true", help="trust the files: do not probe them")
    parser.add_argument("--workers", type=int, default=4, help="threads probing files (default 4)")
    parser.add_argument("--list", action="store_true", help="list the dataset families and exit")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Build the manifests; 0 on success, 2 on bad arguments or unreadable annotations."""
    from avlearn.data.prepare import PrepareError, list_preparers, prepare

    if args.list:
        for name, summary in list_preparers().items():
            print(f"{name:16s} {summary}")
        return 0
    if not (args.dataset and args.root and args.out):
        print("avlearn prepare: DATASET, ROOT and --out are required (--list shows the datasets)", file=sys.stderr)
        return 2
    options = {"labels_from_parent": args.labels_from_parent} if args.dataset == "folder" else {}
    if args.fold is not None:
        options["fold"] = args.fold
    try:
        report = prepare(args.dataset, args.root, args.out, annotations=args.annotations, probe=not args.no_probe,
                         workers=args.workers, **options)
    except (KeyError, PrepareError, NotADirectoryError, ValueError) as exc:
        print(f"avlearn prepare: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report))
        return 0
    for split, c in report["splits"].items():
        line = f"{split}: {c['found']} found, {c['missing']} missing, {c['unreadable']} unreadable"
        print(line + (f", {c['skipped']} unused" if c["skipped"] else "") + f" (of {c['entries']})")
    print(f"manifests, report.json and missing.txt in {args.out}")
    return 0
