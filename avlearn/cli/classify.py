"""``avlearn classify``: action labels for a (long, untrimmed) video file.

    avlearn classify video.mp4 --weights runs/preview/eval/preview.pt
    avlearn classify video.mp4 --weights preview.pt --preview --segments --top-k 3 --json

``--weights`` is a preview bundle (``python -m avlearn.tasks.preview.pipeline`` or
``...preview.evaluate`` writes ``preview.pt``). By default the 3D clip classifier scores
``--clips`` evenly spaced clips and their action probabilities are averaged (dense
recognition). ``--preview`` uses Listen to Look's audio preview instead (Gao et al., CVPR
2020): the image+audio student's features of every time step, then IMGAUD-SKIMMING looks at a
few moments and predicts from them, at a fraction of the computation; the moments looked at
are printed. ``--segments`` adds temporal action localization: windows every ``hop`` seconds
scored by the clip classifier (the student with ``--preview``), grouped into segments, 1D NMS.
"""

from __future__ import annotations

import argparse
import json
import sys

from avlearn.cli import _args as A

__all__ = ["register", "run"]


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``classify`` to the ``avlearn`` command."""
    p = subparsers.add_parser(
        "classify", help="action labels (and segments) of a video file, densely or by audio preview",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("file", help="a media file with video and audio")
    p.add_argument("--weights", required=True, help="a preview bundle (preview.pt)")
    p.add_argument("--preview", action="store_true", help="audio preview + skimming instead of dense clips")
    p.add_argument("--segments", action="store_true", help="also detect action segments (start, end, label)")
    p.add_argument("--top-k", type=A.positive_int(maximum=1000), default=5, help="labels to print (default 5)")
    p.add_argument("--clips", type=A.positive_int(maximum=256), default=10, help="clips of dense recognition (default 10, at most 256)")
    p.add_argument("--moments", type=A.positive_int(maximum=1000), default=None, help="moments the preview looks at (default: as trained)")
    p.add_argument("--min-score", type=A.unit_float, default=0.3, help="smallest segment score printed (default 0.3)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run, input_args=("file", "weights"))
    return p


def classify_file(models, path: str, *, preview: bool, segments: bool, top_k: int, clips: int, moments: int | None,
                  min_score: float) -> dict:
    """Classify one file with a :class:`~avlearn.tasks.preview.bundle.PreviewModels`; the JSON result."""
    import torch

    from avlearn.tasks.preview.budget import strategy_gflops, unit_costs
    from avlearn.tasks.preview.evaluate import preview_predict
    from avlearn.tasks.preview.imgaud2vid import window_logits
    from avlearn.tasks.preview.localization import localize
    from avlearn.tasks.preview.steps import VideoStore, uniform_starts

    d, names = models.data, models.classes
    K, w = len(names), d["window"]
    store = VideoStore.from_files([path], fps=d["fps"], size=d["size"], sample_rate=d["sample_rate"], window=w,
                                  num_classes=K, mean=d["mean"], std=d["std"])
    duration = store.records[0].duration
    T = len(store.starts(0, d["step"], w))
    result: dict = {"file": path, "duration": duration, "mode": "preview" if preview else "dense"}
    with torch.no_grad():
        if preview:
            out = preview_predict(models, store, 0, steps=moments)
            probs = out["probs"]
            result["moments"] = [{"start": s, "end": min(s + w, duration), "image_weight": iw}
                                 for s, iw in zip(out["chosen"], out["image_weight"])]
            result["gflops"] = strategy_gflops(unit_costs(models, T=T, N=len(out["chosen"])), "preview")
        else:
            logits = window_logits(models.teacher, store, 0, uniform_starts(duration, w, clips), w)
            p = logits.softmax(1)[:, :K].mean(0)  # (K,)
            probs = p / p.sum().clamp_min(1e-12)
            result["gflops"] = strategy_gflops(unit_costs(models, T=T), "dense", clips)
        k = max(1, min(top_k, K))
        top = probs.topk(k)
        result["top_k"] = [{"label": int(i), "name": names[int(i)], "score": float(s)} for s, i in zip(top.values, top.indices)]
        if segments:
            starts = store.starts(0, d["hop"], w)
            model, inputs = (models.student, "pair") if preview else (models.teacher, "clip")
            wp = window_logits(model, store, 0, starts, w, inputs=inputs).softmax(1)  # (J, K+1)
            segs = localize(wp, starts, window=w, hop=d["hop"], duration=duration, num_actions=K)
            result["segments"] = [{"start": s, "end": e, "label": c, "name": names[c], "score": sc}
                                  for s, e, c, sc in segs if sc >= min_score]
    return result


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


def run(args: argparse.Namespace) -> int:
    """0 on success, 1 when the file cannot be read, 2 on bad weights or arguments."""
    from avlearn.io import MediaError
    from avlearn.tasks.preview.bundle import load_bundle

    if args.top_k < 1 or args.clips < 1 or (args.moments is not None and args.moments < 1):
        print("avlearn classify: --top-k, --clips and --moments must be >= 1", file=sys.stderr)
        return 2
    try:
        models = load_bundle(args.weights)
    except (FileNotFoundError, ValueError) as exc:
        print(f"avlearn classify: {exc}", file=sys.stderr)
        return 2
    try:
        result = classify_file(models, args.file, preview=args.preview, segments=args.segments, top_k=args.top_k,
                               clips=args.clips, moments=args.moments, min_score=args.min_score)
    except MediaError as exc:
        print(f"avlearn classify: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        _print_text(result)
    return 0
