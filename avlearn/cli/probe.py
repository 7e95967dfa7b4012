"""``avlearn probe FILE [FILE ...] [--json]``: print what :func:`avlearn.io.probe` finds.

Plain output, one block per file::

    clip.mp4: 2.000 s, mov,mp4,m4a,3gp,3g2,mj2
      #0 video h264 32x32 8.000 fps, 16 frames, start 0.000 s, duration 2.000 s
      #1 audio aac 16000 Hz x2, start 0.000 s, duration 2.000 s

``--json`` prints one JSON object per file (a list when several files are given). A file that
cannot be read prints ``avlearn probe: <path>: <reason>`` on stderr and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["format_info", "register", "run"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="print the streams, rates and duration of media files",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="media files")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser.set_defaults(func=run)


def format_info(info) -> str:
    """A MediaInfo as the few human-readable lines shown above."""
    lines = [f"{info.path}: {info.duration:.3f} s, {info.format}"]
    for s in info.streams:
        if s.kind == "video":
            what = f"{s.width}x{s.height} " + (f"{s.fps:.3f} fps" if s.fps else "unknown fps")
            if s.frames is not None:
                what += f", {s.frames} frames"
        else:
            what = f"{s.sample_rate} Hz x{s.channels}"
        span = f"start {s.start:.3f} s" + (f", duration {s.duration:.3f} s" if s.duration is not None else "")
        lines.append(f"  #{s.index} {s.kind} {s.codec} {what}, {span}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from avlearn.io import MediaError, probe

    status, found = 0, []
    for path in args.files:
        try:
            info = probe(path)
        except MediaError as exc:
            print(f"avlearn probe: {exc}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            found.append(dataclasses.asdict(info))
        else:
            print(format_info(info))
    if args.json and found:
        print(json.dumps(found[0] if len(args.files) == 1 else found, indent=2))
    return status
