"""Separate a media file: find its visible sources, run a trained separator, write one track each.

What ``avlearn separate FILE --weights CKPT --out DIR`` does:

1. **Find the visible sources** (:func:`stream_sources`, ``detector``):

   * ``truth``: the synthetic world's truth boxes of every visible object (the default when the
     truth file ``<split>/truth/<id>.json`` sits beside ``<split>/clips/<id>.mp4`` or
     ``truth=`` names one);
   * ``face`` (default for voice models): MTCNN faces (Zhang et al., IEEE SPL 2016) tracked
     across frames into one track per person (:func:`avlearn.models.face.track_faces`); each
     track gives the separator its face crop and mouth crops (the lower middle of the face box)
     following the track's per-frame boxes;
   * ``boxes`` (the default when a box/track file is given): the user's own annotations
     (:mod:`avlearn.data.box_tracks`, CSV or JSON keyframes, interpolated), one source per
     track, named by its track id; each window's visual input is the crop of the track at the
     window's frames (face and mouth crops for voice models, object crops for co-separation,
     box pooling for Sound of Pixels);
   * ``blob`` (default otherwise): a **salient-blob detector** on the frames at the model's size,
     fed window by window (:class:`BlobTracker`): per frame, pixels whose colour lies far from
     the frame's median colour (more than ``threshold`` robust deviations, the median absolute
     deviation) are foreground; their connected components (parts a few pixels apart joined)
     are boxes, linked over frames into tracks by nearest centre; the ``max_sources``
     longest-lived tracks are the sources. It finds the sprites and faces of the synthetic
     world; it is not a general object or face detector.

2. **Separate**, streaming (:mod:`avlearn.tasks.separation.streaming`): half-overlapping windows
   decoded at the model's rate and size, each source's visual input cut from its boxes as in
   training (:func:`avlearn.tasks.separation.data.visual_inputs`; Sound of Pixels models pool
   their frame features inside the box, the paper's pixel-level inference; the audio-only model
   ignores the boxes and writes one track per output slot), overlap-added.
3. **Write** ``<stem>_<source>.wav`` (mono, at the input's sample rate), ``<stem>_<source>.mp4``
   (the original frames with the source's box drawn, and its track) per source and
   ``residual.wav`` (the input minus the tracks, per input channel), and return the report that
   ``--json`` prints: each source's ``box`` (median ``[x1, y1, x2, y2]`` in input pixels) and
   ``span`` (first and last second seen).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from avlearn.tasks.separation.data import box_track, rescale_tracks, visual_inputs
from avlearn.tasks.separation.task import SeparationTask

__all__ = ["separation_task", "BlobTracker", "detect_sources", "truth_sources", "find_sources", "stream_sources", "window_batch",
           "separate_file", "truth_path_for", "default_face_weights", "boxes_for"]


def separation_task(run: Any) -> SeparationTask:
    """The trained separation task of a run loaded with :func:`avlearn.load_run` (eval mode).

    Raises:
        ValueError: the run's task is not a separation task (the message names its file).
    """
    if not isinstance(run.task, SeparationTask):
        raise ValueError(f"{run.path}: task {run.task_name!r} is not a separation task")
    return run.task.eval()


class BlobTracker:
    """The salient-blob detector of the module docstring, fed frames chunk by chunk.

    Args:
        threshold, min_area, merge: as :func:`detect_sources`.
    """

    def __init__(self, *, threshold: float = 2.0, min_area: float = 0.002, merge: int = 2):
        self.threshold, self.min_area, self.merge = threshold, min_area, merge
        self.tracks: list[dict[str, Any]] = []
        self.frames = 0
        self.shape: tuple[int, int] | None = None

    def feed(self, frames: np.ndarray) -> None:
        """Detect and link the blobs of uint8 (T, H, W, 3) frames following those already fed."""
        from scipy import ndimage  # imported here: ~0.2 s that every `load_run` would pay

        x = np.asarray(frames, dtype=np.float32) / 255.0  # (T, H, W, 3)
        t, h, w = x.shape[:3]
        self.shape = (h, w)
        med = np.median(x.reshape(t, -1, 3), axis=1)[:, None, None]  # (T, 1, 1, 3)
        mad = np.median(np.abs(x - med).reshape(t, -1, 3), axis=1)[:, None, None]  # (T, 1, 1, 3)
        score = (np.abs(x - med) / (1.4826 * mad + 0.02)).max(-1)  # (T, H, W)
        for i in range(t):
            fg = ndimage.binary_opening(score[i] > self.threshold)
            labels, _ = ndimage.label(ndimage.binary_dilation(fg, iterations=self.merge))  # parts closer than 2*merge px join
            blobs = []
            for k, sl in enumerate(ndimage.find_objects(labels), start=1):
                ys, xs = np.nonzero((labels[sl] == k) & fg[sl])
                if ys.size == 0:
                    continue
                box = np.array([sl[1].start + xs.min(), sl[0].start + ys.min(), sl[1].start + xs.max() + 1, sl[0].start + ys.max() + 1], dtype=np.float64)
                if (box[2] - box[0]) * (box[3] - box[1]) >= self.min_area * h * w:
                    blobs.append(box)
            free = list(range(len(self.tracks)))
            for b in sorted(blobs, key=lambda b: -(b[2] - b[0]) * (b[3] - b[1])):
                c = (b[:2] + b[2:]) / 2
                best = min(free, key=lambda k: np.linalg.norm(self.tracks[k]["centre"] - c), default=None)
                if best is not None and np.linalg.norm(self.tracks[best]["centre"] - c) < 0.25 * max(h, w):
                    tr = self.tracks[best]
                    free.remove(best)
                else:
                    tr = {"boxes": {}}
                    self.tracks.append(tr)
                tr["boxes"][self.frames + i], tr["centre"] = b, c
        self.frames += t

    def result(self, *, max_sources: int = 4, min_presence: float = 0.3) -> list[tuple[np.ndarray, tuple[int, int]]]:
        """``(boxes (T, 4), (first, last) frame seen)`` of the longest-lived tracks, gaps filled."""
        t = self.frames
        out = []
        for tr in sorted(self.tracks, key=lambda tr: -len(tr["boxes"]))[:max_sources]:
            if len(tr["boxes"]) >= min_presence * t:
                track = [tr["boxes"][i].tolist() if i in tr["boxes"] else None for i in range(t)]
                out.append((box_track({"boxes": track}, "boxes", t, max(self.shape)), (min(tr["boxes"]), max(tr["boxes"]))))
        return out


def detect_sources(frames: np.ndarray, *, max_sources: int = 4, threshold: float = 2.0, min_area: float = 0.002,
                   min_presence: float = 0.3, merge: int = 2) -> list[np.ndarray]:
    """Box tracks (T, 4) of salient blobs (see the module docstring), longest-lived first.

    Args:
        frames: uint8 (T, H, W, 3).
        max_sources: tracks to keep.
        threshold: robust deviations from the median colour that make a pixel foreground.
        min_area: smallest blob, as a fraction of the frame.
        min_presence: fraction of frames a track must be seen in.
        merge: foreground parts closer than ``2 * merge`` pixels form one blob (a face and its hair).
    """
    tracker = BlobTracker(threshold=threshold, min_area=min_area, merge=merge)
    tracker.feed(frames)
    return [boxes for boxes, _ in tracker.result(max_sources=max_sources, min_presence=min_presence)]


def truth_path_for(path: str | os.PathLike) -> Path | None:
    """The synthetic world's truth file of a clip (``<split>/truth/<id>.json``), if it exists."""
    p = Path(path)
    cand = p.parent.parent / "truth" / (p.stem + ".json")
    return cand if p.parent.name == "clips" and cand.is_file() else None


