"""The actors world: boxes that hold each actor's pixels, overlapping multi-label actions that the
boxes' motion shows, and keyframe detection lists that match the truth."""

from __future__ import annotations

import numpy as np

from avlearn.data.synthetic import ACTOR_ACTIONS, WorldConfig, generate_clip, load_list, load_truth, make_world
from avlearn.data.synthetic.actors import keyframes

CFG = WorldConfig(kind="actors", size=48, fps=16, sample_rate=8000, duration=3.0)
NAMES = [a.name for a in ACTOR_ACTIONS]
BODY = [i for i, a in enumerate(ACTOR_ACTIONS) if a.group == "body"]
ARMS = [i for i, a in enumerate(ACTOR_ACTIONS) if a.group == "arms"]


def test_same_seed_same_clip():
    a, b = generate_clip(CFG, 2), generate_clip(CFG, 2)
    assert a.video.shape == (48, 48, 48, 3) and a.audio.shape == (1, 24000)
    assert a.video.tobytes() == b.video.tobytes() and a.audio.tobytes() == b.audio.tobytes() and a.truth == b.truth
    assert generate_clip(CFG, 3).video.tobytes() != a.video.tobytes()
    np.testing.assert_allclose(np.sum(np.stack(list(a.stems.values())), axis=0), a.audio, atol=1e-6)
    assert WorldConfig(kind="actors").duration == 4.0


def test_keyframes_every_half_second_inside_the_clip():
    assert keyframes(64, 16) == [8, 16, 24, 32, 40, 48, 56]
    assert keyframes(48, 16) == [8, 16, 24, 32, 40]
    assert keyframes(10, 16) == [5]  # shorter than a second: the middle frame


def test_boxes_hold_each_actor_alone_and_stay_in_frame():
    for seed in range(3):
        scene = generate_clip(CFG, seed)
        truth = scene.truth
        ids = [a["id"] for a in truth["actors"]]
        assert 2 <= len(ids) <= 4 and ids == [f"s{k}" for k in range(len(ids))]
        others = [s["id"] for s in truth["sources"] if s["onscreen"]]
        for actor in truth["actors"]:
            rest = [i for i in others if i != actor["id"]]
            alone = generate_clip(CFG, seed, hide=rest).video.astype(np.int16)
            empty = generate_clip(CFG, seed, hide=others).video.astype(np.int16)
            pixels = np.abs(alone - empty).max(axis=-1) > 0  # (T, H, W) the actor's own pixels
            for t in range(CFG.num_frames):
                x0, y0, x1, y1 = actor["boxes"][t]
                assert 0 <= x0 < x1 <= 48 and 0 <= y0 < y1 <= 48
                ys, xs = np.nonzero(pixels[t])
                assert x0 <= xs.min() and xs.max() < x1 and y0 <= ys.min() and ys.max() < y1
                # tight: faint edge pixels may round away, never more than one pixel
                assert xs.min() - x0 <= 1 and x1 - 1 - xs.max() <= 1 and ys.min() - y0 <= 1 and y1 - 1 - ys.max() <= 1
        assert set(truth["distractor_ids"]) == {s["id"] for s in truth["sources"] if s["distractor"]}


def _all_actors(seeds):
    for seed in seeds:
        yield from generate_clip(CFG, seed).truth["actors"]


def test_actions_overlap_and_are_multi_label():
    overlapped = set()
    for actor in _all_actors(range(6)):
        for labels in actor["actions"]:
            assert sum(i in BODY for i in labels) == 1  # exactly one body action (stand when idle)
            assert sum(i in ARMS for i in labels) <= 1
            if len(labels) > 1 and NAMES.index("stand") not in labels:
                overlapped.add((NAMES[labels[0]], NAMES[labels[1]]))
        for s in actor["segments"]:  # per-frame labels agree with the segments
            assert all(s["label"] in actor["actions"][f] for f in range(s["start_frame"], s["end_frame"]))
    assert len(overlapped) >= 3, overlapped  # e.g. walk + wave, jump + clap


