"""Box tracker on generated moving boxes: dropouts, crossings, long gaps, false positives."""

from __future__ import annotations

import numpy as np
import pytest

from avlearn.data.tracks import BoxTracker, box_iou, track_boxes

FPS = 10


def _person(x0, y0, vx, vy, side=40.0):
    """Box of a person at frame f: moving at (vx, vy) px per frame."""
    return lambda f: np.array([x0 + vx * f, y0 + vy * f, x0 + vx * f + side, y0 + vy * f + side])


def _frames(people, n, drop=0.0, seed=0, gaps=None, noise=1.0):
    """Per frame (t, boxes, truth ids); box i of person i missing with probability ``drop``."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(n):
        boxes, who = [], []
        for i, p in enumerate(people):
            if rng.random() < drop or (gaps and f in gaps.get(i, ())):
                continue
            boxes.append(p(f) + rng.normal(0, noise, 4))
            who.append(i)
        order = rng.permutation(len(boxes))
        out.append((f / FPS, np.array(boxes).reshape(-1, 4)[order], [who[k] for k in order]))
    return out


def _check_pure(frames, tracker_kwargs=None):
    tracker = BoxTracker(**(tracker_kwargs or {}))
    assignment = {}
    for t, boxes, who in frames:
        ids = tracker.update(boxes, t)
        for tid, person in zip(ids, who):
            assignment.setdefault(tid, set()).add(person)
    return tracker, assignment


def test_two_people_crossing_with_dropouts():
    people = [_person(10, 50, 6, 0), _person(290, 56, -6, 0)]  # they cross at frame ~23
    frames = _frames(people, 48, drop=0.2, seed=1)
    tracker, assignment = _check_pure(frames)
    assert all(len(p) == 1 for p in assignment.values()), assignment  # no identity switch
    tracks = tracker.tracks()
    assert len(tracks) == 2
    for tr in tracks:
        person = people[0] if tr.boxes[0][0] < 150 else people[1]
        truth = np.median(np.stack([person(f) for f in tr.frames]), axis=0)
        np.testing.assert_allclose(tr.box, truth, atol=3.0)
        assert tr.span[0] <= 0.2 and tr.span[1] >= 4.5


def test_track_survives_missed_frames_and_joins_after_long_gap():
    people = [_person(100, 100, 0.5, 0)]
    short_gap = _frames(people, 30, gaps={0: range(10, 14)})  # 4 missed frames <= max_missed
    tracker, _ = _check_pure(short_gap, dict(max_missed=5, merge_iou=0))
    assert len(tracker.tracks()) == 1
    long_gap = _frames(people, 40, gaps={0: range(10, 25)})  # 15 missed frames: the track ends
    tracker, _ = _check_pure(long_gap, dict(max_missed=5, merge_iou=0))
    assert len(tracker.tracks()) == 2
    tracker, _ = _check_pure(long_gap, dict(max_missed=5, merge_iou=0.3))  # joined: one person, one track
    (tr,) = tracker.tracks()
    assert len(tr.frames) == 25 and tr.span == pytest.approx((0.0, 3.9))


def test_false_positives_are_dropped_and_fast_motion_followed():
    people = [_person(0, 0, 25, 0, side=40)]  # moves 25 px per frame: IoU with the last box < 0.3
    frames = _frames(people, 12, noise=0.5)
    frames[5] = (frames[5][0], np.vstack([frames[5][1], [[300, 300, 320, 320]]]), frames[5][2] + [1])
    tracker, assignment = _check_pure(frames)
    tracks = tracker.tracks()
    assert len(tracks) == 1 and len(tracks[0].frames) == 12


def test_track_boxes_function_and_summary():
    frames = _frames([_person(10, 10, 1, 1)], 6, noise=0)
    (tr,) = track_boxes([(t, b) for t, b, _ in frames])
    d = tr.to_dict()
    assert d["box"] == pytest.approx([12.5, 12.5, 52.5, 52.5]) and d["detections"] == 6
    np.testing.assert_allclose(tr.box_at(0.25), [12.5, 12.5, 52.5, 52.5])


def test_box_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]])
    np.testing.assert_allclose(box_iou(a, b), [[50 / 150, 0.0, 1.0]])