def truth_sources(truth: dict[str, Any], frames: int, size: tuple[int, int], fps: float) -> list[dict[str, Any]]:
    """Visible sources of a truth dict with box (and mouth) tracks resampled to ``frames`` of ``size`` (H, W)."""
    scale = size[1] / float(truth["size"][1]), size[0] / float(truth["size"][0])
    out = []
    for src in truth["sources"]:
        if not src.get("onscreen"):
            continue
        s = rescale_tracks(src, scale, truth["fps"], fps, frames)
        out.append({"id": src["id"], "label": src.get("sound_class") or src.get("visual_class"),
                    "sounding": bool(src.get("sounding")), "box": box_track(s, "boxes", frames, max(size)),
                    "mouth": box_track(s, "mouth_boxes", frames, max(size)) if s.get("mouth_boxes") else None})
    return out


def find_sources(frames: np.ndarray, fps: float, *, truth: str | os.PathLike | dict | None = None,
                 max_sources: int = 4) -> tuple[list[dict[str, Any]], str]:
    """``(sources, "truth" | "detector")``: box tracks of the visible sources of in-memory ``frames``."""
    if truth is not None:
        return truth_sources(_load_truth(truth), frames.shape[0], frames.shape[1:3], fps), "truth"
    found = detect_sources(frames, max_sources=max_sources)
    return [{"id": f"blob{k}", "label": None, "sounding": None, "box": b, "mouth": None} for k, b in enumerate(found)], "detector"


