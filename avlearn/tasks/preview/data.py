"""Untrimmed videos as time steps: decoded once, cached, cut into windows on demand.

Listen to Look (Gao et al., CVPR 2020, Sec. 3.2 and 4.1) treats an untrimmed video as a
sequence of time steps: the clip classifier scores one short clip per step, IMGAUD2VID scores
one frame plus the audio around it, and IMGAUD-SKIMMING works on feature banks with one entry
per step, precomputed once per video as in the authors' released implementation (Gao et al., CVPR 2020). Here a
video is decoded once (frames at ``fps`` and ``size``, mono audio at ``sample_rate``) into the
decode cache (:class:`avlearn.data.cache.ClipCache`, one whole-video entry per video) and a
:class:`VideoWindows` cuts every model input from it:

* a **window** starting at ``s`` covers ``[s, s + window)``: its clip is the
  ``round(window * fps)`` frames from frame ``round(s * fps)``, its image the frame shown at
  the window's centre, its audio the ``round(window * sample_rate)`` samples from
  ``round(s * sample_rate)`` (zero past the end);
* training and localization use windows on a grid of ``hop`` seconds; video-level models use
  the **time steps**, windows every ``step`` seconds;
* a window's label is the action of the segment covering at least half of it, else
  ``background`` (index K, after the world's K action classes).

Videos come from an actions world (``avlearn make-world --kind actions``; docs/world.md): the
train split from ``train/manifest.jsonl``, val and test from the frozen lists
``lists/segments_{val,test}.jsonl``. Decoded videos are kept on disk as ``.pt`` files (uint8 frames,
int16 audio), one per video, under ``<data.cache>/videos`` (default ``<world>/cache``), so a later
run reads them back instead of decoding again.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Hashable

import numpy as np
import torch
from torch import Tensor

from avlearn.data.cache import CACHE_LIMIT, ClipCache, read_whole_video, whole_video_key

__all__ = [
    "PreviewData",
    "VideoRecord",
    "VideoWindows",
    "GridWindowDataset",
    "cached_for_weights",
    "class_names",
    "data_for",
    "grid_starts",
    "settings",
    "uniform_starts",
    "video_records",
    "window_label",
]

_CACHE_VERSION = 1  # of the split key that names the teacher-target and feature-bank caches


@dataclass
class PreviewData:
    """The ``data`` section shared by the preview recipes.

    Attributes:
        world: an actions world folder (``avlearn make-world --kind actions``).
        train, val, test: instead of a world (exactly one of the two,
            :mod:`avlearn.tasks.sources`), manifests of untrimmed videos with labelled
            ``segments`` (``avlearn prepare activitynet|thumos|ave``'s ``<split>.jsonl``), or of
            trimmed labelled clips (one segment spanning the clip). Each video is decoded once
            (as the method trains on per-video feature banks) into the on-disk cache; memory
            holds at most 512 videos of a split (:meth:`VideoWindows.load`).
        labels: class names in label order (default: the sorted names of the training manifest).
        window: seconds per clip / image-audio pair (one time step's extent).
        hop: seconds between window starts for training and localization.
        step: seconds between the time steps of video-level models (skimming, baselines).
        fps: frame rate frames are decoded at.
        size: frame size (square) after decoding.
        sample_rate: audio rate after decoding.
        mean, std: per-channel video normalisation.
        flip: random horizontal flips of training clips and frames.
        max_videos: use at most this many videos per split (quick runs).
        cache: folder of the decoded videos, teacher targets and feature banks (default
            ``<world>/cache``, or ``cache`` beside the training manifest).
    """

    world: str | None = None
    train: str | None = None
    val: str | None = None
    test: str | None = None
    labels: list[str] | None = None
    window: float = 1.0
    hop: float = 0.5
    step: float = 1.0
    fps: float = 8.0
    size: int = 32
    sample_rate: int = 16000
    mean: list[float] = field(default_factory=lambda: [0.45, 0.45, 0.45])
    std: list[float] = field(default_factory=lambda: [0.225, 0.225, 0.225])
    flip: bool = True
    max_videos: int | None = None
    cache: str | None = None


@dataclass
class VideoRecord:
    """One untrimmed video: ``segments`` are ``(start, end, label)`` in seconds."""

    id: str
    path: str
    duration: float
    label: int = -1
    segments: list[tuple[float, float, int]] = field(default_factory=list)


def class_names(source: str | os.PathLike | PreviewData) -> list[str]:
    """The action classes, without the background class: a world's (``world.json``), or of a
    data section (its ``world``, else ``labels``, else the names in its training manifest)."""
    from avlearn.data.synthetic import load_world

    if isinstance(source, PreviewData):
        if source.world:
            return class_names(source.world)
        if source.labels:
            return list(source.labels)
        from avlearn.data import load_manifest

        names: set[str] = set()
        for r in load_manifest(source.train):
            names.update(str(seg["label"]) for seg in r.extra.get("segments") or [])
            if r.label is not None:
                names.add(str(r.label))
        return sorted(names)
    return list(load_world(source)["classes"])


def cache_folder(data: PreviewData) -> Path:
    """Where decoded splits, teacher targets and feature banks are cached."""
    if data.cache:
        return Path(data.cache)
    if data.world:
        return Path(data.world) / "cache"
    return Path(os.path.dirname(os.path.abspath(data.train))) / "cache"


def cached_for_weights(data: PreviewData, kind: str, weights: str | os.PathLike, settings: str,
                       compute: Callable[[], Any]) -> Any:
    """What a trained network computes on a split (teacher targets, feature banks), computed once
    and kept as ``<cache>/<kind>_<hash>.pt``.

    Args:
        data: the data section (its cache folder).
        kind: file name prefix (``teacher``, ``banks``).
        weights: the network's run folder or weights file; its path, size and modification
            time are part of the hash, so retrained weights are computed again.
        settings: the rest of what the result depends on (the split's key, hop, window...).
        compute: ``compute()`` gives the result (tensors, lists of tensors).
    """
    weights = Path(weights) / "weights.pt" if Path(weights).is_dir() else Path(weights)
    stat = weights.stat() if weights.is_file() else None
    tag = f"{weights.resolve()}|{stat.st_size if stat else 0}|{stat.st_mtime_ns if stat else 0}|{settings}"
    folder = cache_folder(data)
    path = folder / f"{kind}_{hashlib.sha1(tag.encode()).hexdigest()[:12]}.pt"
    if path.is_file():
        return torch.load(path, weights_only=True)
    out = compute()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(out, tmp)
    os.replace(tmp, path)  # atomic: a reader never sees half a file
    return out


def manifest_records(path: str | os.PathLike, names: Sequence[str]) -> list[VideoRecord]:
    """The videos of a labelled manifest: rows with ``segments`` (on the file's clock) keep them,
    a trimmed labelled row becomes one segment over its whole span; times are relative to the
    row's ``start``. Labels outside ``names`` are dropped from the segments."""
    from avlearn.data import load_manifest
    from avlearn.data.manifest import known_length

    index = {n: i for i, n in enumerate(names)}
    out = []
    for i, r in enumerate(load_manifest(path)):
        begin, length = r.start or 0.0, known_length(r) or 0.0
        segs = [(float(g["start"]) - begin, float(g["end"]) - begin, index[str(g["label"])])
                for g in r.extra.get("segments") or [] if str(g["label"]) in index]
        label = index.get(str(r.label), -1) if r.label is not None else -1
        if not segs and label >= 0:
            segs = [(0.0, length or float("inf"), label)]
        if label < 0 and segs:
            label = segs[0][2]
        out.append(VideoRecord(str(r.extra.get("id", f"{i}:{r.path}")), r.path, length, label, segs))
    return out


def video_records(world: str | os.PathLike, split: str) -> list[VideoRecord]:
    """The videos of a split: the training manifest, or the frozen segments list of val/test.

    Raises:
        avlearn.data.synthetic.WorldFormatError: the manifest or list is missing.
    """
    from avlearn.data.synthetic import load_list, read_jsonl

    root = Path(world)
    if split == "train":
        rows = read_jsonl(root / "train" / "manifest.jsonl")
        return [
            VideoRecord(r["id"], str((root / "train" / r["path"]).resolve()), float(r["end"]) - float(r["start"]),
                        int(r["label"]), [(float(s), float(e), int(lab)) for s, e, lab in r.get("segments", [])])
            for r in rows
        ]
    return [
        VideoRecord(r["id"], r["clip_path"], float(r["duration"]), int(r["label"]),
                    [(float(s["start"]), float(s["end"]), int(s["label"])) for s in r["segments"]])
        for r in load_list(root, "segments", split)
    ]


def grid_starts(duration: float, window: float, hop: float) -> np.ndarray:
    """Starts ``0, hop, 2 hop, ...`` of the windows lying inside ``[0, duration]`` (at least one)."""
    n = math.floor((duration - window) / hop + 1e-6) + 1 if duration >= window else 1
    return np.arange(max(n, 1), dtype=np.float64) * hop


def uniform_starts(duration: float, window: float, count: int) -> np.ndarray:
    """``count`` window starts spread evenly from 0 to ``duration - window``."""
    return np.linspace(0.0, max(duration - window, 0.0), count)


def window_label(segments: Sequence[tuple[float, float, int]], start: float, window: float, background: int) -> int:
    """The label of the segment covering at least half of ``[start, start + window)``, else
    ``background``."""
    best, label = 0.0, background
    for s, e, lab in segments:
        overlap = min(e, start + window) - max(s, start)
        if overlap > best:
            best, label = overlap, lab
    return label if best >= 0.5 * window - 1e-9 else background


class VideoWindows:
    """The videos of one split, held in the decode cache, and the windows cut from them.

    Each video is one whole-video entry of a :class:`~avlearn.data.cache.ClipCache`
    (:func:`~avlearn.data.cache.read_whole_video`: uint8 frames (T, H, W, 3) at ``fps``, int16
    mono audio (N,) at ``sample_rate``, the duration), decoded once; every model input is a
    slice of it.

    Args:
        records: the videos (video ``v`` is ``records[v]``).
        clips: the decode cache; ``clips.get(keys[v])`` is video ``v``'s
            ``(frames, pcm, duration)``.
        keys: the cache key of each record (default: positions 0, 1, ...).
        fps, sample_rate: rates of the frames and the audio.
        num_classes: action classes K (the background label is K).
        mean, std: per-channel video normalisation.
        key: what the split was made from (names the teacher-target and feature-bank caches;
            None: not cached).
    """

    def __init__(self, records: list[VideoRecord], clips: ClipCache, *, keys: Sequence[Hashable] | None = None,
                 fps: float, sample_rate: int, num_classes: int, mean: Sequence[float] = (0.45,) * 3,
                 std: Sequence[float] = (0.225,) * 3, key: str | None = None):
        keys = list(range(len(records))) if keys is None else list(keys)
        if len(keys) != len(records) or any(k not in clips for k in keys):
            raise ValueError(f"VideoWindows: {len(records)} records but {len(keys)} keys, or keys missing from the cache")
        self.records, self.cache, self.keys = records, clips, keys
        self.fps, self.sample_rate, self.num_classes = float(fps), int(sample_rate), int(num_classes)
        self.mean = torch.tensor(list(mean), dtype=torch.float32)[:, None, None, None]  # (3, 1, 1, 1)
        self.std = torch.tensor(list(std), dtype=torch.float32)[:, None, None, None]
        self.key = key
        self.bad = 0  # videos left out because they could not be decoded

    @property
    def background(self) -> int:
        """The background label (K)."""
        return self.num_classes

    def __len__(self) -> int:
        return len(self.records)

    def video(self, v: int) -> tuple[Tensor, Tensor]:
        """Frames uint8 (T, H, W, 3) and audio int16 (N,) of video ``v``.

        Raises:
            avlearn.io.MediaError: the video could not be decoded (only for videos not checked
                when the split was built, see :meth:`load`).
        """
        entry = self.cache.get(self.keys[v])
        if entry is None:
            from avlearn.io import MediaError

            raise MediaError(self.records[v].path, "could not be decoded (see the warning above)")
        return entry[0], entry[1]

    @classmethod
    def from_arrays(cls, records: list[VideoRecord], frames: Sequence[Tensor], audio: Sequence[Tensor], *,
                    fps: float, sample_rate: int, num_classes: int, mean: Sequence[float] = (0.45,) * 3,
                    std: Sequence[float] = (0.225,) * 3) -> VideoWindows:
        """Videos decoded already: per video, uint8 frames (T, H, W, 3) and int16 audio (N,).

        Raises:
            ValueError: the three lists differ in length.
        """
        if not (len(records) == len(frames) == len(audio)):
            raise ValueError(f"VideoWindows: {len(records)} records, {len(frames)} frame arrays, {len(audio)} audio arrays")
        entries = [(f, a, r.duration) for r, f, a in zip(records, frames, audio)]
        clips = ClipCache(entries, decode=lambda e: e, cache=False, fps=fps, sample_rate=sample_rate, name="preview data")
        return cls(records, clips, fps=fps, sample_rate=sample_rate, num_classes=num_classes, mean=mean, std=std)

    @classmethod
    def from_files(cls, paths: Sequence[str], *, fps: float, size: int, sample_rate: int, window: float,
                   num_classes: int, mean: Sequence[float] = (0.45,) * 3, std: Sequence[float] = (0.225,) * 3) -> VideoWindows:
        """Decode unlabelled media files (e.g. for ``avlearn classify``).

        Raises:
            avlearn.io.MediaError: a file cannot be decoded or lacks video or audio.
        """
        recs, frames, audio = [], [], []
        for p in paths:
            f, a, d = read_whole_video(str(p), fps=fps, size=size, sample_rate=sample_rate, min_frames=round(window * fps))
            recs.append(VideoRecord(os.path.basename(str(p)), str(p), d))
            frames.append(f)
            audio.append(a)
        return cls.from_arrays(recs, frames, audio, fps=fps, sample_rate=sample_rate, num_classes=num_classes,
                               mean=mean, std=std)

    @classmethod
    def load(cls, data: PreviewData, split: str, *, progress: bool = False, limit: int = CACHE_LIMIT) -> VideoWindows:
        """The videos of ``split`` (of ``data.world``, or the split's manifest), each decoded once
        (or read back from the on-disk tier, ``<data.cache>/videos/``).

        Every video is read when the split is built, to learn its duration: a video that cannot
        be decoded is left out with a warning and counted in :attr:`bad`. Memory holds every
        video of a split of at most ``limit`` videos, else the ``limit`` most recently used
        (the others are read back from disk when asked for).

        Raises:
            ValueError: ``limit`` < 1.
            avlearn.data.errors.WorldFormatError: the world lacks the split's list, or the recipe
                gives no manifest for it.
        """
        from avlearn.tasks.sources import uses_manifests

        names = class_names(data)
        if uses_manifests(data):
            source = getattr(data, split)
            if not source:  # a split the recipe does not give (the callers skip val/test ones)
                from avlearn.data.errors import WorldFormatError

                raise WorldFormatError(f"data.{split}", "not given")
            records = manifest_records(source, names)
        else:
            source = data.world
            records = video_records(data.world, split)
        if data.max_videos is not None:
            records = records[: data.max_videos]
        settings = dict(fps=data.fps, size=data.size, sample_rate=data.sample_rate, window=data.window)
        min_frames = round(data.window * data.fps)
        clips = ClipCache(
            records, decode=lambda r: read_whole_video(r.path, fps=data.fps, size=data.size, sample_rate=data.sample_rate,
                                                       min_frames=min_frames),
            limit=limit, disk=cache_folder(data) / "videos", disk_key=lambda r: whole_video_key(r.path, **settings),
            fps=data.fps, size=data.size, sample_rate=data.sample_rate, name=f"preview data.{split}")
        kept: list[int] = []
        it = range(len(records))
        if progress:
            from tqdm import tqdm

            it = tqdm(it, desc=f"decode {split}", leave=False)
        for i in it:
            entry = clips.get(i)
            if entry is not None:
                records[i].duration = float(entry[2])
                kept.append(i)
        recs = [records[i] for i in kept]
        key = json.dumps({"v": _CACHE_VERSION, "world": str(Path(source).resolve()), "split": split,
                          "ids": [r.id for r in recs], **settings}, sort_keys=True)
        store = cls(recs, clips, keys=kept, fps=data.fps, sample_rate=data.sample_rate, num_classes=len(names),
                    mean=data.mean, std=data.std, key=key)
        store.bad = clips.bad
        return store

    # ------------------------------------------------------------------ windows

    def starts(self, v: int, hop: float, window: float) -> np.ndarray:
        """Window starts of video ``v`` on a ``hop`` grid."""
        return grid_starts(self.records[v].duration, window, hop)

    def labels(self, v: int, starts: Sequence[float], window: float) -> Tensor:
        """Window labels (J,) of video ``v`` (background = K)."""
        segs = self.records[v].segments
        return torch.tensor([window_label(segs, float(s), window, self.background) for s in starts], dtype=torch.long)

    def _normalise(self, frames: Tensor) -> Tensor:
        x = frames.permute(3, 0, 1, 2).float().div_(255.0)  # (3, F, H, W)
        return (x - self.mean) / self.std

    def clips(self, v: int, starts: Sequence[float], window: float) -> Tensor:
        """Normalised clips (J, 3, F, H, W) of the windows of video ``v``."""
        frames = self.video(v)[0]
        n = round(window * self.fps)
        out = []
        for s in starts:
            idx = (round(float(s) * self.fps) + torch.arange(n)).clamp(max=frames.shape[0] - 1)  # (F,)
            out.append(self._normalise(frames[idx]))
        return torch.stack(out)  # (J, 3, F, H, W)

    def images(self, v: int, starts: Sequence[float], window: float) -> Tensor:
        """Normalised frames (J, 3, H, W) shown at the windows' centres."""
        frames = self.video(v)[0]
        idx = [min(math.floor((float(s) + window / 2) * self.fps + 1e-6), frames.shape[0] - 1) for s in starts]
        return self._normalise(frames[idx]).permute(1, 0, 2, 3)  # (J, 3, H, W)

    def audio(self, v: int, starts: Sequence[float], window: float) -> Tensor:
        """Waveforms (J, 1, N) in [-1, 1] of the windows (zeros past the end)."""
        pcm = self.video(v)[1]
        n = round(window * self.sample_rate)
        out = torch.zeros(len(starts), 1, n)
        for j, s in enumerate(starts):
            a0 = round(float(s) * self.sample_rate)
            piece = pcm[a0 : a0 + n]
            out[j, 0, : piece.shape[0]] = piece.float() / 32767.0
        return out  # (J, 1, N)


class GridWindowDataset(torch.utils.data.Dataset):
    """Every window of every video of a store, as a training or evaluation sample (map-style,
    on the fixed window grid; :class:`avlearn.data.WindowDataset` instead draws random windows
    from a manifest).

    Args:
        store: the decoded videos.
        hop: window grid spacing (seconds).
        window: window length (seconds).
        inputs: ``"clip"`` (``{"video": (3, F, H, W)}``, the teacher's input) or ``"pair"``
            (``{"image": (3, H, W), "audio": (1, N)}``, the student's).
        flip: random horizontal flips (training).
        teacher: optional per-video teacher logits (J_v, K + 1) on the same grid, returned as
            ``"teacher"`` (distillation targets).

    Samples also carry ``"label"`` (the window label, background = K).
    """

    def __init__(self, store: VideoWindows, *, hop: float, window: float, inputs: str = "clip", flip: bool = False,
                 teacher: list[Tensor] | None = None):
        if inputs not in ("clip", "pair"):
            raise ValueError(f"GridWindowDataset: inputs must be 'clip' or 'pair', got {inputs!r}")
        self.store, self.window, self.inputs, self.flip, self.teacher = store, window, inputs, flip, teacher
        self.starts = [store.starts(v, hop, window) for v in range(len(store))]
        self.labels = [store.labels(v, s, window) for v, s in enumerate(self.starts)]
        self.index = [(v, j) for v, s in enumerate(self.starts) for j in range(len(s))]
        if teacher is not None and [t.shape[0] for t in teacher] != [len(s) for s in self.starts]:
            raise ValueError("GridWindowDataset: teacher logits do not match the window grid")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        v, j = self.index[i]
        start = [float(self.starts[v][j])]
        flip = self.flip and bool(torch.rand(()) < 0.5)
        out: dict[str, Any] = {"label": int(self.labels[v][j])}
        if self.inputs == "clip":
            clip = self.store.clips(v, start, self.window)[0]  # (3, F, H, W)
            out["video"] = clip.flip(-1) if flip else clip
        else:
            img = self.store.images(v, start, self.window)[0]  # (3, H, W)
            out["image"] = img.flip(-1) if flip else img
            out["audio"] = self.store.audio(v, start, self.window)[0]  # (1, N)
        if self.teacher is not None:
            out["teacher"] = self.teacher[v][j]
        return out


_SETTINGS = ("window", "hop", "step", "fps", "size", "sample_rate", "mean", "std")


def settings(data: PreviewData) -> dict[str, Any]:
    """The data settings a trained preview model needs at inference (stored in bundles)."""
    return {k: v for k, v in asdict(data).items() if k in _SETTINGS}


def data_for(world: str | os.PathLike, stored: dict[str, Any]) -> PreviewData:
    """A :class:`PreviewData` reading ``world`` with the settings of :func:`settings`."""
    return PreviewData(world=str(world), **{k: stored[k] for k in _SETTINGS})
