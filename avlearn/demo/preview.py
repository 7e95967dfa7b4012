"""The ``preview`` stage of ``avlearn demo``: audio-preview recognition on untrimmed videos.

Trains the Listen to Look pipeline (Gao et al., CVPR 2020; :mod:`avlearn.train.preview`, from the ``preview_*.yaml`` recipes)
briefly on the demo's actions world: the 3D clip teacher, the IMGAUD2VID student distilled from
it, the single-frame and audio-only baselines, and IMGAUD-SKIMMING on the student's feature
banks. The section shows video accuracy against GFLOPs per video for every strategy (table and
plot), localization mAP at tIoU 0.3 / 0.5 / 0.7 beside two naive baselines, and, for a few test
videos, every time step's frame with the moments the preview model chose framed in black and the
ground-truth action under each frame.
"""

from __future__ import annotations

import numpy as np

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, register_demo_stage

__all__ = ["DEMO_STEPS", "moments_strip", "preview_stage"]

#: What the demo changes in the ``preview_<stage>.yaml`` recipes besides the world and folders:
#: optimizer steps per stage in the full demo (the recipes' are for the larger measurement world).
DEMO_STEPS = {"teacher": 70, "student": 100, "frames": 40, "audio": 40, "skimming": 150}

_CHOSEN = np.array([0, 0, 0], dtype=np.uint8)
_BACKGROUND = np.array([200, 200, 200], dtype=np.uint8)


def moments_strip(frames: np.ndarray, labels: list[int], chosen: list[int], *, palette: list[str]) -> np.ndarray:
    """One image of a video's time steps: each step's frame above a bar coloured by its
    ground-truth action (gray for background), the chosen steps framed in black.

    Args:
        frames: uint8 (T, H, W, 3), the frame of each time step.
        labels: (T,) ground-truth label per step (``>= len(palette)`` or negative: background).
        chosen: indices of the steps looked at.
        palette: ``#rrggbb`` colours per action class.
    """
    from avlearn.viz.images import image_grid

    T, H, W, _ = frames.shape
    cells = []
    for t in range(T):
        cell = np.full((H + 10, W + 4, 3), 255, dtype=np.uint8)
        if t in chosen:
            cell[: H + 4] = _CHOSEN
        cell[2 : H + 2, 2 : W + 2] = frames[t]
        lab = labels[t]
        bar = _BACKGROUND if lab < 0 or lab >= len(palette) else np.array([int(palette[lab][i : i + 2], 16) for i in (1, 3, 5)], np.uint8)
        cell[H + 5 :, 2 : W + 2] = bar
        cells.append(cell)
    return image_grid(cells, ncols=T, pad=1)


@register_demo_stage("preview", order=50, worlds=("actions",))
def preview_stage(ctx: DemoContext) -> DemoSection:
    """Train the pipeline, compare accuracy and GFLOPs, localize, show the moments looked at."""
    from avlearn.tasks.preview.bundle import save_bundle
    from avlearn.tasks.preview.evaluate import bundle_from_runs
    from avlearn.tasks.preview.evaluate import (
        accuracy_plot,
        compare,
        localization_table,
    )
    from avlearn.train.preview import train_preview
    from avlearn.tasks.preview.data import VideoWindows, data_for
    from avlearn.viz.plots import PALETTE

    world, out = ctx.world("actions"), ctx.stage_dir("preview")
    runs = train_preview(world, out, quick=ctx.quick, seed=ctx.seed, progress=ctx.progress, retrain=True,
                         steps=None if ctx.quick else DEMO_STEPS, log=ctx.log)
    models = bundle_from_runs(runs)
    save_bundle(models, out / "preview.pt")
    d = models.data
    store = VideoWindows.load(data_for(world, d), "test")
    ctx.log(f"preview: evaluating on {len(store)} test videos")
    steps = sorted({1, 2, models.skimming.steps})
    result = compare(models, store, skim_steps=steps)
    loc = localization_table(models, store)
    rows = result["rows"]
    dense = next(r for r in rows if r["strategy"] == "dense")
    main = next(r for r in rows if r["strategy"] == f"preview@{models.skimming.steps}")
    table = [[r["name"], r["looks"], f"{100 * r['accuracy']:.1f}%", f"{r['gflops']:.4f}", f"{r['of_dense']:.3f}"] for r in rows]
    table += [[f"localization: {r['name']}", "", f"mAP {r['map@0.3']:.3f} / {r['map@0.5']:.3f} / {r['map@0.7']:.3f}", "", ""]
              for r in loc]
    K = len(models.classes)
    images = []
    for v in range(min(3, len(store))):
        starts = store.starts(v, d["step"], d["window"])
        frames = store.video(v)[0]  # (T, H, W, 3) uint8
        idx = [min(int(np.floor((s + d["window"] / 2) * d["fps"])), frames.shape[0] - 1) for s in starts]
        labels = store.labels(v, starts, d["window"]).tolist()
        chosen = [int(np.argmin(np.abs(starts - t))) for t in result["chosen"][v]]
        strip = moments_strip(frames[idx].numpy(), labels, chosen, palette=list(PALETTE[:K]))
        truth = models.classes[store.records[v].label]
        pred = models.classes[result["predictions"][f"preview@{models.skimming.steps}"][v]]
        order = ", ".join(f"{t:g} s" for t in result["chosen"][v])
        images.append((strip, f"{store.records[v].id}: true {truth}, predicted {pred}; looked at (in order) {order}"))
    legend = ", ".join(f"{c} = {PALETTE[i]}" for i, c in enumerate(models.classes))
    plots = [(accuracy_plot(rows, title="video accuracy against GFLOPs per video (test)"), "accuracy against computation"),
             (training_curves(out / "skimming" / "metrics.jsonl", keys=("loss",), title="IMGAUD-SKIMMING loss"), "skimming training loss")]
    return DemoSection(
        "Preview recognition (Listen to Look)",
        text=(f"Untrimmed {store.records[0].duration:g} s videos with {K} action classes. A 3D clip classifier "
              f"({models.specs['teacher']['name']}) is distilled into an image+audio student (IMGAUD2VID); "
              f"IMGAUD-SKIMMING then previews every {d['step']:g} s time step through the student's image and audio "
              f"features and looks at {models.skimming.steps} of them. Dense: {dense['accuracy']:.1%} at "
              f"{dense['gflops']:.3f} GFLOPs per video; preview: {main['accuracy']:.1%} at {main['gflops']:.3f} "
              f"GFLOPs ({main['of_dense']:.1%} of dense). GFLOPs measured with torch.utils.flop_counter.\n\n"
              f"Strips: the frame of every time step, black frame = looked at, bar = ground truth ({legend}; gray: "
              "background)."),
        table=table, header=["strategy", "looks per video", "video accuracy", "GFLOPs / video", "of dense"],
        plots=plots, images=images,
        code=("avlearn make-world --out runs/world_preview --kind actions --clips 160 --val-clips 20 --test-clips 60 "
              "--duration 24 --action-classes 8 --seed 5\n"
              "avlearn preview run --world runs/world_preview --out runs/preview\n"
              "avlearn classify VIDEO.mp4 --weights runs/preview/eval/preview.pt --preview --segments"),
        metrics={"dense_accuracy": dense["accuracy"], "preview_accuracy": main["accuracy"],
                 "preview_gflops_fraction": main["of_dense"], "teacher_map@0.5": loc[0]["map@0.5"]},
    )
