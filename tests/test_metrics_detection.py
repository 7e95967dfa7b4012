"""Temporal IoU, 1D NMS and ActivityNet-style detection mAP on hand-made cases."""

import numpy as np
import pytest

from avlearn.metrics import Segment, detection_map, interpolated_average_precision, nms_1d, temporal_iou


def test_temporal_iou():
    iou = temporal_iou([[0, 10], [5, 15]], [[0, 10], [10, 20], [2, 4], [7, 7]])
    np.testing.assert_allclose(iou[0], [1.0, 0.0, 0.2, 0.0])
    np.testing.assert_allclose(iou[1], [5 / 15, 5 / 15, 0.0, 0.0])


def test_nms_1d():
    segs = np.array([[0, 10], [1, 11], [20, 30], [2, 9], [21, 29]])
    scores = np.array([0.9, 0.8, 0.7, 0.95, 0.3])
    keep = nms_1d(segs, scores, 0.5)
    # 3 (0.95) suppresses 0 (iou 0.7) and 1 (iou 7/11); 2 suppresses 4 (iou 0.8)
    assert keep.tolist() == [3, 2]
    assert nms_1d(segs, scores, 0.9).tolist() == [3, 0, 1, 2, 4]
    assert nms_1d(segs, scores, 0.9, max_segments=2).tolist() == [3, 0]


def test_interpolated_ap():
    # precision made monotone from the right: [1, .5, .67] -> [1, .67, .67]
    assert interpolated_average_precision(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )


def test_detection_map_hand_made():
    gt = [Segment("v1", 0, 10, "run"), Segment("v1", 20, 30, "run"), Segment("v2", 0, 10, "jump")]
    preds = [
        Segment("v1", 0, 10, "run", 0.9),  # exact: TP at every threshold
        Segment("v1", 21, 31, "run", 0.8),  # tIoU 9/11 = 0.818: TP at 0.3/0.5/0.7
        Segment("v1", 1, 9, "run", 0.7),  # duplicate of a matched segment: FP
        Segment("v2", 0, 4, "jump", 0.6),  # tIoU 0.4: TP at 0.3 only
        ("v3", 0, 5, "jump", 0.5),  # a video without ground truth: FP (plain tuples work)
        Segment("v2", 0, 10, "swim", 0.99),  # class without ground truth: ignored
    ]
    out = detection_map(preds, gt)
    assert set(out.map) == {0.3, 0.5, 0.7}
    assert out.per_class[0.5]["run"] == pytest.approx(1.0)  # both GT found before the FP
    assert out.per_class[0.3]["jump"] == pytest.approx(1.0)
    assert out.per_class[0.5]["jump"] == pytest.approx(0.0)
    assert out.map[0.3] == pytest.approx(1.0) and out.map[0.7] == pytest.approx(0.5)
    assert out.average_map == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    # ranking the duplicate first halves the precision at the first recall step
    worse = detection_map([Segment("v1", 1, 9, "run", 0.95)] + preds[:2], gt[:2])
    # tIoU(1-9, 0-10) = 0.8: the duplicate itself matches GT1 first, then the exact one is a FP
    assert worse.per_class[0.5]["run"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    empty = detection_map([], gt)
    assert empty.map[0.5] == 0.0
