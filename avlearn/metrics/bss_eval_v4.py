"""Framewise BSS Eval v4 (SDR / ISR / SIR / SAR per window), as museval computes it.

BSS Eval version 4 of Stöter, Liutkus & Ito, "The 2018 Signal Separation Evaluation Campaign"
(LVA/ICA 2018): the decomposition of Vincent, Gribonval & Févotte (IEEE TASLP 14(4),
2006, Eq. 2-5) with *time-invariant* distortion filters of length L = 512, estimated once on
the whole signals, and the energy ratios measured on windows (1 s every 1 s in SiSEC 2018),
summarised by the median over windows. For a window ``w`` of reference ``s_j`` and estimate
``ŝ`` (each zero-padded by L-1 samples)::

    P_j   = (s_j restricted to w) * c_j          # the filter of ŝ onto s_j alone
    P_all = sum_i (s_i restricted to w) * c_i    # the filters of ŝ onto all references
    SDR = 10 log10 |s_j|² / |ŝ - s_j|²           ISR = 10 log10 |s_j|² / |P_j - s_j|²
    SIR = 10 log10 |P_j|² / |P_all - P_j|²        SAR = 10 log10 |P_all|² / |ŝ - P_all|²

(museval's ``bss_eval(..., framewise_filters=False, bsseval_sources_version=False)``, the
"images" variant SiSEC uses: the reference itself is the target, the filtered part counts
as spatial distortion). A window where any reference or estimate is all zeros scores NaN;
:func:`aggregate_framewise` takes the median over windows ignoring NaN (and infinite ratios,
which museval stores as NaN), as museval's ``TrackStore`` does. Window and hop are given in
seconds and floored to samples; windows run while they fit (``floor((N - W + H) / H)`` of
them), one window of the whole signal when W >= N.

The filters come from :func:`avlearn.metrics.bss_eval.projection_filters` (block Levinson on
the Gram matrix of all delayed references, computed once); each window's projections are
FFT convolutions of the windowed references with those filters, and their energies follow
from Parseval without returning to the time domain. Mono sources, (S, N).

    >>> scores = bss_eval_framewise(reference, estimate, sample_rate=11025, window=1.0, hop=1.0)
    >>> sdr, isr, sir, sar = aggregate_framewise(scores)   # medians, (S,) each
"""

from __future__ import annotations

import itertools
import warnings
from typing import NamedTuple

import numpy as np

from avlearn.metrics.bss_eval import FILTER_LENGTH, _as_float64, _validate, projection_filters

__all__ = ["FramewiseScores", "bss_eval_framewise", "aggregate_framewise", "frame_bounds"]

#: Complex spectrum values per chunk of windows (64 MB): a long track is scored in pieces.
CHUNK_ELEMENTS = 4_000_000


class FramewiseScores(NamedTuple):
    """Per-window scores, each (S, W) in dB (NaN for windows with a silent source).

    Attributes:
        sdr, isr, sir, sar: the BSS Eval v4 ratios per reference and window.
        perm: (S,) ``perm[j]`` is the estimate matched to reference ``j`` (one for all windows).
        starts: (W,) first sample of each window.
    """

    sdr: np.ndarray
    isr: np.ndarray
    sir: np.ndarray
    sar: np.ndarray
    perm: np.ndarray
    starts: np.ndarray


def frame_bounds(num_samples: int, window: int, hop: int) -> tuple[np.ndarray, int]:
    """Window starts and length in samples, as museval's ``Framing``.

    Args:
        num_samples: signal length N. window, hop: in samples (positive).

    Returns:
        ``(starts, length)``: ``floor((N - W + H) / H)`` windows of ``W`` samples, or one window
        of the whole signal when ``W >= N``.
    """
    if window <= 0 or hop <= 0:
        raise ValueError(f"window and hop must be positive, got {window} and {hop} samples")
    if window >= num_samples:
        return np.zeros(1, dtype=np.int64), num_samples
    count = (num_samples - window + hop) // hop
    return np.arange(count, dtype=np.int64) * hop, window


