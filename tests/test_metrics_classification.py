"""Top-k accuracy, confusion matrix, AP / mAP on hand-made cases."""

import numpy as np
import pytest
import torch

from avlearn.metrics import average_precision, confusion_matrix, mean_average_precision, topk_accuracy


def test_topk_accuracy():
    scores = torch.tensor([[0.1, 0.5, 0.4], [0.8, 0.15, 0.05], [0.2, 0.3, 0.5], [0.3, 0.4, 0.3]])
    target = torch.tensor([2, 0, 0, 1])
    top1, top2, top5 = topk_accuracy(scores, target, topk=(1, 2, 5))
    assert top1 == pytest.approx(2 / 4) and top2 == pytest.approx(3 / 4) and top5 == 1.0
    with pytest.raises(ValueError):
        topk_accuracy(scores, target[:3])


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(torch.tensor([0, 1, 1, 2, 2]), torch.tensor([0, 1, 2, 2, 0]), 3)
    expected = torch.tensor([[1, 0, 1], [0, 1, 0], [0, 1, 1]])
    assert torch.equal(cm, expected)
    logits = torch.eye(3)[[0, 1, 1, 2, 2]]
    assert torch.equal(confusion_matrix(logits, np.array([0, 1, 2, 2, 0]), 3), expected)


def test_average_precision_hand_computed():
    # ranking: +, -, +, -  -> precisions at positives 1/1 and 2/3
    assert average_precision([0.9, 0.8, 0.7, 0.1], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precision([0.1, 0.2, 0.3], [1, 1, 1]) == pytest.approx(1.0)
    # a tie between a positive and a negative at the top is one threshold: precision 1/2
    assert average_precision([0.5, 0.5, 0.1], [1, 0, 0]) == pytest.approx(0.5)
    assert np.isnan(average_precision([0.3, 0.2], [0, 0]))


def test_mean_average_precision_single_and_multi_label():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.6, 0.4, 0.0], [0.1, 0.9, 0.0]])
    m, per_class = mean_average_precision(scores, np.array([0, 1, 1, 1]))
    # class 0: positive ranked first -> 1; class 1: ranking by score 0.9(+), 0.8(+), 0.4(+), 0.1(-) -> 1
    assert per_class[0] == pytest.approx(1.0) and per_class[1] == pytest.approx(1.0)
    assert np.isnan(per_class[2]) and m == pytest.approx(1.0)
    multi = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 1]], dtype=bool)
    m2, per2 = mean_average_precision(scores, multi)
    # class 2: all scores tied at 0 -> precision 2/4 at full recall
    assert per2[2] == pytest.approx(0.5)
    # class 0: ranking 0.9(+), 0.6(-), 0.2(-), 0.1(-) -> 1
    assert per2[0] == pytest.approx(1.0)
    assert m2 == pytest.approx(np.nanmean(per2))
