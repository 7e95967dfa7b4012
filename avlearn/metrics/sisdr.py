"""Scale-invariant signal-to-distortion ratio (SI-SDR), batched in torch.

Le Roux, Wisdom, Erdogan & Hershey, "SDR - half-baked or well done?", ICASSP 2019, Eq. 6-7:
with zero-mean ``s`` (reference) and ``ŝ`` (estimate),

    e_target = (<ŝ, s> / |s|²) s          e_res = ŝ - e_target
    SI-SDR   = 10 log10 |e_target|² / |e_res|²

Unlike BSS Eval's SDR no distortion filter is allowed, so SI-SDR is cheap, differentiable
(usable as a training loss, ``-si_sdr``), and unchanged by rescaling the estimate.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["si_sdr", "si_sdr_improvement"]


def si_sdr(reference: Tensor, estimate: Tensor, *, zero_mean: bool = True, eps: float = 1e-8) -> Tensor:
    """SI-SDR in dB over the last dimension (Le Roux et al. 2019, Eq. 6-7).

    Args:
        reference: true signal (..., N).
        estimate: estimated signal, broadcastable against ``reference``.
        zero_mean: subtract each signal's mean first, as the paper prescribes.
        eps: added to both energies, so a perfect estimate gives a large finite value
            (about ``10 log10(|s|² / eps)``) and a silent one a very negative value instead of
            inf / nan.

    Returns:
        SI-SDR (...), in the dtype of the inputs (at least float32). Differentiable.
    """
    dtype = torch.promote_types(torch.promote_types(reference.dtype, estimate.dtype), torch.float32)
    ref = reference.to(dtype)
    est = estimate.to(dtype)
    if zero_mean:
        ref = ref - ref.mean(-1, keepdim=True)
        est = est - est.mean(-1, keepdim=True)
    scale = (est * ref).sum(-1, keepdim=True) / ((ref * ref).sum(-1, keepdim=True) + eps)  # (..., 1)
    target = scale * ref  # (..., N)
    residual = est - target  # (..., N)
    return 10 * torch.log10(((target * target).sum(-1) + eps) / ((residual * residual).sum(-1) + eps))


def si_sdr_improvement(reference: Tensor, estimate: Tensor, mixture: Tensor, **kwargs) -> Tensor:
    """SI-SDR of the estimate minus SI-SDR of the unprocessed mixture (SI-SDRi), in dB.

    Args:
        reference: (..., S, N) true sources.
        estimate: (..., S, N) estimates, aligned to ``reference``.
        mixture: (..., N) the mixture (broadcast over the sources).
        **kwargs: ``zero_mean`` / ``eps`` of :func:`si_sdr`.

    Returns:
        (..., S) improvements.
    """
    return si_sdr(reference, estimate, **kwargs) - si_sdr(reference, mixture.unsqueeze(-2), **kwargs)