def _load_truth(truth: str | os.PathLike | dict) -> dict[str, Any]:
    import json

    if isinstance(truth, dict):
        return truth
    with open(truth, encoding="utf-8") as fh:
        return json.load(fh)


def default_face_weights() -> Path | None:
    """The MTCNN weights folder of the real-media cache (``$AVLEARN_REALMEDIA`` or ``.realmedia_cache``,
    itself or its ``mtcnn/`` subfolder), if it holds ``pnet.pt``."""
    for root in (os.environ.get("AVLEARN_REALMEDIA"), ".realmedia_cache"):
        if not root:
            continue
        for cand in (Path(root) / "mtcnn", Path(root)):
            if (cand / "pnet.pt").is_file():
                return cand
    return None


def _array_source(sid: str, label: Any, sounding: Any, box: np.ndarray, mouth: np.ndarray | None, span: tuple[float, float],
                  scale: np.ndarray, fps: float) -> dict[str, Any]:
    """A source whose model-pixel boxes are a (T, 4) array over model frames (truth, blobs)."""
    last = len(box) - 1

    def at(idx: np.ndarray, arr: np.ndarray = box) -> np.ndarray:
        return arr[np.clip(idx, 0, last)]

    return {"id": sid, "label": label, "sounding": sounding, "box": at,
            "mouth": None if mouth is None else (lambda idx: at(idx, mouth)),
            "box_input": lambda times: at(np.floor(np.asarray(times) * fps + 1e-6).astype(int)) * scale,
            "median": [round(float(v), 1) for v in np.median(box, axis=0) * scale], "span": [round(span[0], 3), round(span[1], 3)]}


def _track_source(k: int, track: Any, to_model: np.ndarray, fps: float) -> dict[str, Any]:
    """A source following a face track (boxes in input pixels, interpolated between detections)."""
    def box_input(times: np.ndarray) -> np.ndarray:
        return np.stack([track.box_at(float(t)) for t in np.asarray(times)]).reshape(-1, 4)

    return {"id": f"face{k}", "label": "face", "sounding": None, "box": lambda idx: box_input(np.asarray(idx) / fps) * to_model,
            "mouth": None, "box_input": box_input, "median": [round(v, 1) for v in track.box],
            "span": [round(track.span[0], 3), round(track.span[1], 3)]}


