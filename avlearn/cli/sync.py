"""``avlearn sync``: estimate how late a file's audio is relative to its video.

    avlearn sync clip.mp4 --weights runs/sync/weights.pt [--max-offset 1.0] [--json]
    avlearn sync --eval-list WORLD/lists/sync_test.jsonl --weights runs/sync/weights.pt

The audio is slid against the video over the whole file with a network trained by the
``sync`` task (Owens & Efros 2018; AVTS); see :func:`avlearn.tasks.sync.estimate_offset`.
A positive offset means the audio is late. ``--eval-list`` measures the estimate on a frozen
list of clips with injected offsets instead (share within one video frame, errors).
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sync",
        help="estimate the audio-video offset of a file (positive: audio late)",
        description="Slide the audio against the video with a trained sync network and print the offset "
        "(seconds; positive means the audio is late) and a confidence (best score minus the median over shifts).",
    )
    p.add_argument("file", nargs="?", help="a media file with video and audio (any length)")
    p.add_argument("--weights", required=True, help="a sync run's weights.pt (beside its config.yaml) or a checkpoint")
    p.add_argument("--model", default=None, help="registered model name, when the weights carry no recipe")
    p.add_argument("--max-offset", type=A.positive_float(maximum=10.0), default=1.0,
                   help="largest |offset| searched, seconds (default 1.0, at most 10)")
    p.add_argument("--step", type=A.finite_float(minimum=0.001, maximum=1.0), default=None,
                   help="shift grid step, seconds (default one video frame; 0.001 to 1)")
    p.add_argument("--hop", type=A.positive_float(maximum=3600.0), default=0.25, help="seconds between scored video windows (default 0.25)")
    p.add_argument(
        "--window", type=A.positive_float(maximum=3600.0), default=None,
        help="seconds per scored window (default: the length the network was trained on; the networks are fully "
        "convolutional, so a shorter window scores clips shorter than that, less reliably)",
    )
    p.add_argument("--eval-list", default=None, help="evaluate on a frozen sync list (JSONL: clip, offset) instead of FILE")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, input_args=("file", "weights", "eval_list"))
    return p


def run(args: argparse.Namespace) -> int:
    from avlearn.io import MediaError
    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.sync.evaluate import evaluate_offsets
    from avlearn.tasks.sync.inference import estimate_offset, sync_inputs

    if (args.file is None) == (args.eval_list is None):
        print("avlearn sync: give either FILE or --eval-list", file=sys.stderr)
        return 2
    try:
        run = load_run(args.weights, model=args.model)
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        print(f"avlearn sync: {exc}", file=sys.stderr)
        return 2
    model, data = run.network, sync_inputs(run)
    opts = dict(fps=data["fps"], size=tuple(data["size"]), sample_rate=data["sample_rate"])
    window = data["clip_duration"] if args.window is None else args.window
    if window <= 0:
        print(f"avlearn sync: --window must be positive, got {window}", file=sys.stderr)
        return 2
    if args.eval_list:
        from avlearn.tasks.sync.data import load_sync_list

        res = evaluate_offsets(
            model, load_sync_list(args.eval_list), window=window, max_offset=args.max_offset,
            hop=args.hop, progress=not args.json, **opts,
        )
        if args.json:
            print(json.dumps(res))
        else:
            for name, r in (("all rows", res), ("shifted rows", res["shifted"])):
                print(
                    f"{args.eval_list} ({name}): {r['within_one_frame']:.1%} of {r['count']} estimates within one frame "
                    f"(1/{data['fps']:g} s); mean |error| {r['mean_abs_error']:.3f} s, median {r['median_abs_error']:.3f} s"
                )
            if res["skipped"]:
                print(f"{res['skipped']} unreadable clips skipped")
        return 0
    try:
        offset, confidence, scores = estimate_offset(
            model, args.file, args.max_offset, args.step, window=window, hop=args.hop, **opts
        )
    except (MediaError, ValueError) as exc:
        hint = " (--window sets a shorter one)" if "shorter than" in str(exc) else ""
        print(f"avlearn sync: {exc}{hint}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({
            "file": args.file, "offset": offset, "confidence": confidence, "audio_late": offset > 0,
            "max_offset": args.max_offset, "scores": {f"{k:.6f}": v for k, v in scores.items()},
        }))
    else:
        side = "late" if offset > 0 else "early" if offset < 0 else "in sync"
        print(f"{args.file}: offset {offset:+.3f} s (audio {side}), confidence {confidence:.3f}")
    return 0
