"""Clip samplers: deterministic given a seed, windows inside the span, sliding windows cover it."""

from __future__ import annotations

import numpy as np
import pytest

from avlearn.data import ClipSampler, RandomClipSampler, SlidingWindowSampler, UniformClipSampler

EPS = 1e-9


def _inside(windows, offset, duration, clip):
    return all(offset - EPS <= s and s + d <= offset + duration + EPS and d == clip for s, d in windows)


@pytest.mark.parametrize(
    "sampler",
    [RandomClipSampler(1.0, clips_per_video=5), UniformClipSampler(1.0, 4), SlidingWindowSampler(1.0, 0.3)],
    ids=repr,
)
@pytest.mark.parametrize("offset, duration", [(0.0, 10.0), (2.5, 3.7), (1.0, 1.0)])
def test_windows_inside_span(sampler, offset, duration):
    windows = sampler(duration, np.random.default_rng(0), offset=offset)
    assert len(windows) == sampler.num_clips(duration)
    assert _inside(windows, offset, duration, 1.0)


def test_random_deterministic_given_seed():
    s = RandomClipSampler(0.5, clips_per_video=3)
    a = s(8.0, np.random.default_rng([7, 0]), offset=1.0)
    assert a == s(8.0, np.random.default_rng([7, 0]), offset=1.0)
    assert a != s(8.0, np.random.default_rng([7, 1]), offset=1.0)  # next epoch: new clips
    starts = [w[0] for _ in range(200) for w in s(8.0, np.random.default_rng(_))]
    assert min(starts) < 0.5 and max(starts) > 7.0  # spread over the whole span


def test_uniform_spacing():
    assert UniformClipSampler(2.0, 5)(10.0) == [(0.0, 2.0), (2.0, 2.0), (4.0, 2.0), (6.0, 2.0), (8.0, 2.0)]
    assert UniformClipSampler(2.0, 1)(10.0, offset=1.0) == [(5.0, 2.0)]  # centred


@pytest.mark.parametrize("duration", [1.0, 2.0, 2.05, 7.3, 10.0])
@pytest.mark.parametrize("stride", [0.25, 0.5, 1.0])
def test_sliding_windows_cover_the_video(duration, stride):
    s = SlidingWindowSampler(1.0, stride)
    windows = s(duration, offset=3.0)
    assert _inside(windows, 3.0, duration, 1.0)
    starts = [w[0] for w in windows]
    assert starts == sorted(starts) and starts[0] == 3.0
    assert windows[-1][0] + 1.0 == pytest.approx(3.0 + duration)
    assert all(b - a <= stride + EPS for a, b in zip(starts, starts[1:]))  # no gaps
    regular = [3.0 + k * stride for k in range(len(starts))]
    assert starts[:-1] == pytest.approx(regular[:-1])


def test_sliding_without_cover_end():
    assert SlidingWindowSampler(1.0, 1.0, cover_end=False)(3.5) == [(0.0, 1.0), (1.0, 1.0), (2.0, 1.0)]
    assert SlidingWindowSampler(1.0, 1.0)(3.5)[-1] == (2.5, 1.0)
    assert SlidingWindowSampler(1.0, 0.5).num_clips(3.0) == 5


def test_short_span_gives_one_clip_per_slot():
    assert SlidingWindowSampler(2.0, 1.0)(1.5, offset=4.0) == [(4.0, 2.0)]
    assert UniformClipSampler(2.0, 3)(1.5) == [(0.0, 2.0)] * 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="clip_duration"):
        RandomClipSampler(0)
    with pytest.raises(ValueError, match="stride"):
        SlidingWindowSampler(1.0, 0.0)
    with pytest.raises(ValueError, match="clips_per_video"):
        UniformClipSampler(1.0, 0)
    with pytest.raises(ValueError, match="duration"):
        UniformClipSampler(1.0, 2)(-1.0)


def test_sampler_without_starts_cannot_be_built():
    class NoStarts(ClipSampler):
        pass

    with pytest.raises(TypeError, match="starts"):
        NoStarts(1.0)


def test_duration_dependent_count_needs_num_clips():
    class EveryFrame(ClipSampler):  # clips_per_video=None but no num_clips of its own
        def starts(self, duration, rng):
            return [0.0]

    with pytest.raises(NotImplementedError, match="num_clips"):
        EveryFrame(1.0, clips_per_video=None)(0.5)
