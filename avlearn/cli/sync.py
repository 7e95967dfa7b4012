"""``avlearn sync``: estimate how late a file's audio is relative to its video.

    avlearn sync clip.mp4 --weights runs/sync/weights.pt [--max-offset 1.0] [--json]
    avlearn sync clips/ more.mp4 list.jsonl --weights runs/sync --out offsets/ --json
    avlearn sync --eval-list WORLD/lists/sync_test.jsonl --weights runs/sync/weights.pt

The audio is slid against the video over the whole file with a network trained by the
``sync`` task (Owens & Efros 2018; AVTS); see :func:`avlearn.tasks.sync.estimate_offset`.
A positive offset means the audio is late. Several files, folders or manifests are estimated one
by one (unreadable files skipped and counted; ``--json`` prints one line per file; ``--out``
writes each file's JSON record, see :mod:`avlearn.cli._inputs`). ``--eval-list`` measures the estimate on a frozen
list of clips with injected offsets instead (share within one video frame, errors).
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A
from avlearn.cli import _inputs as _in

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "sync",
        help="estimate the audio-video offset of a file (positive: audio late)",
        description="Slide the audio against the video with a trained sync network and print the offset "
        "(seconds; positive means the audio is late) and a confidence (best score minus the median over shifts).",
    )
    _in.add_inputs(p, optional=True)
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
    p.add_argument("--out", default=None,
                   help="also write each file's JSON record: a .json file for one input, a folder for several")
    p.add_argument("--overwrite", action="store_true", help="replace --out files that exist")
    _in.add_run_options(p, batch="audio-video pairs", batch_default=32)
    p.set_defaults(func=run, input_args=("inputs", "weights", "eval_list"))
    return p


def run(args: argparse.Namespace) -> int:
    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.sync.evaluate import evaluate_offsets
    from avlearn.tasks.sync.inference import estimate_offset, sync_inputs

    if bool(args.inputs) == (args.eval_list is not None):
        print("avlearn sync: give either FILE(s) or --eval-list", file=sys.stderr)
        return 2
    files = many = None
    if args.inputs:
        files, many = _in.expand_inputs(args.inputs), _in.many_inputs(args.inputs)
        if args.out is not None:
            _in.check_out(args, "out", folder=many)
    device = _in.resolve(args.device)
    try:
        run = load_run(args.weights, model=args.model).to(device)
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
    outs = _in.output_paths(files, args.out, ".json", many=many)
    extra = _in.accepted(estimate_offset, batch_size=args.batch_size, device=device)

    def work(path: str, i: int) -> dict:
        _in.free(outs[i], many=many, overwrite=args.overwrite)
        try:
            offset, confidence, scores = estimate_offset(
                model, path, args.max_offset, args.step, window=window, hop=args.hop, **opts, **extra
            )
        except ValueError as exc:
            hint = " (--window sets a shorter one)" if "shorter than" in str(exc) else ""
            raise ValueError(f"{exc}{hint}") from None
        return _in.write_record(outs[i], {
            "file": path, "offset": offset, "confidence": confidence, "audio_late": offset > 0,
            "max_offset": args.max_offset, "scores": {f"{k:.6f}": v for k, v in scores.items()},
        })  # fmt: skip

    def text(r: dict) -> None:
        side = "late" if r["offset"] > 0 else "early" if r["offset"] < 0 else "in sync"
        print(f"{r['file']}: offset {r['offset']:+.3f} s (audio {side}), confidence {r['confidence']:.3f}")

    return _in.run_each("avlearn sync", files, work, json_lines=args.json, text=text, device=device)
