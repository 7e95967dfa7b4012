"""``avlearn extract-features``: per-window embeddings of media files, saved as ``.npz``.

    avlearn extract-features clips/ --model r3d_18 --weights r3d18_k400.pt --out features.npz
    avlearn extract-features a.mp4 b.mp4 --model r3d_tiny --layer 3 --clip-duration 0.5 --out feats/ --json
    avlearn extract-features list.jsonl --weights exported_run/ --out feats/

Inputs are files, folders (searched recursively for media files) and manifests
(:mod:`avlearn.cli._inputs`). The model's input contract (frame rate, size, clip length,
mean/std: torchvision's Kinetics-400 preprocessing for ``r3d_18``, ``mc3_18`` and
``r2plus1d_18``; a run's recipe for ``--weights RUN`` without ``--model``) is applied unless an
option overrides it or ``--no-normalize`` is given; each file is streamed window by window.
Unreadable files are skipped with their reason (the command fails only when no file could be
read). ``--out`` is:

* with one input, that file's ``.npz`` (``.npz`` appended when missing);
* with several inputs and a path ending in ``.npz``, one file for all of them;
* with several inputs otherwise, a folder receiving ``<stem>.npz`` per file.

A ``.npz`` holds ``features`` float32 (W, D) (every window, file after file),
``file_index`` int64 (W,) (which entry of ``paths`` a row comes from), ``starts`` float64
(W,) (window start times in seconds), ``paths`` (F,), ``skipped`` (S,) and ``reasons`` (S,)
(in the combined file), and the settings ``model``, ``layer``, ``clip_duration``, ``stride``,
``fps``, ``sample_rate``, ``mean``, ``std``. ``--json`` prints one JSON object per file.
"""

from __future__ import annotations

import argparse
import os
import sys

from avlearn.cli import _args as A
from avlearn.cli import _inputs as _in

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "extract-features",
        help="embed media files window by window with a registered model",
        description="Cut each file into sliding windows, run a registered model on each and save the "
        "pooled embeddings (pre-logits, or a feature_info layer) of all files into one .npz.",
    )
    p.add_argument("inputs", nargs="+", metavar="FILES_OR_DIR",
                   help="media files, folders (searched recursively) and/or manifests (.csv, .jsonl, .json)")
    p.add_argument("--model", default=None,
                   help="registered model name (see avlearn.models.list_models()); without it --weights is a run "
                   "(a run folder, weights file with its recipe, or an `avlearn export` folder)")
    p.add_argument("--weights", default=None, help="local weights (state dict or checkpoint), or a run without --model")
    p.add_argument("--weights-prefix", default=None, help="load only keys under this prefix, e.g. 'backbone.'")
    p.add_argument("--num-classes", type=A.positive_int(maximum=100_000), default=None, help="classifier size of the checkpoint's model")
    p.add_argument("--layer", type=int, default=None, help="feature_info index to pool (default: pre-logits)")
    p.add_argument("--clip-duration", type=A.positive_float(maximum=3600.0), default=None, help="window length, seconds (default: the model's contract)")
    p.add_argument("--stride", type=A.positive_float(maximum=3600.0), default=None, help="seconds between windows (default: --clip-duration)")
    p.add_argument("--fps", type=A.positive_float(maximum=1000.0), default=None, help="frame rate of the windows (default: the contract's, else 16)")
    p.add_argument("--size", type=A.positive_int(maximum=4096), nargs=2, default=None, metavar=("H", "W"), help="frame size (default: the contract's, else the model's)")
    p.add_argument("--sample-rate", type=A.positive_int(maximum=384_000), default=None, help="audio rate of the windows (default: the contract's, else 16000)")
    p.add_argument("--mean", type=A.finite_float(), nargs=3, default=None, metavar=("R", "G", "B"),
                   help="pixel mean after scaling to [0, 1] (default: the contract's)")
    p.add_argument("--std", type=A.positive_float(), nargs=3, default=None, metavar=("R", "G", "B"),
                   help="pixel std (default: the contract's)")
    p.add_argument("--no-normalize", action="store_true", help="feed frames in [0, 1], ignoring the contract's mean/std")
    _in.add_run_options(p, batch_default=4)
    p.add_argument("--out", required=True, help="output .npz (one input, or all inputs in one file) or folder (module doc)")
    p.add_argument("--overwrite", action="store_true", help="replace --out files that exist")
    p.set_defaults(func=run, input_args=("inputs", "weights"))
    return p


