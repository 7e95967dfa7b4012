"""The in-memory world: determinism, and ground truth that agrees with the pixels and the audio."""

from __future__ import annotations

import numpy as np
import pytest

from avlearn.data.synthetic import WorldConfig, generate_clip
from avlearn.data.synthetic.sounds import frame_rms

SMALL = dict(size=32, fps=16, sample_rate=8000, duration=1.0)


def _solo(family: str, **kw) -> WorldConfig:
    opts = dict(SMALL, families=(family,), min_objects=1, max_objects=1, solo=True)
    opts.update(kw)
    return WorldConfig(**opts)


def _object_pixels(config: WorldConfig, seed: int, sid: str) -> np.ndarray:
    """(T, H, W) where the frames with ``sid`` differ from the frames without it."""
    full = generate_clip(config, seed).video.astype(np.int16)
    without = generate_clip(config, seed, hide=[sid]).video.astype(np.int16)
    return np.abs(full - without).max(axis=-1) > 0


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.asarray(a, float), np.asarray(b, float))[0, 1])


@pytest.mark.parametrize("kind", ["objects", "speakers"])
def test_same_seed_same_arrays(kind):
    cfg = WorldConfig(kind=kind, **SMALL)
    a, b = generate_clip(cfg, 7), generate_clip(cfg, 7)
    assert a.video.dtype == np.uint8 and a.video.shape == (16, 32, 32, 3)
    assert a.audio.dtype == np.float32 and a.audio.shape == (1, 8000)
    assert a.video.tobytes() == b.video.tobytes() and a.audio.tobytes() == b.audio.tobytes()
    assert a.stems.keys() == b.stems.keys() and all(a.stems[k].tobytes() == b.stems[k].tobytes() for k in a.stems)
    assert a.truth == b.truth
    c = generate_clip(cfg, 8)
    assert c.video.tobytes() != a.video.tobytes()


@pytest.mark.parametrize("kind,channels", [("objects", 1), ("speakers", 2)])
def test_stems_sum_to_mixture(kind, channels):
    cfg = WorldConfig(kind=kind, channels=channels, offscreen_rate=0.5, **SMALL)
    for seed in range(4):
        scene = generate_clip(cfg, seed)
        assert scene.audio.shape == (channels, 8000)
        total = np.sum(np.stack(list(scene.stems.values())), axis=0)
        np.testing.assert_allclose(total, scene.audio, atol=1e-6)
        assert np.abs(scene.audio).max() <= 0.9 + 1e-4 and np.abs(scene.audio).max() > 0.01
        for stem in scene.stems.values():  # on the 16-bit grid: FLAC stores them exactly
            np.testing.assert_allclose(stem * 32768.0, np.round(stem * 32768.0), atol=1e-3)
        sounding = {s["id"] for s in scene.truth["sources"] if s["sounding"]}
        assert set(scene.stems) == sounding


def test_distractors_are_silent_and_offscreen_sounds_invisible():
    cfg = WorldConfig(distractor_rate=1.0, offscreen_rate=1.0, min_objects=3, max_objects=3, **SMALL)
    scene = generate_clip(cfg, 3)
    src = scene.truth["sources"]
    assert [s["onscreen"] for s in src] == [True, True, True, False]
    assert [s["sounding"] for s in src] == [True, False, False, True]
    assert src[1]["distractor"] and not any(src[1]["active"]) and "s1" not in scene.stems
    assert src[3]["boxes"] is None and "s3" in scene.stems
    assert all(b is not None for b in src[1]["boxes"])  # the distractor is drawn all along


@pytest.mark.parametrize("kind", ["objects", "speakers"])
def test_boxes_hold_exactly_each_objects_pixels(kind):
    cfg = WorldConfig(kind=kind, min_objects=2, max_objects=4, distractor_rate=0.5, **SMALL)
    for seed in range(3):
        truth = generate_clip(cfg, seed).truth
        for src in truth["sources"]:
            if not src["onscreen"]:
                continue
            pixels = _object_pixels(cfg, seed, src["id"])
            for t, box in enumerate(src["boxes"]):
                ys, xs = np.nonzero(pixels[t])
                assert len(xs) > 0, f"seed {seed} {src['id']} frame {t} not drawn"
                x0, y0, x1, y1 = box
                assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
                # tight: the drawn pixels reach within one pixel of every side of the box
                assert xs.min() <= x0 + 1 and xs.max() >= x1 - 2 and ys.min() <= y0 + 1 and ys.max() >= y1 - 2


