"""Shifted-negative sampling: shift bounds, minimum shift, and windows really moved (a click)."""

import numpy as np
import pytest
import torch

from avlearn.tasks.sync.data import FrozenPairDataset, ShiftedPairDataset, cut_pair, sample_shift, shift_audio

FPS, SR = 16, 8000


def test_sample_shift_bounds_and_both_signs():
    rng = np.random.default_rng(0)
    shifts = np.array([sample_shift(rng, min_shift=0.2, max_shift=0.7, available=2.0) for _ in range(2000)])
    assert np.all(np.abs(shifts) >= 0.2) and np.all(np.abs(shifts) <= 0.7)
    assert 0.4 < np.mean(shifts > 0) < 0.6
    # capped by the room the clip leaves
    capped = [sample_shift(rng, min_shift=0.1, max_shift=5.0, available=0.3) for _ in range(200)]
    assert max(abs(s) for s in capped) <= 0.3
    with pytest.raises(ValueError, match="cannot hold a shift"):
        sample_shift(rng, min_shift=0.5, max_shift=1.0, available=0.4)


def _click_clip(seconds=3.0, click_at=1.5):
    """Frames whose brightness is the frame index, silence with one click at ``click_at``."""
    t = int(seconds * FPS)
    video = torch.arange(t, dtype=torch.uint8)[None, :, None, None].expand(3, t, 4, 4).contiguous()
    audio = torch.zeros(1, int(seconds * SR))
    audio[0, int(click_at * SR)] = 1.0
    return video, audio


def test_cut_pair_moves_audio_by_the_stated_shift():
    video, audio = _click_clip(click_at=1.5)
    v, a = cut_pair(video, audio, fps=FPS, sample_rate=SR, start=1.0, duration=1.0, shift=0.0)
    assert v[0, 0, 0, 0] == 16 and v.shape[1] == 16  # frame 16 = 1.0 s
    assert int(a.argmax()) == int(0.5 * SR)
    _, a2 = cut_pair(video, audio, fps=FPS, sample_rate=SR, start=1.0, duration=1.0, shift=0.25)
    assert int(a2.argmax()) == int(0.25 * SR)  # later audio: the click comes 0.25 s earlier in the window
    with pytest.raises(ValueError, match="outside"):
        cut_pair(video, audio, fps=FPS, sample_rate=SR, start=2.5, duration=1.0)


def test_shift_audio_makes_audio_late():
    _, audio = _click_clip(click_at=1.0)
    late = shift_audio(audio, 0.3, SR)
    assert int(late.argmax()) == int(1.3 * SR)
    early = shift_audio(audio, -0.3, SR)
    assert int(early.argmax()) == int(0.7 * SR)


class MemoryStore:
    """A decode-cache (ClipCache) stand-in holding in-memory ``(video, audio, path)`` clips."""

    def __init__(self, clips, fps=FPS, sample_rate=SR):
        self.clips, self.fps, self.sample_rate = clips, float(fps), sample_rate

    def __len__(self):
        return len(self.clips)

    def get(self, i):
        return self.clips[i]


def test_shifted_pair_dataset_windows_and_shift():
    video, audio = _click_clip(seconds=3.0, click_at=1.5)
    ds = ShiftedPairDataset(MemoryStore([(video, audio, "a.mp4")] * 50), clip_duration=1.0, min_shift=0.25, max_shift=0.75, seed=3)
    seen = []
    for i in range(len(ds)):
        s = ds[i]
        start, shift = s["start"], s["shift"]
        assert 0.25 <= abs(shift) <= 0.75
        assert start * FPS == pytest.approx(round(start * FPS))  # starts on a frame
        frame0 = int(round(start * FPS))
        assert s["video"][0, 0, 0, 0] == pytest.approx(frame0 / 255.0)
        # the aligned window holds the click where the clock says, the shifted one moved by -shift
        if 0 <= 1.5 - start < 1.0:
            assert int(s["audio"].argmax()) == pytest.approx((1.5 - start) * SR, abs=1)
        if 0 <= 1.5 - start - shift < 1.0:
            assert int(s["audio_shifted"].argmax()) == pytest.approx((1.5 - start - shift) * SR, abs=1)
        seen.append(shift)
    assert ds[7]["shift"] == ds[7]["shift"]  # deterministic per (seed, epoch, index)
    ds.set_epoch(1)
    assert [ds[i]["shift"] for i in range(5)] != seen[:5]
    assert min(seen) < 0 < max(seen)


