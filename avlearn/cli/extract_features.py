"""``avlearn extract-features``: per-window embeddings of media files into one ``.npz``.

    avlearn extract-features clips/ --model r3d_18 --weights r3d18.pt --out features.npz
    avlearn extract-features a.mp4 b.mp4 --model r3d_tiny --layer 3 --clip-duration 0.5 --out f.npz --json

Folders are searched recursively for media files. Unreadable files are skipped and reported
(the command fails only when no file could be read). The ``.npz`` holds:

* ``features`` float32 (W, D): every window of every file, file after file;
* ``file_index`` int64 (W,): which entry of ``paths`` each row comes from;
* ``starts`` float64 (W,): window start times in seconds;
* ``paths`` (F,) the files read; ``skipped`` (S,) the files that were not, and ``reasons``;
* ``model``, ``layer``, ``clip_duration``, ``stride``, ``fps``, ``sample_rate``: the settings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run", "find_media"]

MEDIA_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".wav", ".flac", ".mp3", ".m4a", ".ogg")


def find_media(items: list[str]) -> list[str]:
    """Files given directly (any extension), plus media files found recursively in folders."""
    out: list[str] = []
    for item in items:
        if os.path.isdir(item):
            for root, dirs, files in os.walk(item):
                dirs.sort()
                out.extend(os.path.join(root, f) for f in sorted(files) if f.lower().endswith(MEDIA_EXTENSIONS))
        else:
            out.append(item)
    return out


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract-features",
        help="embed media files window by window with a registered model",
        description="Cut each file into sliding windows, run a registered model on each and save the "
        "pooled embeddings (pre-logits, or a feature_info layer) of all files into one .npz.",
    )
    p.add_argument("inputs", nargs="+", metavar="FILES_OR_DIR", help="media files and/or folders (searched recursively)")
    p.add_argument("--model", required=True, help="registered model name (see avlearn.models.list_models())")
    p.add_argument("--weights", default=None, help="local weights (state dict or checkpoint)")
    p.add_argument("--weights-prefix", default=None, help="load only keys under this prefix, e.g. 'backbone.'")
    p.add_argument("--num-classes", type=A.positive_int(maximum=100_000), default=None, help="classifier size of the checkpoint's model")
    p.add_argument("--layer", type=int, default=None, help="feature_info index to pool (default: pre-logits)")
    p.add_argument("--clip-duration", type=A.positive_float(maximum=3600.0), default=None, help="window length, seconds (default: the model's)")
    p.add_argument("--stride", type=A.positive_float(maximum=3600.0), default=None, help="seconds between windows (default: --clip-duration)")
    p.add_argument("--fps", type=A.positive_float(maximum=1000.0), default=None, help="frame rate of the windows (default 16)")
    p.add_argument("--size", type=A.positive_int(maximum=4096), nargs=2, default=None, metavar=("H", "W"), help="frame size (default: the model's)")
    p.add_argument("--sample-rate", type=A.positive_int(maximum=384_000), default=None, help="audio rate of the windows (default 16000)")
    p.add_argument("--batch-size", type=A.positive_int(maximum=4096), default=4, help="windows per forward pass")
    p.add_argument("--device", type=A.device, default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--out", type=A.with_suffix(".npz"), required=True,
                   help="output .npz (.npz is appended when missing, as numpy does)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of text")
    p.set_defaults(func=run, input_args=("inputs", "weights"), output_args=("out",))
    return p


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from avlearn.io import MediaError
    from avlearn.tasks.features import FeatureExtractor

    files = find_media(args.inputs)
    if not files:
        print(f"avlearn extract-features: no media files in {args.inputs}", file=sys.stderr)
        return 1
    kwargs = {"num_classes": args.num_classes} if args.num_classes is not None else {}
    try:
        fx = FeatureExtractor(
            args.model, args.weights, layer=args.layer, clip_duration=args.clip_duration, stride=args.stride,
            fps=args.fps, size=tuple(args.size) if args.size else None, sample_rate=args.sample_rate,
            batch_size=args.batch_size, device=args.device, weights_prefix=args.weights_prefix, **kwargs,
        )  # fmt: skip
    except (KeyError, ValueError, FileNotFoundError, IndexError) as exc:
        print(f"avlearn extract-features: {exc}", file=sys.stderr)
        return 2

    feats, index, starts, done, skipped = [], [], [], [], []
    for path in tqdm(files, desc="extract-features", unit="file", file=sys.stderr, disable=None):
        try:
            out = fx.extract(path)
        except MediaError as exc:
            skipped.append((path, exc.reason))
            continue
        feats.append(out.features.numpy())
        index.append(np.full(len(out.starts), len(done), dtype=np.int64))
        starts.append(out.starts)
        done.append(path)

    if done:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        np.savez(
            args.out, features=np.concatenate(feats).astype(np.float32), file_index=np.concatenate(index),
            starts=np.concatenate(starts), paths=np.array(done), skipped=np.array([p for p, _ in skipped], dtype=str),
            reasons=np.array([r for _, r in skipped], dtype=str), model=args.model,
            layer=-1 if args.layer is None else args.layer, clip_duration=fx.clip_duration, stride=fx.stride,
            fps=fx.fps, sample_rate=fx.sample_rate,
        )  # fmt: skip
    dim = int(feats[0].shape[1]) if feats else 0
    if args.json:
        print(json.dumps({
            "out": args.out if done else None, "model": args.model, "dim": dim,
            "files": [{"path": p, "windows": int(len(s))} for p, s in zip(done, starts)],
            "skipped": [{"path": p, "reason": r} for p, r in skipped],
        }))  # fmt: skip
    else:
        windows = sum(len(s) for s in starts)
        print(f"{len(done)} file(s), {windows} windows of {dim}-d features -> {args.out if done else 'nothing written'}")
        for p, r in skipped:
            print(f"skipped {p}: {r}")
    return 0 if done else 1
