"""``avlearn shard MANIFEST --out DIR --shard-size 1GB``: pack a manifest's media into tar shards.

    avlearn shard data/vggsound/train.jsonl --out shards/vggsound_train --shard-size 1GB

Writes WebDataset-style shards OUT/shard-000000.tar ...: per sample ``<key>.<ext>`` (the media
file's bytes) and ``<key>.json`` (its manifest row, ``path`` as ``source_path``), plus
OUT/shards.json (shards, sample counts, and the rows left out: missing or unreadable files).
Read them with ``avlearn.data.ShardDataset`` (sequential reads, shuffle buffer, split over DDP
ranks and DataLoader workers).
"""

from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "run"]


def register(subparsers) -> None:
    """Add ``shard`` to the ``avlearn`` command."""
    parser = subparsers.add_parser("shard", help="pack a manifest's media into WebDataset-style tar shards",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("manifest", help="a manifest (.jsonl/.csv/.json) or a folder of media")
    parser.add_argument("--out", required=True, help="folder for the shards (created)")
    parser.add_argument("--shard-size", default="1GB", help="bytes per shard: 1GB, 500MB, 64MiB... (default 1GB)")
    parser.add_argument("--no-probe", action="store_true", help="pack files without checking they decode")
    parser.add_argument("--json", action="store_true", help="print shards.json's summary as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the shards; 0 on success, 2 on a bad manifest or size."""
    from avlearn.data import ManifestError, write_shards

    try:
        index = write_shards(args.manifest, args.out, shard_size=args.shard_size, probe=not args.no_probe)
    except (ManifestError, ValueError) as exc:
        print(f"avlearn shard: {exc}", file=sys.stderr)
        return 2
    summary = {k: index[k] for k in ("samples", "missing", "unreadable")} | {"shards": len(index["shards"]), "out": args.out}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['samples']} samples in {summary['shards']} shards in {args.out} "
              f"({summary['missing']} missing, {summary['unreadable']} unreadable left out)")
    return 0
