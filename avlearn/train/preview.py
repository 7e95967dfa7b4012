"""Train the whole Listen to Look pipeline in order, then bundle and evaluate it.

Gao et al. (CVPR 2020) train in stages, each on the output of the previous one:

1. ``teacher``: the clip-level 3D classifier (``preview_teacher``, ``r3d_tiny``);
2. ``student``: IMGAUD2VID, distilled from the teacher (``imgaud2vid``, ``imgaud2vid_small``);
3. ``frames`` and ``audio``: the single-frame and audio-only baselines, trained like the student
   with one modality;
4. ``skimming``: IMGAUD-SKIMMING on the student's feature banks (``imgaud_skimming``).

Each stage is the packaged recipe ``avlearn/recipes/preview_<stage>.yaml`` with the pipeline's
folders (:func:`preview_recipe`), run with :func:`avlearn.train.fit` into ``OUT/<stage>/``.

    avlearn preview run --world runs/world_preview --out runs/preview

trains every stage (skipping those whose ``weights.pt`` exists, unless ``--retrain``), then
evaluates on the test videos (:func:`avlearn.tasks.preview.evaluate.evaluate_preview`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

__all__ = ["STAGES", "QUICK", "preview_recipe", "train_preview"]

STAGES = ("teacher", "student", "frames", "audio", "skimming")

#: What ``quick`` runs change (seconds, for tests and ``avlearn demo --quick``).
QUICK: dict[str, Any] = {"train.steps": 3, "train.batch_size": 4, "train.log_every": 1, "schedule.warmup_steps": 1}


def preview_recipe(stage: str, world: str, out: str, *, quick: bool = False, seed: int = 0,
                   progress: bool = True, steps: int | None = None) -> Any:
    """The validated recipe of one stage: ``avlearn/recipes/preview_<stage>.yaml`` with the
    pipeline's folders.

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
    from avlearn.tasks.config import apply_overrides, config_from_dict, load_recipe

    if stage not in STAGES:
        raise KeyError(f"unknown preview stage {stage!r} (one of {STAGES})")
    over: dict[str, Any] = {"data.world": str(world), "train.out_dir": os.path.join(str(out), stage), "train.seed": seed,
                            "train.progress": progress}
    if stage in ("student", "frames", "audio"):
        over["task.teacher"] = os.path.join(str(out), "teacher")
    if stage == "skimming":
        over["task.student"] = os.path.join(str(out), "student")
    if steps is not None:
        over["train.steps"] = int(steps)
    if quick:
        over.update(QUICK)
    source = f"preview_{stage} + pipeline overrides"
    return config_from_dict(apply_overrides(load_recipe(f"preview_{stage}"), list(over.items()), source=source),
                            source=source)


def train_preview(world: str | os.PathLike, out: str | os.PathLike, *, quick: bool = False, seed: int = 0,
                  progress: bool = True, retrain: bool = False, stages: tuple[str, ...] = STAGES,
                  steps: dict[str, int] | None = None, log: Callable[[str], None] | None = None) -> dict[str, str]:
    """Train the stages in order; returns ``{stage: run folder}``.

    A stage whose ``weights.pt`` already exists is reused unless ``retrain``; ``steps`` overrides
    the optimizer steps of some stages.
    """
    from avlearn.train.trainer import fit

    runs = {}
    for stage in STAGES:
        if stage not in stages:
            continue
        cfg = preview_recipe(stage, str(world), str(out), quick=quick, seed=seed, progress=progress,
                             steps=(steps or {}).get(stage))
        run = cfg.train.out_dir
        if retrain or not os.path.isfile(os.path.join(run, "weights.pt")):
            if log:
                log(f"preview: training {stage} ({getattr(cfg.model, 'name', 'skimming LSTM')}, {cfg.train.steps} steps)")
            fit(cfg)
        runs[stage] = run
    return runs
