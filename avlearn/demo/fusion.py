"""The audio-visual fusion stage of ``avlearn demo``: audio-only, video-only and fused models
compared per carrier on the av_classes world.

The comparison of Nagrani et al. ("Attention Bottlenecks for Multimodal Fusion", NeurIPS 2021,
Sec. 4): the same classes learned from the sound alone, the motion alone, and both through MBT's
bottleneck tokens, scored on the world's frozen test list per carrier (``both``: each modality
alone is ambiguous; ``audio``/``video``: one modality tells; ``sync``: only the timing between
them tells). Each model trains from its packaged recipe (``fusion_audio``, ``fusion_video``,
``fusion_mbt``) for a short run.
"""

from __future__ import annotations

from typing import Any

from avlearn.demo.report import DemoSection
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config

__all__ = ["RECIPES", "FULL", "QUICK", "demo_fusion"]

#: The packaged recipes compared, with their row names.
RECIPES = {"fusion_audio": "audio only (TBN audio tower)", "fusion_video": "video only (TBN RGB tower)",
           "fusion_mbt": "MBT (bottleneck fusion)"}

#: Short runs in the demo (the recipes' own 150 steps are the measured setting); a few steps in quick mode.
FULL: dict[str, Any] = {"train.steps": 50, "train.batch_size": 8, "train.eval_every": 50, "train.ckpt_every": 50,
                        "data.eval_clips": 1}
QUICK: dict[str, Any] = {"train.steps": 2, "train.batch_size": 2, "train.log_every": 1, "train.eval_every": 2,
                         "train.ckpt_every": 2, "data.eval_clips": 1}

CARRIERS = ("both", "audio", "video", "sync")


@register_demo_stage("fusion", order=35, worlds=("av_classes",))
def demo_fusion(ctx: DemoContext) -> DemoSection:
    """Train the three models briefly; test accuracy per carrier, as a table and a plot."""
    from avlearn.tasks.classification import evaluate_carriers
    from avlearn.tasks.runs import load_run
    from avlearn.train import fit
    from avlearn.viz.plots import line_plot

    world = ctx.world("av_classes")
    rows, series, metrics = [], {}, {}
    for recipe, name in RECIPES.items():
        out = ctx.stage_dir(f"fusion/{recipe}")
        cfg = stage_config(recipe, {"data.world": str(world), **common_overrides(ctx, out), **(QUICK if ctx.quick else FULL)})
        ctx.log(f"fusion: {recipe} ({cfg.model.name}), {cfg.train.steps} steps")
        fit(cfg)
        res = evaluate_carriers(load_run(out), "test")
        per = [res["per_carrier"].get(c, float("nan")) for c in CARRIERS]
        rows.append([name, res["top1"], *per])
        series[name] = (list(range(len(CARRIERS))), per)
        metrics[f"{recipe}_top1"] = float(res["top1"])
    svg = line_plot(series, title="test accuracy per carrier (0 both, 1 audio, 2 video, 3 sync)", xlabel="carrier",
                    ylabel="top-1", markers=True)
    return DemoSection(
        "Audio-visual fusion",
        text=("The av_classes world carries each class in the sound, the motion, both, or only in their timing. "
              "Audio-only, video-only and MBT models trained briefly on it, scored on the frozen test list per carrier."),
        table=rows, header=["model", "test top-1", *[f"top-1 ({c})" for c in CARRIERS]],
        plots=[(svg, "test accuracy per carrier")],
        code="\n".join(f"avlearn train {r}" for r in RECIPES),
        metrics=metrics,
    )
