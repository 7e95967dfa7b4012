"""The av_classes world: the class information is where the design puts it.

Tiny hand-made features stand in for the models: the audio's spectral centroid (what the sound
is), the sprite's horizontal/vertical spread (what the motion is), and whether the sound's
onsets fall on the sprite's contact frames (whether the sound follows the motion).
"""

from __future__ import annotations

import numpy as np
import pytest

from avlearn.data.synthetic import AV_CLASSES, WorldConfig, generate_clip, load_list, load_truth, make_world, read_jsonl
from avlearn.data.synthetic.fusion import CONFUSION, generate_av_class
from avlearn.data.synthetic.sounds import frame_rms

CFG = WorldConfig(kind="av_classes", size=32, fps=16, sample_rate=8000, duration=2.0)
NAMES = [c.name for c in AV_CLASSES]


def _centroid_hz(audio: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(audio[0])) ** 2
    f = np.fft.rfftfreq(audio.shape[-1], 1.0 / sr)
    return float((spec * f).sum() / spec.sum())


def _sprite_mask(seed: int, label: int) -> np.ndarray:
    """(T, H, W) pixels of the sprite: the frames with it minus the frames without it."""
    full = generate_av_class(CFG, seed, label=label).video.astype(np.int16)
    without = generate_av_class(CFG, seed, label=label, hide=["s0"]).video.astype(np.int16)
    return np.abs(full - without).max(axis=-1) > 0


def _spread(mask: np.ndarray) -> tuple[float, float]:
    """Standard deviations (pixels) of the sprite centroid's x and y over the clip."""
    ys, xs = np.mgrid[: mask.shape[1], : mask.shape[2]]
    area = mask.sum(axis=(1, 2))
    cx = (mask * xs).sum(axis=(1, 2)) / area
    cy = (mask * ys).sum(axis=(1, 2)) / area
    return float(cx.std()), float(cy.std())


def test_same_seed_same_clip_and_every_class_drawn():
    a, b = generate_clip(CFG, 3), generate_clip(CFG, 3)
    assert a.video.tobytes() == b.video.tobytes() and a.audio.tobytes() == b.audio.tobytes()
    assert a.truth == b.truth and a.video.shape == (32, 32, 32, 3) and a.audio.shape == (1, 16000)
    assert generate_clip(CFG, 4).video.tobytes() != a.video.tobytes()
    total = np.sum(np.stack(list(a.stems.values())), axis=0)
    np.testing.assert_allclose(total, a.audio, atol=1e-6)
    labels = [generate_clip(CFG, s).truth["label"] for s in range(60)]
    assert set(labels) == set(range(len(AV_CLASSES)))
    with pytest.raises(ValueError, match="label must lie"):
        generate_av_class(CFG, 0, label=len(AV_CLASSES))


def test_both_classes_confuse_each_modality_with_its_designed_partner():
    both = [c for c in AV_CLASSES if c.carrier == "both"]
    swapped_video = swapped_audio = 0
    n = 0
    for seed in range(40):
        for c in both:
            t = generate_av_class(CFG, seed, label=NAMES.index(c.name)).truth
            assert t["label_name"] == c.name and t["labels"] == [t["label"]]
            assert NAMES[t["motion_from"]] in (c.name, c.video_confuser)
            assert NAMES[t["sound_from"]] in (c.name, c.audio_confuser)
            assert t["motion"] == AV_CLASSES[t["motion_from"]].motion and t["sound"] == AV_CLASSES[t["sound_from"]].sound
            swapped_video += t["motion_from"] != t["label"]
            swapped_audio += t["sound_from"] != t["label"]
            n += 1
    assert abs(swapped_video / n - CONFUSION) < 0.1 and abs(swapped_audio / n - CONFUSION) < 0.1
    # the pairings differ, so (motion, sound) always names the class
    for c in both:
        assert {c.name, c.video_confuser} != {c.name, c.audio_confuser}
    for name, carrier in (("slide_hiss", "audio"), ("jump_hum", "video"), ("tap_click_offbeat", "sync")):
        t = generate_av_class(CFG, 0, label=NAMES.index(name)).truth
        assert t["carrier"] == carrier and t["motion_from"] == t["sound_from"] == t["label"]
        assert t["synchronous"] == (name != "tap_click_offbeat")


def test_sound_only_class_is_told_by_its_sound_not_its_motion():
    """slide_hiss moves like slide_whoosh: the spectral centroid separates them, the motion does not."""
    whoosh, hiss = NAMES.index("slide_whoosh"), NAMES.index("slide_hiss")
    seeds = [s for s in range(40) if generate_av_class(CFG, s, label=whoosh).truth["motion"] == "slide"][:6]
    cent = {k: [_centroid_hz(generate_av_class(CFG, s, label=k).stems["s0"], 8000) for s in seeds] for k in (whoosh, hiss)}
    assert max(cent[whoosh]) < min(cent[hiss])  # sound: separable
    spread = {k: [_spread(_sprite_mask(s, k))[0] for s in seeds] for k in (whoosh, hiss)}
    assert min(spread[hiss]) < max(spread[whoosh]) and min(spread[whoosh]) < max(spread[hiss])  # motion: overlaps


