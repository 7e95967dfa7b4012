"""TAL-Net segments of a whole media file from a clip network's streamed window features.

Chao et al., "Rethinking the Faster R-CNN Architecture for Temporal Action Localization"
(CVPR 2018): the file's windows (``window`` seconds every ``hop`` seconds, decoded once and
streamed in batches by :func:`avlearn.tasks.preview.inference.stream_window_stores`) become the
clip network's features (:func:`avlearn.tasks.temporal.data.clip_features`, the output the
TAL-Net was trained on), and the network detects segments over the whole sequence.
``avlearn classify --segments --method proposals`` calls :func:`proposal_segments`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from avlearn.tasks.temporal.data import clip_features, origin

__all__ = ["proposal_segments"]


def proposal_segments(net: Any, clip_net: torch.nn.Module, windows: Iterable[tuple[list[float], Any]], starts: np.ndarray,
                      *, window: float, hop: float, duration: float) -> list[tuple[float, float, int, float]]:
    """Segments ``(start s, end s, action 0..K-1, score)`` of one file, best first.

    Args:
        net: a trained ``temporal_proposals`` task (``avlearn.load_run(run).task``; its
            ``feature_output`` says which features it reads), or a bare TAL-Net on the window
            log-probabilities (:func:`~avlearn.tasks.preview.proposals.load_proposal_net`).
        clip_net: the clip classifier whose features the network was trained on.
        windows: ``(starts, store)`` batches of one-window videos covering the file in order.
        starts: every window start (s).
        window, hop: the window grid (s).
        duration: the file's length (segments are clipped to it).
    """
    from avlearn.tasks.preview.proposals import localize_proposals

    output = getattr(net, "feature_output", "log_probs")
    feats = torch.cat([clip_features(clip_net, torch.cat([store.clips(j, [0.0], window) for j in range(len(store))]),
                                     output) for _, store in windows])  # (J, D)
    if hasattr(net, "detect") and hasattr(net, "model"):  # a temporal_proposals task: detections in seconds
        return net.detect(feats.t(), origin=origin(np.asarray(starts), window, hop), duration=duration)
    return localize_proposals(net, feats, starts, window=window, hop=hop, duration=duration)
