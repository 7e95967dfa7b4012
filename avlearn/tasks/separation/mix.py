"""Mix-and-separate: build training mixtures from clips whose audio is known alone.

Sound of Pixels (Zhao et al., ECCV 2018, Sec. 3.1 and the released training code): the
audio of N clips is mixed as ``x = clip(sum_n g_n s_n / N, -1, 1)`` with a random gain
``g_n`` in [0.5, 1.5] per clip at training time (1 at test time); the network must recover
each ``g_n s_n / N`` from ``x`` given the frames of clip ``n``. Because the sources come from
different clips, the ground truth is free (self-supervised).

VisualVoice (Gao et al., CVPR 2021, Sec. 4.1) first normalises each speech clip to an RMS of
0.1 (:func:`rms_normalize`); its released training code then averages the two clips
(``(A + B) / 2``, ``divide=True``). ``divide=False`` sums them instead.

Groups of clips to mix are drawn with different labels where possible
(:func:`draw_partners`), as the frozen evaluation lists of the synthetic world are.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = ["mix_sources", "random_gains", "rms_gain", "rms_normalize", "draw_partners", "GAIN_RANGE", "SPEECH_RMS"]

#: Sound of Pixels' training gain range.
GAIN_RANGE = (0.5, 1.5)
#: VisualVoice's target RMS of each speech clip before mixing.
SPEECH_RMS = 0.1


def random_gains(count: int, *, low: float = GAIN_RANGE[0], high: float = GAIN_RANGE[1],
                 generator: torch.Generator | None = None) -> Tensor:
    """``count`` gains drawn uniformly in [low, high]."""
    return low + (high - low) * torch.rand(count, generator=generator)


def rms_gain(x: Tensor, *, target: float = SPEECH_RMS, eps: float = 1e-8) -> Tensor:
    """Gains (...,) that bring each signal (..., N) to RMS ``target``; 0 for silent signals."""
    rms = x.float().square().mean(-1).sqrt()
    return torch.where(rms > eps, target / rms.clamp(min=eps), torch.zeros_like(rms))


def rms_normalize(x: Tensor, *, target: float = SPEECH_RMS, eps: float = 1e-8) -> Tensor:
    """Scale each signal (..., N) to RMS ``target``; silent signals stay silent."""
    return x * rms_gain(x, target=target, eps=eps).unsqueeze(-1)


def mix_sources(
    sources: Tensor,
    *,
    gains: Tensor | None = None,
    divide: bool = True,
    clip: bool = True,
    valid: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Mix sources the Sound of Pixels way.

    Args:
        sources: (S, N) or (B, S, N) waveforms, one per clip.
        gains: (S,) or (B, S) per-source gains (default 1).
        divide: divide each source by the number of (valid) sources N.
        clip: clip the mixture to [-1, 1].
        valid: (S,) or (B, S) booleans; invalid (padding) sources are zeroed and not counted.

    Returns:
        ``(mixture (N,) or (B, N), scaled sources (S, N) or (B, S, N))``: the scaled sources
        are the separation targets (``g_n s_n / N``); without clipping they sum to the mixture.
    """
    x = sources.float()
    scale = torch.ones(x.shape[:-1], dtype=x.dtype, device=x.device)  # (..., S)
    if gains is not None:
        scale = scale * gains.to(x)
    if valid is not None:
        scale = scale * valid.to(x)
    if divide:
        n = valid.to(x).sum(-1, keepdim=True) if valid is not None else torch.full_like(scale[..., :1], x.shape[-2])
        scale = scale / n.clamp(min=1.0)
    scaled = x * scale.unsqueeze(-1)  # (..., S, N)
    mixture = scaled.sum(-2)  # (..., N)
    if clip:
        mixture = mixture.clamp(-1.0, 1.0)
    return mixture, scaled


def draw_partners(rng: np.random.Generator, labels: Sequence[int], first: int, count: int) -> list[int]:
    """Indices of ``count`` other items to mix with item ``first``, with labels different from
    each other and from ``first``'s where enough distinct labels exist (else any other item).

    Args:
        rng: numpy generator (the caller seeds it, e.g. by ``(seed, epoch, index)``).
        labels: the label of every item (-1: unknown, never counted as a clash).
        first: the item being mixed.
        count: partners to draw.
    """
    n = len(labels)
    if count >= n:
        raise ValueError(f"draw_partners: cannot draw {count} partners from {n} items")
    chosen, used = [], {labels[first]} - {-1}
    order = rng.permutation(n)
    for i in order:
        if len(chosen) == count:
            break
        if i != first and labels[i] not in used:
            chosen.append(int(i))
            if labels[i] != -1:
                used.add(labels[i])
    for i in order:  # not enough distinct labels: fill with any other item
        if len(chosen) == count:
            break
        if i != first and int(i) not in chosen:
            chosen.append(int(i))
    return chosen
