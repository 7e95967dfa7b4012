"""Labels of a whole file with a trained classification run.

The clip-averaging protocol of video classification (Karpathy et al., CVPR 2014, Sec. 4.1;
Tran et al., ICCV 2015, Sec. 3.3): ``clips`` evenly spaced windows of the run's clip length are
decoded at the run's frame rate and size (its input contract), transformed as at evaluation
(centre crop, normalisation) and the class probabilities are averaged.

    >>> run = avlearn.load_run("runs/classify_world")
    >>> predict_file(run, "video.mp4", clips=5)["top_k"][0]["name"]
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch

from avlearn.tasks.classification.data import eval_transform
from avlearn.tasks.classification.task import ClassificationTask

__all__ = ["predict_file"]


@torch.no_grad()
def predict_file(run: Any, path: str | os.PathLike, *, clips: int = 10, top_k: int = 5) -> dict[str, Any]:
    """Class probabilities of a whole file, averaged over evenly spaced clips.

    Args:
        run: a trained ``classification`` run (:func:`avlearn.load_run`).
        path: a media file.
        clips: windows scored (fewer when the file is short).
        top_k: labels returned.

    Returns:
        ``{"file", "duration", "clips": [start times], "probs": [K floats], "top_k": [{"label",
        "name", "score"}]}``.

    Raises:
        ValueError: ``run`` is not a classification run, or ``clips``/``top_k`` < 1.
        avlearn.io.MediaError: the file cannot be read (or lacks the stream the model reads).
    """
    from avlearn.io import MediaError, probe, read_clip

    task = run.task
    if not isinstance(task, ClassificationTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a clip classifier")
    if clips < 1 or top_k < 1:
        raise ValueError(f"clips and top_k must be >= 1, got {clips} and {top_k}")
    d, video, audio = run.config.data, task.input in ("video", "av"), task.input in ("audio", "av")
    path = os.fspath(path)
    info = probe(path)
    window = float(d.clip_duration)
    starts = np.unique(np.linspace(0.0, max(info.duration - window, 0.0), num=clips).round(6))
    transform = eval_transform(d, task.input)
    size = ((d.size, d.size) if isinstance(d.size, int) else tuple(d.size)) if video else None
    device = run.device
    probs = []
    for s in starts:
        clip = read_clip(path, float(s), window, fps=d.fps if video else None, size=size, sample_rate=d.sample_rate,
                         mono=True, video=video, audio=audio)
        keys = ("video", "audio") if task.input == "av" else (task.input,)
        raw = {"video": clip.video, "audio": clip.audio}
        if any(raw[k] is None or not len(raw[k]) for k in keys):
            raise MediaError(path, f"no {task.input} to classify")
        sample = transform({k: raw[k] for k in keys})
        batch = {k: sample[k][None].to(device) for k in keys}
        probs.append(task.predict(task.model_input(batch))[0].cpu())  # (K,)
    mean = torch.stack(probs).mean(0)  # (K,)
    top = mean.topk(min(top_k, len(mean)))
    names = task.class_names
    return {
        "file": path, "duration": float(info.duration), "clips": [float(s) for s in starts],
        "probs": [float(p) for p in mean],
        "top_k": [{"label": int(i), "name": names[int(i)], "score": float(v)} for v, i in zip(top.values, top.indices)],
    }