def test_each_action_moves_the_box_its_own_way():
    """Walking moves the box sideways, jumping lifts its bottom, raising hands makes it taller,
    crouching shorter: features of the boxes alone tell the body actions from standing."""
    feats: dict[str, list[float]] = {n: [] for n in ("stand", "walk", "crouch", "raise")}
    lift: dict[str, list[float]] = {"stand": [], "jump": []}
    for actor in _all_actors(range(8)):
        b = np.asarray(actor["boxes"], float)  # (T, 4)
        cx, height, bottom = (b[:, 0] + b[:, 2]) / 2, b[:, 3] - b[:, 1], b[:, 3]
        rest = np.median(height[[i for i, lab in enumerate(actor["actions"]) if lab == [0]]] if any(
            lab == [0] for lab in actor["actions"]) else height)
        floor = bottom.max()
        for t in range(2, len(b) - 2):
            labs = actor["actions"][t]
            only = [NAMES[i] for i in labs]
            if only == ["stand"]:
                feats["stand"].append(abs(cx[t + 2] - cx[t - 2]))
                lift["stand"].append(floor - bottom[t])
            if only == ["walk"]:
                feats["walk"].append(abs(cx[t + 2] - cx[t - 2]))
            if only == ["jump"]:
                lift["jump"].append(floor - bottom[t])
            if only == ["crouch"]:
                feats["crouch"].append(height[t] / rest)
            if only == ["stand", "raise"]:
                feats["raise"].append(height[t] / rest)
    assert np.mean(feats["walk"]) > 3 * np.mean(feats["stand"]) + 0.5
    assert np.max(lift["jump"]) > 4 and np.mean(lift["jump"]) > 2 * np.mean(lift["stand"]) + 0.5
    assert np.median(feats["crouch"]) < 0.9 < 1.1 < np.median(feats["raise"])


def test_sounds_come_from_sounding_actions():
    sounding = {"walk", "jump", "clap", "wave"}
    checked = 0
    for seed in range(24):
        scene = generate_clip(CFG, seed)
        for actor in scene.truth["actors"]:
            entry = next(s for s in scene.truth["sources"] if s["id"] == actor["id"])
            loud = [s for s in actor["segments"] if s["label_name"] in sounding]
            for e in entry["events"]:  # every step, landing and clap happens inside its action
                assert any(s["start"] <= e < s["end"] for s in loud), (e, actor["segments"])
            for s in loud:  # and every whole walk, jump or clap of a second or more is heard
                whole = s["start_frame"] > 0 and s["end_frame"] < CFG.num_frames and s["end"] - s["start"] >= 1.0
                if whole and s["label_name"] != "wave":
                    assert any(s["start"] <= e < s["end"] for e in entry["events"]), (s, entry["events"])
                    checked += 1
            assert entry["sounding"] == (actor["id"] in scene.stems)
            if not loud:
                assert actor["id"] not in scene.stems  # standing, crouching, raising: silent
    assert checked >= 20

def test_world_on_disk_detection_lists_match_truth(tmp_path):
    cfg = CFG.replace(size=32, duration=2.0)
    clips = {"train": 1, "val": 2, "test": 2}
    meta = make_world(tmp_path / "a", cfg, clips=clips, seed=3, workers=1, progress=False)
    make_world(tmp_path / "b", cfg, clips=clips, seed=3, workers=1, progress=False)
    assert meta["classes"] == NAMES and {"detection_val", "detection_test", "sync_val"} <= set(meta["lists"])
    for split in ("val", "test"):
        path = f"lists/detection_{split}.jsonl"
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()  # deterministic
        rows = load_list(tmp_path / "a", "detection", split)
        assert len(rows) == 2 * len(keyframes(cfg.num_frames, cfg.fps))
        for row in rows:
            truth = load_truth(row["truth_path"])
            assert row["frame"] in truth["keyframes"] and row["time"] == row["frame"] / 16
            assert row["size"] == [32, 32] and row["actor_ids"] == [a["id"] for a in truth["actors"]]
            assert row["boxes"] == [a["boxes"][row["frame"]] for a in truth["actors"]]
            assert row["labels"] == [a["actions"][row["frame"]] for a in truth["actors"]]
            assert all(len(b) == 4 and 0 <= b[0] < b[2] <= 32 and 0 <= b[1] < b[3] <= 32 for b in row["boxes"])


def test_make_world_cli_offers_every_kind():
    """``avlearn make-world --kind`` takes every world kind (it once hard-coded three)."""
    from avlearn.cli import build_parser
    from avlearn.data.synthetic import KINDS

    parser = build_parser()
    for kind in KINDS:
        args = parser.parse_args(["make-world", "--out", "w", "--clips", "2", "--kind", kind])
        assert args.kind == kind
