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

from avlearn.demo import DemoContext, DemoSection, register_demo_stage, training_curves

__all__ = ["localization_stage", "demo_config", "cam_config", "example_figure"]

_SOUNDING, _SILENT = (255, 64, 64), (64, 128, 255)


def demo_config(world: str, out_dir: str, *, quick: bool, seed: int = 0) -> dict:
    """The attention recipe the stage trains (a plain dict for :func:`avlearn.train.config.config_from_dict`)."""
    return {
        "task": {"name": "localization", "method": "attention", "objective": "nce", "background_weight": 1.0,
                 "refine": "guided", "refine_radius": 4, "refine_eps": 1e-3},
        "model": {"name": "attention_loc_small"},
        "data": {"world": world, "fps": 4, "size": [32, 32] if quick else [64, 64], "sample_rate": 16000, "clip_duration": 1.0},
        "optim": {"name": "adamw", "lr": 2e-3, "weight_decay": 1e-4},
        "schedule": {"kind": "cosine", "warmup_steps": 1 if quick else 20},
        "train": {
            "steps": 3 if quick else 600, "batch_size": 2 if quick else 16, "log_every": 1 if quick else 25,
            "eval_every": 0, "final_eval": ["test"], "seed": seed, "num_workers": 0, "out_dir": out_dir,
            "tensorboard": False, "progress": not quick,
        },
    }


def cam_config(world: str, sync_data: dict[str, Any], model: dict[str, Any], out_dir: str, *, size: list[int]) -> dict:
    """The evaluation-only recipe scoring a sync network's CAMs on the same frozen frames."""
    return {
        "task": {"name": "localization", "method": "cam", "cam_size": list(sync_data["size"])},
        "model": {k: v for k, v in model.items() if k != "weights"},
        "data": {"world": world, "fps": sync_data["fps"], "size": size, "sample_rate": sync_data["sample_rate"],
                 "clip_duration": sync_data["clip_duration"]},
        "train": {"batch_size": 8, "seed": 0, "num_workers": 0, "out_dir": out_dir, "tensorboard": False, "progress": False},
    }


def example_figure(index: int, methods: dict[str, tuple[Any, Any]]) -> np.ndarray:
    """One test row as a uint8 strip: the frame with its boxes, then each method's heatmap over it.

    Args:
        index: the row of the frozen list.
        methods: name -> ``(task, dataset)``: a task with ``heatmaps(video, audio)`` and the
            :class:`~avlearn.tasks.localization_data.FrozenFrameDataset` of the list decoded
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
    from avlearn.tasks.localization_data import (
        FrozenFrameDataset,
        load_localization_list,
    )
    from avlearn.tasks.localization_eval import results_table
    from avlearn.train import evaluate, fit
    from avlearn.train.config import config_from_dict

    world, out = ctx.world("objects"), ctx.stage_dir("localization")
    raw = demo_config(str(world), str(out / "attention"), quick=ctx.quick, seed=ctx.seed)
    ctx.log(f"localization: training attention_loc_small for {raw['train']['steps']} steps")
    cfg = config_from_dict(raw, source="localization demo")
    results = {"attention": fit(cfg).get("test", {})}
    attention = build_localization_task(cfg).eval()
    attention.model.load_state_dict(torch.load(out / "attention" / "weights.pt", map_location="cpu", weights_only=True))
    rows = load_localization_list(world / "lists" / "localization_test.jsonl")
    d = cfg.data
    methods = {"attention": (attention, FrozenFrameDataset(rows, fps=d.fps, size=d.size, sample_rate=d.sample_rate))}
    sync_weights = Path(ctx.out_dir) / "sync" / "weights.pt"
    if sync_weights.is_file():
        cam = localizer_from_run(load_run(sync_weights))  # CAMs of the sync stage's network, at the size it was trained on
        sync_data = {"fps": cam.fps, "size": list(cam.size), "sample_rate": cam.sample_rate, "clip_duration": cam.clip_duration}
        cam_cfg = config_from_dict(cam_config(str(world), sync_data, {"name": "multisensory_small"}, str(out / "cam"),
                                              size=list(d.size)), source="localization demo (cam)")
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
        code="avlearn train recipes/localize_attention.yaml\n"
        "avlearn evaluate recipes/localize_cam.yaml --weights runs/sync_multisensory/weights.pt\n"
        "avlearn localize clip.mp4 --weights runs/localize_attention/weights.pt --out heat.mp4 --frames-png heat.png",
    )
