"""Framewise BSS Eval v4 against museval (to 0.01 dB) and its window / aggregation rules."""

import importlib.util

import numpy as np
import pytest
import torch

from avlearn.metrics import aggregate_framewise, bss_eval_framewise, frame_bounds

SR = 8000


def _museval_metrics():
    """museval's metrics module, loaded from its file: importing the museval package pulls in
    musdb and stempeg, which need an ffmpeg binary that the metrics do not."""
    spec = importlib.util.find_spec("museval")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("museval is not installed")
    path = spec.submodule_search_locations[0] + "/metrics.py"
    mod_spec = importlib.util.spec_from_file_location("_museval_metrics", path)
    mod = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(mod)
    return mod


def _case(seed: int, sources: int = 3, seconds: float = 3.3):
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    ref = rng.standard_normal((sources, n))
    ref[1, SR : 2 * SR] = 0.0  # a silent second in source 1: those windows are undefined
    est = ref + 0.3 * np.roll(ref, 1, axis=0) + 0.1 * rng.standard_normal(ref.shape)
    est = np.stack([np.convolve(e, [1.0, 0.3, -0.1])[:n] for e in est])
    return ref, est


@pytest.mark.parametrize("window,hop,perm", [(1.0, 1.0, False), (1.0, 0.5, False), (0.75, 0.5, True), (10.0, 10.0, True)])
def test_matches_museval(window, hop, perm):
    mm = _museval_metrics()
    ref, est = _case(0)
    est = est[[2, 0, 1]] if perm else est
    ours = bss_eval_framewise(ref, est, sample_rate=SR, window=window, hop=hop, compute_permutation=perm)
    sdr, isr, sir, sar, mperm = mm.bss_eval(ref[..., None], est[..., None], window=int(window * SR), hop=int(hop * SR),
                                            compute_permutation=perm, framewise_filters=False,
                                            bsseval_sources_version=False)
    for a, b in zip(ours[:4], (sdr, isr, sir, sar)):
        assert a.shape == b.shape
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=0.01)
    np.testing.assert_array_equal(ours.perm, mperm[:, 0])


def test_permutation_found_without_silent_windows():
    mm = _museval_metrics()
    rng = np.random.default_rng(1)
    ref = rng.standard_normal((2, 2 * SR))
    est = (ref + 0.2 * ref[::-1] + 0.05 * rng.standard_normal(ref.shape))[::-1].copy()
    ours = bss_eval_framewise(torch.from_numpy(ref), torch.from_numpy(est), sample_rate=SR, window=0.5,
                              compute_permutation=True)
    theirs = mm.bss_eval(ref[..., None], est[..., None], window=SR // 2, hop=SR // 2, compute_permutation=True)
    assert list(ours.perm) == [1, 0] == list(theirs[4][:, 0])
    np.testing.assert_allclose(ours.sdr, theirs[0], atol=0.01)


def test_frames_silent_windows_and_median():
    starts, length = frame_bounds(10, 4, 3)
    assert list(starts) == [0, 3, 6] and length == 4  # floor((10 - 4 + 3) / 3) windows
    starts, length = frame_bounds(10, 20, 5)
    assert list(starts) == [0] and length == 10  # one window of the whole signal
    with pytest.raises(ValueError, match="positive"):
        frame_bounds(10, 0, 1)
    ref, est = _case(2)
    scores = bss_eval_framewise(ref, est, sample_rate=SR, window=1.0)
    assert scores.sdr.shape == (3, 3) and list(scores.starts) == [0, SR, 2 * SR]
    assert np.isnan(scores.sdr[:, 1]).all() and np.isfinite(scores.sdr[:, [0, 2]]).all()  # source 1 silent there
    med = aggregate_framewise(scores)
    np.testing.assert_allclose(med[0], np.median(scores.sdr[:, [0, 2]], axis=1))
    inf = scores._replace(sir=np.where(np.arange(3)[None] == 0, np.inf, scores.sir))  # inf counts as undefined
    np.testing.assert_allclose(aggregate_framewise(inf)[2], scores.sir[:, 2])


@pytest.mark.parametrize("perm", [False, True])
def test_chunks_of_windows_give_the_same_scores(monkeypatch, perm):
    import avlearn.metrics.bss_eval_v4 as fw

    ref, est = _case(4, sources=2, seconds=2.0)
    whole = bss_eval_framewise(ref, est, sample_rate=SR, window=0.25, hop=0.125, compute_permutation=perm)
    monkeypatch.setattr(fw, "CHUNK_ELEMENTS", 1)  # one window per chunk
    pieces = bss_eval_framewise(ref, est, sample_rate=SR, window=0.25, hop=0.125, compute_permutation=perm)
    for a, b in zip(whole[:4], pieces[:4]):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert whole.sdr.shape == (2, 15)


def test_bad_input():
    ref, est = _case(3, sources=2, seconds=1.0)
    with pytest.raises(ValueError, match="mono"):
        bss_eval_framewise(ref[None], est[None], sample_rate=SR)
    with pytest.raises(ValueError, match="shapes differ"):
        bss_eval_framewise(ref, est[:, :-1], sample_rate=SR)
    with pytest.raises(ValueError, match="all zeros"):
        bss_eval_framewise(ref, np.stack([est[0], np.zeros_like(est[1])]), sample_rate=SR)
