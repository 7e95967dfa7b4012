"""GFLOPs per video of each recognition strategy: the x axis of Listen to Look's Fig. 5.

Gao et al. (CVPR 2020, Sec. 4.2) compare video-level accuracy against the computation spent per
video. Here every model's cost is **measured**, not estimated: one forward pass on one input of
the real size runs under :class:`torch.utils.flop_counter.FlopCounterMode`, which counts the
FLOPs of every matrix multiplication and convolution (2 per multiply-add; elementwise
operations, normalisation and pooling are not counted, as in the paper's and the usual
convention). The short-time Fourier transform behind a model's log-mel input is not a counted
operation, so :func:`stft_flops` adds the usual ``2.5 n log2 n`` per real FFT of size ``n``.

Per video of ``T`` time steps (``step`` seconds apart), with unit costs from
:func:`unit_costs`:

=====================================  =============================================
strategy                               GFLOPs per video
=====================================  =============================================
dense uniform clips (``n``)            ``n * clip``
uniform single frames (``n``)          ``n * frame``
audio only (all ``T`` steps)           ``T * audio``
IMGAUD2VID, uniform pairs (``n``)      ``n * pair``
preview (IMGAUD-SKIMMING, ``N``)       ``T * (image tower + audio tower) + skim(T, N)``
=====================================  =============================================

``skim(T, N)`` is the skimming network itself (keys of both banks, ``N`` LSTM steps with their
queries, attention and fusion, and the classifier), measured on banks of ``T`` steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from avlearn.models.av.preview import ImageAudioNet, SkimmingNet

__all__ = ["UnitCosts", "count_flops", "stft_flops", "strategy_gflops", "unit_costs"]


@torch.no_grad()
def count_flops(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> int:
    """FLOPs of one call ``fn(*args, **kwargs)`` counted by ``torch.utils.flop_counter``
    (modules found in ``fn`` or among the arguments are put in eval mode first)."""
    for m in [fn, getattr(fn, "__self__", None), *args]:
        if isinstance(m, nn.Module):
            m.eval()
    with FlopCounterMode(display=False) as counter:
        fn(*args, **kwargs)
    return int(counter.get_total_flops())


def stft_flops(num_samples: int, n_fft: int, hop_length: int) -> float:
    """FLOPs of a centred STFT of ``num_samples`` samples: ``2.5 n log2 n`` per frame's real FFT
    plus 3 per bin for the power spectrum."""
    frames = 1 + num_samples // hop_length
    return frames * (2.5 * n_fft * math.log2(n_fft) + 3 * (n_fft // 2 + 1))


def _audio_extra(model: ImageAudioNet, num_samples: int) -> float:
    return stft_flops(num_samples, model.n_fft, model.hop_length) if model.audio_net is not None else 0.0


@dataclass(frozen=True)
class UnitCosts:
    """GFLOPs of one call of each model on one input.

    Attributes:
        clip: the 3D teacher on one clip.
        frame: the single-frame baseline on one frame (None without it).
        audio: the audio-only baseline on one window (None without it).
        pair: the IMGAUD2VID student on one image-audio pair (towers, fusion, classifier).
        image_tower, audio_tower: the student's towers alone (one bank entry each).
        skim: the skimming network on banks of ``T`` steps, ``N`` steps looked at.
        T, N: the bank length and steps ``skim`` was measured with.
    """

    clip: float
    frame: float | None
    audio: float | None
    pair: float
    image_tower: float
    audio_tower: float
    skim: float
    T: int
    N: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return asdict(self)


def unit_costs(models: Any, *, T: int, N: int | None = None) -> UnitCosts:
    """Measure the per-call costs of a :class:`~avlearn.tasks.preview.bundle.PreviewModels`.

    Args:
        models: the bundle (its ``data`` gives window, fps, size and sample rate).
        T: time steps per video (bank length).
        N: moments the skimming network looks at (default: its own ``steps``).
    """
    d = models.data
    F_ = round(d["window"] * d["fps"])
    n = round(d["window"] * d["sample_rate"])
    S = int(d["size"])
    clip = torch.zeros(1, 3, F_, S, S)
    image, audio = torch.zeros(1, 3, S, S), torch.zeros(1, 1, n)
    pair = {"image": image, "audio": audio}
    g = 1e-9

    def model_cost(m: ImageAudioNet | None) -> float | None:
        return None if m is None else g * (count_flops(m, pair) + _audio_extra(m, n))

    st: ImageAudioNet = models.student
    skim: SkimmingNet = models.skimming
    banks = (torch.zeros(1, T, st.image_dim), torch.zeros(1, T, st.audio_dim))
    N = skim.steps if N is None else int(N)
    return UnitCosts(
        clip=g * count_flops(models.teacher, clip),
        frame=model_cost(models.frames),
        audio=model_cost(models.audio),
        pair=model_cost(st),
        image_tower=g * count_flops(st.image_features, image),
        audio_tower=g * (count_flops(st.audio_features, audio) + _audio_extra(st, n)),
        skim=g * count_flops(skim, *banks, steps=N),
        T=T,
        N=N,
    )


def strategy_gflops(costs: UnitCosts, strategy: str, count: int | None = None) -> float:
    """GFLOPs per video of one strategy (see the module table).

    Args:
        costs: unit costs (``costs.T`` time steps per video).
        strategy: ``dense``, ``frames``, ``audio``, ``pairs`` or ``preview``.
        count: clips / frames / pairs per video for ``dense``, ``frames`` and ``pairs``.

    Raises:
        ValueError: an unknown strategy, a missing count, or a baseline the bundle lacks.
    """
    if strategy in ("dense", "frames", "pairs"):
        if count is None:
            raise ValueError(f"strategy_gflops: {strategy!r} needs a count")
        unit = {"dense": costs.clip, "frames": costs.frame, "pairs": costs.pair}[strategy]
        if unit is None:
            raise ValueError(f"strategy_gflops: no model for {strategy!r}")
        return count * unit
    if strategy == "audio":
        if costs.audio is None:
            raise ValueError("strategy_gflops: no audio-only model")
        return costs.T * costs.audio
    if strategy == "preview":
        return costs.T * (costs.image_tower + costs.audio_tower) + costs.skim
    raise ValueError(f"strategy_gflops: unknown strategy {strategy!r}")