def _box_track_source(track: Any, size: int, fps: float, width: int, height: int) -> dict[str, Any]:
    """A source following a user's box track (:class:`avlearn.data.box_tracks.BoxTrack`, boxes in
    ``[0, 1]``, interpolated between keyframes and held outside them), named by its track id."""
    model, full = np.array([size] * 4, dtype=np.float64), np.array([width, height] * 2, dtype=np.float64)
    return {"id": track.id, "label": track.label, "sounding": None, "mouth": None,
            "box": lambda idx: track.box_at(np.asarray(idx) / fps) * model,
            "box_input": lambda times: track.box_at(times) * full,
            "median": [round(float(v), 1) for v in track.median() * full],
            "span": [round(track.span[0], 3), round(track.span[1], 3)]}


def boxes_for(path: str | os.PathLike, boxes: str | os.PathLike | dict) -> str | dict:
    """The box/track file of ``path``: ``boxes`` itself, or in a folder ``boxes/<stem>.json`` or ``<stem>.csv``.

    Raises:
        avlearn.data.box_tracks.BoxTrackError: a folder without a box file for ``path``.
    """
    from avlearn.data.box_tracks import BoxTrackError

    if isinstance(boxes, dict) or not os.path.isdir(boxes):
        return boxes if isinstance(boxes, dict) else os.fspath(boxes)
    stem = Path(path).stem
    for ext in (".json", ".csv"):
        cand = Path(boxes) / (stem + ext)
        if cand.is_file():
            return os.fspath(cand)
    raise BoxTrackError(boxes, "", f"no box file {stem}.json or {stem}.csv for {path}")


def stream_sources(path: str | os.PathLike, d: Any, *, detector: str, truth: str | os.PathLike | dict | None = None,
                   face_weights: str | os.PathLike | None = None, max_sources: int = 4, face_fps: float = 5.0,
                   min_face_presence: float = 0.3, boxes: str | os.PathLike | dict | None = None) -> list[dict[str, Any]]:
    """The visible sources of a file, found without holding its frames (one streaming pass at most).

    Args:
        path: the media file.
        d: the recipe's data section (model fps and size).
        detector: ``truth`` (the world's truth file ``truth``), ``blob`` (salient blobs on the
            frames at the model's size), ``face`` (MTCNN faces tracked into one track per
            person, :func:`avlearn.models.face.track_faces`) or ``boxes`` (every track of the
            user's box/track file ``boxes``, :mod:`avlearn.data.box_tracks`, in file order;
            ``max_sources`` does not apply).
        face_weights: folder of the MTCNN weights (``face``).
        max_sources: most sources kept (longest tracks first).
        face_fps: face detection rate.
        min_face_presence: a face track must be seen in this fraction of the detection frames.
        boxes: the box/track file (or inline boxes) of ``detector="boxes"``.

    Returns:
        Sources: ``id``, ``label``, ``sounding``, ``box`` / ``mouth`` (model frame indices ->
        (n, 4) model-pixel boxes; mouth None: the lower middle of the box), ``box_input``
        (times -> (n, 4) input-pixel boxes), ``median`` (``[x1, y1, x2, y2]`` in input pixels)
        and ``span`` (first and last second seen).

    Raises:
        avlearn.io.MediaError: unreadable file. ValueError: unknown detector, or ``face``
        without weights (the message names ``--face-weights``).
        avlearn.data.box_tracks.BoxTrackError: a bad box/track file (its line named).
    """
    from avlearn.io import MissingStreamError, probe
    from avlearn.io.stream import StreamReader

    path = os.fspath(path)
    info = probe(path)
    if info.video is None or not info.video.width:
        raise MissingStreamError(path, "no video stream")
    width, height = info.video.width, info.video.height
    scale = np.array([width / d.size, height / d.size] * 2)  # model pixels -> input pixels
    frames = max(1, math.ceil(info.duration * d.fps - 1e-6))
    if detector == "truth":
        if truth is None:
            raise ValueError(f"{path}: --detector truth needs a truth file (none beside the clip; give --truth)")
        out = []
        for s in truth_sources(_load_truth(truth), frames, (d.size, d.size), d.fps):
            out.append(_array_source(str(s["id"]), s["label"], s["sounding"], s["box"], s["mouth"], (0.0, frames / d.fps), scale, d.fps))
        return out
    if detector == "boxes":
        from avlearn.data.box_tracks import load_box_tracks

        if boxes is None:
            raise ValueError(f"{path}: --detector boxes needs a box/track file (--boxes)")
        tracks = load_box_tracks(boxes_for(path, boxes), frame_size=(width, height))
        return [_box_track_source(t, d.size, d.fps, width, height) for t in tracks]
    if detector == "blob":
        tracker = BlobTracker()
        for clip in StreamReader(path, 4.0, fps=d.fps, size=(d.size, d.size), audio=False, last="shorten"):
            tracker.feed(clip.video.numpy())
        return [_array_source(f"blob{k}", None, None, b, None, (f0 / d.fps, f1 / d.fps), scale, d.fps)
                for k, (b, (f0, f1)) in enumerate(tracker.result(max_sources=max_sources))]
    if detector == "face":
        from avlearn.models.face import mtcnn, track_faces

        folder = face_weights or default_face_weights()
        if folder is None or not (Path(folder) / "pnet.pt").is_file():
            where = f" in {folder}" if folder else " (no --face-weights given, none in $AVLEARN_REALMEDIA or .realmedia_cache)"
            raise ValueError(f"{path}: the face detector needs the MTCNN weights pnet.pt, rnet.pt, onet.pt{where}; "
                             "give their folder with --face-weights DIR (bash data_prep/fetch_real_media.sh fetches them), "
                             "or choose --detector blob")
        tracks = track_faces(path, mtcnn(folder), fps=face_fps)
        need = min_face_presence * max(1.0, info.duration * face_fps)
        tracks = sorted((t for t in tracks if len(t.frames) >= need), key=lambda t: -len(t.frames))[:max_sources]
        tracks.sort(key=lambda t: t.box[0])  # left to right
        to_model = 1.0 / scale
        return [_track_source(k, t, to_model, d.fps) for k, t in enumerate(tracks)]
    raise ValueError(f"{path}: unknown detector {detector!r} (face, blob, truth or boxes)")


