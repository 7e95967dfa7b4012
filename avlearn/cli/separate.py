"""``avlearn separate``: one audio track (WAV) and one video per visible source of a file.

    avlearn separate clip.mp4 --weights runs/separate_instruments/weights.pt --out sep/ [--json]
    avlearn separate clips/ list.csv --weights runs/separate_instruments --out sep/   # sep/<stem>/ per file
    avlearn separate talk.mp4 --weights runs/separate_voices/weights.pt --out sep/ --detector face --face-weights DIR
    avlearn separate talk.mp4 --weights runs/separate_voices --out sep/ --boxes talk.boxes.csv   # your own tracks
    avlearn separate --eval-list WORLD/lists/separation_test.jsonl --weights W [--pit W2] [--framewise 1,1] [--json]

The sources are the tracks of a box/track file when ``--boxes`` names one (CSV
``track_id,time_s,x0,y0,x1,y1`` or JSON keyframes, :mod:`avlearn.data.box_tracks`; one source
per track, outputs named ``<stem>_<track_id>``; a folder holds ``<stem>.csv`` / ``<stem>.json``
per input), else the synthetic world's truth boxes when the file has a truth file, else tracked
faces (``--detector face``, default for voice models) or salient blobs (``--detector blob``),
separated by a model trained with one of the separation tasks (``sop``, ``coseparation``,
``visualvoice``, ``audio_only_pit``), streaming in half-overlapping windows; see
:mod:`avlearn.tasks.separation.inference`. Tracks are mono WAVs at the input's sample rate and
``residual.wav`` holds the rest, per input channel. ``--eval-list`` scores the model on a
frozen list of mixtures instead, beside the mixture, the oracle ratio and binary masks and, with
``--pit``, an audio-only model (SDR / SIR / SAR / SDRi / SI-SDRi); ``--framewise WIN[,HOP]``
adds BSS Eval v4 (Stöter et al., LVA/ICA 2018: windows of WIN seconds every HOP, medians over
windows as museval reports them). Several inputs (files, folders, manifests) write each file's
tracks to ``<out>/<stem>/`` (:mod:`avlearn.cli._inputs`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from avlearn.cli import _args as A
from avlearn.cli import _inputs as _in

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "separate",
        help="separate the audio of each visible source of a file (one WAV and one video per source)",
        description="Find the visible sources of a media file (truth boxes of a synthetic world, tracked faces or "
        "salient blobs), separate their sounds with a trained model and write <stem>_<source>.wav and .mp4 per source. "
        "Channel policy: each track is a mono WAV (32-bit float) at the input's sample rate; residual.wav has the "
        "input's channels and holds input - sum(tracks) per channel, so the tracks plus the residual give back the "
        "input. Videos are at the input's frame rate and resolution.",
    )
    _in.add_inputs(p, optional=True)
    p.add_argument("--weights", required=True, help="a separation run's weights.pt (beside its config.yaml) or a checkpoint")
    p.add_argument("--config", default=None, help="the run's recipe, when it is not beside the weights")
    p.add_argument("--out", default=None, help="output folder for FILE's tracks (required with FILE; <out>/<stem>/ per file with several)")
    p.add_argument("--truth", default=None, help="a truth JSON with the sources' boxes (default: the world's, if any)")
    p.add_argument("--no-truth", action="store_true", help="never use the world's truth boxes (use --detector)")
    p.add_argument("--detector", choices=("face", "blob", "truth", "boxes"), default=None,
                   help="how the sources are found: MTCNN faces tracked into one source per person, salient blobs, the "
                   "synthetic world's truth boxes, or the tracks of --boxes (default: boxes with --boxes, else truth when "
                   "the clip has a truth file, else face for voice models, blob otherwise)")
    p.add_argument("--boxes", default=None, metavar="TRACKS",
                   help="your own box/track file (CSV track_id,time_s,x0,y0,x1,y1[,label] or JSON keyframes; pixels or "
                   "normalized, see docs/datasets.md), or a folder of <stem>.csv/<stem>.json per input: each track is one "
                   "source, seen as its crop at each window's frames, written as <stem>_<track_id>.wav/.mp4")
    p.add_argument("--face-weights", default=None, metavar="DIR",
                   help="folder with the MTCNN weights pnet.pt, rnet.pt, onet.pt for --detector face (default: "
                   "$AVLEARN_REALMEDIA or .realmedia_cache, itself or its mtcnn/ subfolder)")
    p.add_argument("--no-video", action="store_true", help="write only the WAVs, not one video per source")
    p.add_argument("--max-sources", type=A.positive_int(maximum=32), default=4, help="most sources the detector returns (default 4)")
    p.add_argument("--window", type=A.positive_float(maximum=3600.0), default=10.0, help="seconds separated at a time (default 10)")
    p.add_argument("--combine", choices=("independent", "argmax", "normalize"), default=None,
                   help="how the sources' masks make the estimates (default: the run's task.combine): each alone, "
                   "each bin to the largest mask, or masks divided by their sum (with these two the found sources share "
                   "all of the sound; 'independent' leaves out what no mask claims, e.g. off-screen sound)")
    p.add_argument("--eval-list", default=None, help="score on a frozen separation list (JSONL) instead of FILE")
    p.add_argument("--pit", default=None, help="with --eval-list: an audio-only model's weights to score beside")
    p.add_argument("--limit", type=A.positive_int(), default=None, help="with --eval-list: only the first N mixtures")
    p.add_argument("--framewise", default=None, metavar="WIN[,HOP]",
                   help="with --eval-list: also BSS Eval v4 per window of WIN seconds every HOP (default WIN), "
                   "median over windows as museval (fw_sdr, fw_isr, fw_sir, fw_sar)")
    _in.add_run_options(p)
    p.set_defaults(func=run, input_args=("inputs", "weights", "config", "truth", "eval_list", "pit", "face_weights", "boxes"), output_dir_args=("out",))
    return p


def run(args: argparse.Namespace) -> int:
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.separation.evaluate import evaluate_separation, format_results
    from avlearn.tasks.separation.inference import separation_task

    if bool(args.inputs) == (args.eval_list is not None):
        print("avlearn separate: give either FILE(s) or --eval-list", file=sys.stderr)
        return 2
    if args.inputs and args.out is None:
        print("avlearn separate: FILE needs --out DIR", file=sys.stderr)
        return 2
    if args.boxes is not None and args.detector not in (None, "boxes"):
        print(f"avlearn separate: --boxes gives the sources; it cannot be combined with --detector {args.detector}", file=sys.stderr)
        return 2
    if args.detector == "boxes" and args.boxes is None:
        print("avlearn separate: --detector boxes needs --boxes TRACKS", file=sys.stderr)
        return 2
    if args.boxes is not None and args.eval_list:
        print("avlearn separate: --boxes is for FILE(s); an --eval-list's boxes come from its manifest rows", file=sys.stderr)
        return 2
    files = _in.expand_inputs(args.inputs) if args.inputs else []
    many = _in.many_inputs(args.inputs)
    if args.boxes is not None and len(files) > 1 and not os.path.isdir(args.boxes):
        print(f"avlearn separate: {len(files)} inputs need --boxes to be a folder of <stem>.csv / <stem>.json files, "
              f"not one file ({args.boxes})", file=sys.stderr)
        return 2
    device = _in.resolve(args.device)
    try:
        run = load_run(args.weights, config=args.config,
                       overrides=[f"task.combine={args.combine}"] if args.combine is not None else ()).to(device)
        task, cfg = separation_task(run), run.config
    except (FileNotFoundError, ValueError) as exc:
        print(f"avlearn separate: {exc}", file=sys.stderr)
        return 2
    if args.eval_list:
        try:
            framewise = _window_hop(args.framewise) if args.framewise else None
            results = evaluate_separation(task, cfg, split_list=args.eval_list, pit=args.pit, limit=args.limit,
                                          progress=not args.json, framewise=framewise)
        except (FileNotFoundError, ValueError) as exc:
            print(f"avlearn separate: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(results) if args.json else format_results(results))
        return 0
    from avlearn.tasks.separation.inference import separate_file

    truth = False if args.no_truth else (args.truth or True)
    outs = _in.output_paths(files, args.out, "", many=many)
    extra = _in.accepted(separate_file, device=device, batch_size=args.batch_size)
    if args.batch_size is None:
        extra.pop("batch_size", None)

    def work(path: str, i: int) -> dict:
        existed = os.path.isdir(outs[i])
        try:
            return separate_file(task, cfg, path, outs[i], truth=truth, window=args.window,
                                 max_sources=args.max_sources, detector=args.detector,
                                 face_weights=args.face_weights, videos=not args.no_video, boxes=args.boxes, **extra)  # fmt: skip
        except BaseException:
            if not existed and os.path.isdir(outs[i]) and not os.listdir(outs[i]):
                os.rmdir(outs[i])  # a skipped file leaves no empty folder behind
            raise

    def text(report: dict) -> None:
        origin = "the box file" if report["detector"] == "boxes" else f"the {report['detector']} detector"
        print(f"{report.get('file', '')}: {len(report['sources'])} sources (boxes from {origin}), model {report['model']}")
        for s in report["sources"]:
            print(f"  {s['id']:>8}  {s['label'] or '':>10}  {s['wav']}  {s['video']}")

    return _in.run_each("avlearn separate", files, work, json_lines=args.json, text=text, device=device)


def _window_hop(text: str) -> tuple[float, float]:
    """``"WIN"`` or ``"WIN,HOP"`` in seconds, both positive."""
    try:
        parts = [float(x) for x in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) not in (1, 2) or not all(math.isfinite(x) and x > 0 for x in parts):
        raise ValueError(f"--framewise {text!r}: expected WIN or WIN,HOP in positive seconds")
    return parts[0], parts[-1]
