"""Whole-file action recognition and temporal action localization with the preview models, streamed.

Dense recognition averages the 3D clip classifier's action probabilities over evenly spaced
clips; the audio preview of Listen to Look (Gao, Oh, Grauman & Torresani, CVPR 2020, Sec. 3.2)
computes the image+audio student's features of every time step and lets IMGAUD-SKIMMING look
at a few moments. Segments: windows every ``hop`` seconds scored and grouped into proposals with
1D NMS (:func:`avlearn.tasks.preview.temporal_localization.localize`).

Every pass decodes the file once, front to back, window by window
(:class:`avlearn.io.stream.StreamReader` at the bundle's frame rate, size and sample rate) and
scores the windows in batches, so memory holds a batch of windows and the per-step features, not
the file: any length works. Windows are cut exactly as :class:`~avlearn.tasks.preview.data.VideoWindows`
cuts them from a decoded file (a batch of windows is held as a :class:`VideoWindows` of one-window
videos, :meth:`~avlearn.tasks.preview.data.VideoWindows.from_arrays`).

    >>> models = preview_models(avlearn.load_run("runs/preview/eval/preview.pt"))
    >>> classify_file(models, "video.mp4", preview=True, segments=True)["top_k"][0]["name"]
"""

from __future__ import annotations

import os
from typing import Any, Iterator

import numpy as np
import torch

from avlearn.tasks.preview.budget import strategy_gflops, unit_costs
from avlearn.tasks.preview.bundle import PreviewModels
from avlearn.tasks.preview.data import VideoRecord, VideoWindows, grid_starts
from avlearn.tasks.preview.evaluate import skim_features
from avlearn.tasks.preview.temporal_localization import localize

__all__ = ["classify_file", "stream_window_stores"]


def stream_window_stores(models: PreviewModels, path: str, hop: float, count: int, *, batch: int = 32,
                         progress: bool = False, desc: str = "windows") -> Iterator[tuple[list[float], VideoWindows]]:
    """The first ``count`` windows of ``path`` every ``hop`` seconds, decoded once, ``batch`` at a time.

    Yields ``(starts, store)``: the windows' start times and a :class:`VideoWindows` whose video
    ``j`` is window ``j`` (cut with start 0.0, exactly as the whole file's store would cut it:
    frames past the end hold the last one, audio past the end is silence, int16 audio).
    """
    from tqdm import tqdm

    from avlearn.io.stream import StreamReader

    d, K = models.data, len(models.classes)
    w = float(d["window"])
    reader = StreamReader(path, w, hop, fps=d["fps"], size=(d["size"], d["size"]), sample_rate=d["sample_rate"],
                          mono=True, last="pad")
    starts: list[float] = []
    frames: list[torch.Tensor] = []
    pcm: list[torch.Tensor] = []

    def store() -> VideoWindows:
        recs = [VideoRecord(id=f"w{i}", path=path, duration=w) for i in range(len(frames))]
        return VideoWindows.from_arrays(recs, frames, pcm, fps=d["fps"], sample_rate=d["sample_rate"], num_classes=K,
                                        mean=d["mean"], std=d["std"])

    done = 0
    for clip in tqdm(reader, total=count, desc=desc, unit="window", disable=not progress):
        starts.append(float(clip.start))
        frames.append(clip.video)  # (F, H, W, 3) uint8
        pcm.append((clip.audio[0].clamp(-1, 1) * 32767).round().to(torch.int16))  # (N,)
        done += 1
        if len(starts) == batch or done == count:
            yield starts, store()
            starts, frames, pcm = [], [], []
        if done == count:
            return
    if starts:
        yield starts, store()


def _logits(model, store: VideoWindows, window: float, inputs: str) -> torch.Tensor:
    """(J, C) logits of the store's one-window videos."""
    js = range(len(store))
    if inputs == "clip":
        return model(torch.cat([store.clips(j, [0.0], window) for j in js])).float()  # (J, C)
    x = {"image": torch.cat([store.images(j, [0.0], window) for j in js]), "audio": torch.cat([store.audio(j, [0.0], window) for j in js])}
    return model(x).float()  # (J, C)


def _grid(duration: float, window: float, hop: float) -> tuple[np.ndarray, float]:
    return grid_starts(duration, window, hop), hop


def _uniform(duration: float, window: float, count: int) -> tuple[int, float]:
    last = max(duration - window, 0.0)
    if count == 1 or last <= 1e-6:
        return 1, window
    return count, last / (count - 1)


