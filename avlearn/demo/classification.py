"""The action-classification stage of ``avlearn demo``.

Trains a small 3D ResNet (R3D, Tran et al. CVPR 2018) with the ``classify_world.yaml`` recipe on
the trimmed action segments of the demo's actions world, and reports test top-1 and balanced
accuracy against chance and the majority class, with a few test clips and their predictions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config
from avlearn.tasks.classification import build_classification, build_classification_datasets

__all__ = ["RECIPE", "QUICK", "demo_action_classification"]

#: The packaged recipe the stage trains.
RECIPE = "classify_world"

#: What the demo changes in ``classify_world.yaml`` beyond its world and output folder: nothing
#: in the full demo; a few steps of tiny batches in quick mode.
QUICK: dict[str, Any] = {"train.steps": 4, "train.batch_size": 2, "train.log_every": 1, "train.eval_every": 2,
                         "train.ckpt_every": 2}


def _strip(video: Tensor, mean: list[float], std: list[float], frames: int = 4) -> Tensor:
    """A normalised clip (3, T, H, W) as a uint8 image (H, frames * W, 3) of evenly spaced frames."""
    idx = torch.linspace(0, video.shape[1] - 1, frames).round().long()
    v = video[:, idx] * torch.tensor(std)[:, None, None, None] + torch.tensor(mean)[:, None, None, None]
    return (v.clamp(0, 1) * 255).byte().permute(2, 1, 3, 0).reshape(video.shape[2], -1, 3)  # (H, F*W, 3)


@register_demo_stage("action_classification", order=10, worlds=("actions",))
def demo_action_classification(ctx: DemoContext) -> DemoSection:
    """Train a small 3D CNN on the world's trimmed action segments; test accuracy vs chance."""
    from avlearn.train import fit

    world, out = ctx.world("actions"), ctx.stage_dir("action_classification")
    cfg = stage_config(RECIPE, {"data.world": str(world), **common_overrides(ctx, out), **(QUICK if ctx.quick else {})})
    ctx.log(f"action classification: {cfg.model.name}, {cfg.train.steps} steps")
    test = fit(cfg).get("test", {})
    datasets = build_classification_datasets(cfg)
    task = build_classification(cfg)
    task.model.load_state_dict(torch.load(out / "weights.pt", weights_only=True))
    labels = [task.class_names[datasets["test"].labels[i]] for i in range(len(datasets["test"].rows))]
    k = task.num_classes
    majority = max(labels.count(c) for c in set(labels)) / max(1, len(labels))
    rows = [
        ["r3d_tiny (trained)", test.get("top1", float("nan")), test.get("balanced_acc", float("nan"))],
        ["chance", 1.0 / k, 1.0 / k],
        ["majority class", majority, 1.0 / k],
    ]
    images = []
    for i in range(min(4, len(datasets["test"]))):
        sample = datasets["test"][i]
        if sample is None:
            continue
        pred = int(task.predict(sample["video"][None]).argmax(1))
        caption = f"true: {task.class_names[sample['label']]}, predicted: {task.class_names[pred]}"
        images.append((_strip(sample["video"], cfg.data.mean, cfg.data.std).numpy(), caption))
    metrics_file = out / "metrics.jsonl"
    return DemoSection(
        "Action classification",
        text=(
            f"A {cfg.model.name} (3D ResNet) trained for {cfg.train.steps} steps on {len(datasets['train'])} "
            f"trimmed action segments of the synthetic world ({k} classes: {', '.join(task.class_names)}), "
            f"{cfg.data.clip_duration:g} s clips at {cfg.data.fps:g} fps, {cfg.data.size} px; scored on "
            f"{test.get('samples', 0)} held-out test segments (one centred clip each)."
        ),
        table=rows,
        header=["model", "test top-1", "test balanced accuracy"],
        plots=[
            (training_curves(metrics_file, keys=("loss",), title="cross-entropy"), "training and validation loss"),
            (training_curves(metrics_file, keys=("top1",), title="validation top-1"), "validation top-1 accuracy"),
        ],
        images=images,
        code=(
            "avlearn make-world --out runs/world_actions --kind actions --clips 40 --val-clips 10 --test-clips 10 \\\n"
            "    --duration 12 --action-classes 4\n"
            "avlearn train classify_world"
        ),
        metrics={"test_top1": float(test.get("top1", float("nan"))), "chance": 1.0 / k},
    )
