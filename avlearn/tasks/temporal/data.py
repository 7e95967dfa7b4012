"""Untrimmed videos as sequences of clip features, with their labelled segments.

TAL-Net (Chao et al., "Rethinking the Faster R-CNN Architecture for Temporal Action
Localization", CVPR 2018, Sec. 3 and 4.1) works on a 1D feature map: one feature vector per
clip of a sliding window over the whole video, computed once by a pretrained clip network (I3D
there) and kept fixed while the localization network trains. Here the features come from

* ``data.feature_run``: a clip classifier trained by this library, run over windows of
  ``data.window`` seconds every ``data.hop`` seconds: a preview bundle (its 3D teacher) or a
  ``preview_teacher`` run folder. ``data.feature_output`` picks what a window gives:
  ``log_probs`` (the K + 1 window log-probabilities, the same scores the window-grouping method
  groups), ``pre_logits`` (the pooled embedding) or ``both`` (log-probabilities first);
  computed once per split and cached under ``data.cache``; or
* ``data.feature_files``: ``{train: a.npz, val: b.npz, test: c.npz}`` written by
  ``avlearn extract-features`` over the split's manifest (any registered model or trained
  run); a row's features are the windows whose ``paths`` entry is the row's file.

The videos and their segments come from a world (``train/manifest.jsonl`` and the frozen
``lists/segments_{val,test}.jsonl``) or from manifests written by ``avlearn prepare
activitynet|thumos|ave`` (:func:`avlearn.tasks.preview.data.manifest_records`); the evaluation
lists are the files as written, so every evaluation scores the same segments.

Time and feature steps follow :mod:`avlearn.tasks.preview.proposals`: window ``j`` stands for
the ``hop`` seconds around its centre, step ``t`` covers ``[t, t + 1]``, and the origin of a
sequence (the time of step 0) is ``starts[0] + window / 2 - hop / 2``.

A sample (one video; training crops ``data.crop`` steps at random)::

    {"features": (D, L), "segments": (G, 2) in steps, "labels": (G,) in 1..K, "gt": (G_all, 3)
     seconds and action 0..K-1 of the whole video, "origin": time of step 0, "duration": s,
     "index": row number}
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from avlearn.tasks.preview.data import PreviewData, VideoRecord, cache_folder, class_names

__all__ = ["TemporalData", "FeatureSequence", "SequenceDataset", "split_sequences", "feature_model", "origin",
           "clip_features", "collate_sequences", "FEATURE_OUTPUTS"]

FEATURE_OUTPUTS = ("log_probs", "pre_logits", "both")
_DECODE_SETTINGS = ("fps", "size", "sample_rate", "mean", "std")


@dataclass
class TemporalData(PreviewData):
    """The ``data`` section: :class:`~avlearn.tasks.preview.data.PreviewData` (``world`` or
    ``train``/``val``/``test`` manifests, ``labels``, ``window``, ``hop``, ``max_videos``,
    ``cache``) plus the feature source (see the module docstring).

    Attributes:
        feature_run: a preview bundle or a ``preview_teacher`` run; its decoding settings
            (``fps``, ``size``, ``sample_rate``, ``mean``, ``std``) replace this section's, and
            its ``window`` / ``hop`` must equal this section's.
        feature_output: ``log_probs``, ``pre_logits`` or ``both``.
        feature_files: split -> ``.npz`` of ``avlearn extract-features`` (instead of a run);
            their ``clip_duration`` / ``stride`` must equal ``window`` / ``hop``.
        crop: training sequences are cut to at most this many steps at a random offset.
    """

    feature_run: str | None = None
    feature_output: str = "log_probs"
    feature_files: dict[str, Any] | None = None
    crop: int = 128

    def __post_init__(self) -> None:
        if self.feature_output not in FEATURE_OUTPUTS:
            raise ValueError(f"feature_output: must be one of {FEATURE_OUTPUTS}, got {self.feature_output!r}")
        if self.crop < 1:
            raise ValueError(f"crop: must be >= 1, got {self.crop}")


class FeatureSequence(NamedTuple):
    """One video: ``features`` (J, D) float32, ``starts`` (J,) window starts (s), its record."""

    features: Tensor
    starts: np.ndarray
    record: VideoRecord


# ------------------------------------------------------------------------------ feature runs


def feature_model(path: str | os.PathLike) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The clip network of a feature run and its data settings (``window``, ``hop``, ``fps``...).

    Raises:
        FileNotFoundError: no such run.
        ValueError: a run of another task (the message names it).
    """
    from avlearn.tasks.preview.bundle import preview_models
    from avlearn.tasks.runs import load_run

    run = load_run(path)
    if run.task_name == "preview":
        models = preview_models(run)
        return models.teacher.eval(), dict(models.data)
    if run.task_name == "preview_teacher":
        return run.network.eval(), asdict(run.config.data)
    raise ValueError(f"data.feature_run: {run.path} is a {run.task_name!r} run; the features come from a preview "
                     "bundle or a preview_teacher run (or give data.feature_files from `avlearn extract-features`)")


