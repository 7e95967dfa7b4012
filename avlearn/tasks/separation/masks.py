"""Time-frequency masks and their weighted losses (Sound of Pixels, VisualVoice).

Sound of Pixels (Zhao et al., ECCV 2018, Sec. 3.3 and the released code), on (warped)
magnitudes of a mixture ``X`` of sources ``S_n``:

* ratio mask ``M_n = |S_n| / |X|`` clamped to [0, 5] (:func:`ratio_mask`);
* binary mask ``M_n = [|S_n| > 0.5 |X|]`` (:func:`binary_mask`);
* losses weighted per bin by ``w = clamp(log1p(|X|), 1e-3, 10)`` (:func:`mask_weight`), so
  loud bins count more and silent ones almost not: binary cross-entropy for binary masks
  (:func:`weighted_bce`), L1 for ratio masks (:func:`weighted_l1`), averaged over bins.

VisualVoice (Gao et al., CVPR 2021, Sec. 3.3): the complex ratio mask ``M = S / X`` (real and
imaginary parts as two channels), each part clipped to [-5, 5]; the network's output is
squashed by ``5 tanh`` (:func:`squash_complex_mask`) and trained with an L2 loss weighted by
``log1p(|X|)`` (clamped as above, as in the released code) (:func:`weighted_l2_complex`).

How one mixture's masks become estimates at inference (:func:`combine_masks`): each mask
alone (SoP: binary masks thresholded at 0.5), or the sources competing for every bin, either
the bin going to the source whose mask is largest (the structure of the ideal binary mask,
Wang, "On ideal binary mask as the computational goal of auditory scene analysis", 2005) or
the masks divided by their sum over the sources (the estimates then add up to the mixture).

The oracle masks of the evaluation (upper bounds): the ideal ratio mask ``|S_n| / |X|``
(:func:`ratio_mask`, unclamped above by default there) and the ideal binary mask that gives
each bin to its loudest source (:func:`dominant_binary_masks`).

Masks are ``(..., F, T)``; a source axis, when present, is just another leading axis. Losses
take an optional ``valid`` (…) boolean over the leading axes, so padded sources (mixtures of
fewer sources than the batch's widest) do not count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "RATIO_CLAMP",
    "EPS",
    "ratio_mask",
    "binary_mask",
    "dominant_binary_masks",
    "combine_masks",
    "COMBINE_RULES",
    "complex_ratio_mask",
    "squash_complex_mask",
    "apply_complex_mask",
    "mask_weight",
    "weighted_bce",
    "weighted_l1",
    "weighted_l2_complex",
]

#: Sound of Pixels clamps ratio masks (and VisualVoice complex masks) to this magnitude.
RATIO_CLAMP = 5.0
#: Added to the mixture magnitude before dividing (SoP adds 1e-10 to the mixture).
EPS = 1e-10


def ratio_mask(source_mag: Tensor, mix_mag: Tensor, *, clamp: float | None = RATIO_CLAMP) -> Tensor:
    """``|S_n| / |X|``, clamped to ``[0, clamp]`` (None: no upper clamp)."""
    m = source_mag / (mix_mag + EPS)
    return m.clamp(min=0.0, max=clamp)


def binary_mask(source_mag: Tensor, mix_mag: Tensor, *, threshold: float = 0.5) -> Tensor:
    """``[|S_n| > threshold |X|]`` as float (SoP's binary target, threshold 0.5)."""
    return (source_mag > threshold * mix_mag).to(source_mag.dtype)


def dominant_binary_masks(source_mags: Tensor, *, dim: int = -3) -> Tensor:
    """Ideal binary masks: each bin goes to the loudest source along ``dim`` (the oracle IBM).

    Args:
        source_mags: magnitudes with a source axis, e.g. (S, F, T) or (B, S, F, T).
        dim: the source axis.
    """
    idx = source_mags.argmax(dim=dim, keepdim=True)
    return torch.zeros_like(source_mags).scatter_(dim, idx, 1.0)


#: The inference rules of :func:`combine_masks`.
COMBINE_RULES = ("independent", "argmax", "normalize")


def combine_masks(masks: Tensor, *, rule: str = "independent", binary: bool = False, valid: Tensor | None = None,
                  dim: int = 1) -> Tensor:
    """The masks a mixture's estimates are made with, from the predicted ones.

    Args:
        masks: predicted masks in [0, 1] (binary) or [0, 5] (ratio), a source axis at ``dim``,
            e.g. (B, S, F, T).
        rule: ``independent`` (each mask alone; binary masks are thresholded at 0.5, SoP's
            evaluation), ``argmax`` (each bin to the competing source with the largest mask:
            ``1[n = argmax_j m_j]``, as the ideal binary mask) or ``normalize``
            (``m_n / sum_j m_j``, the estimates add up to the mixture; silent bins stay silent).
        binary: the masks are binary-mask probabilities (thresholded by ``independent``).
        valid: boolean over the leading axes up to ``dim`` (e.g. (B, S)): the mixture's sources,
            which compete for the bins; the others (padding) get zero masks (None: all are real).
        dim: the source axis.

    Raises:
        ValueError: an unknown rule.
    """
    if rule not in COMBINE_RULES:
        raise ValueError(f"unknown mask rule {rule!r}; one of {COMBINE_RULES}")
    m = masks
    if valid is not None:
        v = valid.reshape(*valid.shape, *([1] * (masks.dim() - valid.dim()))).to(masks.dtype)  # (B, S, 1, 1)
        m = masks * v
    if rule == "independent":
        return (m > 0.5).to(m.dtype) if binary else m
    if rule == "argmax":
        claimed = (m.amax(dim=dim, keepdim=True) > 0).to(m.dtype)  # (B, 1, F, T)
        return dominant_binary_masks(m, dim=dim) * claimed  # a bin no source claims stays silent
    return m / m.sum(dim=dim, keepdim=True).clamp_min(EPS)


def complex_ratio_mask(source_spec: Tensor, mix_spec: Tensor, *, clamp: float | None = RATIO_CLAMP) -> Tensor:
    """The complex ratio mask ``S / X`` as (..., 2, F, T) real/imaginary parts, each clipped to ±clamp."""
    m = source_spec * mix_spec.conj() / (mix_spec.abs().square() + EPS)
    out = torch.stack([m.real, m.imag], dim=-3)  # (..., 2, F, T)
    return out if clamp is None else out.clamp(-clamp, clamp)


def squash_complex_mask(raw: Tensor, *, bound: float = RATIO_CLAMP) -> Tensor:
    """The network's complex mask output ``bound * tanh(raw)`` (VisualVoice)."""
    return bound * torch.tanh(raw)


def apply_complex_mask(mask: Tensor, mix_spec: Tensor) -> Tensor:
    """Complex product of a (..., 2, F, T) mask with the complex mixture (..., F, T)."""
    return torch.complex(mask[..., 0, :, :].float(), mask[..., 1, :, :].float()) * mix_spec


def mask_weight(mix_mag: Tensor, *, low: float = 1e-3, high: float = 10.0) -> Tensor:
    """Per-bin loss weight ``clamp(log1p(|X|), low, high)`` (SoP's weighted loss)."""
    return torch.log1p(mix_mag).clamp(low, high)


def _reduce(per_bin: Tensor, weight: Tensor, valid: Tensor | None, bin_dims: int, per_item: bool = False) -> Tensor:
    """Mean of ``weight * per_bin`` over the bins of the valid leading entries.

    With ``per_item`` the means per leading entry (...,) are returned instead (no ``valid``).
    """
    loss = weight * per_bin
    if valid is None and not per_item:
        return loss.mean()
    per = loss.flatten(start_dim=loss.dim() - bin_dims).mean(-1)  # (...,) leading axes
    if per_item:
        return per
    v = valid.to(per.dtype).expand_as(per)
    return (per * v).sum() / v.sum().clamp(min=1.0)


def weighted_bce(prob: Tensor, target: Tensor, weight: Tensor, *, valid: Tensor | None = None,
                 per_item: bool = False) -> Tensor:
    """Weighted binary cross-entropy of predicted mask probabilities (..., F, T).

    Returns the mean over the valid entries, or with ``per_item`` the mean of each (...,) entry.
    """
    per_bin = F.binary_cross_entropy(prob.float().clamp(1e-7, 1 - 1e-7), target.float(), reduction="none")
    return _reduce(per_bin, weight, valid, 2, per_item)


def weighted_l1(pred: Tensor, target: Tensor, weight: Tensor, *, valid: Tensor | None = None,
                per_item: bool = False) -> Tensor:
    """Weighted L1 between predicted and target masks (..., F, T) (reduced as :func:`weighted_bce`)."""
    return _reduce((pred.float() - target.float()).abs(), weight, valid, 2, per_item)


def weighted_l2_complex(pred: Tensor, target: Tensor, mix_mag: Tensor, *, valid: Tensor | None = None) -> Tensor:
    """L2 between complex masks (..., 2, F, T), weighted per bin by ``mask_weight(|X|)`` (VisualVoice).

    ``mix_mag`` is (..., F, T); the weight is shared by the real and imaginary parts.
    """
    weight = mask_weight(mix_mag).unsqueeze(-3)  # (..., 1, F, T)
    return _reduce((pred.float() - target.float()).square(), weight, valid, 3)
