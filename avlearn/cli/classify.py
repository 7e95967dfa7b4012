"""``avlearn classify``: action labels for a (long, untrimmed) video file.

    avlearn classify video.mp4 --weights runs/preview/eval/preview.pt
    avlearn classify video.mp4 --weights preview.pt --preview --segments --top-k 3 --json
    avlearn classify videos/ list.jsonl --weights preview.pt --out labels/ --json   # labels/<stem>.json

``--weights`` is a preview bundle (``avlearn preview run`` or ``avlearn preview evaluate``
writes ``preview.pt``), loaded with :func:`avlearn.load_run`. By default the 3D clip classifier scores
``--clips`` evenly spaced clips and their action probabilities are averaged (dense
recognition). ``--preview`` uses Listen to Look's audio preview instead (Gao et al., CVPR
2020): the image+audio student's features of every time step, then IMGAUD-SKIMMING looks at a
few moments and predicts from them, at a fraction of the computation; the moments looked at
are printed. ``--segments`` adds temporal action localization: windows every ``hop`` seconds
scored by the clip classifier (the student with ``--preview``), grouped into segments, 1D NMS;
``--method proposals`` uses TAL-Net proposals on the teacher's window features instead
(``--proposals``: a run of ``avlearn/recipes/tal_net_world.yaml`` trained on this bundle's
teacher, :mod:`avlearn.tasks.temporal`, or a ``proposals.pt`` of
:mod:`avlearn.tasks.preview.proposals`; default ``proposals.pt`` beside ``--weights``). Several files, folders or manifests are classified one
by one (unreadable files skipped and counted; ``--json`` prints one line per file; ``--out``
writes each file's JSON record).
"""

from __future__ import annotations

import argparse
import os
import sys