def _energy(spec: np.ndarray, n_fft: int) -> np.ndarray:
    """Energy of real signals from their rfft of length ``n_fft`` along the last axis (Parseval)."""
    p = spec.real**2 + spec.imag**2
    inner = p[..., 1 : (n_fft + 1) // 2].sum(-1)  # bins counted twice (their mirror images)
    nyq = p[..., n_fft // 2] if n_fft % 2 == 0 else 0.0
    return (p[..., 0] + 2 * inner + nyq) / n_fft


def _db(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    # +inf where the denominator is exactly zero (museval's _safe_db)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den == 0, np.inf, 10 * np.log10(num / np.where(den == 0, 1.0, den)))


def _window_ratios(rf: np.ndarray, ef: np.ndarray, fa: np.ndarray, fo: np.ndarray, n_fft: int,
                   all_pairs: bool) -> np.ndarray:
    """SDR / ISR / SIR / SAR of windows from their spectra and the filters' spectra.

    Args:
        rf: (w, S, F) windowed references. ef: (w, K, F) windowed estimates.
        fa, fo: (F, S, K) spectra of the filters onto all references and onto each alone.
        n_fft: transform length (>= window + L - 1: the convolutions do not wrap).
        all_pairs: every (reference, estimate) pair, else estimate j against reference j only.

    Returns:
        (4, w, S, K) if ``all_pairs`` else (4, w, S, 1).
    """
    p_all = np.einsum("wif,fik->wkf", rf, fa)  # (w, K, F): P_all of each estimate
    ref = rf[:, :, None]  # (w, S, 1, F)
    if all_pairs:
        est, p_all = ef[:, None], p_all[:, None]  # (w, 1, K, F)
        p_one = ref * fo.transpose(1, 2, 0)[None]  # (w, S, K, F): P_j of estimate k
    else:
        est, p_all = ef[:, :, None], p_all[:, :, None]  # (w, S, 1, F): estimate j beside reference j
        diag = np.arange(rf.shape[1])
        p_one = ref * fo[:, diag, diag].T[None, :, None]  # (w, S, 1, F)
    e_ref = _energy(ref, n_fft)
    e_dist = _energy(est - ref, n_fft)  # |ŝ - s_j|²
    e_spat = _energy(p_one - ref, n_fft)  # |P_j - s_j|²
    e_target = _energy(p_one, n_fft)  # |P_j|²
    e_interf = _energy(p_all - p_one, n_fft)  # |P_all - P_j|²
    e_all = _energy(p_all, n_fft)  # |P_all|²
    e_artif = _energy(est - p_all, n_fft)  # |ŝ - P_all|²
    shape = e_spat.shape
    return np.stack([
        _db(np.broadcast_to(e_ref, shape), np.broadcast_to(e_dist, shape)),
        _db(np.broadcast_to(e_ref, shape), e_spat),
        _db(e_target, e_interf),
        np.broadcast_to(_db(e_all, e_artif), shape),
    ])


def bss_eval_framewise(
    reference,
    estimate,
    *,
    sample_rate: int,
    window: float = 1.0,
    hop: float | None = None,
    compute_permutation: bool = False,
    filter_length: int = FILTER_LENGTH,
) -> FramewiseScores:
    """BSS Eval v4: per-window SDR / ISR / SIR / SAR with time-invariant distortion filters.

    Equal to ``museval.metrics.bss_eval(ref[..., None], est[..., None], window, hop,
    compute_permutation, framewise_filters=False, bsseval_sources_version=False)`` to 0.01 dB.

    Args:
        reference: true sources (S, N), numpy or torch.
        estimate: estimated sources (S, N).
        sample_rate: samples per second of both.
        window: window length in seconds (museval: ``int(window * rate)`` samples).
        hop: hop in seconds (default: ``window``, no overlap).
        compute_permutation: match estimates to references by the permutation with the best
            mean SIR over all windows (museval's rule, one permutation for the whole signal).
        filter_length: distortion filter length L.

    Returns:
        :class:`FramewiseScores`.

    Raises:
        ValueError: shapes differ, not (S, N), a source is all zeros, or window/hop not positive.
    """
    if np.ndim(reference) != 2:
        raise ValueError(f"reference must be (S, N) (mono sources), got shape {tuple(np.shape(reference))}")
    refs, ests = _as_float64(reference, "reference"), _as_float64(estimate, "estimate")  # (1, S, N)
    _validate(refs, ests)
    s, n = refs.shape[1:]
    win = int(window * sample_rate)
    hop_n = int((window if hop is None else hop) * sample_rate)
    starts, length = frame_bounds(n, win, hop_n)
    c_all, _, c_one, *_ = projection_filters(refs, ests, filter_length)  # (1, L, S, K)
    flen = c_all.shape[1]

    from scipy.fft import next_fast_len  # imported here: scipy.fft costs ~0.4 s at start-up

    n_fft = next_fast_len(length + flen - 1, real=True)  # linear convolutions of length W + L - 1
    fa = np.fft.rfft(c_all[0], n=n_fft, axis=0)  # (F, S, K): filters onto all references
    fo = np.fft.rfft(c_one[0], n=n_fft, axis=0)  # (F, S, K): filters onto each reference alone
    # Without permutation search only estimate j against reference j is needed.
    pairs = s if compute_permutation else 1
    ratios = np.full((4, len(starts), s, s), np.nan)  # [metric, window, reference, estimate]
    step = max(1, int(CHUNK_ELEMENTS // (s * pairs * fa.shape[0])))  # windows per chunk: bounded memory
    for lo in range(0, len(starts), step):
        idx = starts[lo : lo + step, None] + np.arange(length)  # (w, length)
        ref_w = refs[0][:, idx].transpose(1, 0, 2)  # (w, S, length)
        est_w = ests[0][:, idx].transpose(1, 0, 2)  # (w, K, length)
        r = _window_ratios(np.fft.rfft(ref_w, n=n_fft), np.fft.rfft(est_w, n=n_fft), fa, fo, n_fft, compute_permutation)
        silent = (ref_w == 0).all(-1).any(-1) | (est_w == 0).all(-1).any(-1)  # (w,)
        r[:, silent] = np.nan
        if compute_permutation:
            ratios[:, lo : lo + step] = r
        else:
            ratios[:, lo : lo + step, np.arange(s), np.arange(s)] = r[..., 0]

    ref_idx = np.arange(s)
    if compute_permutation:
        perms = np.array(list(itertools.permutations(range(s))))  # (P, S)
        mean_sir = np.array([np.mean(ratios[2][:, ref_idx, p]) for p in perms])  # np.mean: NaN spreads, as museval
        perm = perms[int(np.argmax(mean_sir))]
    else:
        perm = ref_idx.copy()
    sdr, isr, sir, sar = (r[:, ref_idx, perm].T for r in ratios)  # (S, W) each
    return FramewiseScores(sdr, isr, sir, sar, perm, starts)


def aggregate_framewise(scores: FramewiseScores) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median over windows of each metric, ignoring NaN and infinite windows (museval's rule).

    Args:
        scores: from :func:`bss_eval_framewise`.

    Returns:
        ``(sdr, isr, sir, sar)``, each (S,) in dB; NaN for a source with no finite window.
    """
    out = []
    for m in (scores.sdr, scores.isr, scores.sir, scores.sar):
        m = np.where(np.isfinite(m), m, np.nan)  # museval stores inf as NaN before the median
        with warnings.catch_warnings():  # "All-NaN slice": a source with no defined window
            warnings.simplefilter("ignore", RuntimeWarning)
            out.append(np.nanmedian(m, axis=-1) if m.shape[-1] else np.full(m.shape[:-1], np.nan))
    return tuple(out)  # type: ignore[return-value]
