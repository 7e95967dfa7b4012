"""``avlearn localize``: where in the frame the sound comes from, as a heatmap video.

    avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4
    avlearn localize clip.mp4 --weights runs/sync_multisensory/weights.pt --out cam.mp4 --frames-png cam.png --json

``--weights`` is a ``localization`` run (audio-visual attention, Arandjelović & Zisserman ECCV
2018; Senocak et al. CVPR 2018) or a ``sync`` run of the multisensory network, whose class
activation maps are used (Owens & Efros ECCV 2018). The file is decoded at the frame rate,
size and sample rate the network was trained with, cut into windows of its clip length, and
each frame gets a heatmap (:meth:`avlearn.tasks.localization.Localizer.localize`). The output
is the original video (its own frames and size) with the heatmap of each frame's time blended
over it and the original audio kept; ``--frames-png`` writes a panel of evenly spaced frames.
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run", "panel"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "localize",
        help="heatmap of where the sound comes from, blended over the video (audio kept)",
        description="Localize the sounding objects of a file with a trained localization network (audio-visual "
        "attention) or the class activation maps of a multisensory sync network, and write the video with the "
        "heatmap blended over every frame and the original audio.",
    )
    p.add_argument("file", help="a media file with video and audio")
    p.add_argument("--weights", required=True, help="a localization or sync run's weights.pt (beside its config.yaml) or a checkpoint")
    p.add_argument("--out", required=True, help="output video (e.g. heat.mp4)")
    p.add_argument("--frames-png", default=None, metavar="PATH",
                   help="also write a PNG panel of evenly spaced frames with their heatmaps (enlarged to >= 128 px high)")
    p.add_argument("--panel-frames", type=A.positive_int(maximum=64), default=8, help="frames in the PNG panel (default 8)")
    p.add_argument("--alpha", type=A.unit_float, default=0.5, help="weight of the heatmap colours, 0 to 1 (default 0.5)")
    p.add_argument("--cam-size", type=A.positive_int(maximum=4096), nargs=2, default=None, metavar=("H", "W"),
                   help="frame size a sync network's CAM sees (default: its training size)")
    p.add_argument("--tta-flip", action=argparse.BooleanOptionalAction, default=None,
                   help="average each map with the mirrored frames' (attention runs; default: the run's task.tta_flip)")
    p.add_argument("--overwrite", action="store_true", help="replace --out / --frames-png if they exist")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, input_args=("file", "weights"), output_args=("out", "frames_png"))
    return p


def panel(frames, heat, *, count: int = 8, alpha: float = 0.5):
    """A one-row uint8 panel of ``count`` evenly spaced frames (T, H, W, 3) with heatmaps (T, H, W) blended."""
    import numpy as np

    from avlearn.viz import image_grid, overlay_heatmap

    pick = np.unique(np.linspace(0, len(frames) - 1, num=max(1, min(count, len(frames)))).round().astype(int))
    return image_grid(list(overlay_heatmap(np.asarray(frames)[pick], np.asarray(heat)[pick], alpha=alpha)))


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from avlearn.io import MediaError, read_clip
    from avlearn.tasks.localization import load_localizer
    from avlearn.viz import save_image, write_heatmap_video

    try:
        loc = load_localizer(args.weights, cam_size=args.cam_size, tta_flip=args.tta_flip)
    except (FileNotFoundError, ValueError) as exc:
        print(f"avlearn localize: {exc}", file=sys.stderr)
        return 2
    try:
        view = read_clip(args.file, fps=loc.fps, size=loc.size, sample_rate=loc.sample_rate, mono=True)
        orig = read_clip(args.file)
    except MediaError as exc:
        print(f"avlearn localize: {exc}", file=sys.stderr)
        return 1
    if view.video is None or view.audio is None or not len(view.video):
        print(f"avlearn localize: {args.file}: needs both a video and an audio stream", file=sys.stderr)
        return 1
    heat = loc.localize(view.video.permute(3, 0, 1, 2), view.audio)  # (T, h, w) at the model's rate
    times = orig.meta.get("frame_times") or [orig.start + i / orig.fps for i in range(len(orig.video))]
    pick = np.clip(np.floor((np.asarray(times) - view.start) * loc.fps + 1e-6).astype(int), 0, heat.shape[0] - 1)
    frames = orig.video.numpy()  # (T', H, W, 3) the file's own frames
    per_frame = heat[torch.as_tensor(pick)]  # (T', h, w): the map of each original frame's time
    try:
        out = write_heatmap_video(args.out, frames, per_frame, orig.audio, orig.fps, orig.sample_rate, alpha=args.alpha)
        png = None
        if args.frames_png:
            scale = max(1, 128 // frames.shape[1])  # small videos are enlarged (nearest neighbour) to >= 128 px
            png = save_image(args.frames_png, panel(frames, per_frame, count=args.panel_frames, alpha=args.alpha), scale=scale)
    except (MediaError, OSError) as exc:
        print(f"avlearn localize: {exc}", file=sys.stderr)
        return 1
    h, w = heat.shape[-2:]
    flat = heat.flatten(1).argmax(1)
    peaks = [[round(float(x) * frames.shape[2] / w, 1), round(float(y) * frames.shape[1] / h, 1)] for y, x in zip(flat // w, flat % w)]
    if args.json:
        print(json.dumps({
            "file": args.file, "out": out, "frames_png": png, "method": loc.method, "tta_flip": loc.task.cfg.tta_flip, "weights": args.weights,
            "frames": len(frames), "fps": orig.fps, "model_fps": loc.fps, "model_size": list(loc.size),
            "duration": orig.duration, "peaks": peaks,
        }))
    else:
        print(f"{args.file}: {len(frames)} frames localized ({loc.method}) -> {out}" + (f", panel {png}" if png else ""))
    return 0
