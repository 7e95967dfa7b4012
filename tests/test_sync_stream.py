"""Streamed offset search: the same scores as in memory, per-window curves, bounded buffering."""

import numpy as np
import pytest
import torch

from avlearn.io import read_clip, write_av
from avlearn.models import create_model
from avlearn.tasks.sync.inference import sync_file, sync_scores

FPS, SR, SIZE = 16, 16000, 32


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("multisensory_small").eval()


def noise_file(path, seconds: float, seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    video = rng.integers(0, 255, size=(int(seconds * FPS), SIZE, SIZE, 3), dtype=np.uint8)
    audio = (rng.standard_normal((1, int(seconds * SR))) * 0.1).astype(np.float32)
    return write_av(path, video, audio, fps=FPS, sample_rate=SR)


def test_one_window_file_matches_the_direct_search(model, tmp_path):
    path = noise_file(tmp_path / "one.mp4", 0.75)  # one 0.5 s video window fits (hop 0.5)
    res = sync_file(model, path, 0.25, window=0.5, hop=0.5, fps=FPS, size=(SIZE, SIZE), sample_rate=SR)
    clip = read_clip(path, fps=FPS, size=(SIZE, SIZE), sample_rate=SR, mono=True)
    video = clip.video.permute(3, 0, 1, 2)[None, :, :8].float() / 255.0  # (1, 3, 8, H, W)
    audio = clip.audio[:, : int(0.75 * SR)]
    expect = []
    for s in res.shifts:  # the definition: score the window against the audio shifted by s
        a0 = int(round(s * SR))
        with torch.no_grad():
            expect.append(float(sync_scores(model, video, audio[None, :, a0 : a0 + 8000])) if 0 <= a0 and a0 + 8000 <= audio.shape[-1] else np.nan)
    assert len(res.windows) == 1 and res.windows[0][0] == 0.0
    np.testing.assert_allclose(res.mean, expect, atol=2e-3, equal_nan=True)  # audio resampler edges ~1e-4
    k = int(np.nanargmax(expect))
    assert abs(res.offset - res.shifts[k]) <= 0.5 / FPS  # argmax, parabola-refined within half a step


def test_blocks_and_memory_give_the_same_result(model, tmp_path):
    path = noise_file(tmp_path / "six.mp4", 6.0, seed=1)
    opts = dict(window=0.5, hop=0.25, fps=FPS, size=(SIZE, SIZE), sample_rate=SR)
    small = sync_file(model, path, 0.25, chunk=0.5, **opts)
    big = sync_file(model, path, 0.25, chunk=30.0, **opts)
    clip = read_clip(path, fps=FPS, size=(SIZE, SIZE), sample_rate=SR, mono=True)
    whole = sync_file(model, clip, 0.25, **{k: v for k, v in opts.items() if k in ("window", "hop")})
    for other in (big, whole):
        np.testing.assert_allclose(small.mean, other.mean, atol=1e-3)
        assert small.offset == pytest.approx(other.offset, abs=1e-3)
    assert [t for t, _ in small.windows] == [t for t, _ in big.windows] == pytest.approx(np.arange(0, 5.51, 0.25))
    # the aggregate is the mean of the per-window curves (where each shift fits)
    curves = np.stack([c for _, c in small.windows])
    np.testing.assert_allclose(small.mean, np.nanmean(curves, axis=0), atol=1e-6)
    assert len(small.window_offsets()) == len(small.windows)
    # memory: the 0.5 s blocks hold a block + a window + both search margins, not the file
    assert small.peak_frames <= (0.5 + 0.5 + 2 * 0.25 + 0.5) * FPS
    assert big.peak_frames == 6 * FPS


def test_hop_defaults_to_the_window(model, tmp_path):
    path = noise_file(tmp_path / "two.mp4", 2.0, seed=2)
    res = sync_file(model, path, 0.125, window=0.5, fps=FPS, size=(SIZE, SIZE), sample_rate=SR)
    assert [t for t, _ in res.windows] == [0.0, 0.5, 1.0, 1.5]
    with pytest.raises(ValueError, match="shorter than"):
        sync_file(model, path, 0.125, window=3.0, fps=FPS, size=(SIZE, SIZE), sample_rate=SR)


class _Uncached(torch.nn.Module):
    """The same network without the audio-feature hooks: every audio window through the tower."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def score_audio_windows(self, video, audio):
        return self.net.score_audio_windows(video, audio)


def test_reused_audio_features_give_the_same_scores(model, tmp_path):
    path = noise_file(tmp_path / "three.mp4", 3.0, seed=3)
    opts = dict(window=0.5, fps=FPS, size=(SIZE, SIZE), sample_rate=SR)
    cached = sync_file(model, path, 0.5, **opts)  # hop 0.5 = 8 steps: consecutive windows share audio windows
    plain = sync_file(_Uncached(model), path, 0.5, **opts)
    np.testing.assert_allclose(cached.mean, plain.mean, atol=1e-4)
    for (t1, c1), (t2, c2) in zip(cached.windows, plain.windows):
        assert t1 == t2
        np.testing.assert_allclose(c1, c2, atol=1e-4)


@pytest.mark.parametrize("name", ["multisensory_small", "avts_small"])
def test_audio_feature_hooks_match_score_audio_windows(name):
    torch.manual_seed(0)
    net = create_model(name).eval()
    video, audio = torch.rand(1, 3, 16, SIZE, SIZE), torch.randn(5, 1, SR) * 0.1
    with torch.no_grad():
        direct = net.score_audio_windows(video, audio)
        hooked = net.score_audio_features(video, net.audio_window_features(audio))
    torch.testing.assert_close(hooked, direct)


@pytest.mark.parametrize("wrap", [False, True])
def test_window_pool_gives_the_same_curves_and_restores_threads(model, tmp_path, wrap):
    """`workers` scores the windows of a block concurrently (intra-op threads 1 meanwhile): the
    per-window curves, their mean and the offset equal the one-window-at-a-time search, for the
    cached audio-feature path and the plain one, and torch's thread count is restored after."""
    path = noise_file(tmp_path / "pool.mp4", 4.0, seed=5)
    net = _Uncached(model) if wrap else model
    opts = dict(window=0.5, hop=0.25, fps=FPS, size=(SIZE, SIZE), sample_rate=SR, chunk=1.0)
    before = torch.get_num_threads()
    one = sync_file(net, path, 0.25, workers=1, **opts)
    three = sync_file(net, path, 0.25, workers=3, **opts)
    assert torch.get_num_threads() == before
    assert [t for t, _ in one.windows] == [t for t, _ in three.windows]
    for (_, c1), (_, c3) in zip(one.windows, three.windows):
        np.testing.assert_allclose(c1, c3, rtol=0, atol=1e-5, equal_nan=True)
    np.testing.assert_allclose(one.mean, three.mean, rtol=0, atol=1e-5)
    assert one.offset == pytest.approx(three.offset, abs=1e-6)


def test_a_failing_window_raises_and_restores_threads(model, tmp_path):
    path = noise_file(tmp_path / "fail.mp4", 2.0, seed=6)

    class Broken(_Uncached):
        def score_audio_windows(self, video, audio):
            raise RuntimeError("boom")

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError, match="boom"):
        sync_file(Broken(model), path, 0.25, window=0.5, fps=FPS, size=(SIZE, SIZE), sample_rate=SR, workers=2)
    assert torch.get_num_threads() == before