def clip_features(model: torch.nn.Module, clips: Tensor, output: str) -> Tensor:
    """Features ``(J, D)`` of clips ``(J, 3, F, H, W)``: log-probabilities, pre-logits or both."""
    feats = model.forward_features(clips)
    if output == "pre_logits":
        return model.forward_head(feats, pre_logits=True).float()  # (J, D)
    logp = model.forward_head(feats).float().log_softmax(1)  # (J, K + 1)
    if output == "log_probs":
        return logp
    return torch.cat([logp, model.forward_head(feats, pre_logits=True).float()], 1)  # (J, K + 1 + D)


def _file_tag(path: str) -> str:
    p = Path(path)
    p = p / "weights.pt" if p.is_dir() else p
    st = p.stat() if p.is_file() else None
    return f"{p.resolve()}|{st.st_size if st else 0}|{st.st_mtime_ns if st else 0}"


def _run_sequences(d: TemporalData, split: str, *, progress: bool = False) -> list[FeatureSequence]:
    """The feature run's features of every window of every video of ``split`` (cached)."""
    from avlearn.tasks.preview.data import VideoWindows

    model, stored = feature_model(d.feature_run)
    _check_grid(d, stored.get("window"), stored.get("hop"), f"data.feature_run ({d.feature_run})")
    decode = TemporalData(**{**asdict(d), **{k: stored[k] for k in _DECODE_SETTINGS if k in stored}})
    store = VideoWindows.load(decode, split, progress=progress)
    key = json.dumps({"store": store.key, "run": _file_tag(d.feature_run), "output": d.feature_output,
                      "hop": d.hop, "window": d.window}, sort_keys=True)
    path = cache_folder(d) / f"tal_features_{split}_{hashlib.sha1(key.encode()).hexdigest()[:12]}.pt"
    if path.is_file():
        feats = torch.load(path, weights_only=True)["features"]
    else:
        feats = []
        with torch.inference_mode():
            for v in range(len(store)):
                starts = store.starts(v, d.hop, d.window)
                chunks = [clip_features(model, store.clips(v, starts[i : i + 64], d.window), d.feature_output)
                          for i in range(0, len(starts), 64)]
                feats.append(torch.cat(chunks).contiguous())  # (J, D)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}")
        torch.save({"features": feats, "key": key}, tmp)
        os.replace(tmp, path)
    return [FeatureSequence(f, store.starts(v, d.hop, d.window), store.records[v]) for v, f in enumerate(feats)]


def _check_grid(d: TemporalData, window: Any, hop: Any, source: str) -> None:
    if window is None or hop is None or abs(float(window) - d.window) > 1e-6 or abs(float(hop) - d.hop) > 1e-6:
        raise ValueError(f"{source}: features of {window} s windows every {hop} s, the recipe says data.window="
                         f"{d.window}, data.hop={d.hop} (set them to the features')")