def test_jitter_moves_the_aligned_window_by_under_half_a_frame():
    """Positives whose audio always starts on a frame give away their label by the audio's
    sub-frame phase in a frame-locked world; jitter spreads that phase (issue 6)."""
    video, audio = _click_clip(seconds=3.0, click_at=1.5)
    store = MemoryStore([(video, audio, "a.mp4")] * 60)
    ds = ShiftedPairDataset(store, clip_duration=1.0, min_shift=0.25, max_shift=0.75, seed=3, jitter=0.5)
    moves = []
    for i in range(len(ds)):
        s = ds[i]
        start, jit = s["start"], s["jitter"]
        assert abs(jit) <= 0.5 / FPS + 1e-12 and 0.25 <= abs(s["shift"]) <= 0.75
        if 0 <= 1.5 - start - jit < 1.0:  # the click sits where the moved window puts it
            assert int(s["audio"].argmax()) == pytest.approx((1.5 - start - jit) * SR, abs=1)
        if 0 <= 1.5 - start - s["shift"] < 1.0:  # negatives are still shifted from the true alignment
            assert int(s["audio_shifted"].argmax()) == pytest.approx((1.5 - start - s["shift"]) * SR, abs=1)
        moves.append(jit * FPS)
    assert min(moves) < -0.3 and max(moves) > 0.3  # the phase is spread over the frame
    assert ShiftedPairDataset(store, clip_duration=1.0, min_shift=0.25, max_shift=0.75)[0]["jitter"] == 0.0
    with pytest.raises(ValueError, match="jitter"):
        ShiftedPairDataset(store, clip_duration=1.0, min_shift=0.25, max_shift=0.75, jitter=-1.0)


def test_jitter_fits_tight_clips():
    """2 s clips, 1 s windows, shifts up to the whole spare second: every window stays inside."""
    video, audio = _click_clip(seconds=2.0, click_at=1.0)
    ds = ShiftedPairDataset(MemoryStore([(video, audio, "a.mp4")] * 200), clip_duration=1.0, min_shift=1 / FPS,
                            max_shift=1.0, seed=0, jitter=0.5)
    for i in range(len(ds)):
        s = ds[i]
        a0 = s["start"] + s["jitter"]
        assert -1e-9 <= a0 <= 1.0 + 1e-9 and abs(s["jitter"]) <= 0.5 / FPS + 1e-12
        assert s["audio"].shape[-1] == SR and s["audio_shifted"].shape[-1] == SR


def test_frozen_pairs_scored_with_a_longer_model_window():
    """A model trained on 2 s windows scores a list of 1 s pairs on the 2 s window around each
    pair, moved inside the clip; the pair's offset is kept exactly; rows that cannot fit are skipped."""
    video, audio = _click_clip(seconds=3.0, click_at=1.5)
    rows = [
        {"path": "a.mp4", "start": 1.0, "duration": 1.0, "offset": 0.0},  # centred: [0.5, 2.5)
        {"path": "a.mp4", "start": 2.0, "duration": 1.0, "offset": 0.0},  # centred 1.5 -> moved to 1.0
        {"path": "a.mp4", "start": 1.5, "duration": 1.0, "offset": 0.5, "audio_start": 1.0},  # audio late by 0.5 s
        {"path": "a.mp4", "start": 1.0, "duration": 1.0, "offset": 1.5, "audio_start": -0.5},  # no 2 s window fits
    ]
    ds = FrozenPairDataset(rows, fps=FPS, size=(4, 4), sample_rate=SR, clip_duration=2.0, cache=False)
    ds.store = MemoryStore([(video, audio, "a.mp4")])
    starts = [0.5, 1.0, 1.0]
    for i, start in enumerate(starts):
        s = ds[i]
        assert s["video"].shape[1] == 2 * FPS and s["audio"].shape[-1] == 2 * SR
        assert s["video"][0, 0, 0, 0] == pytest.approx(round(start * FPS) / 255.0)
        audio_start = start - rows[i]["offset"]  # the pair's own shift, whatever the window
        assert int(s["audio"].argmax()) == pytest.approx((1.5 - audio_start) * SR, abs=1)
    assert [ds[i]["label"] for i in range(3)] == [1, 1, 0]
    assert ds[3] is None
    same = FrozenPairDataset(rows[:1], fps=FPS, size=(4, 4), sample_rate=SR, clip_duration=1.0, cache=False)
    same.store = MemoryStore([(video, audio, "a.mp4")])
    assert same[0]["video"][0, 0, 0, 0] == pytest.approx(FPS / 255.0)  # equal lengths: the row's own start


def test_aligned_windows_without_negatives_and_with_flips():
    """The localization training windows: the same draws as the pairs, no shifted audio, mirrored frames."""
    video, audio = _click_clip(seconds=3.0, click_at=1.5)
    video = video.clone()
    video[..., :1] = 255  # a bright left column: a flip moves it to the right
    store = MemoryStore([(video, audio, "a.mp4")] * 8)
    pairs = ShiftedPairDataset(store, clip_duration=1.0, seed=5)
    plain = ShiftedPairDataset(store, clip_duration=1.0, seed=5, negatives=False)
    flipped = ShiftedPairDataset(store, clip_duration=1.0, seed=5, negatives=False, flip=True)
    mirrored = 0
    for i in range(len(store)):
        p, a, f = pairs[i], plain[i], flipped[i]
        assert "audio_shifted" not in a and "shift" not in a and "shift" in p
        assert torch.equal(p["video"], a["video"]) and torch.equal(p["audio"], a["audio"]) and p["start"] == a["start"]
        if torch.equal(f["video"], a["video"].flip(-1)):
            mirrored += 1
        else:
            assert torch.equal(f["video"], a["video"])
    assert 0 < mirrored < len(store)
