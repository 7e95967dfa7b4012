"""``avlearn sync``: estimate how late a file's audio is relative to its video.

    avlearn sync clip.mp4 --weights runs/sync/weights.pt [--max-offset 1.0] [--json]
    avlearn sync clips/ more.mp4 list.jsonl --weights runs/sync --out offsets/ --json
    avlearn sync --eval-list WORLD/lists/sync_test.jsonl --weights runs/sync/weights.pt
    avlearn sync --calibrate WORLD/lists/sync_val.jsonl --weights runs/sync/weights.pt
    avlearn sync clip.mp4 --weights runs/sync/weights.pt --fix fixed.mp4 [--force]

The audio is slid against the video over the whole file with a network trained by the
``sync`` task (Owens & Efros 2018; AVTS); see :func:`avlearn.tasks.sync.estimate_offset`.
A positive offset means the audio is late. Several files, folders or manifests are estimated one
by one (unreadable files skipped and counted; ``--json`` prints one line per file; ``--out``
writes each file's JSON record, see :mod:`avlearn.cli._inputs`). ``--eval-list`` measures the estimate on a frozen
list of clips with injected offsets instead (share within one video frame, errors).

Every estimate is marked ``reliable`` or not (:mod:`avlearn.tasks.sync.reliability`): its
confidence (peak margin times the windows' agreement) against the threshold ``--calibrate``
stores beside the weights (``reliability.json``: the smallest threshold at which 95% of the val
list's reliable estimates are within one frame). ``--fix OUT`` writes the file with its audio
re-timed by the offset and the video packets copied as they are; it refuses an unreliable
estimate unless ``--force``.
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
    p.add_argument("--hop", type=A.positive_float(maximum=3600.0), default=None,
                   help="seconds between scored video windows (default: the window, back to back)")
    p.add_argument(
        "--window", type=A.positive_float(maximum=3600.0), default=None,
        help="seconds per scored window (default: the length the network was trained on; the networks are fully "
        "convolutional, so a shorter window scores clips shorter than that, less reliably)",
    )
    p.add_argument("--eval-list", default=None, help="evaluate on a frozen sync list (JSONL: clip, offset) instead of FILE")
    p.add_argument("--calibrate", default=None, metavar="VAL_LIST",
                   help="calibrate the reliability threshold on a frozen sync list (the run's val list) and store it "
                   "beside the weights (reliability.json)")
    p.add_argument("--fix", default=None, metavar="OUT",
                   help="write FILE with its audio re-timed by the estimated offset (video packets copied, audio re-encoded)")
    p.add_argument("--force", action="store_true", help="with --fix: write even when the estimate is not reliable")
    p.add_argument("--out", default=None,
                   help="also write each file's JSON record: a .json file for one input, a folder for several")
    p.add_argument("--overwrite", action="store_true", help="replace --out files that exist")
    _in.add_run_options(p, batch="audio-video pairs", batch_default=32)
    p.set_defaults(func=run, input_args=("inputs", "weights", "eval_list", "calibrate"), output_args=("fix",))
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.sync.evaluate import evaluate_offsets
    from avlearn.tasks.sync.inference import sync_file, sync_inputs
    from avlearn.tasks.sync.reliability import calibrate_reliability, judge, load_reliability, unreliable_reason

    if sum([bool(args.inputs), args.eval_list is not None, args.calibrate is not None]) != 1:
        print("avlearn sync: give exactly one of FILE(s), --eval-list or --calibrate", file=sys.stderr)
        return 2
    if (args.fix or args.force) and len(args.inputs or []) != 1:
        print("avlearn sync: --fix and --force need exactly one FILE", file=sys.stderr)
        return 2
    files = many = None
    if args.inputs:
        files, many = _in.expand_inputs(args.inputs), _in.many_inputs(args.inputs)
        if args.out is not None:
            _in.check_out(args, "out", folder=many)
    device = _in.resolve(args.device)
    try:
        run = load_run(args.weights, model=args.model).to(device)
        calibration = load_reliability(run)
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        print(f"avlearn sync: {exc}", file=sys.stderr)
        return 2
    model, data = run.network, sync_inputs(run)
    opts = dict(fps=data["fps"], size=tuple(data["size"]), sample_rate=data["sample_rate"])
    window = data["clip_duration"] if args.window is None else args.window
    if window <= 0:
        print(f"avlearn sync: --window must be positive, got {window}", file=sys.stderr)
        return 2
    if args.calibrate:
        try:
            cal = calibrate_reliability(run, args.calibrate, max_offset=args.max_offset, window=window, hop=args.hop,
                                        progress=not args.json)
        except (FileNotFoundError, ValueError) as exc:
            print(f"avlearn sync: {exc}", file=sys.stderr)
            return 1
        if args.json:
            print(json.dumps(cal))
        elif cal["threshold"] is None:
            print(f"{args.calibrate}: no confidence threshold gives {cal['target_precision']:.0%} within one frame "
                  f"({cal['within_one_frame']:.1%} of {cal['count']} estimates are): nothing will be marked reliable; "
                  f"written to {cal['path']}")
        else:
            print(f"{args.calibrate}: threshold {cal['threshold']:.3f}: {cal['precision']:.1%} of the {cal['coverage']:.1%} "
                  f"of {cal['count']} estimates above it are within one frame; written to {cal['path']}")
        return 0
    if args.eval_list:
        from avlearn.tasks.sync.data import load_sync_list

        res = evaluate_offsets(
            model, load_sync_list(args.eval_list), window=window, max_offset=args.max_offset,
            hop=args.hop, progress=not args.json,
            threshold=calibration.get("threshold") if calibration.get("calibrated") else None, **opts,
        )
        if args.json:
            print(json.dumps(res))
        else:
            for name, r in (("all rows", res), ("shifted rows", res["shifted"])):
                print(
                    f"{args.eval_list} ({name}): {r['within_one_frame']:.1%} of {r['count']} estimates within one frame "
                    f"(1/{data['fps']:g} s); mean |error| {r['mean_abs_error']:.3f} s, median {r['median_abs_error']:.3f} s"
                )
            if "reliable" in res:
                r = res["reliable"]
                print(f"marked reliable: {r['share']:.1%} ({r['count']}), of which {r['precision']:.1%} within one frame")
            if res["skipped"]:
                print(f"{res['skipped']} unreadable clips skipped")
        return 0
    outs = _in.output_paths(files, args.out, ".json", many=many)
    extra = _in.accepted(sync_file, batch_size=args.batch_size, device=device)

    def work(path: str, i: int) -> dict:
        _in.free(outs[i], many=many, overwrite=args.overwrite)
        try:
            res = judge(sync_file(model, path, args.max_offset, args.step, window=window, hop=args.hop, **opts, **extra),
                        calibration)
        except ValueError as exc:
            hint = " (--window sets a shorter one)" if "shorter than" in str(exc) else ""
            raise ValueError(f"{exc}{hint}") from None
        fixed = None
        if args.fix:
            if not res.reliable and not args.force:
                raise ValueError(f"{path}: the offset {res.offset:+.3f} s is not reliable; not writing {args.fix} "
                                 "(--force writes it anyway)")
            from avlearn.tasks.sync.fix import shift_audio_file

            shift_audio_file(path, args.fix, res.offset)
            fixed = args.fix
        return _in.write_record(outs[i], {
            "file": path, "offset": res.offset, "confidence": res.confidence, "reliable": res.reliable,
            "threshold": res.threshold, "calibrated": bool(calibration.get("calibrated")), "margin": res.margin,
            "agreement": res.agreement, "at_edge": res.at_edge, "syncnet_confidence": res.median_margin,
            "reason": None if res.reliable else unreliable_reason(res),
            "audio_late": res.offset > 0, "max_offset": args.max_offset, "fixed": fixed,
            "scores": {f"{k:.6f}": (v if np.isfinite(v) else None) for k, v in res.scores.items()},
            "windows": [{"start": t, "offset": o} for t, o in res.window_offsets()],
        })  # fmt: skip

    def text(r: dict) -> None:
        side = "late" if r["offset"] > 0 else "early" if r["offset"] < 0 else "in sync"
        print(f"{r['file']}: offset {r['offset']:+.3f} s (audio {side}), confidence {r['confidence']:.3f} "
              f"({r['agreement']:.0%} of {len(r['windows'])} windows agree)")
        how = "calibrated" if r["calibrated"] else "uncalibrated default; run --calibrate VAL_LIST"
        if r["reliable"]:
            print(f"  reliable (confidence >= {r['threshold']:.3f}, {how})")
        else:
            print(f"  NOT RELIABLE: {r['reason']} [{how}]")
        if r["fixed"]:
            print(f"  wrote {r['fixed']} (audio moved {-r['offset']:+.3f} s, video packets copied)")

    return _in.run_each("avlearn sync", files, work, json_lines=args.json, text=text, device=device)
