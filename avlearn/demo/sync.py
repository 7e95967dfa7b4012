"""The synchronization stage of ``avlearn demo``.

Trains the multisensory network (Owens & Efros, ECCV 2018) briefly on the demo's objects world
with shifted-audio negatives, then reports aligned-vs-shifted accuracy on the world's frozen
test pairs against chance, offset estimation on test clips with injected offsets (errors, share
within one video frame; SyncNet-style search, :func:`avlearn.tasks.sync.estimate_offset`), and
the score-against-shift curve of one clip.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config

__all__ = ["RECIPE", "OVERRIDES", "QUICK", "sync_stage"]


#: The packaged recipe the stage trains.
RECIPE = "sync_multisensory"

#: What the demo changes in the recipe: 1 s windows and 800 steps on the demo's smaller world,
#: other videos' audio as negatives for the first 200 steps (AVTS' curriculum; positives are
#: jittered by up to half a frame, and all-hard negatives from step 0 can sit at chance for
#: long), fp32, and only the test split scored at the end.
OVERRIDES: dict[str, Any] = {
    "task.curriculum_steps": 200, "data.clip_duration": 1.0, "train.steps": 800, "train.precision": "fp32",
    "train.eval_every": 0, "train.final_eval": ["test"],
}

#: Quick mode (tests): a few steps of tiny batches.
QUICK: dict[str, Any] = {"task.curriculum_steps": 1, "schedule.warmup_steps": 2, "train.steps": 3, "train.batch_size": 2,
                         "train.log_every": 1}


@register_demo_stage("sync", order=20, worlds=("objects",))
def sync_stage(ctx: DemoContext) -> DemoSection:
    """Train, measure accuracy and offsets, plot the score against the shift."""
    from avlearn.tasks.sync.data import load_sync_list
    from avlearn.tasks.sync.evaluate import evaluate_offsets
    from avlearn.tasks.sync.inference import estimate_offset, sync_inputs
    from avlearn.tasks.runs import load_run
    from avlearn.train import fit
    from avlearn.viz.plots import line_plot

    world, out = ctx.world("objects"), ctx.stage_dir("sync")
    cfg = stage_config(RECIPE, {"data.world": str(world), **common_overrides(ctx, out), **OVERRIDES,
                                **(QUICK if ctx.quick else {})})
    ctx.log(f"sync: training {cfg.model.name} for {cfg.train.steps} steps")
    results = fit(cfg)
    test = results.get("test", {})
    run = load_run(out)
    model, data = run.network, sync_inputs(run)
    opts = dict(fps=data["fps"], size=tuple(data["size"]), sample_rate=data["sample_rate"], window=data["clip_duration"])
    rows = [r for r in load_sync_list(world / "lists" / "sync_test.jsonl") if r["offset"] != 0.0]
    rows = rows[:2] if ctx.quick else rows
    ctx.log(f"sync: estimating offsets of {len(rows)} test clips")
    offs = evaluate_offsets(model, rows, max_offset=1.0, hop=0.25, **opts)  # shifted rows only
    errors = np.array([abs(r["error"]) for r in offs["rows"]]) if offs["rows"] else np.zeros(1)
    row = offs["rows"][0] if offs["rows"] else None
    plots = [(training_curves(out / "metrics.jsonl", keys=("loss",), title="sync training loss"), "training loss")]
    if row is not None:
        from avlearn.io import AVClip
        from avlearn.tasks.sync.data import av_clips, shift_audio
        from avlearn.data import ManifestRow

        store = av_clips([ManifestRow(path=row["path"])], cache=False, fps=opts["fps"], size=opts["size"], sample_rate=opts["sample_rate"])
        video, audio, path = store.get(0)
        clip = AVClip(video=video.permute(1, 2, 3, 0), audio=shift_audio(audio, row["offset"], opts["sample_rate"]),
                      fps=opts["fps"], sample_rate=opts["sample_rate"], start=0.0, duration=video.shape[1] / opts["fps"])
        est, conf, curve = estimate_offset(model, clip, 1.0, window=opts["window"], hop=0.25)
        shifts = list(curve)
        plots.append((
            line_plot({"mean score": (shifts, [curve[s] for s in shifts]),
                       "true offset": ([row["offset"]] * 2, [np.nanmin(list(curve.values())), np.nanmax(list(curve.values()))])},
                      title=f"score against shift (true {row['offset']:+.3f} s, estimate {est:+.3f} s)",
                      xlabel="audio shift (s); positive = audio late", ylabel="sync score"),
            "score against the shift for one test clip",
        ))
    acc, chance = test.get("accuracy", float("nan")), test.get("chance", float("nan"))
    metrics = {
        "accuracy": acc, "chance": chance, "offset_within_one_frame": offs["within_one_frame"],
        "offset_mean_abs_error_s": offs["mean_abs_error"], "offset_median_abs_error_s": offs["median_abs_error"],
    }
    table = [
        ["aligned-vs-shifted accuracy (frozen test pairs)", f"{acc:.3f}", f"chance {chance:.3f}"],
        ["offsets within one frame (1/16 s)", f"{offs['within_one_frame']:.3f}", f"{offs['count']} clips, |offset| 0.04-1.0 s"],
        ["offset |error|, mean / median (s)", f"{offs['mean_abs_error']:.3f} / {offs['median_abs_error']:.3f}", f"max {errors.max():.3f} s"],
    ]
    return DemoSection(
        "Synchronization",
        text="The multisensory network of Owens & Efros (ECCV 2018) learns from unlabelled clips whether audio "
        "and video are in sync: positives are a clip's own audio, negatives the same audio shifted by 1/16 to "
        "1 s. The trained network then slides the audio against the video to estimate an offset "
        "(positive: audio late).",
        table=table, header=["measure", "value", "reference"], plots=plots, metrics=metrics,
        code="avlearn train avlearn/recipes/sync_multisensory.yaml\n"
        "avlearn sync --eval-list runs/world_sync/lists/sync_test.jsonl --weights runs/sync_multisensory/weights.pt --hop 0.25",
    )
