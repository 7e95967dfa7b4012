"""AVA frame-mAP@0.5 on hand-computed cases (VOC matching per class and frame)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from avlearn.metrics import BoxDetection as D
from avlearn.metrics import box_iou, frame_map

A = (0.0, 0.0, 0.5, 0.5)
B = (0.5, 0.5, 1.0, 1.0)
A_SHIFTED = (0.05, 0.0, 0.55, 0.5)  # IoU with A = 0.45 / 0.55 = 0.818


def test_box_iou_hand_values():
    iou = box_iou([A, A_SHIFTED], [A, B, (0.25, 0.0, 0.75, 0.5)])
    np.testing.assert_allclose(iou, [[1.0, 0.0, 1 / 3], [0.45 / 0.55, 0.0, 0.15 / 0.35]])
    assert box_iou([(0.2, 0.2, 0.2, 0.2)], [(0.2, 0.2, 0.2, 0.2)])[0, 0] == 0.0  # empty union
    with pytest.raises(ValueError, match="x2 >= x1"):
        box_iou([(0.5, 0.0, 0.1, 0.5)], [A])


def test_perfect_detections():
    gt = [D("f1", A, "stand"), D("f1", B, "talk"), D("f2", B, "stand")]
    dets = [D("f1", A_SHIFTED, "stand", 0.9), D("f1", B, "talk", 0.8), D("f2", B, "stand", 0.7)]
    s = frame_map(dets, gt)
    assert s.map == 1.0 and s.per_class == {"stand": 1.0, "talk": 1.0}


def test_false_positive_ranked_first_halves_ap():
    gt = [D("f1", A, "stand")]
    dets = [D("f1", B, "stand", 0.9), D("f1", A, "stand", 0.8)]  # precision [0, 1/2], recall [0, 1]
    assert frame_map(dets, gt).per_class["stand"] == pytest.approx(0.5)
    # ranked after the true positive, the false positive costs nothing
    assert frame_map([D("f1", B, "stand", 0.1), D("f1", A, "stand", 0.8)], gt).map == 1.0
    # a box in the wrong frame is a false positive too
    assert frame_map([D("f2", A, "stand", 0.9), D("f1", A, "stand", 0.8)], gt).map == pytest.approx(0.5)


def test_missed_box_caps_recall():
    gt = [D("f1", A, "stand"), D("f1", B, "stand")]
    assert frame_map([D("f1", A, "stand", 0.9)], gt).map == pytest.approx(0.5)  # recall 1/2 at precision 1
    assert frame_map([], gt).map == 0.0


def test_duplicate_detection_is_a_false_positive():
    gt = [D("f1", A, "stand"), D("f2", A, "stand")]
    dets = [D("f1", A, "stand", 0.9), D("f1", A_SHIFTED, "stand", 0.8), D("f2", A, "stand", 0.7)]
    # TP, FP (duplicate), TP: precision [1, 1/2, 2/3], recall [1/2, 1/2, 1] -> 1/2 * 1 + 1/2 * 2/3
    assert frame_map(dets, gt).map == pytest.approx(0.5 + 1 / 3)
    # the VOC rule: the duplicate's best box is taken, even if another box overlaps it >= 0.5
    gt2 = [D("f1", A, "stand"), D("f1", (0.0, 0.0, 0.55, 0.5), "stand")]
    dets2 = [D("f1", (0.0, 0.0, 0.55, 0.5), "stand", 0.9), D("f1", (0.0, 0.0, 0.54, 0.5), "stand", 0.8)]
    assert frame_map(dets2, gt2).map == pytest.approx(0.5)


def test_iou_threshold_is_inclusive_and_configurable():
    gt = [D("f1", A, "stand")]
    half = (0.0, 0.0, 0.5, 0.25)  # IoU exactly 0.5
    assert frame_map([D("f1", half, "stand", 0.9)], gt).map == 1.0
    assert frame_map([D("f1", A_SHIFTED, "stand", 0.9)], gt, iou_threshold=0.9).map == 0.0


def test_class_without_ground_truth_is_excluded():
    gt = [D("f1", A, "stand")]
    dets = [D("f1", A, "stand", 0.9), D("f1", B, "dance", 0.95), D("f1", A, "dance", 0.5)]
    s = frame_map(dets, gt)
    assert s.per_class == {"stand": 1.0} and s.map == 1.0
    # a class with ground truth but no detection counts as 0
    s2 = frame_map(dets, gt + [D("f1", B, "talk")])
    assert s2.per_class["talk"] == 0.0 and s2.map == pytest.approx(0.5)
    assert math.isnan(frame_map(dets, []).map)
