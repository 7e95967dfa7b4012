"""The sound-source localization stage of ``avlearn demo``.

Trains the audio-visual attention network (Arandjelović & Zisserman, ECCV 2018; Senocak et al.,
CVPR 2018) briefly on the demo's objects world with the correspondence objective, evaluates it
on the world's frozen localization test frames (sounding objects' boxes, silent distractors
present) with the cIoU / AUC / pointing-game protocol, and puts the whole-image, centre-prior
and random baselines and the ceiling of each binarisation rule beside it. When the sync stage
ran before, the class activation maps of its multisensory network (Owens & Efros, ECCV 2018)
are scored on the same frames. The figures show test frames with the true boxes (sounding in
red, silent in blue) beside each method's heatmap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config

__all__ = ["RECIPE", "CAM_RECIPE", "OVERRIDES", "QUICK", "cam_overrides", "localization_stage", "example_figure"]

_SOUNDING, _SILENT = (255, 64, 64), (64, 128, 255)


#: The packaged recipes: the attention network the stage trains, and the CAM evaluation.
RECIPE, CAM_RECIPE = "localize_attention", "localize_cam"

#: What the demo changes in ``localize_attention.yaml``: the default (stride-2) video tower, no
#: mirrored-frame averaging, 600 steps on the demo's smaller world.
OVERRIDES: dict[str, Any] = {"task.tta_flip": False, "model.kwargs": {}, "train.steps": 600, "train.log_every": 25}

#: Quick mode (tests): 32x32 frames, a few steps of tiny batches.
QUICK: dict[str, Any] = {"data.size": [32, 32], "schedule.warmup_steps": 1, "train.steps": 3, "train.batch_size": 2,
                         "train.log_every": 1}


def cam_overrides(world: str, loc: Any, size: list[int], out_dir: str) -> dict[str, Any]:
    """The overrides of ``localize_cam.yaml`` that score a sync network's CAMs (``loc``, a
    :class:`~avlearn.tasks.localization.Localizer` of the sync run) on the stage's frames."""
    return {"task.cam_size": list(loc.size), "data.world": world, "data.fps": loc.fps, "data.size": list(size),
            "data.sample_rate": loc.sample_rate, "data.clip_duration": loc.clip_duration, "train.batch_size": 8,
            "train.final_eval": ["val", "test"], "train.out_dir": out_dir, "train.tensorboard": False,
            "train.progress": False}


def example_figure(index: int, methods: dict[str, tuple[Any, Any]]) -> np.ndarray:
    """One test row as a uint8 strip: the frame with its boxes, then each method's heatmap over it.

    Args:
        index: the row of the frozen list.
        methods: name -> ``(task, dataset)``: a task with ``heatmaps(video, audio)`` and the
            :class:`~avlearn.tasks.localization.data.FrozenFrameDataset` of the list decoded
            the way that task's network expects (the first one's frame is shown).
    """
    from avlearn.viz import draw_boxes, image_grid, overlay_heatmap

    cells, frame, boxes = [], None, None
    for task, dataset in methods.values():
        row, sample = dataset.rows[index], dataset[index]
        if frame is None:
            frame = (sample["video"][:, sample["target"]].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)  # (H, W, 3)
            scale = np.array([frame.shape[1], frame.shape[0]] * 2) / np.array(list(sample["gt_mask"].shape[::-1]) * 2)
            boxes = np.asarray(row["boxes"], float).reshape(-1, 4) * scale
            silent = np.asarray(row.get("silent_boxes") or [], float).reshape(-1, 4) * scale
            cells.append(draw_boxes(draw_boxes(frame, boxes, color=_SOUNDING, thickness=1), silent, color=_SILENT, thickness=1))
        with torch.no_grad():
            heat = task.heatmaps(sample["video"][None], sample["audio"][None])[0, sample["target"]]  # (H', W')
        cells.append(draw_boxes(overlay_heatmap(frame, heat.numpy(), normalize="frame")[0], boxes, color=_SOUNDING, thickness=1))
    return image_grid(cells)


def _pick_rows(rows: list[dict], count: int) -> list[int]:
    """Rows with a silent distractor first, one per clip."""
    seen, order = set(), sorted(range(len(rows)), key=lambda i: (not rows[i].get("silent_boxes"), i))
    out = []
    for i in order:
        if rows[i]["id"] not in seen:
            seen.add(rows[i]["id"])
            out.append(i)
        if len(out) == count:
            break
    return out


