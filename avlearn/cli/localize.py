"""``avlearn localize``: where in the frame the sound comes from, as a heatmap video.

    avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4
    avlearn localize clip.mp4 --weights runs/sync_multisensory/weights.pt --out cam.mp4 --frames-png cam.png --json
    avlearn localize clips/ b.mp4 --weights runs/localize_attention --out heat/ --json   # heat/<stem>.mp4

``--weights`` is a ``localization`` run (audio-visual attention, Arandjelović & Zisserman ECCV
2018; Senocak et al. CVPR 2018) or a ``sync`` run of the multisensory network, whose class
activation maps are used (Owens & Efros ECCV 2018). The file is decoded at the frame rate,
size and sample rate the network was trained with, cut into windows of its clip length, and
each frame gets a heatmap (:func:`avlearn.tasks.localization.localize_file`). The output
is the original video (its own frames and size) with the heatmap of each frame's time blended
over it and the original audio kept; ``--frames-png`` writes a panel of evenly spaced frames.
With several inputs (files, folders, manifests) ``--out`` and ``--frames-png`` are folders that
receive ``<stem>.mp4`` and ``<stem>.png`` per file (:mod:`avlearn.cli._inputs`).
"""

from __future__ import annotations

import argparse
import sys

from avlearn.cli import _args as A
from avlearn.cli import _inputs as _in

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "localize",
        help="heatmap of where the sound comes from, blended over the video (audio kept)",
        description="Localize the sounding objects of a file with a trained localization network (audio-visual "
        "attention) or the class activation maps of a multisensory sync network, and write the video with the "
        "heatmap blended over every frame and the original audio.",
    )
    _in.add_inputs(p)
    p.add_argument("--weights", required=True, help="a localization or sync run's weights.pt (beside its config.yaml) or a checkpoint")
    p.add_argument("--out", required=True, help="output video (e.g. heat.mp4); a folder with several inputs")
    p.add_argument("--frames-png", default=None, metavar="PATH",
                   help="(a folder with several inputs) also write a PNG panel of evenly spaced frames with their heatmaps (enlarged to >= 128 px high)")
    p.add_argument("--panel-frames", type=A.positive_int(maximum=64), default=8, help="frames in the PNG panel (default 8)")
    p.add_argument("--alpha", type=A.unit_float, default=0.5, help="weight of the heatmap colours, 0 to 1 (default 0.5)")
    p.add_argument("--cam-size", type=A.positive_int(maximum=4096), nargs=2, default=None, metavar=("H", "W"),
                   help="frame size a sync network's CAM sees (default: its training size)")
    p.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                   help="average each map with the mirrored frames' (attention runs; default: the run's task.tta_flip)")
    p.add_argument("--overwrite", action="store_true", help="replace --out / --frames-png if they exist")
    _in.add_run_options(p)
    p.set_defaults(func=run, input_args=("inputs", "weights"))
    return p


def run(args: argparse.Namespace) -> int:
    from avlearn.tasks.config import ConfigError
    from avlearn.tasks.localization import localize_file, localizer_from_run
    from avlearn.tasks.runs import load_run

    files, many = _in.expand_inputs(args.inputs), _in.many_inputs(args.inputs)
    for attr in ("out", "frames_png"):
        if getattr(args, attr) is not None:
            _in.check_out(args, attr, folder=many)
    device = _in.resolve(args.device)
    try:
        loc = localizer_from_run(load_run(args.weights).to(device), cam_size=args.cam_size, tta_flip=args.tta_flip)
    except (FileNotFoundError, ValueError, ConfigError) as exc:
        print(f"avlearn localize: {exc}", file=sys.stderr)
        return 2
    outs = _in.output_paths(files, args.out, ".mp4", many=many)
    pngs = _in.output_paths(files, args.frames_png, ".png", many=many)
    extra = _in.accepted(localize_file, device=device, batch_size=args.batch_size)
    if args.batch_size is None:
        extra.pop("batch_size", None)

    def work(path: str, i: int) -> dict:
        for target in (outs[i], pngs[i]):
            _in.free(target, many=many, overwrite=args.overwrite)
        res = localize_file(loc, path, outs[i], frames_png=pngs[i], panel_frames=args.panel_frames, alpha=args.alpha,
                            **extra)  # fmt: skip
        return {**res, "weights": args.weights}

    def text(res: dict) -> None:
        png = res["frames_png"]
        print(f"{res.get('file', '')}: {res['frames']} frames localized ({res['method']}) -> {res['out']}"
              + (f", panel {png}" if png else ""))  # fmt: skip

    return _in.run_each("avlearn localize", files, work, json_lines=args.json, text=text, device=device)
