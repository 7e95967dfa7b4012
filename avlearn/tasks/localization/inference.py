"""Whole-clip and whole-file sound-source localization with a trained run.

A :class:`Localizer` cuts a clip into windows of the network's clip length and gives every frame
a heatmap (the attention maps of Arandjelović & Zisserman, ECCV 2018, or the class activation
maps of Owens & Efros, ECCV 2018, Sec. 5); :func:`localizer_from_run` builds it from
:func:`avlearn.load_run`, and :func:`localize_file` writes a file's heatmap video.

    >>> loc = localizer_from_run(avlearn.load_run("runs/localize_attention"))
    >>> localize_file(loc, "clip.mp4", "heat.mp4")["peaks"][:2]
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from avlearn.tasks.localization.task import LocalizationConfig, LocalizationTask

__all__ = ["Localizer", "localizer_from_run", "heatmap_panel", "localize_file"]


class Localizer:
    """A trained localization network ready for whole clips.

    Args:
        task: the network inside a :class:`LocalizationTask` (method and CAM options).
        fps, size, sample_rate, clip_duration: the data options it was trained with.
    """

    def __init__(self, task: LocalizationTask, *, fps: float, size, sample_rate: int, clip_duration: float):
        self.task = task.eval()
        self.fps, self.size, self.sample_rate = float(fps), tuple(size), int(sample_rate)
        self.clip_duration = float(clip_duration)

    @property
    def method(self) -> str:
        return self.task.cfg.method

    @torch.no_grad()
    def localize(self, video: Tensor, audio: Tensor) -> Tensor:
        """Heatmaps of a whole clip, window by window.

        Args:
            video: (3, T, H, W) frames (uint8 or float in [0, 1]) at ``fps``.
            audio: (1, N) mono waveform at ``sample_rate``, starting with frame 0.

        Returns:
            (T, H, W) maps in [0, 1] (each window's maps min-max scaled together for CAMs).
            Windows of ``clip_duration`` follow each other; the last one is aligned to the end
            of the clip; a clip shorter than one window is one window.
        """
        v = video.float() / 255.0 if not video.is_floating_point() else video
        t = v.shape[1]
        nf = min(t, max(1, int(round(self.clip_duration * self.fps))))
        starts = list(range(0, max(t - nf, 0) + 1, nf))
        if starts[-1] + nf < t:
            starts.append(t - nf)
        out = torch.zeros(t, *v.shape[-2:])
        for f0 in starts:
            a0 = int(round(f0 / self.fps * self.sample_rate))
            na = int(round(nf / self.fps * self.sample_rate))
            a = audio[:, a0 : a0 + na]
            if a.shape[-1] < na:
                a = F.pad(a, (0, na - a.shape[-1]))
            heat = self.task.heatmaps(v[None, :, f0 : f0 + nf], a[None])[0].float()  # (nf, H, W)
            if self.method == "cam":
                heat = (heat - heat.min()) / (heat.max() - heat.min()).clamp_min(1e-12)
            out[f0 : f0 + nf] = heat.clamp(0.0, 1.0)  # a guided filter may overshoot a little
        return out


def localizer_from_run(run: Any, *, cam_size: list[int] | None = None, tta_flip: bool | None = None) -> Localizer:
    """A :class:`Localizer` from a trained run (:func:`avlearn.load_run`).

    A ``localization`` run gives its own method; a ``sync`` run (a multisensory network) gives
    CAMs, at the size it was trained on unless ``cam_size`` is given. ``tta_flip`` overrides the
    run's ``task.tta_flip`` (mirrored-frame averaging of attention maps) when not None.

    Raises:
        ValueError: a run whose task cannot localize sounds (the message names its file).
    """
    c = run.contract
    if run.task_name == "sync":
        cfg = LocalizationConfig(name="localization", method="cam", cam_size=list(cam_size or c.frame_size))
        task = LocalizationTask(run.network, cfg)
    elif run.task_name == "localization":
        task = run.task
        if tta_flip is not None:
            task.cfg = dataclasses.replace(task.cfg, tta_flip=bool(tta_flip))
        if cam_size is not None:
            task.cfg = dataclasses.replace(task.cfg, cam_size=list(cam_size))
    else:
        raise ValueError(f"{run.path}: a {run.task_name!r} run cannot localize sounds (need a localization or sync run)")
    return Localizer(task, fps=c.fps, size=c.frame_size, sample_rate=c.sample_rate, clip_duration=c.clip_duration)




def heatmap_panel(frames: Any, heat: Any, *, count: int = 8, alpha: float = 0.5) -> Any:
    """A one-row uint8 panel of ``count`` evenly spaced frames (T, H, W, 3) with heatmaps (T, H, W) blended."""
    import numpy as np

    from avlearn.viz import image_grid, overlay_heatmap

    pick = np.unique(np.linspace(0, len(frames) - 1, num=max(1, min(count, len(frames)))).round().astype(int))
    return image_grid(list(overlay_heatmap(np.asarray(frames)[pick], np.asarray(heat)[pick], alpha=alpha)))


def localize_file(
    loc: Localizer,
    path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    frames_png: str | os.PathLike | None = None,
    panel_frames: int = 8,
    alpha: float = 0.5,
    hop: float | None = None,
    batch_size: int = 4,
) -> dict[str, Any]:
    """Localize the sounds of a whole file and write the heatmap video (original audio kept).

    Streams the file (:func:`avlearn.tasks.localization.streaming.localize_stream`): decoded at
    the frame rate, size and sample rate the network was trained with (its input contract), cut
    into windows of its clip length ``hop`` apart and run ``batch_size`` windows at a time; the
    output is the original video (its own frames, rate and size) with the map of each frame's
    time blended over it and its audio stream copied. Memory does not grow with the duration.

    Args:
        loc: the trained localizer (:func:`localizer_from_run`).
        path: a media file with video and audio.
        out: the output video.
        frames_png: also write a PNG panel of evenly spaced frames (enlarged to >= 128 px high).
        panel_frames: frames in the panel.
        alpha: weight of the heatmap colours.
        hop: seconds between window starts (default: the clip length).
        batch_size: windows per forward pass.

    Returns:
        ``{"file", "out", "frames_png", "method", "tta_flip", "frames", "fps", "model_fps",
        "model_size", "duration", "peaks"}`` (``peaks``: each model frame's hottest point, in
        pixels of the original video).

    Raises:
        avlearn.io.MediaError: the file cannot be read or written, or lacks video or audio.
    """
    from avlearn.tasks.localization.streaming import localize_stream
    from avlearn.viz import image_grid, save_image

    path = os.fspath(path)
    res = localize_stream(loc, path, out, hop=hop, batch_size=batch_size, alpha=alpha,
                          panel_frames=panel_frames if frames_png else 0)
    png = None
    if frames_png and res["panel"] is not None:
        scale = max(1, 128 // res["size"][0])  # small videos are enlarged (nearest neighbour) to >= 128 px
        png = save_image(frames_png, image_grid(list(res["panel"])), scale=scale)
    return {
        "file": path, "out": os.fspath(out), "frames_png": png, "method": loc.method, "tta_flip": loc.task.cfg.tta_flip,
        "frames": res["frames"], "fps": res["fps"], "model_fps": loc.fps, "model_size": list(loc.size),
        "duration": res["duration"], "peaks": res["peaks"],
    }