def window_batch(clips: list[Any], sources: list[dict[str, Any]], d: Any) -> dict[str, Any]:
    """A batch of model-size windows (AVClips of one shape), one mixture per window, one entry per source.

    Each source gives its visual input for the window as in training
    (:func:`avlearn.tasks.separation.data.visual_inputs`) from its boxes at the window's frames;
    Sound of Pixels models also get the box's extent (``regions``) to pool features in.
    """
    out: dict[str, list[torch.Tensor]] = {}
    for clip in clips:
        frames = clip.video  # (T, h, w, 3)
        idx = int(round(clip.start * d.fps)) + np.arange(frames.shape[0])
        vis: dict[str, list[torch.Tensor]] = {}
        for s in sources:
            box = s["box"](idx)
            mouth = None if s["mouth"] is None else s["mouth"](idx)
            for k, v in visual_inputs(frames, box, mouth, d.visual, num_frames=d.num_frames, crop_size=d.crop_size,
                                      mouth_size=d.mouth_size).items():
                vis.setdefault(k, []).append(v)
            if d.visual == "frames":  # SoP's pixel-level inference: pool the features inside the box
                region = torch.tensor([box[:, 0].min() / frames.shape[2], box[:, 1].min() / frames.shape[1],
                                       box[:, 2].max() / frames.shape[2], box[:, 3].max() / frames.shape[1]], dtype=torch.float32)
                vis.setdefault("regions", []).append(region)
        for k, v in vis.items():
            out.setdefault(k, []).append(torch.stack(v))  # (S, ...)
        out.setdefault("mixture", []).append(clip.audio[0])  # (n,)
    batch = {k: torch.stack(v) for k, v in out.items()}  # (B, S, ...), mixture (B, n)
    batch["valid"] = torch.ones(len(clips), len(sources), dtype=torch.bool)
    return batch


