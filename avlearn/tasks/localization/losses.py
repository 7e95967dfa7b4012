"""Correspondence objectives of audio-visual attention localization.

Arandjelović & Zisserman (ECCV 2018, AVOL-Net, Sec. 3): a clip's frames with its own audio are
a positive, with another clip's audio a negative; :func:`correspondence_bce` is their binary
loss, :func:`correspondence_nce` the contrastive form (symmetric cross-entropy over the batch's
score matrix, as in work built on Senocak et al., CVPR 2018), and :func:`background_loss` pushes
the lowest locations of each frame towards "no match".
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["correspondence_bce", "correspondence_nce", "background_loss"]


def correspondence_bce(scores: Tensor) -> Tensor:
    """AVOL's correspondence loss on a (B, B) score matrix: diagonal = own audio (label 1),
    off-diagonal = another clip's audio (label 0); positives and negatives weigh half each."""
    b = scores.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=scores.device)
    pos = F.binary_cross_entropy_with_logits(scores[eye], torch.ones(b, device=scores.device))
    if b == 1:
        return pos
    neg = F.binary_cross_entropy_with_logits(scores[~eye], torch.zeros(b * (b - 1), device=scores.device))
    return 0.5 * (pos + neg)


def background_loss(logits: Tensor, fraction: float = 0.5) -> Tensor:
    """BCE pushing the mean logit of the lowest ``fraction`` of each frame's locations (B, T, h, w)
    towards 0 ("does not match"): the clip's own background as a negative."""
    flat = logits.flatten(2)  # (B, T, h*w)
    k = max(1, math.ceil(fraction * flat.shape[-1]))
    low = flat.topk(k, dim=-1, largest=False).values.mean(dim=-1)  # (B, T)
    return F.binary_cross_entropy_with_logits(low, torch.zeros_like(low))


def correspondence_nce(scores: Tensor) -> Tensor:
    """Contrastive correspondence: cross-entropy of each video over the batch's audio and of
    each audio over the videos, the own pair being the target (mean of both directions)."""
    target = torch.arange(scores.shape[0], device=scores.device)
    return 0.5 * (F.cross_entropy(scores, target) + F.cross_entropy(scores.t(), target))