def classify_file(models: PreviewModels, path: str, *, preview: bool = False, segments: bool = False, top_k: int = 5,
                  clips: int = 10, moments: int | None = None, min_score: float = 0.3, batch: int = 32,
                  progress: bool | None = None, method: str = "windows", proposal_net: Any = None) -> dict[str, Any]:
    """Classify one whole file with the preview models, streamed.

    Args:
        models: the trained models (:func:`~avlearn.tasks.preview.bundle.preview_models` of a run).
        path: a media file with video and audio.
        preview: audio preview + skimming instead of dense clips.
        segments: also detect action segments.
        top_k: labels returned.
        clips: clips of dense recognition (evenly spaced; one when the file is no longer than a window).
        moments: moments the preview looks at (default: as trained).
        min_score: smallest segment score returned.
        batch: windows per forward pass.
        progress: progress bars (default: for files longer than 5 minutes).
        method: segments by ``windows`` (grouped window scores + 1D NMS) or ``proposals``
            (TAL-Net on the teacher's window features, :mod:`~avlearn.tasks.preview.proposals`).
        proposal_net: the trained TAL-Net of ``proposals``: a ``temporal_proposals`` task (the
            ``task`` of :func:`avlearn.load_run` on a run of ``avlearn/recipes/tal_net_world.yaml``)
            or a bare network of :func:`~avlearn.tasks.preview.proposals.load_proposal_net`.

    Returns:
        ``{"file", "duration", "mode", "gflops", "top_k": [{"label", "name", "score"}], "moments"
        (preview), "segments" (with ``segments``)}``.

    Raises:
        ValueError: ``clips``, ``top_k`` or ``batch`` < 1.
        avlearn.io.MediaError: the file cannot be read.
        ValueError: ``proposals`` without a ``proposal_net``, or an unknown ``method``.
    """
    from avlearn.io import probe

    if clips < 1 or top_k < 1 or batch < 1:
        raise ValueError(f"clips, top_k and batch must be >= 1, got {clips}, {top_k} and {batch}")
    path = os.fspath(path)
    if method not in ("windows", "proposals") or (segments and method == "proposals" and proposal_net is None):
        raise ValueError(f"segments method {method!r} needs 'windows', or 'proposals' with a proposal network")
    d, names = models.data, models.classes
    K, w = len(names), float(d["window"])
    info = probe(path)
    if info.video is None or info.audio is None:
        from avlearn.io import MissingStreamError

        raise MissingStreamError(path, "the preview models need a video and an audio stream")
    duration = float(info.duration)
    show = duration > 300 if progress is None else progress
    steps, step = _grid(duration, w, d["step"])
    T = len(steps)
    result: dict[str, Any] = {"file": path, "duration": duration, "mode": "preview" if preview else "dense"}
    opts = dict(batch=batch, progress=show)
    with torch.inference_mode():
        if preview:
            st = models.student.eval()
            img, aud, starts = [], [], []
            for s, store in stream_window_stores(models, path, step, T, desc="preview", **opts):
                js = range(len(store))
                img.append(st.image_features(torch.cat([store.images(j, [0.0], w) for j in js])))  # (b, Di)
                aud.append(st.audio_features(torch.cat([store.audio(j, [0.0], w) for j in js])))  # (b, Da)
                starts += s
            out = skim_features(models, torch.cat(img), torch.cat(aud), np.asarray(starts), steps=moments)
            probs = out["probs"]
            result["moments"] = [{"start": s, "end": min(s + w, duration), "image_weight": iw}
                                 for s, iw in zip(out["chosen"], out["image_weight"])]
            result["gflops"] = strategy_gflops(unit_costs(models, T=T, N=len(out["chosen"])), "preview")
        else:
            n, hop = _uniform(duration, w, clips)
            teacher = models.teacher.eval()
            logits = torch.cat([_logits(teacher, store, w, "clip") for _, store in
                                stream_window_stores(models, path, hop, n, desc="dense clips", **opts)])  # (n, K+1)
            p = logits.softmax(1)[:, :K].mean(0)  # (K,)
            probs = p / p.sum().clamp_min(1e-12)
            result["gflops"] = strategy_gflops(unit_costs(models, T=T), "dense", clips)
        k = max(1, min(top_k, K))
        top = probs.topk(k)
        result["top_k"] = [{"label": int(i), "name": names[int(i)], "score": float(s)} for s, i in zip(top.values, top.indices)]
        if segments:
            starts, hop = _grid(duration, w, d["hop"])
            if method == "proposals":  # TAL-Net on the teacher's window log-probabilities
                model, inputs = models.teacher, "clip"
            else:
                model, inputs = (models.student, "pair") if preview else (models.teacher, "clip")
            model.eval()
            windows = stream_window_stores(models, path, hop, len(starts), desc="segments", **opts)
            if method == "proposals":
                from avlearn.tasks.temporal.inference import proposal_segments

                segs = proposal_segments(proposal_net, model, windows, starts, window=w, hop=hop, duration=duration)
            else:
                logits = torch.cat([_logits(model, store, w, inputs) for _, store in windows])  # (J, K+1)
                segs = localize(logits.softmax(1), starts, window=w, hop=hop, duration=duration, num_actions=K)
            result["segments"] = [{"start": s, "end": e, "label": c, "name": names[c], "score": sc}
                                  for s, e, c, sc in segs if sc >= min_score]
    return result
