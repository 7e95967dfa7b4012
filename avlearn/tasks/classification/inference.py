"""Labels of a whole file with a trained classification run.

The clip-averaging protocol of video classification (Karpathy et al., CVPR 2014, Sec. 4.1;
Tran et al., ICCV 2015, Sec. 3.3): ``clips`` evenly spaced windows of the run's clip length are
decoded at the run's frame rate and size (its input contract), transformed as at evaluation
(centre crop, normalisation) and the class probabilities are averaged. The file is streamed
(decoded once, front to back, window by window), so its length does not matter.

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

__all__ = ["predict_file", "clip_starts"]


def clip_starts(duration: float, window: float, clips: int) -> tuple[np.ndarray, float]:
    """``clips`` window starts spread evenly over ``[0, duration - window]`` (one when the file is
    no longer than a window) and the hop between them."""
    last = max(duration - window, 0.0)
    if clips == 1 or last <= 1e-6:
        return np.zeros(1), window
    hop = last / (clips - 1)
    return np.arange(clips) * hop, hop


@torch.inference_mode()
def predict_file(run: Any, path: str | os.PathLike, *, clips: int = 10, top_k: int = 5, batch_size: int = 8,
                 progress: bool | None = None) -> dict[str, Any]:
    """Class probabilities of a whole file, averaged over evenly spaced clips, streamed.

    The file is decoded once, front to back (:class:`avlearn.io.stream.StreamReader`, at the
    run's frame rate and size: memory bounded by a window, not the file), and the clips are
    scored ``batch_size`` at a time.

    Args:
        run: a trained ``classification`` run (:func:`avlearn.load_run`).
        path: a media file.
        clips: windows scored (one when the file is no longer than a window).
        top_k: labels returned.
        batch_size: clips per forward pass.
        progress: show a progress bar (default: for files longer than 5 minutes).

    Returns:
        ``{"file", "duration", "clips": [start times], "probs": [K floats], "top_k": [{"label",
        "name", "score"}]}``.

    Raises:
        ValueError: ``run`` is not a classification run, or ``clips``/``top_k``/``batch_size`` < 1.
        avlearn.io.MediaError: the file cannot be read (or lacks the stream the model reads).
    """
    from tqdm import tqdm

    from avlearn.io import MediaError, probe
    from avlearn.io.stream import StreamReader

    task = run.task
    if not isinstance(task, ClassificationTask):
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a clip classifier")
    if clips < 1 or top_k < 1 or batch_size < 1:
        raise ValueError(f"clips, top_k and batch_size must be >= 1, got {clips}, {top_k} and {batch_size}")
    d, video, audio = run.config.data, task.input in ("video", "av"), task.input in ("audio", "av")
    path = os.fspath(path)
    info = probe(path)
    window = float(d.clip_duration)
    starts, hop = clip_starts(info.duration, window, clips)
    transform = eval_transform(d, task.input)
    size = ((d.size, d.size) if isinstance(d.size, int) else tuple(d.size)) if video else None
    device = run.device
    reader = StreamReader(path, window, hop, fps=d.fps if video else None, size=size, sample_rate=d.sample_rate,
                          mono=True, video=video, audio=audio, last="pad")
    keys = ("video", "audio") if task.input == "av" else (task.input,)
    show = info.duration > 300 if progress is None else progress
    probs, batch, seen = [], {k: [] for k in keys}, []

    def flush() -> None:
        x = {k: torch.stack(v).to(device) for k, v in batch.items()}  # each (b, ...)
        probs.append(task.predict(task.model_input(x)).cpu())  # (b, K)
        for v in batch.values():
            v.clear()

    for clip in tqdm(reader, total=len(starts), desc=f"classify {os.path.basename(path)}", disable=not show, unit="clip"):
        raw = {"video": clip.video, "audio": clip.audio}
        if any(raw[k] is None or not len(raw[k]) for k in keys):
            raise MediaError(path, f"no {task.input} to classify")
        sample = transform({k: raw[k] for k in keys})
        for k in keys:
            batch[k].append(sample[k])
        seen.append(clip.start)
        if len(seen) % batch_size == 0:
            flush()
        if len(seen) == len(starts):
            break
    if batch[keys[0]]:
        flush()
    if not seen:
        raise MediaError(path, f"no {task.input} to classify")
    mean = torch.cat(probs).mean(0)  # (K,)
    top = mean.topk(min(top_k, len(mean)))
    names = task.class_names
    return {
        "file": path, "duration": float(info.duration), "clips": [float(s) for s in seen],
        "probs": [float(p) for p in mean],
        "top_k": [{"label": int(i), "name": names[int(i)], "score": float(v)} for v, i in zip(top.values, top.indices)],
    }
