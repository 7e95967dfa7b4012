"""Temporal action localization (avlearn.tasks.preview.temporal_localization) on hand-made score
sequences: runs, grouped proposals with their boundaries, NMS, naive baselines, mAP; and the
window labels and grid of avlearn.tasks.preview.data."""

from __future__ import annotations

import numpy as np
import pytest

from avlearn.tasks.preview.temporal_localization import (
    fixed_window_segments,
    group_proposals,
    localization_map,
    localize,
    runs_above,
    whole_video_segments,
)
from avlearn.tasks.preview.data import grid_starts, uniform_starts, window_label

# 10 s video, 1 s windows every 0.5 s: starts 0, 0.5, ..., 9.0 (19 windows), centres 0.5 ... 9.5
STARTS = grid_starts(10.0, 1.0, 0.5)


def _scores() -> np.ndarray:
    """(19, 3): class 0 high on windows 2-7, class 1 high on windows 12-15, background elsewhere."""
    p = np.zeros((19, 3))
    p[:, 2] = 1.0
    p[2:8] = [0.9, 0.0, 0.1]
    p[4] = [0.6, 0.0, 0.4]  # a dip: above 0.5, below 0.7
    p[12:16] = [0.05, 0.8, 0.15]
    return p


def test_runs_above():
    assert runs_above([0, 1, 1, 0, 1], 0.5) == [(1, 2), (4, 4)]
    assert runs_above([1, 1, 1], 0.5) == [(0, 2)]
    assert runs_above([0.2, 0.3], 0.5) == []
    assert runs_above([0.5], 0.5) == [(0, 0)]


def test_grid_and_uniform_starts():
    assert STARTS.tolist() == [0.5 * j for j in range(19)]
    assert grid_starts(0.6, 1.0, 0.5).tolist() == [0.0]  # shorter than a window: one window
    assert uniform_starts(12.0, 1.0, 3).tolist() == [0.0, 5.5, 11.0]


def test_window_label_majority_rule():
    segs = [(1.0, 4.0, 2), (6.0, 6.4, 1)]
    assert window_label(segs, 0.5, 1.0, background=9) == 2  # half covered
    assert window_label(segs, 0.4, 1.0, background=9) == 9  # 0.4 s covered
    assert window_label(segs, 2.0, 1.0, background=9) == 2
    assert window_label(segs, 5.8, 1.0, background=9) == 9  # a 0.4 s segment never labels a 1 s window


def test_group_proposals_boundaries_and_scores():
    props = group_proposals(_scores(), STARTS, window=1.0, hop=0.5, duration=10.0, thresholds=(0.5, 0.7))
    by = {(round(s, 6), round(e, 6), c): sc for s, e, c, sc in props}
    # class 0, threshold 0.5: windows 2..7, centres 1.5 .. 4.0 -> [1.25, 4.25]
    assert by[(1.25, 4.25, 0)] == pytest.approx((0.9 * 5 + 0.6) / 6)
    # threshold 0.7 splits at the dip: windows 2..3 and 5..7
    assert by[(1.25, 2.25, 0)] == pytest.approx(0.9)
    assert by[(2.75, 4.25, 0)] == pytest.approx(0.9)
    # class 1: windows 12..15, centres 6.5 .. 8.0 -> [6.25, 8.25], the same at both thresholds
    assert by[(6.25, 8.25, 1)] == pytest.approx(0.8)
    assert {c for _, _, c in by} == {0, 1}  # the background makes no segments
    assert len(props) == 4


def test_localize_applies_nms_per_class_and_orders_by_score():
    segs = localize(_scores(), STARTS, window=1.0, hop=0.5, duration=10.0, thresholds=(0.3, 0.5, 0.7), nms_iou=0.3)
    scores = [s[3] for s in segs]
    assert scores == sorted(scores, reverse=True)
    classes = [s[2] for s in segs]
    assert classes.count(1) == 1  # the three thresholds gave one class-1 run
    # class 0: the two 0.9 pieces are kept; the long run (tIoU 1/3 and 1/2 with them) is suppressed
    kept0 = sorted((round(s, 6), round(e, 6)) for s, e, c, _ in segs if c == 0)
    assert kept0 == [(1.25, 2.25), (2.75, 4.25)]
    assert localize(_scores(), STARTS, window=1.0, hop=0.5, duration=10.0, max_segments=1)[0][3] == pytest.approx(0.9)


def test_segments_are_clipped_to_the_video():
    p = np.tile([0.9, 0.1], (19, 1))
    segs = localize(p, STARTS, window=1.0, hop=0.5, duration=10.0, num_actions=1)
    assert segs[0][:3] == (0.25, 9.75, 0)
    segs = localize(p, STARTS, window=1.0, hop=1.5, duration=10.0, num_actions=1)  # wide hops reach past the ends
    assert segs[0][0] == 0.0 and segs[0][1] == 10.0


def test_naive_baselines():
    assert whole_video_segments(2, 0.7, 12.0) == [(0.0, 12.0, 2, 0.7)]
    fixed = fixed_window_segments(_scores(), STARTS, window=1.0, duration=10.0, length=5.0)
    assert [(s, e, c) for s, e, c, _ in fixed] == [(0.0, 5.0, 0), (5.0, 10.0, 1)]
    first = _scores()[(STARTS + 0.5 >= 0) & (STARTS + 0.5 < 5.0), 0].mean()
    assert fixed[0][3] == pytest.approx(first)


def test_localization_map_perfect_and_wrong():
    gt = {"a": [(1.0, 4.0, 0), (6.0, 8.0, 1)], "b": [(0.0, 2.0, 1)]}
    perfect = {v: [(s, e, c, 1.0) for s, e, c in segs] for v, segs in gt.items()}
    res = localization_map(perfect, gt)
    assert res.map == {0.3: 1.0, 0.5: 1.0, 0.7: 1.0}
    shifted = {"a": [(2.0, 5.0, 0, 1.0), (6.0, 8.0, 1, 1.0)], "b": [(0.0, 2.0, 1, 1.0)]}  # tIoU 0.5 for class 0
    res = localization_map(shifted, gt)
    assert res.map[0.3] == 1.0 and res.map[0.5] == 1.0 and res.map[0.7] == pytest.approx(0.5)