# ------------------------------------------------------------------------------ feature files


def _split_records(d: TemporalData, split: str) -> list[VideoRecord]:
    from avlearn.tasks.preview.data import manifest_records, video_records
    from avlearn.tasks.sources import uses_manifests

    if uses_manifests(d):
        source = getattr(d, split)
        if not source:
            raise FileNotFoundError(f"data.{split}: not given")
        records = manifest_records(source, class_names(d))
    else:
        records = video_records(d.world, split)
    return records[: d.max_videos] if d.max_videos is not None else records


def _file_sequences(d: TemporalData, split: str) -> list[FeatureSequence]:
    """The rows of ``split`` with their windows from ``data.feature_files[split]``; rows whose file
    has no features there (unreadable when extracted) are left out and counted in the log."""
    import logging

    files = d.feature_files or {}
    if split not in files:
        raise FileNotFoundError(f"data.feature_files: no {split!r} entry (have {sorted(files)})")
    path = os.fspath(files[split])
    if not os.path.isfile(path):
        raise FileNotFoundError(f"data.feature_files.{split}: {path} not found (write it with avlearn extract-features)")
    try:
        z = np.load(path, allow_pickle=False)
        feats, index, starts, paths = z["features"], z["file_index"], z["starts"], [str(p) for p in z["paths"]]
        window, hop = float(z["clip_duration"]), float(z["stride"])
    except (KeyError, ValueError, OSError) as exc:
        raise ValueError(f"data.feature_files.{split}: {path} is not an `avlearn extract-features` .npz ({exc})") from None
    _check_grid(d, window, hop, f"data.feature_files.{split} ({path})")
    by_path = {os.path.realpath(p): i for i, p in enumerate(paths)}
    out, missing = [], 0
    for rec in _split_records(d, split):
        i = by_path.get(os.path.realpath(rec.path))
        rows = np.flatnonzero(index == i) if i is not None else np.zeros(0, dtype=np.int64)
        if not len(rows):
            missing += 1
            continue
        st = np.asarray(starts[rows], dtype=np.float64)
        if rec.duration <= 0 or not np.isfinite(rec.duration):
            rec.duration = float(st[-1] + window)
        rec.segments = [(s, min(e, rec.duration), c) for s, e, c in rec.segments]
        out.append(FeatureSequence(torch.as_tensor(feats[rows], dtype=torch.float32), st, rec))
    if missing:
        logging.getLogger(__name__).warning("data.feature_files.%s: %d of %d videos have no features in %s (left out)",
                                            split, missing, missing + len(out), path)
    if not out:
        raise ValueError(f"data.feature_files.{split}: none of the split's videos has features in {path}")
    return out


def split_sequences(d: TemporalData, split: str, *, progress: bool = False) -> list[FeatureSequence]:
    """Every video of ``split`` as a :class:`FeatureSequence`.

    Raises:
        FileNotFoundError: the split or the feature source is missing.
        ValueError: neither or both of ``feature_run`` / ``feature_files``; features on another
            window grid than the recipe's.
    """
    if (d.feature_run is None) == (d.feature_files is None):
        raise ValueError("data: give exactly one of feature_run (a preview bundle or preview_teacher run) and "
                         "feature_files (split -> .npz from avlearn extract-features)")
    if d.feature_files is not None:
        return _file_sequences(d, split)
    return _run_sequences(d, split, progress=progress)


# ------------------------------------------------------------------------------ samples


def origin(starts: np.ndarray, window: float, hop: float) -> float:
    """Time (s) of feature step 0."""
    return float(starts[0]) + window / 2 - hop / 2


