"""The separation stage of ``avlearn demo``: separate the voices of the speakers world.

Trains the VisualVoice-style separator (:mod:`avlearn.tasks.separation.voice`: face identity
plus lip motion at the U-Net bottleneck; the magnitude ratio mask of ``avlearn/recipes/separate_voices.yaml``,
which learns far faster than VisualVoice's complex mask) briefly on the demo's speakers world by
mix-and-separate, every visible speaking face being a source (its truth box gives the face
and mouth crops), and the audio-only permutation-invariant U-Net on the same mixtures. The
report shows, on the world's frozen test groups, SDR / SIR / SAR / SDRi / SI-SDRi of both
beside the mixture and the oracle ratio and binary masks, then one test mixture: audio players
for the mixture, each reference and each estimate, their spectrograms and the predicted masks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from avlearn.demo.report import DemoSection, training_curves
from avlearn.demo.runner import DemoContext, common_overrides, register_demo_stage, stage_config

__all__ = ["RECIPES", "OVERRIDES", "QUICK", "stage_overrides", "separation_stage"]


#: The packaged recipes of the two models the stage trains, by task.
RECIPES = {"visualvoice": "separate_voices", "audio_only_pit": "separate_voices_pit"}

_SHARED: dict[str, Any] = {
    "task.win_length": 200, "data.sources": "objects", "data.max_sources": 8,
    "data.gain": [0.5, 1.5], "optim.lr": 2e-3, "train.steps": 150, "train.precision": "fp32", "train.log_every": 25,
    "train.ckpt_every": 0, "train.final_eval": [],
}

#: What the demo changes in each recipe: every visible object of the demo's speakers world is a
#: source, a 200-sample STFT window, 150 steps, fp32; the audio-only baseline sees the same
#: two-clip mixtures with the same U-Net width as the voice model.
OVERRIDES: dict[str, dict[str, Any]] = {
    "visualvoice": {**_SHARED, "task.combine": "normalize"},
    "audio_only_pit": {**_SHARED, "model.kwargs.unet_channels": 8, "model.kwargs.max_outputs": 8,
                       "data.visual": "frames", "data.num_mix": 2,
                       "data.num_mix_warmup": 0, "train.batch_size": 8},
}

#: Quick mode (tests): a tiny U-Net and visual towers on half-second 32x32 clips, 2 steps.
QUICK: dict[str, Any] = {
    "model.kwargs.unet_levels": 3, "model.kwargs.unet_channels": 4,
    "data.size": 32, "data.duration": 0.5, "data.crop_size": 16, "data.mouth_size": [8, 16], "data.train_clips": 8,
    "schedule.warmup_steps": 1, "train.steps": 2, "train.batch_size": 4, "train.log_every": 1,
}
#: Quick mode's smaller visual towers (the voice model only).
QUICK_VISUAL: dict[str, Any] = {"model.kwargs.visual_width": 4, "model.kwargs.visual_channels": 8}


def stage_overrides(task: str, world: str, out_dir: str, ctx: DemoContext) -> dict[str, Any]:
    """Every override of ``task``'s recipe in this stage (``visualvoice`` or ``audio_only_pit``)."""
    quick = {**QUICK, **(QUICK_VISUAL if task == "visualvoice" else {})} if ctx.quick else {}
    return {"data.world": world, **common_overrides(ctx, out_dir), **OVERRIDES[task], **quick}


def _example(task, batch: dict[str, Any], sample_rate: int) -> tuple[list, list]:
    """Audio players and pictures of the first mixture of ``batch``."""
    from avlearn.viz.images import mask_image, spectrogram_image

    out = task.separate(batch)
    valid = batch["valid"][0]
    n_fft, hop = task.spec.n_fft, task.spec.hop
    audio = [(batch["mixture"][0:1].numpy(), sample_rate, "mixture")]
    images = [(spectrogram_image(batch["mixture"][0].numpy(), n_fft=n_fft, hop=hop), "mixture spectrogram")]
    for k in np.flatnonzero(valid.numpy()):
        ref, est = batch["sources"][0, k], out["estimates"][0, k]
        audio += [(ref[None].numpy(), sample_rate, f"speaker {k}: reference"), (est[None].numpy(), sample_rate, f"speaker {k}: separated")]
        images += [(spectrogram_image(ref.numpy(), n_fft=n_fft, hop=hop), f"speaker {k}: reference"),
                   (spectrogram_image(est.numpy(), n_fft=n_fft, hop=hop), f"speaker {k}: separated"),
                   (mask_image(out["linear_masks"][0, k].numpy(), vmax=1.5), f"speaker {k}: |mask| (white = 1.5)")]
    return audio, images


