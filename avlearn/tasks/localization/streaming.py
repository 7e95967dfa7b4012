"""Streaming whole-file localization: heatmaps window by window, the overlay encoded as it goes.

Sound-source localization maps (the attention maps of Arandjelović & Zisserman, ECCV 2018, or
the class activation maps of Owens & Efros, ECCV 2018, Sec. 5) are computed on windows of the
network's clip length. For a file of any length and resolution:

* the file is decoded twice in parallel, front to back (:class:`avlearn.io.stream.StreamReader`):
  once at the network's frame rate, size and sample rate (swscale / swresample do the
  conversion; no full-resolution frame is kept), once at its own rate and resolution for the
  overlay;
* windows of the model's stream (``hop`` apart, ``hop <= window``) are run through the network
  ``batch_size`` at a time under :func:`torch.inference_mode`; with overlapping windows each
  model frame takes the map of the window in which it lies most centrally (the one whose
  centre is nearest), so no frame sits on a window's edge when another window covers it;
* every input frame gets the map of its time (the model frame shown at that time), bilinearly
  resized, coloured on a fixed [0, 1] scale (so windows compare) and blended over it; the
  overlay is encoded as it is made (:class:`avlearn.io.writer.AVWriter`) at the input's frame
  rate and resolution, with the input's audio stream copied packet by packet.

Memory is bounded by one batch of model windows plus one chunk of input frames, whatever the
duration.
"""

from __future__ import annotations

import collections
import math
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["stream_heatmaps", "localize_stream"]


def _best_last_frame(k: int, hf: int, nf: int) -> int:
    """The last model frame whose most central window (ties: the earlier) is window ``k``."""
    return int(math.floor(k * hf + (nf - 1) / 2 + hf / 2))


def stream_heatmaps(loc: Any, path: str | os.PathLike, *, hop: float | None = None, batch_size: int = 4,
                    threads: int = 1) -> Iterator[tuple[int, float, torch.Tensor]]:
    """Heatmaps of every model frame of a file, in order, computed window by window.

    Args:
        loc: a :class:`~avlearn.tasks.localization.inference.Localizer`.
        path: a media file with video and audio.
        hop: seconds between window starts (default: the clip length, back to back); at most the
            clip length.
        batch_size: windows per forward pass.
        threads: decoder threads.

    Yields:
        ``(j, t, heat)``: model frame index, its time on the file's clock and its (h, w) map in
        [0, 1] (each window min-max scaled for CAMs), for every frame up to the end of the data.

    Raises:
        avlearn.io.MediaError: unreadable file, or no video or audio stream.
        ValueError: ``hop`` longer than the clip length.
    """
    from avlearn.io.stream import StreamReader

    nf = max(1, int(round(loc.clip_duration * loc.fps)))
    window = nf / loc.fps
    hf = nf if hop is None else max(1, int(round(hop * loc.fps)))
    if hf > nf:
        raise ValueError(f"localize: hop ({hop} s) must not exceed the clip length ({window} s)")
    reader = StreamReader(path, window, hf / loc.fps, fps=loc.fps, size=loc.size, sample_rate=loc.sample_rate,
                          mono=True, last="pad", threads=threads)
    na = int(round(window * loc.sample_rate))
    state = {"next": 0, "origin": None}

    def run(batch: list) -> Iterator[tuple[int, float, torch.Tensor]]:
        video = torch.stack([c.video for c in batch]).permute(0, 4, 1, 2, 3).float().div_(255.0)  # (B, 3, nf, h, w)
        audio = torch.stack([F.pad(c.audio, (0, max(0, na - c.audio.shape[-1])))[:, :na] for c in batch])  # (B, 1, na)
        dev = next(loc.task.parameters(), torch.empty(0)).device  # the network's device (CPU or a GPU)
        with torch.inference_mode():
            heat = loc.task.heatmaps(video.to(dev), audio.to(dev)).float().cpu()  # (B, nf, h, w)
        for c, h in zip(batch, heat):
            if loc.method == "cam":
                h = (h - h.min()) / (h.max() - h.min()).clamp_min(1e-12)
            h = h.clamp(0.0, 1.0)  # a guided filter may overshoot a little
            k = c.meta["index"]
            first = k * hf
            last_valid = first + max(1, math.ceil(c.meta["valid"] * loc.fps - 1e-6)) - 1
            stop = min(last_valid, _best_last_frame(k, hf, nf) if not c.meta.get("final") else last_valid)
            for j in range(state["next"], stop + 1):
                yield j, state["origin"] + j / loc.fps, h[j - first]
            state["next"] = max(state["next"], stop + 1)

    batch: list = []
    it = iter(reader)
    clip = next(it, None)
    while clip is not None:
        if state["origin"] is None:
            state["origin"] = clip.start
        nxt = next(it, None)
        clip.meta["final"] = nxt is None
        batch.append(clip)
        if len(batch) == batch_size or nxt is None:
            yield from run(batch)
            batch = []
        clip = nxt