from avlearn.cli import _args as A
from avlearn.cli import _inputs as _in

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``classify`` to the ``avlearn`` command."""
    p = subparsers.add_parser(
        "classify", help="action labels (and segments) of a video file, densely or by audio preview",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _in.add_inputs(p)
    p.add_argument("--weights", required=True, help="a preview bundle (preview.pt)")
    p.add_argument("--preview", action="store_true", help="audio preview + skimming instead of dense clips")
    p.add_argument("--segments", action="store_true", help="also detect action segments (start, end, label)")
    p.add_argument("--top-k", type=A.positive_int(maximum=1000), default=5, help="labels to print (default 5)")
    p.add_argument("--clips", type=A.positive_int(maximum=256), default=10, help="clips of dense recognition (default 10, at most 256)")
    p.add_argument("--moments", type=A.positive_int(maximum=1000), default=None, help="moments the preview looks at (default: as trained)")
    p.add_argument("--min-score", type=A.unit_float, default=0.3, help="smallest segment score printed (default 0.3)")
    p.add_argument("--method", choices=("windows", "proposals"), default="windows",
                   help="segments from grouped window scores (default) or TAL-Net proposals")
    p.add_argument("--proposals", default=None, metavar="PATH",
                   help="the TAL-Net of --method proposals: a temporal_proposals run (avlearn train "
                   "avlearn/recipes/tal_net_world.yaml) or proposals.pt (default: proposals.pt beside --weights)")
    p.add_argument("--out", default=None,
                   help="also write each file's JSON record: a .json file for one input, a folder for several")
    p.add_argument("--overwrite", action="store_true", help="replace --out files that exist")
    _in.add_run_options(p, batch="clips")
    p.set_defaults(func=run, input_args=("inputs", "weights", "proposals"))
    return p


def _print_text(r: dict) -> None:
    how = f"{len(r['moments'])} moments of audio preview" if r["mode"] == "preview" else "dense clips"
    print(f"{r['file']} ({r['duration']:.1f} s): {how}, {r['gflops']:.3f} GFLOPs")
    for n, t in enumerate(r["top_k"], 1):
        print(f"  {n}. {t['name']:<12s} {t['score']:.3f}")
    if "moments" in r:
        print("  looked at: " + ", ".join(f"{m['start']:.1f}-{m['end']:.1f} s" for m in r["moments"]))
    if "segments" in r:
        print(f"  segments ({len(r['segments'])}):")
        for s in r["segments"]:
            print(f"    {s['start']:6.2f} - {s['end']:6.2f} s  {s['name']:<12s} {s['score']:.3f}")


def _proposal_net(path: str, models) -> tuple[object, dict]:
    """The TAL-Net of ``--proposals`` and its window grid: a ``temporal_proposals`` run (folder,
    weights or checkpoint, loaded with :func:`avlearn.load_run`) or a ``proposals.pt`` of
    :func:`~avlearn.tasks.preview.proposals.save_proposal_net`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: neither, a run trained on other features, or another class count.
    """
    from avlearn.tasks.preview.proposals import load_proposal_net
    from avlearn.tasks.runs import load_run

    if os.path.isdir(path) or not _is_proposal_file(path):
        run = load_run(path)
        if run.task_name != "temporal_proposals":
            raise ValueError(f"{path}: a {run.task_name!r} run, not a TAL-Net (temporal_proposals) run")
        d = run.config.data
        if d.feature_files is not None:
            raise ValueError(f"{path}: trained on `avlearn extract-features` files; classify computes the preview "
                             "bundle's teacher features (train with data.feature_run)")
        if run.task.model.num_classes != len(models.classes) + 1:
            raise ValueError(f"{path}: TAL-Net of {run.task.model.num_classes - 1} actions, the bundle has "
                             f"{len(models.classes)}")
        return run.task, {"window": d.window, "hop": d.hop}
    return load_proposal_net(path)


def _is_proposal_file(path: str) -> bool:
    import torch

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no proposal network (a temporal_proposals run or proposals.pt)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # not a torch file: load_run names the reason
        return False
    return isinstance(blob, dict) and blob.get("format") == "avlearn-tal-net-1"


def run(args: argparse.Namespace) -> int:
    """0 when a file was classified, 1 when no file could be read, 2 on bad weights or arguments."""
    from avlearn.tasks.preview.bundle import preview_models
    from avlearn.tasks.preview.inference import classify_file
    from avlearn.tasks.runs import load_run

    if args.top_k < 1 or args.clips < 1 or (args.moments is not None and args.moments < 1):
        print("avlearn classify: --top-k, --clips and --moments must be >= 1", file=sys.stderr)
        return 2
    files, many = _in.expand_inputs(args.inputs), _in.many_inputs(args.inputs)
    if args.out is not None:
        _in.check_out(args, "out", folder=many)
    device = _in.resolve(args.device)
    try:
        models = preview_models(load_run(args.weights).to(device))
    except FileNotFoundError as exc:
        print(f"avlearn classify: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        hint = "" if "preview bundle" in str(exc) else " (--weights must be a preview bundle, written by `avlearn preview run`)"
        print(f"avlearn classify: {exc}{hint}", file=sys.stderr)
        return 2
    net = None
    if args.segments and args.method == "proposals":
        path = args.proposals or os.path.join(os.path.dirname(os.path.abspath(args.weights)), "proposals.pt")
        try:
            net, meta = _proposal_net(path, models)
            net = net.to(device)
        except (FileNotFoundError, ValueError) as exc:
            print(f"avlearn classify: {exc}", file=sys.stderr)
            return 2
        if (meta["window"], meta["hop"]) != (models.data["window"], models.data["hop"]):
            print(f"avlearn classify: {path}: trained on windows of {meta['window']} s every {meta['hop']} s, the bundle "
                  f"scores {models.data['window']} s every {models.data['hop']} s", file=sys.stderr)
            return 2
    outs = _in.output_paths(files, args.out, ".json", many=many)
    extra = _in.accepted(classify_file, device=device, batch_size=args.batch_size)
    if args.batch_size is None:
        extra.pop("batch_size", None)

    def work(path: str, i: int) -> dict:
        _in.free(outs[i], many=many, overwrite=args.overwrite)
        result = classify_file(models, path, preview=args.preview, segments=args.segments, top_k=args.top_k,
                               clips=args.clips, moments=args.moments, min_score=args.min_score,
                               method=args.method, proposal_net=net, **extra)
        return _in.write_record(outs[i], result)

    return _in.run_each("avlearn classify", files, work, json_lines=args.json, text=_print_text, device=device)
