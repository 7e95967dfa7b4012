"""The feature-visualization stage of ``avlearn demo``: activation maximization of the trained
action classifier.

Feichtenhofer, Pinz, Wildes & Zisserman, "What have we learned from deep representations for
action recognition?" (CVPR 2018), Sec. 3: an input clip optimised to maximise one class unit
of the demo's trained 3D CNN, under the appearance and total-variation regularizers, with a
strong temporal-variation penalty ("slow" motion) and a weak one ("fast" motion)
(:func:`avlearn.viz.activation_max.activation_maximization`). Runs after the action
classification stage and reads its weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from avlearn.demo.report import DemoSection
from avlearn.demo.runner import DemoContext, register_demo_stage, stage_config

__all__ = ["STEPS", "demo_activation_max"]

#: Optimisation steps (full demo, quick mode).
STEPS: dict[bool, int] = {False: 80, True: 3}


@register_demo_stage("activation_max", order=12, worlds=("actions",))
def demo_activation_max(ctx: DemoContext) -> DemoSection:
    """Maximise each class unit of the action classifier, slow and fast motion; frame strips."""
    from avlearn.demo.classification import QUICK, RECIPE
    from avlearn.tasks.classification import build_classification
    from avlearn.viz.activation_max import activation_maximization, clip_frames

    src = ctx.out_dir / "action_classification" / "weights.pt"
    if not src.is_file():
        raise FileNotFoundError(f"{src}: run the action_classification stage first (it trains the model shown here)")
    overrides: dict[str, Any] = {"data.world": str(ctx.world("actions")), **(QUICK if ctx.quick else {})}
    cfg = stage_config(RECIPE, overrides)
    task = build_classification(cfg)
    task.model.load_state_dict(torch.load(src, weights_only=True))
    d = cfg.data
    shape = (3, int(round(d.clip_duration * d.fps)), d.size, d.size)
    steps = STEPS[ctx.quick]
    images, rows = [], []
    for k, name in enumerate(task.class_names[: 2 if ctx.quick else 4]):
        for motion in ("slow", "fast"):
            g = torch.Generator().manual_seed(ctx.seed + k)
            res = activation_maximization(task.model, shape, channel=k, motion=motion, steps=steps, generator=g)
            frames = clip_frames(res.clip, mean=d.mean, std=d.std)  # (T, H, W, 3)
            strip = np.concatenate(list(frames[:: max(1, len(frames) // 4)][:4]), axis=1)  # (H, 4 W, 3)
            images.append((np.kron(strip, np.ones((3, 3, 1), np.uint8)), f"{name}, {motion} motion"))
            rows.append([name, motion, res.initial, res.final])
    return DemoSection(
        "What the action classifier looks for (activation maximization)",
        text=(f"Input clips optimised for {steps} steps to maximise each class logit of the trained {cfg.model.name}, "
              "with the appearance and total-variation regularizers and a strong (slow) or weak (fast) penalty on "
              "temporal variation (Feichtenhofer et al., CVPR 2018). Four frames of each clip."),
        table=rows, header=["class", "motion", "logit at start", "logit after"],
        images=images,
        code="from avlearn.viz.activation_max import activation_maximization",
        metrics={"mean_gain": float(np.mean([r[3] - r[2] for r in rows]))},
    )