def _extractor(args: argparse.Namespace, device):
    """The FeatureExtractor of the options: a registered model (``--model``) or a run (``--weights``)."""
    from avlearn.errors import UsageError
    from avlearn.tasks.features import FeatureExtractor

    opts = dict(
        layer=args.layer, clip_duration=args.clip_duration, stride=args.stride, fps=args.fps,
        size=tuple(args.size) if args.size else None, sample_rate=args.sample_rate, mean=args.mean, std=args.std,
        normalize=not args.no_normalize, batch_size=args.batch_size, device=device,
    )  # fmt: skip
    try:
        if args.model is None:
            from avlearn.tasks.config import ConfigError
            from avlearn.tasks.runs import load_run

            if args.weights is None:
                raise UsageError("give --model NAME, or --weights RUN (a trained or exported run)")
            try:
                run = load_run(args.weights)
            except ConfigError as exc:
                raise UsageError(str(exc)) from None
            return FeatureExtractor.from_run(run, **opts)
        kwargs = {"num_classes": args.num_classes} if args.num_classes is not None else {}
        return FeatureExtractor(args.model, args.weights, weights_prefix=args.weights_prefix, **opts, **kwargs)
    except (KeyError, ValueError, FileNotFoundError, IndexError) as exc:
        raise UsageError(str(exc).strip("'\"")) from None


def _save(out: str, feats: list, starts: list, paths: list[str], skipped: list[tuple[str, str]], args, fx) -> None:
    import numpy as np

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    index = [np.full(len(s), i, dtype=np.int64) for i, s in enumerate(starts)]
    mean = fx.mean.flatten().tolist() if fx.mean is not None else []
    std = fx.std.flatten().tolist() if fx.std is not None else []
    np.savez(
        out, features=np.concatenate(feats).astype(np.float32), file_index=np.concatenate(index),
        starts=np.concatenate(starts), paths=np.array(paths), skipped=np.array([p for p, _ in skipped], dtype=str),
        reasons=np.array([r for _, r in skipped], dtype=str), model=args.model or os.fspath(args.weights),
        layer=-1 if args.layer is None else args.layer, clip_duration=fx.clip_duration, stride=fx.stride,
        fps=fx.fps, sample_rate=fx.sample_rate, mean=np.array(mean, dtype=np.float64), std=np.array(std, dtype=np.float64),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    files, many = _in.expand_inputs(args.inputs), _in.many_inputs(args.inputs)
    combined = many and args.out.endswith(".npz")
    out = args.out if many or args.out.endswith(".npz") else args.out + ".npz"
    args.out = out
    _in.check_out(args, "out", folder=many and not combined)
    device = _in.resolve(args.device)
    fx = _extractor(args, device)
    outs = _in.output_paths(files, None if combined else out, ".npz", many=many)
    progress = not args.json and sys.stderr.isatty()
    kept: dict[str, list] = {"feats": [], "starts": [], "paths": []}
    skipped: list[tuple[str, str]] = []

    def work(path: str, i: int) -> dict:
        _in.free(outs[i], many=many, overwrite=args.overwrite)
        try:
            got = fx.extract(path, progress=progress)
        except Exception as exc:
            skipped.append((path, str(getattr(exc, "reason", None) or exc)))
            raise
        feats, starts = got.features.numpy(), got.starts
        if combined:
            kept["feats"].append(feats)
            kept["starts"].append(starts)
            kept["paths"].append(path)
        else:
            _save(outs[i], [feats], [starts], [path], [], args, fx)
        return {"out": out if combined else outs[i], "windows": int(len(starts)), "dim": int(feats.shape[1])}

    def text(r: dict) -> None:
        print(f"{r['windows']} windows of {r['dim']}-d features" + ("" if combined else f" -> {r['out']}"))

    status = _in.run_each("avlearn extract-features", files, work, json_lines=args.json,
                          text=None if combined else text, device=None)  # fmt: skip
    if combined and kept["paths"]:
        _save(out, kept["feats"], kept["starts"], kept["paths"], skipped, args, fx)
        if not args.json:
            total = sum(len(s) for s in kept["starts"])
            print(f"{len(kept['paths'])} file(s), {total} windows of {kept['feats'][0].shape[1]}-d features -> {out}")
    return status