@register_demo_stage("separation", order=40, worlds=("speakers",))
def separation_stage(ctx: DemoContext) -> DemoSection:
    """Train the voice separator and the audio-only baseline, score them, show one mixture."""
    from avlearn.tasks.separation.data import FrozenMixDataset, stem_clips, load_separation_list
    from avlearn.tasks.separation.evaluate import evaluate_separation, format_results
    from avlearn.tasks.runs import load_run
    from avlearn.train import fit

    world, out = ctx.world("speakers"), ctx.stage_dir("separation")
    runs = {}
    for task in ("visualvoice", "audio_only_pit"):
        cfg = stage_config(RECIPES[task], stage_overrides(task, str(world), str(out / task), ctx))
        ctx.log(f"separation: training {task} for {cfg.train.steps} steps")
        fit(cfg)
        runs[task] = load_run(out / task)
    voice, cfg, pit = runs["visualvoice"].task, runs["visualvoice"].config, runs["audio_only_pit"].task
    limit = 4 if ctx.quick else None
    ctx.log("separation: scoring the frozen test mixtures")
    results = evaluate_separation(voice, cfg, pit=pit, limit=limit)
    d = cfg.data
    groups = load_separation_list(world / "lists" / "separation_test.jsonl", world)[:1]
    ds = FrozenMixDataset(groups, stem_clips([], sample_rate=d.sample_rate, fps=d.fps, size=d.size), d)
    batch = voice.collate([ds[0]])
    batch.pop("skipped")
    audio, images = _example(voice, batch, d.sample_rate) if "mixture" in batch else ([], [])
    header = ["method", "SDR", "SIR", "SAR", "SDRi", "SI-SDRi", "share of oracle IRM SDRi"]
    irm = results["oracle_irm"]["sdri"]
    table = [[name, r["sdr"], r["sir"], r["sar"], r["sdri"], r["sisdri"], f"{100 * r['sdri'] / irm:.0f}%" if irm else "-"]
             for name, r in results.items()]
    metrics = {f"{name}_sdri": r["sdri"] for name, r in results.items()}
    metrics.update(sdr=results["visualvoice"]["sdr"], sources=results["visualvoice"]["sources"])
    plots = [(training_curves(out / t / "metrics.jsonl", title=f"{t} training loss"), f"{t}: training loss") for t in runs]
    return DemoSection(
        "Source separation (voices)",
        text="Mix-and-separate (Zhao et al. ECCV 2018): the audio of two clips of the speakers world is mixed "
        "(each clip normalised to RMS 0.1, as VisualVoice does) and every visible speaking face is separated "
        "again from its face crop (identity) and mouth crops (lip motion), which condition a U-Net predicting "
        "a ratio mask applied to the mixture's magnitude (Gao et al. CVPR 2021 predict a complex mask, which "
        "learns far more slowly from scratch); a mixture's masks are divided by their sum, so the separated "
        "tracks add up to the mixture. The audio-only U-Net sees the same mixtures without faces and is "
        "trained permutation-invariantly. Scores on the world's frozen test groups of 2 and 3 clips; SDRi is the "
        "gain over the mixture's own SDR, and the oracle masks are the upper bounds of mask-based separation.",
        table=table, header=header, plots=plots, images=images, audio=audio, metrics=metrics,
        code="avlearn train avlearn/recipes/separate_voices.yaml\n"
        "avlearn separate --eval-list runs/world_voices/lists/separation_test.jsonl "
        "--weights runs/separate_voices/weights.pt --pit runs/separate_voices_pit/weights.pt\n"
        f"{format_results(results)}",
    )
