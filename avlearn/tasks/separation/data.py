"""Data for visually guided separation: clips with per-source stems, mixed on the fly.

Mix-and-separate (Zhao et al., ECCV 2018, Sec. 3.1): a training sample mixes the audio of
``num_mix`` clips drawn with different labels (:func:`avlearn.tasks.separation.mix.draw_partners`)
at random gains; the targets are each source's scaled audio, and each source comes with its
own visual input. Evaluation uses the synthetic world's frozen groups
(``OUT/lists/separation_<split>.jsonl``) with unit gains.

What a *source* is (``SeparationData.sources``):

* ``clip`` -- a whole clip (the sum of its stems): Sound of Pixels on solo clips, and voices
  on one-speaker clips. Its visual box (for crops) is the clip's first visible sounding source:
  a world's truth box, or, for a manifest row with ``boxes`` (a box/track file or inline
  boxes, :mod:`avlearn.data.box_tracks`) and optionally ``track`` (which track; default the
  first), that track's box at each frame; a row without boxes is seen as the whole frame.
* ``objects`` -- every visible sounding object of each mixed clip, with its own stem and its
  per-frame box (Co-Separation, Gao & Grauman ICCV 2019: "each detected object is a source").
  Off-screen sounds stay in the mixture without a target.

What the network sees of a source (``SeparationData.visual``):

* ``frames`` -- ``num_frames`` evenly spaced whole frames (SoP: 3 frames): ``"frames"``
  (S, 3, F, H, W);
* ``object`` -- the source's box cropped from those frames and resized: ``"crops"``
  (S, 3, F, c, c);
* ``face`` -- the face box of the middle frame, ``"face"`` (S, 3, c, c), and the mouth box of
  every frame in grey, ``"mouth"`` (S, 1, T, mh, mw) (VisualVoice / Looking to Listen).

The ``frames`` view stays whole frames when a box is known: Sound of Pixels trains on
image-level features max-pooled over the frame (Zhao et al., Sec. 3.2) and pools inside the
source's box only at inference (``regions``, :func:`avlearn.tasks.separation.inference.window_batch`).

Samples (padded to ``max_sources`` sources; ``valid`` marks the real ones)::

    {"mixture": (N,), "sources": (S, N), "valid": (S,) bool, "label": (S,) long,
     "group": (S,) long (which mixed clip), "num_clips": int, "id": str, <visual keys>}

Clips are decoded once (frames with :func:`avlearn.io.read_clip`, stems with
:func:`avlearn.io.read_audio` resampled to ``sample_rate``) and cached; an unreadable clip is
logged and skipped (its samples come back None and the collate drops them).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from avlearn.data.cache import CACHE_LIMIT, ClipCache
from avlearn.tasks.sources import DataSource
from avlearn.tasks.separation.mix import draw_partners, mix_sources, rms_gain

log = logging.getLogger(__name__)

__all__ = [
    "SeparationData",
    "ClipRecord",
    "stem_clips",
    "MixDataset",
    "FrozenMixDataset",
    "source_specs",
    "visual_inputs",
    "crop_boxes",
    "load_separation_list",
    "world_rows",
    "manifest_clips",
    "box_track",
    "track_boxes",
    "rescale_tracks",
    "build_separation_datasets",
]



@dataclass
class SeparationData(DataSource):
    """The ``data`` section of separation recipes (a world made by ``avlearn make-world``).

    Attributes:
        world: the world's folder (exactly one of ``world`` and ``train``, :mod:`avlearn.tasks.sources`).
        train_manifest: training clips (default ``<world>/train/manifest.jsonl``).
        train: instead of a world, a manifest or folder of solo clips (MUSIC solos, VoxCeleb2
            utterances): each clip's audio is one source, seen as whole frames; clips shorter
            than ``duration`` are skipped and counted.
        val, test: frozen mixtures made by ``avlearn make-lists --task separation`` (each
            clip read from its ``start``).
        windows_per_epoch: training mixtures per epoch with ``train`` (None: one per clip).
        val_list: frozen val groups (default ``<world>/lists/separation_val.jsonl``).
        test_list: frozen test groups (default ``<world>/lists/separation_test.jsonl``).
        sources: ``clip`` (a clip is a source) or ``objects`` (each visible sounding object).
        visual: ``frames``, ``object`` or ``face`` (see the module docstring).
        sample_rate: audio rate the stems are resampled to.
        fps: frame rate the clips are decoded at.
        size: frame size the clips are decoded at (square).
        duration: training window in seconds (None: whole clips); evaluation uses whole clips.
        num_frames: frames per source for ``frames`` / ``object`` views.
        crop_size: side of object and face crops.
        mouth_size: (height, width) of mouth crops.
        num_mix: clips mixed per training sample, or a list of sizes drawn uniformly per sample.
        num_mix_warmup: epochs during which only the smallest of ``num_mix`` is drawn (a
            curriculum: with more clips, a bin belongs to any one source less often than not, so
            before the visual features tell the sources apart the L1-optimal ratio mask is all
            zero, and a separator trained on 3-clip mixtures from the start can collapse there).
        max_sources: sources a sample is padded to.
        gain: training gain range per clip (null: 1).
        divide: divide each clip by the number of clips (SoP; VisualVoice's released code too:
            ``(A + B) / 2``); False sums them.
        rms: normalise each clip to this RMS before mixing (VisualVoice: 0.1); null: off.
        train_clips: use only the first N training clips (null: all).
        cache: keep decoded clips in memory.
    """

    windows_per_epoch: int | None = None
    sources: Literal["clip", "objects"] = "clip"
    visual: Literal["frames", "object", "face"] = "frames"
    sample_rate: int = 8000
    fps: float = 16.0
    size: int = 64
    duration: float | None = 1.0
    num_frames: int = 3
    crop_size: int = 32
    mouth_size: list[int] = field(default_factory=lambda: [16, 32])
    num_mix: int | list[int] = 2
    num_mix_warmup: int = 0
    max_sources: int = 3
    gain: list[float] | None = field(default_factory=lambda: [0.5, 1.5])
    divide: bool = True
    rms: float | None = None
    train_clips: int | None = None
    cache: bool = True


@dataclass
class ClipRecord:
    """A decoded clip: frames, stems and the truth of its sources.

    Attributes:
        id: clip id.
        frames: uint8 (T, H, W, 3) at the bank's fps and size.
        stems: per-source audio (N,) at the bank's rate, by source id.
        sources: the truth's source entries (boxes rescaled to ``frames``' pixels).
        label: the clip's label (-1 when unknown).
    """

    id: str
    frames: Tensor
    stems: dict[str, Tensor]
    sources: list[dict[str, Any]]
    label: int

    @property
    def audio(self) -> Tensor:
        """The clip's audio: the sum of its stems (N,)."""
        return torch.stack(list(self.stems.values())).sum(0)