def _audio_onsets(stem: np.ndarray, sample_rate: int) -> np.ndarray:
    hop = sample_rate // 100  # 10 ms
    x = stem[0, : len(stem[0]) // hop * hop].reshape(-1, hop)
    energy = np.mean(x.astype(np.float64) ** 2, axis=1)
    rise = (energy[1:] > 8.0 * energy[:-1] + 1e-12) & (energy[1:] > 1e-4 * energy.max())
    hops = np.flatnonzero(rise) + 1
    onsets = [h for i, h in enumerate(hops) if i == 0 or h - hops[i - 1] > 3]
    return np.asarray(onsets) * hop / sample_rate


@pytest.mark.parametrize("seed", range(4))
def test_impact_onset_at_its_contact_frame(seed):
    cfg = _solo("impacts", duration=2.0)
    scene = generate_clip(cfg, seed)
    pixels = _object_pixels(cfg, seed, "s0")
    rows = np.arange(cfg.height)[None, :, None]
    cy = (pixels * rows).sum(axis=(1, 2)) / pixels.sum(axis=(1, 2))  # (T,) centroid row
    contacts = [t for t in range(1, cfg.num_frames - 1) if cy[t] > cy[t - 1] and cy[t] > cy[t + 1]]
    onsets = _audio_onsets(scene.stems["s0"], cfg.sample_rate)
    assert len(contacts) >= 2
    for t in contacts:  # every contact seen in the pixels is heard within one 10 ms hop
        assert np.min(np.abs(onsets - t / cfg.fps)) <= 0.010 + 1e-9, (t, onsets)
    for onset in onsets[(onsets > 1.5 / cfg.fps) & (onsets < (cfg.num_frames - 1.5) / cfg.fps)]:
        assert min(abs(onset - t / cfg.fps) for t in contacts) <= 0.010 + 1e-9, (onset, contacts)
    assert scene.truth["sources"][0]["events"] == pytest.approx([t / cfg.fps for t in np.flatnonzero(
        np.asarray(scene.truth["sources"][0]["drive"]) > 0)])


@pytest.mark.parametrize("seed", range(3))
def test_tone_loudness_follows_drawn_pulsing(seed):
    cfg = _solo("tones", duration=2.0, size=48)
    scene = generate_clip(cfg, seed)
    pixels = _object_pixels(cfg, seed, "s0")
    radius = np.sqrt(pixels.sum(axis=(1, 2)))  # grows with the drawn size
    loudness = frame_rms(scene.stems["s0"], cfg.fps, cfg.sample_rate, cfg.num_frames)
    assert _pearson(radius, loudness) > 0.8


@pytest.mark.parametrize("seed", range(3))
def test_texture_level_follows_speed(seed):
    cfg = _solo("textures", duration=2.0, size=48)
    scene = generate_clip(cfg, seed)
    pixels = _object_pixels(cfg, seed, "s0").astype(float)
    area = pixels.sum(axis=(1, 2))
    cx = (pixels * np.arange(cfg.width)[None, None, :]).sum(axis=(1, 2)) / area
    cy = (pixels * np.arange(cfg.height)[None, :, None]).sum(axis=(1, 2)) / area
    speed = np.hypot(np.diff(cx), np.diff(cy)) * cfg.fps  # between frames t and t + 1
    level = frame_rms(scene.stems["s0"], cfg.fps, cfg.sample_rate, cfg.num_frames, centred=False)[:-1]
    assert _pearson(speed, level) > 0.8


@pytest.mark.parametrize("seed", range(3))
def test_mouth_opening_follows_speech_envelope(seed):
    cfg = _solo("speakers", duration=2.0, size=48)
    scene = generate_clip(cfg, seed)
    truth = scene.truth["sources"][0]
    video = scene.video.astype(float)
    lip_red = (video[..., 0] > 2.5 * video[..., 1] + 5) & (np.abs(video - [89, 13, 20]).max(axis=-1) < 40)
    opening = np.zeros(cfg.num_frames)
    for t, (x0, y0, x1, y1) in enumerate(truth["boxes"]):  # lip-red pixels in the lower half of the face
        opening[t] = lip_red[t, int((y0 + y1) / 2) : int(y1), int(x0) : int(x1)].sum()
    loudness = frame_rms(scene.stems["s0"], cfg.fps, cfg.sample_rate, cfg.num_frames)
    assert _pearson(opening, loudness) > 0.8
    assert truth["sound_family"] == "speakers" and len(truth["mouth_boxes"]) == cfg.num_frames


def test_config_is_validated():
    with pytest.raises(ValueError, match="kind"):
        WorldConfig(kind="cars")
    with pytest.raises(ValueError, match="even"):
        WorldConfig(size=33)
    with pytest.raises(ValueError, match="families"):
        WorldConfig(families=("bells",))
    with pytest.raises(ValueError, match="unknown keys"):
        WorldConfig.from_dict({"kind": "objects", "colour": 3})
    cfg = WorldConfig(kind="actions")
    assert cfg.duration == 30.0 and cfg.num_frames == 480
    assert WorldConfig.from_dict(cfg.to_dict()) == cfg


def test_action_segments_carry_the_actors_sound():
    cfg = WorldConfig(kind="actions", size=32, fps=16, sample_rate=8000, duration=12.0, action_purity=0.5)
    scene = generate_clip(cfg, 4)
    assert scene.video.shape == (192, 32, 32, 3) and scene.audio.shape == (1, 96000)
    assert generate_clip(cfg, 4).audio.tobytes() == scene.audio.tobytes()
    truth = scene.truth
    segs = truth["segments"]
    assert segs and all(0 <= s["start"] < s["end"] <= 12.0 for s in segs)
    assert all(a["end"] < b["start"] for a, b in zip(segs, segs[1:]))  # background between segments
    assert all(s["start"] * 16 == s["start_frame"] and 0 <= s["label"] < 8 for s in segs)
    time_per_label = np.zeros(8)
    for s in segs:
        time_per_label[s["label"]] += s["end"] - s["start"]
    assert truth["label"] == int(np.argmax(time_per_label))
    actor = scene.stems["s0"][0]
    inside = np.zeros(actor.shape, bool)
    for s in segs:
        a, b = int(s["start"] * 8000), int(s["end"] * 8000)
        inside[a:b] = True
        assert np.sqrt(np.mean(actor[a:b] ** 2)) > 0.01, s  # each action is heard
    assert not np.any(actor[~inside])  # the actor is silent in the background
    pixels = _object_pixels(cfg, 4, "s0")
    for t in range(0, 192, 7):  # the actor's box holds its pixels
        ys, xs = np.nonzero(pixels[t])
        x0, y0, x1, y1 = truth["sources"][0]["boxes"][t]
        assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1


def test_bounces_are_aperiodic_with_height_set_by_period():
    """Constant hop periods would make A/V offsets of a whole period unidentifiable (issue 6)."""
    from avlearn.data.synthetic.motion import bounce

    cvs = []
    for seed in range(20):
        tr = bounce(np.random.default_rng(seed), 64, 16.0, (0.0, 0.0, 64.0, 64.0), 6.0)
        gaps = np.diff(tr["contacts"])  # (K-1,) frames between contacts
        assert len(gaps) >= 3 and gaps.min() >= 4
        cvs.append(gaps.std() / gaps.mean())
        lift = tr["cy"].max() - tr["cy"]  # (T,) height above the floor (squash aside)
        between = [lift[a:b].max() for a, b in zip(tr["contacts"][:-1], tr["contacts"][1:])]
        assert np.corrcoef(gaps.astype(float) ** 2, between)[0, 1] > 0.9  # longer hops rise higher
        assert ((tr["strengths"] > 0) & (tr["strengths"] <= 1)).all()
    assert np.mean(cvs) > 0.15 and min(cvs) > 0.0