def _blend(frames: np.ndarray, heat: torch.Tensor, alpha: float) -> np.ndarray:
    """uint8 (n, H, W, 3) frames with (n, h, w) maps in [0, 1] coloured (viridis, 0..1) and blended over them.

    The maps are coloured at their own size and the uint8 colour image is resized bilinearly to
    the frames (viridis is smooth, so this matches colouring the resized map within a few
    levels), then blended frame by frame with PIL's uint8 blend: no full-resolution float pass.
    """
    from PIL import Image

    from avlearn.viz.colormap import colormap_lut

    lut = torch.from_numpy(colormap_lut("viridis"))  # (256, 3) uint8
    idx = heat.float().clamp(0.0, 1.0).mul(255.0).round().long()  # (n, h, w)
    color = lut[idx].permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)  # (n, 3, h, w) uint8
    size = tuple(frames.shape[1:3])
    if tuple(color.shape[-2:]) != size:
        color = F.interpolate(color, size=size, mode="bilinear", align_corners=False)  # (n, 3, H, W) uint8
    color = color.permute(0, 2, 3, 1).numpy()  # (n, H, W, 3), a view of the channels-last memory
    out = np.empty_like(frames)
    for i in range(len(frames)):
        out[i] = np.asarray(Image.blend(Image.fromarray(frames[i]), Image.fromarray(np.ascontiguousarray(color[i])), alpha))
    return out  # (n, H, W, 3)


def localize_stream(loc: Any, path: str | os.PathLike, out: str | os.PathLike, *, hop: float | None = None,
                    batch_size: int = 4, alpha: float = 0.5, panel_frames: int = 0, chunk: float = 1.0,
                    threads: int = 1) -> dict[str, Any]:
    """Write the heatmap overlay video of a whole file, streaming (see the module docstring).

    Args:
        loc: the trained localizer.
        path: the input media file (video and audio).
        out: the output video; the input's frame rate and resolution (odd sizes padded by one
            edge pixel), its audio stream copied.
        hop, batch_size, threads: as :func:`stream_heatmaps`.
        alpha: weight of the heatmap colours.
        panel_frames: keep this many evenly spaced blended frames (for a PNG panel).
        chunk: seconds of input frames decoded, blended and encoded at a time.

    Returns:
        ``{"frames", "fps", "size", "duration", "peaks", "panel"}``: input frames written, input
        frame rate, (H, W), seconds of video, each model frame's hottest point in input pixels,
        and the kept blended frames (uint8 (n, H, W, 3), or None).

    Raises:
        avlearn.io.MediaError: unreadable file or missing stream; EncodeError: the output.
    """
    from avlearn.io import MissingStreamError, probe
    from avlearn.io.stream import StreamReader
    from avlearn.io.writer import AVWriter

    path = os.fspath(path)
    info = probe(path)
    if info.video is None or info.audio is None:
        raise MissingStreamError(path, "needs both a video and an audio stream")
    fps = info.video.fps or loc.fps
    big_h, big_w = info.video.height, info.video.width
    expect = info.video.frames or max(1, int(round((info.video.duration or info.duration) * fps)))
    pick = set(np.unique(np.linspace(0, expect - 1, num=max(1, min(panel_frames, expect)))).round().astype(int).tolist()) if panel_frames else set()
    heats = stream_heatmaps(loc, path, hop=hop, batch_size=batch_size, threads=threads)
    maps: collections.OrderedDict[int, torch.Tensor] = collections.OrderedDict()
    peaks: list[list[float]] = []
    done = False
    origin = None
    written, panel = 0, []
    with AVWriter(out, fps=fps, size=(big_h + big_h % 2, big_w + big_w % 2), audio_from=path, background=True) as writer:
        for clip in StreamReader(path, chunk, audio=False, last="shorten", threads=threads):
            times = np.asarray(clip.meta["frame_times"])
            if origin is None:
                origin = times[0] if len(times) else 0.0
            need = int(np.floor((times[-1] - origin) * loc.fps + 1e-6)) if len(times) else -1
            while not done and (not maps or next(reversed(maps)) < need):
                item = next(heats, None)
                if item is None:
                    done = True
                    break
                j, _, h = item
                maps[j] = h
                flat = int(h.flatten().argmax())
                hh, ww = h.shape
                peaks.append([round((flat % ww) * big_w / ww, 1), round((flat // ww) * big_h / hh, 1)])
            if not maps:
                raise MissingStreamError(path, "no frames to localize")
            first, last = next(iter(maps)), next(reversed(maps))
            idx = np.clip(np.floor((times - origin) * loc.fps + 1e-6).astype(int), first, last)
            heat = torch.stack([maps[int(i)] for i in idx])  # (n, h, w) the map of each input frame's time
            frames = _blend(clip.video.numpy(), heat, alpha)  # (n, H, W, 3)
            for i in range(len(frames)):
                if written + i in pick:
                    panel.append(frames[i])
            if big_h % 2 or big_w % 2:
                frames = np.pad(frames, ((0, 0), (0, big_h % 2), (0, big_w % 2), (0, 0)), mode="edge")
            writer.write_video(frames, copy=False)  # a fresh array from _blend
            written += len(frames)
            for j in [j for j in maps if j < idx.max()]:
                del maps[j]  # later input frames show later times
        for _, _, h in heats:  # maps past the last input frame (audio longer than video): their peaks
            flat = int(h.flatten().argmax())
            peaks.append([round((flat % h.shape[1]) * big_w / h.shape[1], 1), round((flat // h.shape[1]) * big_h / h.shape[0], 1)])
    return {"frames": written, "fps": fps, "size": [big_h, big_w], "duration": written / fps, "peaks": peaks,
            "panel": np.stack(panel) if panel else None}
