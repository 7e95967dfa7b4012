"""Video-level accuracy against GFLOPs per video, and localization mAP, on untrimmed videos.

The measurement of Listen to Look (Gao et al., CVPR 2020, Fig. 5 and Table 3): for each
strategy, the video-level accuracy on held-out untrimmed videos and the computation it spends
per video (:mod:`avlearn.tasks.preview.budget`):

* **dense uniform clips**: the 3D clip classifier on ``n`` (10) evenly spaced clips;
* **uniform single frames**: the single-frame baseline on ``n`` evenly spaced frames;
* **audio only**: the audio-only baseline on every time step;
* **IMGAUD2VID, uniform pairs**: the distilled student on ``n`` evenly spaced image-audio pairs;
* **preview (IMGAUD-SKIMMING)**: banks of every time step, then ``N`` moments chosen.

A video's prediction averages the class probabilities of the clips (frames, pairs) it looked at
over the K action classes (the background column, the clip models' last output, is dropped);
the skimming network predicts the video label directly. Localization: the teacher (and the
student) score windows every ``hop`` seconds, :func:`~avlearn.tasks.preview.temporal_localization.localize`
turns them into segments, mAP at tIoU 0.3 / 0.5 / 0.7 against two naive baselines.

    avlearn preview evaluate --runs runs/preview --world runs/world_preview --out runs/preview/eval

writes ``results.json``, ``accuracy_vs_gflops.svg`` and the bundle ``preview.pt`` (for
``avlearn classify``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from avlearn.tasks.preview.budget import strategy_gflops, unit_costs
from avlearn.tasks.preview.bundle import PreviewModels
from avlearn.tasks.preview.task import window_logits
from avlearn.tasks.preview.temporal_localization import (
    fixed_window_segments,
    localization_map,
    localize,
    whole_video_segments,
)
from avlearn.tasks.preview.data import VideoWindows, uniform_starts

__all__ = ["accuracy_plot", "bundle_from_runs", "compare", "localization_table", "evaluate_preview", "runs_in", "preview_predict", "skim_features", "video_scores"]


def _action_mean(logits: torch.Tensor, K: int) -> torch.Tensor:
    """Mean over clips of the action probabilities (K,) of clip logits (n, K + 1)."""
    return logits.float().softmax(dim=1)[:, :K].mean(0)  # (K,)


@torch.no_grad()
def preview_predict(models: PreviewModels, store: VideoWindows, v: int, *, steps: int | None = None) -> dict[str, Any]:
    """The preview model on video ``v``: class probabilities (K,), the moments chosen (their
    start times, in the order looked at) and the modality weights of each choice."""
    d = models.data
    starts = store.starts(v, d["step"], d["window"])
    st = models.student.eval()
    img = st.image_features(store.images(v, list(starts), d["window"]))  # (T, Di)
    aud = st.audio_features(store.audio(v, list(starts), d["window"]))  # (T, Da)
    return skim_features(models, img, aud, starts, steps=steps)


@torch.no_grad()
def skim_features(models: PreviewModels, img: torch.Tensor, aud: torch.Tensor, starts, *, steps: int | None = None) -> dict[str, Any]:
    """IMGAUD-SKIMMING on one video's per-step student features ``img`` (T, Di) and ``aud`` (T, Da)
    at window ``starts`` (T,): what :func:`preview_predict` returns."""
    out = models.skimming.eval()(img[None], aud[None], steps=steps)
    idx = out["indices"][0].tolist()
    return {"probs": out["logits"][0].softmax(0), "chosen": [float(starts[i]) for i in idx], "indices": idx,
            "image_weight": out["modality"][0, :, 0].tolist(), "step_probs": out["step_logits"][0].softmax(-1)}


@torch.no_grad()
def video_scores(models: PreviewModels, store: VideoWindows, *, dense: int = 10, frames: int = 10, pairs: int = 10,
                 skim_steps: list[int] | None = None) -> dict[str, Any]:
    """Video-level class probabilities of every strategy on every video of ``store``.

    Returns:
        ``{"probs": {strategy: (V, K)}, "chosen": [start times per video], "image_weight": [...]}``
        with strategies ``dense``, ``frames``, ``audio``, ``pairs`` and ``preview@N`` for each N
        in ``skim_steps`` (default: the skimming network's own ``steps``).
    """
    d, K = models.data, len(models.classes)
    w = d["window"]
    skim_steps = skim_steps or [models.skimming.steps]
    probs: dict[str, list[torch.Tensor]] = {}
    chosen, weights = [], []

    def add(name: str, p: torch.Tensor) -> None:
        probs.setdefault(name, []).append(p)

    for v in range(len(store)):
        D = store.records[v].duration
        add("dense", _action_mean(window_logits(models.teacher, store, v, uniform_starts(D, w, dense), w), K))
        if models.frames is not None:
            add("frames", _action_mean(window_logits(models.frames, store, v, uniform_starts(D, w, frames), w, inputs="pair"), K))
        if models.audio is not None:
            add("audio", _action_mean(window_logits(models.audio, store, v, store.starts(v, d["step"], w), w, inputs="pair"), K))
        add("pairs", _action_mean(window_logits(models.student, store, v, uniform_starts(D, w, pairs), w, inputs="pair"), K))
        full = preview_predict(models, store, v, steps=max(skim_steps))
        for n in skim_steps:
            add(f"preview@{n}", full["step_probs"][n - 1])
        chosen.append(full["chosen"])
        weights.append(full["image_weight"])
    return {"probs": {k: torch.stack(v) for k, v in probs.items()}, "chosen": chosen, "image_weight": weights}


def compare(models: PreviewModels, store: VideoWindows, *, dense: int = 10, frames: int = 10, pairs: int = 10,
            skim_steps: list[int] | None = None) -> dict[str, Any]:
    """Accuracy and GFLOPs per video of each strategy on the labelled videos of ``store``.

    Returns:
        ``{"rows": [{"strategy", "name", "looks", "accuracy", "gflops", "of_dense"}], "costs":
        UnitCosts as a dict, "chosen", "image_weight", "labels", "predictions"}``.
    """
    T = len(store.starts(0, models.data["step"], models.data["window"]))
    skim_steps = skim_steps or [models.skimming.steps]
    scores = video_scores(models, store, dense=dense, frames=frames, pairs=pairs, skim_steps=skim_steps)
    labels = torch.tensor([r.label for r in store.records])
    costs = {n: unit_costs(models, T=T, N=n) for n in skim_steps}
    base = costs[skim_steps[-1]]
    names = {"dense": f"dense uniform clips ({dense})", "frames": f"uniform single frames ({frames})",
             "audio": f"audio only ({T} steps)", "pairs": f"IMGAUD2VID, uniform pairs ({pairs})"}
    rows = []
    dense_cost = None
    for key, p in scores["probs"].items():
        if key.startswith("preview@"):
            n = int(key.split("@")[1])
            name, looks = f"preview (IMGAUD-SKIMMING, {n} moment{'s' if n > 1 else ''})", f"{T} previews, {n} look{'s' if n > 1 else ''}"
            gf = strategy_gflops(costs[n], "preview")
        else:
            count = {"dense": dense, "frames": frames, "pairs": pairs}.get(key)
            name, looks, gf = names[key], f"{count or T}", strategy_gflops(base, key, count)
        if key == "dense":
            dense_cost = gf
        acc = float((p.argmax(1) == labels).float().mean())
        rows.append({"strategy": key, "name": name, "looks": looks, "accuracy": acc, "gflops": gf})
    for r in rows:
        r["of_dense"] = r["gflops"] / dense_cost if dense_cost else float("nan")
    return {"rows": rows, "costs": base.as_dict(), "chosen": scores["chosen"],
            "image_weight": scores["image_weight"], "labels": labels.tolist(),
            "predictions": {k: p.argmax(1).tolist() for k, p in scores["probs"].items()}}


@torch.no_grad()
def localization_table(models: PreviewModels, store: VideoWindows, *, fixed_length: float = 3.0,
                       nms_iou: float = 0.5) -> list[dict[str, Any]]:
    """Localization mAP of the teacher and the student (grouped window scores + NMS) and of the
    naive baselines (whole video with the dense video label; fixed ``fixed_length`` s windows)."""
    d, K = models.data, len(models.classes)
    w, hop = d["window"], d["hop"]
    methods: dict[str, dict[Any, list]] = {k: {} for k in ("teacher", "student", "whole", "fixed")}
    gts = {}
    for v, rec in enumerate(store.records):
        starts = store.starts(v, hop, w)
        pt = window_logits(models.teacher, store, v, starts, w).softmax(1)  # (J, K+1)
        ps = window_logits(models.student, store, v, starts, w, inputs="pair").softmax(1)  # (J, K+1)
        opts = dict(window=w, hop=hop, duration=rec.duration, num_actions=K)
        methods["teacher"][rec.id] = localize(pt, starts, nms_iou=nms_iou, **opts)
        methods["student"][rec.id] = localize(ps, starts, nms_iou=nms_iou, **opts)
        video = pt[:, :K].mean(0)  # (K,)
        methods["whole"][rec.id] = whole_video_segments(int(video.argmax()), float(video.max()), rec.duration)
        methods["fixed"][rec.id] = fixed_window_segments(pt, starts, window=w, duration=rec.duration, length=fixed_length, num_actions=K)
        gts[rec.id] = rec.segments
    names = {"teacher": "3D teacher windows + grouping + 1D NMS", "student": "IMGAUD2VID windows + grouping + 1D NMS",
             "whole": "naive: whole video, video label", "fixed": f"naive: fixed {fixed_length:g} s windows"}
    rows = []
    for key, preds in methods.items():
        res = localization_map(preds, gts)
        rows.append({"method": key, "name": names[key], **{f"map@{t:g}": m for t, m in res.map.items()},
                     "average": res.average_map})
    return rows


def accuracy_plot(rows: list[dict[str, Any]], *, title: str = "video accuracy against computation", path=None) -> str:
    """The accuracy-against-GFLOPs scatter plot (log x axis) of :func:`compare`'s rows, as SVG."""
    from avlearn.viz.plots import scatter_plot

    groups: dict[str, list[tuple]] = {}
    for r in rows:
        group = "preview (ours)" if r["strategy"].startswith("preview") else "baselines"
        label = r["name"].split(" (")[0] if group == "baselines" else f"preview, {r['strategy'].split('@')[1]} looks"
        groups.setdefault(group, []).append((r["gflops"], 100 * r["accuracy"], label))
    return scatter_plot(groups, title=title, xlabel="GFLOPs per video (log scale)", ylabel="video accuracy (%)",
                        logx=True, path=path)


def bundle_from_runs(runs: dict[str, str | os.PathLike]) -> PreviewModels:
    """Collect trained runs (``{role: run folder}``; teacher, student and skimming required)
    into :class:`PreviewModels`.

    Raises:
        KeyError: a required role is missing.
        FileNotFoundError / ValueError: as :func:`avlearn.tasks.runs.load_run`.
    """
    from avlearn.models.av.preview import ImageAudioNet
    from avlearn.tasks.preview.bundle import _SKIMMING, ROLES
    from avlearn.tasks.preview.data import class_names, settings
    from avlearn.tasks.runs import load_run

    missing = [r for r in ("teacher", "student", "skimming") if r not in runs]
    if missing:
        raise KeyError(f"bundle_from_runs: missing runs for {missing}")
    built, specs, cfg = {}, {}, None
    for role in ROLES:
        if role not in runs:
            continue
        run = load_run(runs[role])
        model, cfg_r = run.network, run.config
        built[role] = model
        if role == "skimming":
            specs[role] = {"name": _SKIMMING, "kwargs": dict(model.hparams)}
        else:
            kwargs = dict(cfg_r.model.kwargs, num_classes=len(class_names(cfg_r.data)) + 1)
            if isinstance(model, ImageAudioNet):
                kwargs["sample_rate"] = cfg_r.data.sample_rate
            specs[role] = {"name": cfg_r.model.name, "kwargs": kwargs}
        if role == "student":
            cfg = cfg_r
    return PreviewModels(classes=class_names(cfg.data), data=settings(cfg.data), specs=specs, **built)


def markdown_tables(result: dict[str, Any]) -> str:
    """The accuracy / GFLOPs table and the localization table as Markdown."""
    lines = ["| strategy | looks per video | video accuracy | GFLOPs / video | of dense |", "|---|---:|---:|---:|---:|"]
    for r in result["rows"]:
        lines.append(f"| {r['name']} | {r['looks']} | {100 * r['accuracy']:.1f}% | {r['gflops']:.4f} | {r['of_dense']:.3f} |")
    if result.get("localization"):
        lines += ["", "| localization | mAP@0.3 | mAP@0.5 | mAP@0.7 | average |", "|---|---:|---:|---:|---:|"]
        for r in result["localization"]:
            lines.append(f"| {r['name']} | {r['map@0.3']:.3f} | {r['map@0.5']:.3f} | {r['map@0.7']:.3f} | {r['average']:.3f} |")
    return "\n".join(lines)


def evaluate_preview(models: PreviewModels, world: str | os.PathLike, out: str | os.PathLike, *, split: str = "test",
                     dense: int = 10, skim_steps: list[int] | None = None, progress: bool = True) -> dict[str, Any]:
    """Evaluate the preview models on a world's frozen videos and write the results.

    Args:
        models: the trained models (a bundle, or :func:`bundle_from_runs`).
        world: the actions world.
        out: output folder: ``results.json`` and ``accuracy_vs_gflops.svg`` go there.
        split: the split to evaluate (``test``: the frozen test list).
        dense: clips (frames, pairs) of the uniform baselines.
        skim_steps: moments the preview model looks at (default: as trained).
        progress: show a progress bar while decoding.

    Returns:
        the result (``rows``, ``localization``, ``split``, ``videos``, ``classes``, ...).
    """
    from avlearn.tasks.preview.data import data_for

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = VideoWindows.load(data_for(world, models.data), split, progress=progress)
    torch.manual_seed(0)
    result = compare(models, store, dense=dense, frames=dense, pairs=dense, skim_steps=skim_steps)
    result["localization"] = localization_table(models, store)
    result.update(split=split, videos=len(store), classes=models.classes)
    accuracy_plot(result["rows"], path=out / "accuracy_vs_gflops.svg")
    with open(out / "results.json", "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, default=float)
    return result


def runs_in(folder: str | os.PathLike, *, teacher: str | os.PathLike | None = None) -> dict[str, str]:
    """``{role: run folder}`` of the pipeline's trained runs in ``folder`` (teacher/, student/,
    skimming/, and frames/, audio/ when present); ``teacher`` replaces ``folder/teacher``."""
    runs = {r: os.path.join(folder, r) for r in ("teacher", "student", "skimming", "frames", "audio")
            if os.path.isfile(os.path.join(folder, r, "weights.pt"))}
    if teacher:
        runs["teacher"] = os.fspath(teacher)
    return runs