@register_demo_stage("localization", order=30, worlds=("objects",))
def localization_stage(ctx: DemoContext) -> DemoSection:
    """Train attention, score it (and the sync stage's CAMs) against the baselines, show heatmaps."""
    from avlearn.tasks.localization import build_localization_task, localizer_from_run
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.localization.data import (
        FrozenFrameDataset,
        load_localization_list,
    )
    from avlearn.tasks.localization.evaluate import results_table
    from avlearn.train import evaluate, fit

    world, out = ctx.world("objects"), ctx.stage_dir("localization")
    cfg = stage_config(RECIPE, {"data.world": str(world), **common_overrides(ctx, out / "attention"), **OVERRIDES,
                                **(QUICK if ctx.quick else {})})
    ctx.log(f"localization: training {cfg.model.name} for {cfg.train.steps} steps")
    results = {"attention": fit(cfg).get("test", {})}
    attention = build_localization_task(cfg).eval()
    attention.model.load_state_dict(torch.load(out / "attention" / "weights.pt", map_location="cpu", weights_only=True))
    rows = load_localization_list(world / "lists" / "localization_test.jsonl")
    d = cfg.data
    methods = {"attention": (attention, FrozenFrameDataset(rows, fps=d.fps, size=d.size, sample_rate=d.sample_rate))}
    sync_weights = Path(ctx.out_dir) / "sync" / "weights.pt"
    if sync_weights.is_file():
        cam = localizer_from_run(load_run(sync_weights))  # CAMs of the sync stage's network, at the size it was trained on
        cam_cfg = stage_config(CAM_RECIPE, cam_overrides(str(world), cam, list(d.size), str(out / "cam")))
        ctx.log("localization: scoring the sync network's class activation maps")
        results["cam"] = evaluate(cam_cfg, sync_weights, split="test")
        methods["cam"] = (cam.task, FrozenFrameDataset(rows, fps=cam.fps, size=d.size, sample_rate=cam.sample_rate))
    header, table = results_table(results["attention"], name="audio-visual attention")
    if "cam" in results:
        table.insert(1, results_table(results["cam"], name="CAM (sync network)")[1][0])
    images = [(example_figure(i, methods), f"{rows[i]['id']} frame {rows[i]['frame']}: true boxes (red sounding, blue "
               f"silent), then the {' and '.join(methods)} heatmaps") for i in _pick_rows(rows, 2 if ctx.quick else 4)]
    a = results["attention"]
    metrics = {f"{name}_{k}": m.get(k, float("nan")) for name, m in results.items() for k in ("ciou50", "area_ciou50", "area_auc", "pointing")}
    metrics.update({f"{b}_area_ciou50": a.get(f"{b}.area_ciou50", float("nan")) for b in ("whole_image", "centre_prior", "random")})
    return DemoSection(
        "Sound-source localization",
        text="An audio-visual attention network (Arandjelović & Zisserman ECCV 2018; Senocak et al. CVPR 2018) "
        "learns from unlabelled clips which locations match the sound: the cosine similarity of an audio embedding "
        "with each spatial visual feature, trained to tell a clip's own audio from the other clips' audio. Scored on "
        "the world's frozen test frames against the boxes of the objects sounding in the 1 s audio window (silent "
        "distractors present). cIoU uses the protocol's median binarisation (whose ceiling, the oracle row, is low "
        "because the objects cover about a tenth of the frame) and the area rule (top-|G| pixels; ceiling 1).\n\n"
        f"Pointing game: the model {a.get('pointing', float('nan')):.3f}; whole image "
        f"{a.get('whole_image.pointing', float('nan')):.3f}, centre {a.get('centre_prior.pointing', float('nan')):.3f}, "
        f"random {a.get('random.pointing', float('nan')):.3f}." + ("" if "cam" in results else
        "\n\nThe sync stage's network was not found, so its class activation maps are not scored here."),
        table=table, header=header, images=images, metrics=metrics,
        plots=[(training_curves(out / "attention" / "metrics.jsonl", keys=("loss",), title="localization training loss"),
                "correspondence loss")],
        code="avlearn train avlearn/recipes/localize_attention.yaml\n"
        "avlearn evaluate avlearn/recipes/localize_cam.yaml --weights runs/sync_multisensory/weights.pt\n"
        "avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4 --frames-png heat.png",
    )
