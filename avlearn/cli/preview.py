"""``avlearn preview``: train and evaluate the Listen to Look pipeline (Gao et al., CVPR 2020).

    avlearn preview run --world runs/world_preview --out runs/preview        # train every stage, evaluate
    avlearn preview evaluate --runs runs/preview --world runs/world_preview --out runs/preview/eval
    avlearn preview evaluate --bundle runs/preview/eval/preview.pt --world runs/world_preview --out eval2

``run`` trains the stages in order from the packaged recipes ``preview_<stage>.yaml`` (teacher,
student, single-frame and audio-only baselines, skimming; :func:`avlearn.train.preview.train_preview`)
and then evaluates them like ``evaluate``. ``evaluate`` scores video accuracy against GFLOPs per
video for every strategy and localization mAP on a world's frozen test videos, and writes
``results.json``, ``accuracy_vs_gflops.svg`` and the bundle ``preview.pt`` (for ``avlearn classify``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register", "run_pipeline", "run_evaluate"]


def _evaluate(models, args: argparse.Namespace, out: Path, skim_steps) -> int:
    from avlearn.tasks.preview.evaluate import evaluate_preview, markdown_tables

    result = evaluate_preview(models, args.world, out, split=args.split, dense=args.dense, skim_steps=skim_steps)
    print(markdown_tables(result))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Evaluate trained runs or a bundle; 0 on success, 2 on bad arguments or weights."""
    from avlearn.data.synthetic import WorldFormatError
    from avlearn.tasks.preview.bundle import preview_models, save_bundle
    from avlearn.tasks.preview.evaluate import bundle_from_runs, runs_in
    from avlearn.tasks.runs import load_run

    if (args.runs is None) == (args.bundle is None):
        print("avlearn preview evaluate: give --runs or --bundle", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        if args.runs:
            models = bundle_from_runs(runs_in(args.runs, teacher=args.teacher))
            out.mkdir(parents=True, exist_ok=True)
            save_bundle(models, out / "preview.pt")
        else:
            models = preview_models(load_run(args.bundle))
        return _evaluate(models, args, out, args.skim_steps)
    except (FileNotFoundError, KeyError, ValueError, WorldFormatError) as exc:
        print(f"avlearn preview evaluate: {exc}", file=sys.stderr)
        return 2


def run_pipeline(args: argparse.Namespace) -> int:
    """Train every stage, then evaluate on the test videos (looking at 1, 2, N and 2N moments)."""
    from avlearn.tasks.config import ConfigError
    from avlearn.train.preview import preview_recipe, train_preview

    try:
        train_preview(args.world, args.out, quick=args.quick, seed=args.seed, retrain=args.retrain,
                      log=lambda m: print(m, file=sys.stderr, flush=True))
    except (ConfigError, FileNotFoundError) as exc:
        print(f"avlearn preview run: {exc}", file=sys.stderr)
        return 2
    n = preview_recipe("skimming", args.world, args.out).task.steps
    args.runs, args.bundle, args.teacher = args.out, None, None
    args.skim_steps = sorted({1, 2, n, 2 * n})
    args.out = str(Path(args.out) / "eval")
    return run_evaluate(args)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--world", required=True, help="an actions world (avlearn make-world --kind actions)")
    p.add_argument("--split", default="test", help="split to evaluate (default test: the frozen test list)")
    p.add_argument("--dense", type=int, default=10, help="clips of the dense baseline (default 10)")


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``preview`` (``run``, ``evaluate``) to the ``avlearn`` command."""
    p = subparsers.add_parser("preview", help="train and evaluate audio-preview recognition (Listen to Look)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="preview_command", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="train every stage in order, then evaluate")
    _common(r)
    r.add_argument("--out", required=True, help="the pipeline's folder (one run folder per stage)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--quick", action="store_true", help="a few steps per stage (smoke test)")
    r.add_argument("--retrain", action="store_true", help="train stages whose weights exist again")
    r.set_defaults(func=run_pipeline)
    e = sub.add_parser("evaluate", help="accuracy against GFLOPs and localization mAP; writes the bundle")
    _common(e)
    e.add_argument("--runs", help="folder with teacher/, student/, skimming/ (and frames/, audio/) runs")
    e.add_argument("--bundle", help="a preview bundle instead of --runs")
    e.add_argument("--teacher", help="a teacher run to use instead of RUNS/teacher (dense baseline, localization)")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument("--skim-steps", type=int, nargs="+", default=None, help="moments the preview model looks at")
    e.set_defaults(func=run_evaluate)
    return p