def separate_file(task: SeparationTask, cfg: Any, path: str | os.PathLike, out_dir: str | os.PathLike, *,
                  truth: str | os.PathLike | None | bool = True, window: float = 4.0, max_sources: int = 4,
                  detector: str | None = None, face_weights: str | os.PathLike | None = None, batch_size: int = 4,
                  videos: bool = True, boxes: str | os.PathLike | dict | None = None) -> dict[str, Any]:
    """Separate every visible source of a media file, streaming, and write its WAV (and video).

    Args:
        task: a trained separator (:func:`separation_task` of a loaded run).
        cfg: its recipe.
        path: the media file (video with audio).
        out_dir: where the files go (created).
        truth: True: use the world's truth file when there is one; a path: that truth file;
            False/None: never.
        window: seconds per separation window (windows overlap by half; see
            :mod:`avlearn.tasks.separation.streaming`).
        max_sources: most sources the detector returns.
        detector: ``face``, ``blob``, ``truth`` or ``boxes``; None: ``boxes`` when ``boxes`` is
            given, else ``truth`` when a truth file is found, else ``face`` for voice models
            (face visual input), else ``blob``.
        face_weights: the MTCNN weights folder for ``face`` (default: the real-media cache's).
        batch_size: windows per forward pass.
        videos: also write one video per source.
        boxes: a box/track file (:mod:`avlearn.data.box_tracks`), a folder of them
            (``<stem>.json`` / ``<stem>.csv``) or inline boxes: each track is one source,
            its visual input the crop of the track at each window's frames, its files
            ``<stem>_<track id>.wav`` / ``.mp4``.

    Returns:
        The report: ``{"file", "model", "combine", "boxes", "detector", "sample_rate", "channels",
        "model_sample_rate", "duration", "residual", "sources": [{"id", "label", "sounding", "box",
        "span", "wav", "video", "rms"}]}``; ``box`` is ``[x1, y1, x2, y2]`` in input pixels (median
        over the track), ``span`` the first and last second it is seen; the WAVs are mono at the
        input's sample rate.

    Raises:
        avlearn.io.MediaError: the file cannot be read. ValueError: bad detector / missing weights.
    """
    from avlearn.io import probe
    from avlearn.tasks.separation.streaming import separate_stream

    d = cfg.data
    path = os.fspath(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth_file = truth_path_for(path) if truth is True else (truth or None)
    if detector is None:
        detector = "boxes" if boxes is not None else "truth" if truth_file is not None else ("face" if d.visual == "face" else "blob")
    if task.permutation_invariant:
        full = np.array([[0.0, 0.0, d.size, d.size]])
        sources = [{"id": f"slot{k}", "label": None, "sounding": None, "box": lambda idx: np.repeat(full, len(idx), 0),
                    "mouth": None, "box_input": None, "median": None, "span": None} for k in range(getattr(task, "outputs", 1))]
    else:
        sources = stream_sources(path, d, detector=detector, truth=truth_file, face_weights=face_weights, max_sources=max_sources,
                                 boxes=boxes)
    duration = probe(path).duration
    report: dict[str, Any] = {"file": path, "model": task.cfg.name, "combine": task.cfg.combine,
                              "boxes": {"truth": "truth", "boxes": "file"}.get(detector, "detector"), "detector": detector,
                              "model_sample_rate": d.sample_rate, "duration": duration, "sources": []}
    if not sources:
        return report
    res = separate_stream(task, cfg, path, out, sources, lambda clips, srcs: window_batch(clips, srcs, d),
                          window=window, batch_size=batch_size, videos=videos)
    report.update(sample_rate=res["sample_rate"], channels=res["channels"], residual=res["residual"])
    for k, s in enumerate(sources):
        wav, video = res["files"][s["id"]]
        rms = math.sqrt(float(res["energy"][k]) / max(1, res["samples"]))
        report["sources"].append({"id": s["id"], "label": s["label"], "sounding": s["sounding"], "box": s["median"],
                                  "span": s["span"], "wav": wav, "video": video, "rms": rms})
    return report
