"""The spatio-temporal action detection stage of ``avlearn demo``.

Trains the AVA-style detector (Gu et al., CVPR 2018: a 3D ResNet over the clip centred on a
keyframe, RoIAlign on the actor boxes, one sigmoid per atomic action) with the
``detect_actors.yaml`` recipe on the demo's actors world, reports test frame-mAP@0.5 on the
ground-truth boxes beside the prior-only and centre-box baselines, and shows one test keyframe
with its labelled boxes (outline: best action; chips: every action above the threshold).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config

__all__ = ["RECIPE", "FULL", "QUICK", "demo_action_detection"]

#: The packaged recipe the stage trains.
RECIPE = "detect_actors"

#: The demo's settings: a short run at 32 px (the recipe's 64 px and 300 steps are the measured
#: setting), and a few steps of tiny batches in quick mode.
FULL: dict[str, Any] = {"data.size": 32, "train.steps": 80, "train.eval_every": 80, "train.ckpt_every": 80}
QUICK: dict[str, Any] = {"data.size": 32, "train.steps": 3, "train.batch_size": 2, "train.log_every": 1,
                         "train.eval_every": 3, "train.ckpt_every": 3}


@register_demo_stage("action_detection", order=15, worlds=("actors",))
def demo_action_detection(ctx: DemoContext) -> DemoSection:
    """Train the detector briefly; frame-mAP vs baselines and one labelled keyframe."""
    from avlearn.io import read_clip
    from avlearn.tasks.detection import evaluate_detection
    from avlearn.tasks.detection.data import split_rows
    from avlearn.tasks.detection.inference import class_colours, draw_detections, score_boxes
    from avlearn.tasks.runs import load_run
    from avlearn.train import fit

    world, out = ctx.world("actors"), ctx.stage_dir("action_detection")
    cfg = stage_config(RECIPE, {"data.world": str(world), **common_overrides(ctx, out), **(QUICK if ctx.quick else FULL)})
    ctx.log(f"action detection: {cfg.model.name}, {cfg.train.steps} steps")
    fit(cfg)
    run = load_run(out)
    res = evaluate_detection(run, "test", boxes=("gt",))
    rows = [["ava_r3d_tiny, ground-truth boxes", res["frame_map_gt_boxes"]],
            ["prior-only (ground-truth boxes, class priors)", res["baselines"]["prior_gt_boxes"]],
            ["centre box (class priors)", res["baselines"]["centre_box"]]]
    row = split_rows(cfg.data, "test")[0]
    h, w = row["size"]
    boxes = np.array([[x0 / w, y0 / h, x1 / w, y1 / h] for x0, y0, x1, y1 in row["boxes"]])
    probs = score_boxes(run, row["clip_path"], row["time"], boxes)  # (N, K)
    names, thr = run.task.class_names, run.task.threshold
    frame = read_clip(row["clip_path"], row["time"], 1.0 / 16, audio=False).video[0].numpy()  # (H, W, 3) at the keyframe
    actors = [{"box": list(b), "scores": list(p),
               "labels": [{"label": int(k), "name": names[k], "score": float(p[k])} for k in np.argsort(-p) if p[k] >= thr]}
              for b, p in zip(np.asarray(row["boxes"], dtype=np.float64), probs)]
    image = np.kron(draw_detections(frame, actors, len(names), thickness=1), np.ones((4, 4, 1), np.uint8))  # 4x larger
    truth = "; ".join(", ".join(names[k] for k in labels) for labels in row["labels"])
    predicted = "; ".join(", ".join(x["name"] for x in a["labels"]) or "-" for a in actors)
    legend = ", ".join(f"{n} rgb{tuple(int(c) for c in col)}" for n, col in zip(names, class_colours(len(names))))
    return DemoSection(
        "Spatio-temporal action detection",
        text=(f"The AVA-style detector ({cfg.model.name}) trained for {cfg.train.steps} steps on the keyframes of the "
              f"actors world ({len(names)} atomic actions, several per actor), {cfg.data.clip_duration:g} s clips at "
              f"{cfg.data.size} px; frame-mAP@0.5 over {res['keyframes']} test keyframes ({res['actors']} actors).\n\n"
              f"Colours: {legend}."),
        table=rows, header=["method", "test frame-mAP@0.5"],
        plots=[(training_curves(out / "metrics.jsonl", keys=("loss",), title="binary cross-entropy"), "training loss")],
        images=[(image, f"test keyframe {row['clip']} at {row['time']:.1f} s; truth per actor: {truth}; "
                        f"predicted: {predicted}")],
        code=("avlearn make-world --out runs/world_actors --kind actors --clips 200 --size 96\n"
              "avlearn train detect_actors\n"
              "avlearn detect clip.mp4 --weights runs/detect_actors --out boxes.mp4 --json"),
        metrics={"frame_map": float(res["frame_map_gt_boxes"]), "prior_only": float(res["baselines"]["prior_gt_boxes"])},
    )
