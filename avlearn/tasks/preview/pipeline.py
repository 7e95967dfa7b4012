"""Train the whole Listen to Look pipeline in order, then bundle and evaluate it.

Gao et al. (CVPR 2020) train in stages, each on the output of the previous one:

1. ``teacher``: the clip-level 3D classifier (``preview_teacher``, ``r3d_tiny``);
2. ``student``: IMGAUD2VID, distilled from the teacher (``imgaud2vid``, ``imgaud2vid_small``);
3. ``frames`` and ``audio``: the single-frame and audio-only baselines, trained like the student
   with one modality;
4. ``skimming``: IMGAUD-SKIMMING on the student's feature banks (``imgaud_skimming``).

Each stage is a recipe for the training engine (:func:`preview_recipe`; the same recipes are
``recipes/preview_<stage>.yaml``), run with :func:`avlearn.train.fit` into ``OUT/<stage>/``.

    python -m avlearn.tasks.preview.pipeline --world runs/world_preview --out runs/preview

trains every stage (skipping those whose ``weights.pt`` exists, unless ``--retrain``), then
runs :mod:`avlearn.tasks.preview.evaluate` on the test videos (looking at 1, 2, 4 and 8 moments).
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["STAGES", "main", "preview_recipe", "train_preview"]

STAGES = ("teacher", "student", "frames", "audio", "skimming")

_DATA = {"window": 1.0, "hop": 0.5, "step": 1.0, "fps": 8.0, "size": 32, "sample_rate": 16000}

_RECIPES: dict[str, dict[str, Any]] = {
    "teacher": {
        "task": {"name": "preview_teacher", "topk": [1, 2]},
        "model": {"name": "r3d_tiny"},
        "optim": {"name": "adamw", "lr": 3.0e-3, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 20},
        "train": {"steps": 400, "batch_size": 16, "log_every": 20},
    },
    "student": {
        "task": {"name": "imgaud2vid", "temperature": 4.0, "alpha": 0.5, "topk": [1, 2]},
        "model": {"name": "imgaud2vid_small", "kwargs": {"dropout": 0.2}},
        "optim": {"name": "adamw", "lr": 3.0e-3, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 20},
        "train": {"steps": 500, "batch_size": 32, "log_every": 25},
    },
    "skimming": {
        "task": {"name": "imgaud_skimming", "steps": 4, "selection": "gumbel", "tau": 1.0},
        "model": {"name": "imgaud_skimming_small", "kwargs": {"hidden": 256, "key_dim": 64, "dropout": 0.2}},
        "optim": {"name": "adamw", "lr": 1.0e-3, "weight_decay": 0.01},
        "schedule": {"kind": "cosine", "warmup_steps": 20},
        "train": {"steps": 400, "batch_size": 16, "log_every": 25},
    },
}
_RECIPES["frames"] = copy.deepcopy(_RECIPES["student"])
_RECIPES["frames"]["model"]["kwargs"]["modalities"] = ["image"]
_RECIPES["audio"] = copy.deepcopy(_RECIPES["student"])
_RECIPES["audio"]["model"]["kwargs"]["modalities"] = ["audio"]

#: What ``quick`` runs change (seconds, for tests and ``avlearn demo --quick``).
_QUICK = {"steps": 3, "batch_size": 4, "log_every": 1, "warmup_steps": 1}


def preview_recipe(stage: str, world: str, out: str, *, quick: bool = False, seed: int = 0,
                   progress: bool = True, steps: int | None = None) -> dict[str, Any]:
    """The recipe of one stage as a plain dict (for :func:`avlearn.train.config_from_dict`).

    Args:
        stage: one of :data:`STAGES`.
        world: the actions world.
        out: the pipeline's folder; the stage trains into ``out/<stage>`` and reads the
            teacher from ``out/teacher`` and the student from ``out/student``.
        quick: a few steps of tiny batches.
        seed: training seed.
        progress: progress bars.
        steps: optimizer steps instead of the recipe's (ignored when ``quick``).

    Raises:
        KeyError: an unknown stage.
    """
    if stage not in _RECIPES:
        raise KeyError(f"unknown preview stage {stage!r} (one of {STAGES})")
    base = copy.deepcopy(_RECIPES[stage])
    raw = {"task": base["task"], "model": base["model"], "data": {"world": str(world), **_DATA},
           "optim": base["optim"], "schedule": base["schedule"], "train": base["train"]}
    if stage in ("student", "frames", "audio"):
        raw["task"]["teacher"] = os.path.join(str(out), "teacher")
    if stage == "skimming":
        raw["task"]["student"] = os.path.join(str(out), "student")
    raw["train"].update(seed=seed, num_workers=0, eval_every=0, final_eval=["val"], out_dir=os.path.join(str(out), stage),
                        progress=progress, tensorboard=False)
    if steps is not None:
        raw["train"]["steps"] = int(steps)
    if quick:
        raw["train"].update(steps=_QUICK["steps"], batch_size=_QUICK["batch_size"], log_every=_QUICK["log_every"])
        raw["schedule"]["warmup_steps"] = _QUICK["warmup_steps"]
    return raw


def train_preview(world: str | os.PathLike, out: str | os.PathLike, *, quick: bool = False, seed: int = 0,
                  progress: bool = True, retrain: bool = False, stages: tuple[str, ...] = STAGES,
                  steps: dict[str, int] | None = None, log: Callable[[str], None] | None = None) -> dict[str, str]:
    """Train the stages in order; returns ``{stage: run folder}``.

    A stage whose ``weights.pt`` already exists is reused unless ``retrain``; ``steps`` overrides
    the optimizer steps of some stages.
    """
    from avlearn.train import config_from_dict, fit

    runs = {}
    for stage in STAGES:
        if stage not in stages:
            continue
        raw = preview_recipe(stage, str(world), str(out), quick=quick, seed=seed, progress=progress,
                             steps=(steps or {}).get(stage))
        run = raw["train"]["out_dir"]
        if retrain or not os.path.isfile(os.path.join(run, "weights.pt")):
            if log:
                log(f"preview: training {stage} ({raw['model'].get('name', 'skimming LSTM')}, {raw['train']['steps']} steps)")
            fit(config_from_dict(raw, source=f"preview pipeline: {stage}"))
        runs[stage] = run
    return runs


def main(argv: list[str] | None = None) -> int:
    """Train every stage, then evaluate on the test videos (see the module doc)."""
    from avlearn.tasks.preview import evaluate

    p = argparse.ArgumentParser(prog="python -m avlearn.tasks.preview.pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--world", required=True, help="an actions world (avlearn make-world --kind actions)")
    p.add_argument("--out", required=True, help="the pipeline's folder (one run folder per stage)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a few steps per stage (smoke test)")
    p.add_argument("--retrain", action="store_true", help="train stages whose weights exist again")
    args = p.parse_args(argv)
    train_preview(args.world, args.out, quick=args.quick, seed=args.seed, retrain=args.retrain,
                  log=lambda m: print(m, file=sys.stderr, flush=True))
    looks = sorted({1, 2, _RECIPES["skimming"]["task"]["steps"], 2 * _RECIPES["skimming"]["task"]["steps"]})
    return evaluate.main(["--runs", args.out, "--world", args.world, "--out", str(Path(args.out) / "eval"),
                          "--skim-steps", *map(str, looks)])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
