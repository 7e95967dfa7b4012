"""Temporal action localization by proposals: TAL-Net over the clip classifier's window features.

The second method beside window grouping (:mod:`~avlearn.tasks.preview.temporal_localization`):
Chao et al., "Rethinking the Faster R-CNN Architecture for Temporal Action Localization" (CVPR
2018). The untrimmed video becomes a sequence of clip features, one per ``hop`` seconds (here
the 3D teacher's window scores, ``K + 1`` values per window: the same windows the grouping
method scores, so the two methods see the same evidence), and
:class:`~avlearn.models.detection.tal_net.TALNet` proposes segments from multi-scale anchors,
classifies each with context and refines its boundaries; per-class 1D NMS gives the segments.

Time and feature steps: window ``j`` (start ``s_j``) stands for ``[c_j - hop/2, c_j + hop/2]``
around its centre ``c_j = s_j + window/2`` (as in the grouping method), so feature step ``t``
covers ``[t, t+1]`` and time ``x`` is step ``(x - c_0 + hop/2) / hop``
(:func:`seconds_to_steps`, :func:`steps_to_seconds`). Labels: TAL-Net's class 0 is background,
action ``k`` is class ``k + 1``.

    >>> net = fit_proposal_net(train_features, train_segments, num_actions=K, hop=0.5, window=1.0)
    >>> segs = localize_proposals(net, features, starts, window=1.0, hop=0.5, duration=30.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from avlearn.models.detection.tal_net import TALNet

__all__ = ["seconds_to_steps", "steps_to_seconds", "fit_proposal_net", "localize_proposals", "save_proposal_net",
           "load_proposal_net", "window_features", "fit_world_proposals", "proposal_table"]

Segments = list[tuple[float, float, int]]


def seconds_to_steps(x, first_start: float, *, window: float, hop: float):
    """Feature-step coordinate of time ``x`` (see the module docstring)."""
    return (np.asarray(x, dtype=np.float64) - (first_start + window / 2 - hop / 2)) / hop


def steps_to_seconds(t, first_start: float, *, window: float, hop: float):
    """Time of feature-step coordinate ``t`` (the inverse of :func:`seconds_to_steps`)."""
    return np.asarray(t, dtype=np.float64) * hop + first_start + window / 2 - hop / 2


def _features(x) -> Tensor:
    f = torch.as_tensor(x, dtype=torch.float32)
    if f.dim() != 2:
        raise ValueError(f"clip features must be (J, D) per video, got shape {tuple(f.shape)}")
    return f.t().contiguous()  # (D, J)


def fit_proposal_net(features: Sequence[Any], segments: Sequence[Segments], starts: Sequence[Sequence[float]], *,
                     num_actions: int, window: float, hop: float, steps: int = 300, lr: float = 1e-3, seed: int = 0,
                     **kwargs: Any) -> TALNet:
    """Train a TAL-Net (``tal_net_tiny`` sizes unless ``kwargs`` say otherwise) on videos' clip features.

    Args:
        features: per video ``(J, D)`` clip features, one per window start.
        segments: per video the ground truth ``(start s, end s, action)`` with actions in ``0..K-1``.
        starts: per video the window starts (s) of the features.
        num_actions: K (the network has K + 1 classes).
        window, hop: window length and spacing (s).
        steps: optimisation steps (one video per step, cycling in a seeded order).
        lr: Adam learning rate.
        seed: seed of the initialisation and the order.
        **kwargs: builder arguments of ``tal_net_tiny`` (``anchor_scales``, ``width``...).

    Returns:
        The trained network in eval mode.

    Raises:
        ValueError: no videos, or features / segments / starts of different lengths.
    """
    from avlearn.models import create_model

    if not features or not (len(features) == len(segments) == len(starts)):
        raise ValueError(f"fit_proposal_net: {len(features)} feature sequences, {len(segments)} segment lists, "
                         f"{len(starts)} start lists (need equal, non-zero counts)")
    torch.manual_seed(seed)
    xs = [_features(f) for f in features]
    net = create_model("tal_net_tiny", num_classes=num_actions + 1, in_channels=xs[0].shape[0], **kwargs)
    targets = []
    for segs, st in zip(segments, starts):
        steps_ = seconds_to_steps([[s, e] for s, e, _ in segs], float(st[0]), window=window, hop=hop).reshape(-1, 2)
        targets.append({"segments": torch.as_tensor(steps_, dtype=torch.float32),
                        "labels": torch.as_tensor([c + 1 for _, _, c in segs], dtype=torch.long)})
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    order = np.random.default_rng(seed).permutation(len(xs))
    net.train()
    for i in range(steps):
        v = int(order[i % len(order)])
        losses = net.loss(xs[v][None], [targets[v]])
        loss = sum(losses.values())
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def localize_proposals(net: TALNet, features, starts: Sequence[float], *, window: float, hop: float, duration: float,
                       score_threshold: float = 0.05, nms_iou: float = 0.5,
                       max_segments: int | None = None) -> list[tuple[float, float, int, float]]:
    """Segments ``(start, end, action, score)`` of one video, best first, from a trained TAL-Net.

    Args:
        net: :func:`fit_proposal_net`'s network.
        features: ``(J, D)`` clip features of windows starting at ``starts``.
        starts: the window starts (s).
        window, hop: window length and spacing (s), as in training.
        duration: video length (segments are clipped to ``[0, duration]``).
        score_threshold: smallest class probability kept.
        nms_iou: tIoU of the per-class 1D NMS.
        max_segments: keep at most this many.
    """
    x = _features(features)[None]  # (1, D, J)
    out = net.detect(x, score_threshold=score_threshold, nms_threshold=nms_iou,
                     max_detections=max_segments or 10_000)[0]
    secs = steps_to_seconds(out["segments"].cpu().numpy(), float(starts[0]), window=window, hop=hop).reshape(-1, 2)
    secs = secs.clip(0.0, duration)
    return [(float(s), float(e), int(c) - 1, float(sc)) for (s, e), c, sc in
            zip(secs, out["labels"].tolist(), out["scores"].tolist()) if e > s]


def save_proposal_net(net: TALNet, path: str | os.PathLike, *, window: float, hop: float, **kwargs: Any) -> str:
    """Save a trained TAL-Net with what rebuilding it needs (``tal_net_tiny`` arguments, window, hop)."""
    meta = {"num_classes": net.num_classes, "in_channels": net.in_channels, "kwargs": kwargs, "window": window, "hop": hop}
    torch.save({"format": "avlearn-tal-net-1", "meta": meta, "state_dict": net.state_dict()}, path)
    return os.fspath(path)


def load_proposal_net(path: str | os.PathLike) -> tuple[TALNet, dict[str, Any]]:
    """A network saved by :func:`save_proposal_net` and its ``meta`` (window, hop...).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a saved TAL-Net.
    """
    from avlearn.models import create_model

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no proposal network (save one with save_proposal_net)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != "avlearn-tal-net-1":
        raise ValueError(f"{path}: not a saved TAL-Net proposal network")
    m = blob["meta"]
    net = create_model("tal_net_tiny", num_classes=m["num_classes"], in_channels=m["in_channels"], **m["kwargs"])
    net.load_state_dict(blob["state_dict"])
    return net.eval(), m


def window_features(models: Any, store: Any, v: int) -> tuple[np.ndarray, Tensor]:
    """Window starts and the clip features ``(J, K + 1)`` of video ``v``: the 3D teacher's
    log-probabilities of the windows every ``hop`` seconds (the windows the grouping method scores)."""
    from avlearn.tasks.preview.task import window_logits

    w, hop = models.data["window"], models.data["hop"]
    starts = store.starts(v, hop, w)
    return starts, window_logits(models.teacher, store, v, starts, w).log_softmax(1)  # (J, K+1)


def fit_world_proposals(models: Any, world: str | os.PathLike, *, steps: int = 300, seed: int = 0,
                        progress: bool = False, **kwargs: Any) -> TALNet:
    """Train a TAL-Net on the teacher's window features of an actions world's train videos.

    Args:
        models: a preview bundle's models (:func:`~avlearn.tasks.preview.bundle.preview_models`).
        world: the actions world the bundle was trained on.
        steps, seed, **kwargs: as :func:`fit_proposal_net`.
        progress: show a progress bar while decoding.
    """
    from avlearn.tasks.preview.data import VideoWindows, data_for

    store = VideoWindows.load(data_for(world, models.data), "train", progress=progress)
    feats, starts = [], []
    for v in range(len(store)):
        st, f = window_features(models, store, v)
        starts.append(st)
        feats.append(f)
    return fit_proposal_net(feats, [r.segments for r in store.records], starts, num_actions=len(models.classes),
                            window=models.data["window"], hop=models.data["hop"], steps=steps, seed=seed, **kwargs)


def proposal_table(models: Any, store: Any, net: TALNet, *, nms_iou: float = 0.5,
                   tiou_thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6, 0.7)) -> list[dict[str, Any]]:
    """mAP at each tIoU of the two methods on the same videos and the same teacher windows:
    ``windows`` (grouping + 1D NMS) and ``proposals`` (TAL-Net)."""
    from avlearn.tasks.preview.temporal_localization import localization_map, localize

    d, K = models.data, len(models.classes)
    preds: dict[str, dict[Any, list]] = {"windows": {}, "proposals": {}}
    gts = {}
    for v, rec in enumerate(store.records):
        starts, feats = window_features(models, store, v)
        opts = dict(window=d["window"], hop=d["hop"], duration=rec.duration)
        preds["windows"][rec.id] = localize(feats.exp(), starts, nms_iou=nms_iou, num_actions=K, **opts)
        preds["proposals"][rec.id] = localize_proposals(net, feats, starts, nms_iou=nms_iou, **opts)
        gts[rec.id] = rec.segments
    rows = []
    for name, p in preds.items():
        res = localization_map(p, gts, tiou_thresholds=tiou_thresholds)
        rows.append({"method": name, **{f"map@{t:g}": m for t, m in res.map.items()}, "average": res.average_map})
    return rows