class SequenceDataset(Dataset):
    """One sample per video (see the module docstring).

    Args:
        sequences: the videos' features and segments.
        window, hop: the feature grid (s).
        crop: training crop length in steps (None: whole videos).
        train: random crops.
        seed: seed of the crops (mixed with the epoch and the index).
    """

    def __init__(self, sequences: list[FeatureSequence], *, window: float, hop: float, crop: int | None = None,
                 train: bool = False, seed: int = 0):
        self.seqs, self.window, self.hop = sequences, float(window), float(hop)
        self.crop, self.train, self.seed, self.epoch = crop, train, int(seed), 0

    def __len__(self) -> int:
        return len(self.seqs)

    def set_epoch(self, epoch: int) -> None:
        """Other crops in the next epoch."""
        self.epoch = int(epoch)

    def __getitem__(self, i: int) -> dict[str, Any]:
        f = self.seqs[i]
        x = f.features.t()  # (D, J)
        t0 = origin(f.starts, self.window, self.hop)
        segs = [((s - t0) / self.hop, (e - t0) / self.hop, c) for s, e, c in f.record.segments]
        if self.train and self.crop and x.shape[1] > self.crop:
            off = int(np.random.default_rng([self.seed, self.epoch, i]).integers(0, x.shape[1] - self.crop + 1))
            x = x[:, off : off + self.crop]
            t0 += off * self.hop
            segs = [(s - off, e - off, c) for s, e, c in segs]
        length = float(x.shape[1])  # targets inside the sequence; at least half a step of each left
        segs = [(max(s, 0.0), min(e, length), c) for s, e, c in segs]
        segs = [(s, e, c) for s, e, c in segs if e - s >= 0.5]
        return {
            "features": x.contiguous(),
            "segments": torch.tensor([[s, e] for s, e, _ in segs], dtype=torch.float32).reshape(-1, 2),
            "labels": torch.tensor([c + 1 for _, _, c in segs], dtype=torch.long),
            "gt": torch.tensor([[s, e, c] for s, e, c in f.record.segments], dtype=torch.float64).reshape(-1, 3),
            "origin": torch.tensor(t0, dtype=torch.float64),
            "duration": torch.tensor(float(f.record.duration), dtype=torch.float64),
            "index": torch.tensor(i),
        }


def collate_sequences(samples: list[dict[str, Any] | None]) -> dict[str, Any] | None:
    """Pad features to the longest sequence by repeating each one's last step; the per-video
    ``targets`` (steps, labels) and ``gt`` stay lists. None samples are dropped and counted."""
    kept = [s for s in samples if s is not None]
    if not kept:
        return None
    length = max(s["features"].shape[1] for s in kept)
    feats = [torch.cat([s["features"], s["features"][:, -1:].expand(-1, length - s["features"].shape[1])], 1)
             for s in kept]
    return {
        "features": torch.stack(feats),  # (B, D, L)
        "lengths": torch.tensor([s["features"].shape[1] for s in kept]),
        "targets": [{"segments": s["segments"], "labels": s["labels"]} for s in kept],
        "gt": [s["gt"] for s in kept],
        "origin": torch.stack([s["origin"] for s in kept]),
        "duration": torch.stack([s["duration"] for s in kept]),
        "index": torch.stack([s["index"] for s in kept]),
        "skipped": len(samples) - len(kept),
    }


def build_temporal_datasets(cfg: Any) -> dict[str, Any]:
    """Train (random crops of every training video) and val/test (whole videos of the frozen lists)."""
    from avlearn.data.errors import WorldFormatError

    d: TemporalData = cfg.data
    progress = bool(getattr(cfg.train, "progress", False))
    out: dict[str, Any] = {}
    for split in ("train", "val", "test"):
        try:
            seqs = split_sequences(d, split, progress=progress)
        except (FileNotFoundError, WorldFormatError):
            if split == "train":
                raise
            continue
        width = seqs[0].features.shape[1]
        expected = (cfg.model.kwargs or {}).get("in_channels")
        if expected is not None and expected != width:
            raise ValueError(f"data ({split}): the features have {width} channels, model.kwargs.in_channels is {expected}")
        out[split] = SequenceDataset(seqs, window=d.window, hop=d.hop, crop=d.crop if split == "train" else None,
                                     train=split == "train", seed=cfg.train.seed)
    return out
