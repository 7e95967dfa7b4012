"""``avlearn detect``: labelled actor boxes at the keyframes of a video file.

    avlearn detect clip.mp4 --weights runs/detect_actors --box-weights runs/detect_persons --out boxes.mp4
    avlearn detect clip.mp4 --weights runs/detect_actors --json --step 1.0 --threshold 0.3
    avlearn detect world/test/clips/test_000000.mp4 --weights runs/detect_actors --boxes truth

Spatio-temporal action detection in the AVA style (Gu et al., CVPR 2018): at every keyframe
(every ``--step`` seconds) actor boxes come from a box source, and the trained detector scores
every atomic action of every box from the clip centred on the keyframe. Box sources
(``--boxes``): ``detector``, a trained person detector run (``--box-weights``, a
``person_detection`` run; the default when it is given), ``motion``, moving regions against
the median background over ``--context`` seconds (the default without ``--box-weights``), and
``truth``, the actor boxes of a synthetic world clip's truth file. ``--out`` writes the
file with each box outlined in the colour of its best action and one colour chip per action
above ``--threshold`` (the colours are listed with ``--json`` as ``colours``, one per class).
``--weights`` is a ``detection`` run (folder, ``weights.pt`` or checkpoint; :func:`avlearn.load_run`).
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``detect`` to the ``avlearn`` command."""
    p = subparsers.add_parser(
        "detect", help="actor boxes with their actions at the keyframes of a video file (AVA-style)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="a media file with video")
    p.add_argument("--weights", required=True, help="a detection run (folder, weights.pt or checkpoint)")
    p.add_argument("--out", default=None, help="output video with the labelled boxes (e.g. boxes.mp4)")
    p.add_argument("--step", type=A.positive_float(maximum=3600.0), default=0.5, help="seconds between keyframes (default 0.5)")
    p.add_argument("--threshold", type=A.unit_float, default=None, help="smallest listed action score (default: the run's)")
    p.add_argument("--context", type=A.positive_float(maximum=60.0), default=2.0,
                   help="seconds of frames the box source takes the background from (default 2)")
    p.add_argument("--boxes", choices=("detector", "motion", "truth"), default=None,
                   help="box source (default: detector with --box-weights, else motion)")
    p.add_argument("--box-weights", default=None, help="a person_detection run, the detector box source")
    p.add_argument("--box-threshold", type=A.unit_float, default=None,
                   help="smallest detector box score (default: the person detector run's)")
    p.add_argument("--max-actors", type=A.positive_int(maximum=256), default=8, help="boxes kept per keyframe (default 8)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, input_args=("file", "weights", "box_weights"), output_args=("out",))
    return p


def _print_text(r: dict) -> None:
    print(f"{r['file']} ({r['duration']:.1f} s): {len(r['keyframes'])} keyframes, boxes from {r['boxes']}")
    for k in r["keyframes"]:
        print(f"  {k['time']:6.2f} s: {len(k['actors'])} actors")
        for a in k["actors"]:
            labels = ", ".join(f"{x['name']} {x['score']:.2f}" for x in a["labels"]) or "-"
            print(f"    [{', '.join(f'{v:.0f}' for v in a['box'])}] {labels}")
    if r.get("out"):
        print(f"  video: {r['out']}")


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when the file cannot be read or written (or has no truth for ``--boxes truth``),
    2 on bad weights or box options."""
    from avlearn.io import MediaError
    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.detection import detect_file, write_detection_video
    from avlearn.tasks.detection.inference import class_colours
    from avlearn.tasks.runs import load_run

    try:
        run_ = load_run(args.weights)
        if run_.task_name != "detection":
            raise ValueError(f"{args.weights}: a {run_.task_name!r} run is not an action detector (train detect_actors)")
        if args.boxes == "detector" and not args.box_weights:
            raise ValueError("--boxes detector needs --box-weights (a person_detection run)")
        box_run = load_run(args.box_weights) if args.box_weights else None
        if box_run is not None and box_run.task_name != "person_detection":
            raise ValueError(f"{args.box_weights}: a {box_run.task_name!r} run is not a person detector "
                             "(train detect_persons)")
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        print(f"avlearn detect: {exc}", file=sys.stderr)
        return 2
    try:
        result = detect_file(run_, args.file, step=args.step, threshold=args.threshold, context=args.context,
                             max_actors=args.max_actors, boxes=args.boxes, box_run=box_run,
                             box_threshold=args.box_threshold)
        result["out"] = write_detection_video(args.file, args.out, result) if args.out else None
    except (MediaError, OSError, ValueError) as exc:
        print(f"avlearn detect: {exc}", file=sys.stderr)
        return 1
    result["colours"] = class_colours(len(result["classes"])).tolist()
    if args.json:
        print(json.dumps({**result, "weights": args.weights, "box_weights": args.box_weights}))
    else:
        _print_text(result)
    return 0