def test_motion_only_class_is_told_by_its_motion_not_its_sound():
    """jump_hum sounds like orbit_hum: the sprite's x/y spread separates them, the centroid does not."""
    orbit, jump = NAMES.index("orbit_hum"), NAMES.index("jump_hum")
    seeds = [s for s in range(40) if generate_av_class(CFG, s, label=orbit).truth["sound_from"] == orbit][:6]
    seeds = [s for s in seeds if generate_av_class(CFG, s, label=orbit).truth["motion_from"] == orbit][:5]
    assert len(seeds) >= 3
    ratio = {k: [np.divide(*_spread(_sprite_mask(s, k))) for s in seeds] for k in (orbit, jump)}
    assert min(ratio[orbit]) > 3 * max(ratio[jump])  # orbit sweeps sideways, jump goes up and down
    cent = {k: [_centroid_hz(generate_av_class(CFG, s, label=k).stems["s0"], 8000) for s in seeds] for k in (orbit, jump)}
    assert min(cent[jump]) < max(cent[orbit]) and min(cent[orbit]) < max(cent[jump])  # the same hum


def test_every_class_keeps_the_same_rhythm():
    """The sound's clock is drawn alike for every class, so rhythm carries no class."""
    from avlearn.data.synthetic.fusion import INTERVAL

    medians = []
    for k in range(len(AV_CLASSES)):
        sprites = [next(x for x in generate_av_class(CFG, s, label=k).truth["sources"] if x["id"] == "s0")
                   for s in range(6)]
        gaps = np.concatenate([np.diff(x["events"]) for x in sprites])
        assert len(gaps) >= 12
        frames = np.round(gaps * CFG.fps)
        assert frames.min() >= round(INTERVAL[0] * CFG.fps) and frames.max() <= round(INTERVAL[1] * CFG.fps)
        medians.append(np.median(gaps))
    assert max(medians) - min(medians) <= 2.5 / CFG.fps


def _onbeat_fraction(seed: int, label: int) -> float:
    """Fraction of the click onsets that fall on a contact frame (the sprite squashed)."""
    scene = generate_av_class(CFG, seed, label=label)
    area = _sprite_mask(seed, label).sum(axis=(1, 2)).astype(float)
    contact = area < 0.9 * np.median(area)
    level = frame_rms(scene.stems["s0"], CFG.fps, CFG.sample_rate, CFG.num_frames, centred=False)
    onsets = np.flatnonzero(level > 0.3 * level.max())
    onsets = onsets[np.concatenate([[True], np.diff(onsets) > 1])]  # the first frame of each burst
    return float(contact[onsets].mean())


def test_sync_classes_differ_only_in_timing():
    sync, off = NAMES.index("tap_click_sync"), NAMES.index("tap_click_offbeat")
    on = [_onbeat_fraction(s, sync) for s in range(4)]
    away = [_onbeat_fraction(s, off) for s in range(4)]
    assert min(on) > 0.8 and np.mean(away) < 0.6, (on, away)
    cent = [_centroid_hz(generate_av_class(CFG, s, label=k).stems["s0"], 8000) for s in range(4) for k in (sync, off)]
    assert max(cent) < 1.5 * min(cent)  # the same clicks


def test_world_on_disk_classify_lists_match_truth(tmp_path):
    clips = {"train": 2, "val": 3, "test": 3}
    meta = make_world(tmp_path / "a", CFG, clips=clips, seed=5, workers=1, progress=False)
    make_world(tmp_path / "b", CFG, clips=clips, seed=5, workers=1, progress=False)
    assert meta["classes"] == NAMES and {"classify_val", "classify_test", "sync_test"} <= set(meta["lists"])
    for split in ("val", "test"):
        a = (tmp_path / "a" / "lists" / f"classify_{split}.jsonl").read_bytes()
        assert a == (tmp_path / "b" / "lists" / f"classify_{split}.jsonl").read_bytes()  # deterministic
        rows = load_list(tmp_path / "a", "classify", split)
        manifest = read_jsonl(tmp_path / "a" / split / "manifest.jsonl")
        assert [r["id"] for r in rows] == [m["id"] for m in manifest]
        for row, m in zip(rows, manifest):
            truth = load_truth(row["truth_path"])
            assert row["label"] == truth["label"] == m["label"] and m["labels"] == [m["label"]]
            for key in ("carrier", "motion", "sound", "motion_from", "sound_from", "synchronous"):
                assert row[key] == truth[key]
            assert row["end"] == truth["duration"] == 2.0 and row["clip"] == f"{split}/{m['path']}"