def world_rows(world: str | os.PathLike, manifest: str | os.PathLike) -> list[dict[str, Any]]:
    """``{"id", "clip", "truth", "stems"}`` (absolute paths) of a world manifest's clips."""
    base = os.path.dirname(os.path.abspath(manifest))
    rows = []
    with open(manifest, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                r = json.loads(line)
                rows.append({"id": r.get("id", r["path"]), "clip": os.path.join(base, r["path"]),
                             "truth": os.path.join(base, r["truth"]), "label": r.get("label", -1),
                             "stems": {k: os.path.join(base, v) for k, v in (r.get("stems") or {}).items()}})
    return rows


def load_separation_list(path: str | os.PathLike, world: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Frozen groups ``{"id", "num_mix", "clips": [{"id", "clip", "truth", "stems", "label"}]}``
    with paths made absolute (relative to ``world``, default the list's grandparent folder).

    Raises:
        avlearn.data.lists.FrozenListError: no such list, or a line that is not a JSON object,
            lacks ``id``/``clips``, or has a clip without ``id``/``clip``/``truth``/``stems`` (the
            message names the file and the line).
    """
    from avlearn.data.lists import read_frozen_list

    root = os.fspath(world) if world is not None else os.path.dirname(os.path.dirname(os.path.abspath(path)))
    out = []
    for g in read_frozen_list(path, required=("id", "clips"), nested_required=("id", "clip", "truth", "stems"), root=root):
        clips = [{"id": c["id"], "clip": c["clip_path"], "truth": c["truth_path"], "label": c.get("label", -1),
                  "stems": {k: os.path.join(root, v) for k, v in c["stems"].items()}} for c in g["clips"]]
        out.append({"id": g["id"], "num_mix": g.get("num_mix", len(clips)), "clips": clips})
    return out


def stem_clips(rows: Sequence[dict[str, Any]], *, sample_rate: int, fps: float, size: int, cache: bool = True) -> ClipCache:
    """Clips in the decode cache (:class:`avlearn.data.cache.ClipCache`) keyed by clip id:
    ``get(id)`` gives the :class:`ClipRecord` (frames, stems, truth tracks), decoded once, or
    None when its files cannot be read (logged once, counted in ``bad``).

    Args:
        rows: ``{"id", "clip", "truth", "stems"}`` dicts (absolute paths); more can be added
            with ``add`` (e.g. the clips of a frozen list).
        sample_rate: audio rate of the stems.
        fps: frame rate of the frames.
        size: frame side.
        cache: keep decoded clips.
    """
    sample_rate, fps, size = int(sample_rate), float(fps), int(size)

    def decode(row: dict[str, Any]) -> ClipRecord:
        from avlearn.io import read_audio, read_clip

        if row.get("truth"):
            with open(row["truth"], encoding="utf-8") as fh:
                truth = json.load(fh)
        else:  # a manifest's solo clip: its own audio is its one source, on screen as the whole frame or its track
            src = {"id": "s0", "onscreen": True, "sounding": True, "label": row.get("label", -1)}
            if row.get("boxes") is not None:
                src.update(box_tracks=row["boxes"], track=row.get("track"))
            truth = {"start": row.get("start"), "duration": row.get("duration"), "fps": fps, "size": [size, size],
                     "label": row.get("label", -1), "sources": [src]}
        begin = float(truth.get("start") or 0.0)  # a list's or manifest's clip may start anywhere in its file
        dur = None if truth.get("duration") is None else float(truth["duration"])
        clip = read_clip(row["clip"], begin, dur, fps=fps, size=(size, size), audio=False)
        dur = dur if dur is not None else clip.video.shape[0] / fps
        stems = {sid: read_audio(p, begin, dur, sample_rate=sample_rate, mono=True)[0][0] for sid, p in row["stems"].items()}
        shape = truth.get("size") or [size, size]
        scale = size / float(shape[1]), size / float(shape[0])
        sources = [rescale_tracks(s, scale, truth["fps"], fps, clip.video.shape[0]) for s in truth["sources"]]
        for s in sources:
            if s.get("box_tracks") is not None:  # a user's box/track file: the source's box at every decoded frame
                s["boxes"] = track_boxes(s["box_tracks"], s.get("track"), row["clip"], begin, clip.video.shape[0], fps, size)
        return ClipRecord(row["id"], clip.video, stems, sources, int(truth.get("label", row.get("label", -1))))

    return ClipCache(rows, decode=decode, key=lambda r: r["id"], cache=cache, fps=fps, size=size,
                     sample_rate=sample_rate, name="separation data")


def track_boxes(spec: str | os.PathLike | dict, track: str | None, clip: str | os.PathLike, begin: float, frames: int,
                fps: float, size: int) -> list[list[float]]:
    """One track's box at each of ``frames`` decoded frames (frame ``i`` at ``begin + i / fps``
    seconds of the file) in pixels of the ``size`` x ``size`` decoded frames.

    Args:
        spec: a box/track file or inline boxes (:mod:`avlearn.data.box_tracks`).
        track: the track id (None: the file's first track).
        clip: the media file (probed for its frame size when the boxes are in pixels).

    Raises:
        avlearn.data.box_tracks.BoxTrackError: a bad box file or an unknown track.
    """
    from avlearn.data.box_tracks import load_box_tracks, pick_track
    from avlearn.io import MissingStreamError, probe

    def frame_size() -> tuple[int, int]:
        v = probe(clip).video
        if v is None or not v.width:
            raise MissingStreamError(clip, "no video stream (pixel boxes need its frame size)")
        return v.width, v.height

    tr = pick_track(load_box_tracks(spec, frame_size=frame_size), track, spec if not isinstance(spec, dict) else "<inline>")
    boxes = tr.box_at(begin + np.arange(frames) / fps) * size  # (T, 4) decoded-frame pixels
    return boxes.tolist()


def rescale_tracks(src: dict[str, Any], scale: tuple[float, float], fps_in: float, fps_out: float, frames: int) -> dict[str, Any]:
    """A truth source with its box tracks resampled to the decoded frames and pixels."""
    out = dict(src)
    for key in ("boxes", "mouth_boxes"):
        track = src.get(key)
        if not track:
            continue
        pick = [min(len(track) - 1, int(i * fps_in / fps_out)) for i in range(frames)]
        out[key] = [None if track[j] is None else
                    [track[j][0] * scale[0], track[j][1] * scale[1], track[j][2] * scale[0], track[j][3] * scale[1]]
                    for j in pick]
    return out


def source_specs(rec: ClipRecord, mode: str) -> list[dict[str, Any]]:
    """The sources of a clip: ``[{"stems": [ids], "box": id or None, "label": int}]``.

    ``clip`` mode: one source (all stems; the box of the first visible sounding source).
    ``objects`` mode: each visible sounding source that has a stem.
    """
    visible = [s for s in rec.sources if s.get("onscreen") and s.get("sounding") and s["id"] in rec.stems]
    if mode == "clip":
        box = visible[0]["id"] if visible else next((s["id"] for s in rec.sources if s.get("onscreen")), None)
        return [{"stems": list(rec.stems), "box": box, "label": rec.label}]
    if mode == "objects":
        return [{"stems": [s["id"]], "box": s["id"], "label": int(s.get("label", -1))} for s in visible]
    raise ValueError(f"separation data: unknown sources mode {mode!r} (clip or objects)")


def box_track(src: dict[str, Any] | None, key: str, frames: int, size: int) -> np.ndarray:
    """(T, 4) boxes of a source, gaps filled with the nearest known box (whole frame if none)."""
    track = (src or {}).get(key) or [None] * frames
    known = [i for i, b in enumerate(track) if b is not None]
    if not known:
        return np.tile(np.array([0.0, 0.0, size, size]), (frames, 1))
    out = np.array([track[min(known, key=lambda k: abs(k - i))] for i in range(frames)], dtype=np.float64)
    return out


def crop_boxes(frames: Tensor, boxes: np.ndarray, out_size: tuple[int, int], *, margin: float = 1.0,
               aspect: float | None = None, gray: bool = False) -> Tensor:
    """Crop one box per frame and resize it (bilinear ``roi_align``).

    Args:
        frames: uint8 (T, H, W, 3).
        boxes: (T, 4) ``[x0, y0, x1, y1]`` pixel edges.
        out_size: (h, w) of the crops.
        margin: scale each box about its centre.
        aspect: force ``height / width`` by growing the shorter side (mouths are wide).
        gray: average the colour channels.

    Returns:
        float (T, C, h, w) in [0, 1], C = 1 if ``gray`` else 3.
    """
    from torchvision.ops import roi_align  # imported on first use: torchvision's import costs seconds
    b = torch.as_tensor(boxes, dtype=torch.float32).clone()  # (T, 4)
    c = (b[:, :2] + b[:, 2:]) / 2
    wh = (b[:, 2:] - b[:, :2]).clamp(min=2.0) * margin  # (T, 2)
    if aspect is not None:
        w = torch.maximum(wh[:, 0], wh[:, 1] / aspect)
        wh = torch.stack([w, w * aspect], 1)
    b = torch.cat([c - wh / 2, c + wh / 2], 1)
    img = frames.permute(0, 3, 1, 2).float().div(255.0)  # (T, 3, H, W)
    if gray:
        img = img.mean(1, keepdim=True)  # (T, 1, H, W)
    rois = torch.cat([torch.arange(len(b), dtype=torch.float32)[:, None], b], 1)  # (T, 5)
    return roi_align(img, rois, out_size, spatial_scale=1.0, sampling_ratio=2, aligned=True)  # (T, C, h, w)


def visual_inputs(frames: Tensor, box: np.ndarray | None, mouth: np.ndarray | None, view: str, *,
                  num_frames: int, crop_size: int, mouth_size: Sequence[int]) -> dict[str, Tensor]:
    """One source's visual input for a window of frames (see the module docstring).

    Args:
        frames: uint8 (T, H, W, 3), the window.
        box: (T, 4) the source's box per frame (None: whole frames).
        mouth: (T, 4) the mouth box per frame (``face`` view; None: the lower middle of ``box``).
        view: ``frames``, ``object`` or ``face``.
    """
    t = frames.shape[0]
    idx = torch.linspace(0, t - 1, num_frames + 2)[1:-1].round().long() if num_frames < t else torch.arange(t)
    if view == "frames":
        return {"frames": frames[idx].permute(3, 0, 1, 2).float().div(255.0)}  # (3, F, H, W)
    full = np.tile(np.array([0.0, 0.0, frames.shape[2], frames.shape[1]]), (t, 1))
    box = full if box is None else box
    if view == "object":
        crops = crop_boxes(frames[idx], box[idx.numpy()], (crop_size, crop_size), margin=1.1)  # (F, 3, c, c)
        return {"crops": crops.permute(1, 0, 2, 3).contiguous()}  # (3, F, c, c)
    if view == "face":
        mid = t // 2
        face = crop_boxes(frames[mid : mid + 1], box[mid : mid + 1], (crop_size, crop_size), margin=1.1)[0]  # (3, c, c)
        if mouth is None:  # lower middle of the face box
            x0, y0, x1, y1 = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
            mouth = np.stack([x0 + 0.3 * (x1 - x0), y0 + 0.65 * (y1 - y0), x1 - 0.3 * (x1 - x0), y0 + 0.9 * (y1 - y0)], 1)
        mh, mw = int(mouth_size[0]), int(mouth_size[1])
        lips = crop_boxes(frames, mouth, (mh, mw), margin=1.5, aspect=mh / mw, gray=True)  # (T, 1, mh, mw)
        return {"face": face, "mouth": lips.permute(1, 0, 2, 3).contiguous()}  # (1, T, mh, mw)
    raise ValueError(f"separation data: unknown visual view {view!r} (frames, object or face)")


def _window(rec: ClipRecord, f0: int, nf: int | None, sample_rate: int, fps: float) -> tuple[Tensor, int, int]:
    """(frames of the window, first sample, samples) for frames ``[f0, f0 + nf)``."""
    frames = rec.frames if nf is None else rec.frames[f0 : f0 + nf]
    n_audio = rec.audio.shape[-1]
    a0 = 0 if nf is None else int(round(f0 * sample_rate / fps))
    na = n_audio if nf is None else int(round(nf * sample_rate / fps))
    return frames, a0, min(na, n_audio - a0)


def build_sample(clips: Sequence[tuple[ClipRecord, int]], d: SeparationData, *, nf: int | None,
                 gains: Tensor | None, sample_id: str) -> dict[str, Any]:
    """Mix ``clips`` (each with its window's first frame) into one padded sample."""
    audios, windows = [], []
    for rec, f0 in clips:
        frames, a0, na = _window(rec, f0, nf, d.sample_rate, d.fps)
        windows.append((rec, frames, a0, na, f0))
    n = min(w[3] for w in windows)
    for rec, _, a0, _, _ in windows:
        audios.append(rec.audio[a0 : a0 + n])
    audio = torch.stack(audios)  # (C, N) one row per clip
    pre = torch.ones(len(clips))
    if d.rms is not None:  # VisualVoice: every clip to the same loudness first
        pre = rms_gain(audio, target=d.rms)  # (C,)
    mixture, _ = mix_sources(audio * pre[:, None], gains=gains, divide=d.divide)
    clip_scale = pre * (gains if gains is not None else 1.0) / (len(clips) if d.divide else 1)  # (C,)
    s_max = d.max_sources
    sources = torch.zeros(s_max, n)
    valid = torch.zeros(s_max, dtype=torch.bool)
    label = torch.full((s_max,), -1, dtype=torch.long)
    group = torch.full((s_max,), -1, dtype=torch.long)
    vis: dict[str, list[Tensor]] = {}
    k = 0
    for c, (rec, frames, a0, _, f0) in enumerate(windows):
        for spec in source_specs(rec, d.sources):
            if k == s_max:
                break
            sig = torch.stack([rec.stems[s][a0 : a0 + n] for s in spec["stems"]]).sum(0)  # (N,)
            sources[k] = sig * clip_scale[c]
            valid[k], label[k], group[k] = True, spec["label"], c
            src = next((s for s in rec.sources if s["id"] == spec["box"]), None)
            t_all = rec.frames.shape[0]
            box = box_track(src, "boxes", t_all, d.size)[f0 : f0 + frames.shape[0]] if src is not None else None
            mouth = box_track(src, "mouth_boxes", t_all, d.size)[f0 : f0 + frames.shape[0]] if src and src.get("mouth_boxes") else None
            for key, v in visual_inputs(frames, box, mouth, d.visual, num_frames=d.num_frames, crop_size=d.crop_size,
                                        mouth_size=d.mouth_size).items():
                vis.setdefault(key, []).append(v)
            k += 1
    if k == 0:
        return None
    out = {"mixture": mixture, "sources": sources, "valid": valid, "label": label, "group": group,
           "num_clips": len(clips), "id": sample_id}
    for key, vals in vis.items():
        pad = torch.zeros((s_max - len(vals), *vals[0].shape), dtype=vals[0].dtype)
        out[key] = torch.cat([torch.stack(vals), pad])  # (S, ...)
    return out


class MixDataset(Dataset):
    """Training mixtures: item ``i`` mixes clip ``i`` with ``num_mix - 1`` partner clips.

    Partners (different labels where possible), gains and windows are drawn from a generator
    seeded by ``(seed, epoch, i)``, so items are reproducible and change every epoch.
    """

    def __init__(self, bank: ClipCache, ids: Sequence[str], data: SeparationData, *, seed: int = 0,
                 length: int | None = None):
        self.bank, self.ids, self.d, self.seed, self.epoch = bank, list(ids), data, int(seed), 0
        self.labels = [int(bank.rows[i].get("label", -1)) for i in self.ids]
        self.length = length  # items per epoch (None: one per clip); item i starts from clip i mod the clips

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.ids) if self.length is None else self.length

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        d = self.d
        rng = np.random.default_rng([self.seed, self.epoch, index])
        index = index % len(self.ids)
        sizes = d.num_mix if isinstance(d.num_mix, list) else [d.num_mix]
        if self.epoch < d.num_mix_warmup:
            sizes = [min(sizes)]
        picks = [index] + draw_partners(rng, self.labels, index, int(rng.choice(sizes)) - 1)
        recs = [self.bank.get(self.ids[i]) for i in picks]
        if any(r is None for r in recs):
            return None
        nf = None if d.duration is None else int(round(d.duration * d.fps))
        clips = []
        for r in recs:
            t = r.frames.shape[0]
            if nf is not None and nf > t:  # a clip too short for the window: skipped and counted, never fatal
                log.warning("separation data: window of %d frames is longer than clip %s (%d frames); skipped", nf, r.id, t)
                return None
            clips.append((r, 0 if nf is None else int(rng.integers(0, t - nf + 1))))
        gains = None
        if d.gain is not None:
            gains = torch.as_tensor(rng.uniform(d.gain[0], d.gain[1], size=len(recs)), dtype=torch.float32)
        return build_sample(clips, d, nf=nf, gains=gains, sample_id="+".join(r.id for r in recs))


class FrozenMixDataset(Dataset):
    """The frozen groups of a separation list, whole clips, unit gains."""

    def __init__(self, groups: Sequence[dict[str, Any]], bank: ClipCache, data: SeparationData):
        self.groups, self.bank, self.d = list(groups), bank, data
        bank.add([c for g in self.groups for c in g["clips"]])

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, index: int) -> dict[str, Any] | None:
        g = self.groups[index]
        recs = [self.bank.get(c["id"]) for c in g["clips"]]
        if any(r is None for r in recs):
            return None
        frames = {r.frames.shape[0] for r in recs}
        nf = None if len(frames) == 1 else min(frames)  # clips of a user's list may differ: mix their common length
        return build_sample([(r, 0) for r in recs], self.d, nf=nf, gains=None, sample_id=g["id"])


def manifest_clips(path: str | os.PathLike, *, duration: float | None) -> list[dict[str, Any]]:
    """A manifest's (or folder's) solo clips as bank rows ``{"id", "clip", "truth": None,
    "stems": {"s0": clip}, "label", "start", "duration", "boxes", "track"}`` (labels: indices
    of the sorted names; each clip's own audio is its source; a row's ``boxes``, a box/track
    file or inline boxes, and ``track`` say where the source is, see :func:`track_boxes`).
    Rows whose known span is shorter than ``duration`` are left out and counted in the log."""
    from avlearn.data import LabelVocab, load_manifest
    from avlearn.data.box_tracks import track_spec
    from avlearn.data.manifest import known_length

    rows = load_manifest(path)
    vocab = LabelVocab.from_rows(rows)
    out, short = [], 0
    for i, r in enumerate(rows):
        length = known_length(r)
        if duration is not None and length is not None and length + 1e-9 < duration:
            short += 1
            continue
        out.append({"id": str(r.extra.get("id", f"{i}:{r.path}")), "clip": r.path, "truth": None,
                    "stems": {"s0": r.path}, "label": vocab.encode(r.label), "start": r.start, "duration": length,
                    "boxes": track_spec(r.extra.get("boxes")), "track": r.extra.get("track")})
    if short:
        log.warning("data.train (%s): skipped %d of %d clips shorter than the %.3f s window", path, short, len(rows), duration)
    if not out:
        raise ValueError(f"data.train ({path}): no clip of at least {duration} s")
    return out


def build_separation_datasets(cfg) -> dict[str, Dataset]:
    """Train: :class:`MixDataset` over the world's training clips or the solo clips of
    ``data.train`` (``windows_per_epoch`` mixtures); val/test: frozen lists (``avlearn
    make-lists --task separation``, or a world's)."""
    from avlearn.tasks.sources import uses_manifests

    d: SeparationData = cfg.data
    if uses_manifests(d):
        rows = manifest_clips(d.train, duration=d.duration)[: d.train_clips]
        opts = dict(sample_rate=d.sample_rate, fps=d.fps, size=d.size, cache=d.cache and len(rows) <= CACHE_LIMIT)
        out: dict[str, Dataset] = {"train": MixDataset(stem_clips(rows, **opts), [r["id"] for r in rows], d,
                                                       seed=cfg.train.seed, length=d.windows_per_epoch)}
        for split in ("val", "test"):
            value = getattr(d, split)
            if value:
                groups = load_separation_list(value)
                opts["cache"] = d.cache and len(groups) <= CACHE_LIMIT
                out[split] = FrozenMixDataset(groups, stem_clips([], **opts), d)
        return out
    manifest = d.train_manifest or os.path.join(d.world, "train", "manifest.jsonl")
    rows = world_rows(d.world, manifest)[: d.train_clips]
    opts = dict(sample_rate=d.sample_rate, fps=d.fps, size=d.size, cache=d.cache)
    out: dict[str, Dataset] = {"train": MixDataset(stem_clips(rows, **opts), [r["id"] for r in rows], d, seed=cfg.train.seed)}
    for split, value in (("val", d.val_list), ("test", d.test_list)):
        path = value or os.path.join(d.world, "lists", f"separation_{split}.jsonl")
        if os.path.exists(path):
            out[split] = FrozenMixDataset(load_separation_list(path, d.world), stem_clips([], **opts), d)
    return out
