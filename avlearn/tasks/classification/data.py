"""Clips of labelled videos for classification: the ``data`` section and the datasets.

Training draws one random clip per video per epoch; evaluation scores ``eval_clips`` evenly
spaced clips per video (Karpathy et al. CVPR 2014, Sec. 3; Tran et al. ICCV 2015). Videos come
from a synthetic world's ``<split>/<manifest>`` files or from explicit manifests; class names
from ``data.labels``, else the world's ``world.json``, else the training manifest.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from torch import nn

__all__ = ["ClassificationData", "build_classification_datasets", "class_names", "eval_transform"]


@dataclass
class ClassificationData:
    """The ``data`` section.

    Attributes:
        world: a synthetic world folder; its ``<split>/<manifest>`` files are the splits.
        manifest: the manifest file name inside each split folder of ``world``
            (``segments.jsonl``: the trimmed action segments of an actions world).
        train, val, test: manifests (or folders) of labelled clips or segments
            (``avlearn prepare``'s ``<split>.jsonl`` / ``<split>_segments.jsonl``), instead of
            ``world`` (exactly one of the two, :mod:`avlearn.tasks.sources`).
        labels: class names in label order (default: the world's classes or the manifest's).
        clip_duration: seconds per clip.
        eval_clips: clips per video, evenly spaced, at evaluation (each clip is scored).
        fps: frame rate frames are sampled at.
        size: frame size after decoding (an int for square frames, or [height, width]; resized
            in the decoder).
        crop: random crop (train) / centre crop (eval) size; None keeps ``size``.
        flip: random horizontal flips during training.
        mean, std: per-channel video normalisation.
        sample_rate: audio sample rate (audio input).
        audio: ``waveform`` or ``logmel`` (audio input).
        n_mels: mel bands of the ``logmel`` input.
    """

    world: str | None = None
    manifest: str = "manifest.jsonl"
    train: str | None = None
    val: str | None = None
    test: str | None = None
    labels: list[str] | None = None
    clip_duration: float = 1.0
    eval_clips: int = 1
    fps: float = 8.0
    size: int | tuple[int, int] = 64
    crop: int | None = None
    flip: bool = True
    mean: list[float] = field(default_factory=lambda: [0.45, 0.45, 0.45])
    std: list[float] = field(default_factory=lambda: [0.225, 0.225, 0.225])
    sample_rate: int = 16000
    audio: Literal["waveform", "logmel"] = "waveform"
    n_mels: int = 64



def _manifest(d: ClassificationData, split: str) -> str | None:
    explicit = getattr(d, split)
    if explicit is not None:
        return explicit
    return os.path.join(d.world, split, d.manifest) if d.world else None


def class_names(d: ClassificationData) -> list[str]:
    """The class names of a data section (``labels``, else the world's, else the manifest's)."""
    if d.labels:
        return list(d.labels)
    if d.world and os.path.isfile(os.path.join(d.world, "world.json")):
        with open(os.path.join(d.world, "world.json"), encoding="utf-8") as f:
            return list(json.load(f)["classes"])
    from avlearn.data import LabelVocab, load_manifest

    path = _manifest(d, "train")
    if path is None or not os.path.isfile(path):
        raise FileNotFoundError(f"data.train: training manifest {path!r} not found (set data.world or data.train)")
    rows = load_manifest(path)
    ints = [r.label for r in rows if isinstance(r.label, int)]
    if ints:
        return [str(i) for i in range(max(ints) + 1)]
    return LabelVocab.from_rows(rows).names


def _transform(d: ClassificationData, input: str, train: bool) -> nn.Module:
    from avlearn.data import transforms as T

    steps: list[nn.Module] = []
    if input in ("video", "av"):
        steps.append(T.ToFloatCTHW())
        if d.crop is not None:
            steps.append(T.RandomCrop(d.crop) if train else T.CenterCrop(d.crop))
        if train and d.flip:
            steps.append(T.RandomHorizontalFlip())
        steps.append(T.Normalize(d.mean, d.std))
    if input != "video" and d.audio == "logmel":
        steps.append(T.LogMelSpectrogram(d.sample_rate, n_fft=512, hop_length=d.sample_rate // 100, n_mels=d.n_mels))
    return T.Compose(steps)


def eval_transform(d: ClassificationData, input: str) -> nn.Module:
    """The evaluation transform of a data section (centre crop, normalisation; no flips), as
    applied to val/test clips and by :func:`avlearn.tasks.classification.inference.predict_file`."""
    return _transform(d, input, train=False)


def build_classification_datasets(cfg: Any) -> dict[str, Any]:
    """Train (one random clip per video per epoch) and val/test (``eval_clips`` uniform clips)."""
    from avlearn.data import AVDataset, LabelVocab, RandomClipSampler, UniformClipSampler, load_manifest

    from avlearn.tasks.sources import uses_manifests

    d: ClassificationData = cfg.data
    uses_manifests(d)  # exactly one of data.world and data.train
    names = class_names(d)
    out = {}
    for split in ("train", "val", "test"):
        path = _manifest(d, split)
        if path is None or not os.path.isfile(path):
            if split == "train":
                raise FileNotFoundError(
                    f"data.train: training manifest {path!r} not found (set data.world or data.train)"
                )
            continue
        train = split == "train"
        video, audio = cfg.task.input in ("video", "av"), cfg.task.input in ("audio", "av")
        rows = load_manifest(path)
        for r in rows:
            r.extra = {}  # only path, label and span matter here (and extras may clash with sample keys)
        out[split] = AVDataset(
            rows,
            sampler=RandomClipSampler(d.clip_duration) if train else UniformClipSampler(d.clip_duration, d.eval_clips),
            fps=d.fps if video else None,
            size=((d.size, d.size) if isinstance(d.size, int) else tuple(d.size)) if video else None,
            sample_rate=d.sample_rate,
            mono=True,
            video=video,
            audio=audio,
            transform=_transform(d, cfg.task.input, train),
            vocab=LabelVocab(names),
            seed=cfg.train.seed,
        )
    return out
