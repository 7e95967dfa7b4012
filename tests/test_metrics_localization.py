"""cIoU with the median binarisation, its AUC, the pointing game, boxes and baselines."""

import numpy as np
import pytest
import torch

from avlearn.metrics import (
    binarize_heatmap,
    boxes_to_mask,
    center_prior_heatmap,
    ciou,
    ciou_auc,
    evaluate_baselines,
    evaluate_localization,
    pointing_game,
)


def test_median_binarisation_keeps_top_half_after_resize():
    heat = torch.arange(16, dtype=torch.float32).reshape(4, 4)  # values 0..15
    pred = binarize_heatmap(heat)[0]
    # sorted index 8 -> value 8: pixels 8..15 (the bottom two rows) are predicted
    assert pred.sum() == 8 and pred[2:].all() and not pred[:2].any()
    rows = torch.arange(4.0)[:, None].expand(4, 4)  # each row one value
    up = binarize_heatmap(rows, (8, 8))[0]  # resized bilinearly to the image first
    assert up.shape == (8, 8) and up.sum() == 32 and up[4:].all()
    const = binarize_heatmap(torch.full((3, 5), 7.0))[0]
    assert const.all()  # a constant map is the whole image


def test_ciou_hand_made_masks():
    gt = torch.zeros(4, 4)
    gt[2:, :] = 1  # bottom half
    heat = torch.arange(16, dtype=torch.float32).reshape(4, 4)
    assert ciou(heat, gt).item() == pytest.approx(1.0)  # P == G
    flipped = heat.flip(0)  # predicts the top half: no overlap
    assert ciou(flipped, gt).item() == pytest.approx(0.0)
    gt_small = torch.zeros(4, 4)
    gt_small[3, :2] = 1  # |G| = 2, inside P
    # |P∩G| / (|G| + |P\G|) = 2 / (2 + 6)
    assert ciou(heat, gt_small).item() == pytest.approx(0.25)
    # already binary prediction, batch of two
    pred = torch.zeros(2, 4, 4, dtype=torch.bool)
    pred[0, 3, :] = True  # 4 pixels, 2 inside G
    out = ciou(pred, torch.stack([gt_small, gt_small]), binarize=False)
    np.testing.assert_allclose(out.numpy(), [2 / (2 + 2), 0.0])
    # consensus weights: |G| is the sum of weights
    weights = gt * 0.5
    assert ciou(heat, weights).item() == pytest.approx(4.0 / 4.0)


def test_auc_of_perfect_and_mixed_heatmaps():
    gt = boxes_to_mask([np.array([[0, 0, 4, 2]]), np.array([[0, 2, 4, 4]])], (4, 4)).float()
    perfect = gt.clone()
    scores = evaluate_localization(perfect, gt)
    assert scores.ciou_at_05 == 1.0 and scores.auc == pytest.approx(1.0) and scores.pointing == 1.0
    # fraction >= t: 1 at t = 0, then 0.5 up to t = 1 (trapezoids)
    assert ciou_auc([0.0, 1.0]) == pytest.approx((1 + 0.5) / 2 * 0.05 + 0.5 * 0.95)
    assert ciou_auc([0.5]) == pytest.approx(0.5 + 0.05 / 2)
    assert ciou_auc([]) == 0.0


def test_pointing_game_and_tolerance():
    gt = boxes_to_mask(np.array([[10, 10, 20, 20]]), (32, 32))
    heat = torch.zeros(32, 32)
    heat[15, 15] = 1
    assert pointing_game(heat, gt).item()
    heat = torch.zeros(32, 32)
    heat[15, 24] = 1  # 5 px right of the box (last column 19)
    assert not pointing_game(heat, gt).item()
    assert pointing_game(heat, gt, tolerance=5).item()
    assert not pointing_game(heat, gt, tolerance=4.9).item()


def test_boxes_to_mask_pixel_and_normalized():
    m = boxes_to_mask([[1, 2, 3, 4], [0, 0, 1, 1]], (5, 6))
    assert m.shape == (5, 6) and m.sum() == 4 + 1 and m[2:4, 1:3].all() and m[0, 0]
    n = boxes_to_mask([[0.5, 0.0, 1.0, 0.5]], (4, 8), normalized=True)
    assert n.sum() == 8 and n[:2, 4:].all()
    clipped = boxes_to_mask([[-3, -3, 100, 2]], (4, 4))
    assert clipped.sum() == 8


def test_baselines_whole_image_centre_random():
    size = (32, 32)
    centre_gt = boxes_to_mask([np.array([[8, 8, 24, 24]])] * 4, size)  # a centred object, 1/4 of the image
    base = evaluate_baselines(centre_gt, seed=0)
    assert set(base) == {"whole image", "centre prior", "random"}
    # whole image: |P∩G| / (|G| + |P\G|) = 256 / 1024
    assert base["whole image"].mean_ciou == pytest.approx(0.25)
    # the centre prior covers the central half of the pixels, which contains the object
    assert base["centre prior"].mean_ciou == pytest.approx(256 / 512, abs=0.02)
    assert base["centre prior"].pointing == 1.0
    assert 0.1 < base["random"].mean_ciou < 0.2  # about half the object, all the rest noise
    corner_gt = boxes_to_mask([np.array([[0, 0, 6, 6]])], size)  # outside the central disc of half the area
    assert evaluate_baselines(corner_gt)["centre prior"].mean_ciou == 0.0
    c = center_prior_heatmap(2, (5, 7))
    assert c.shape == (2, 5, 7) and c[0].argmax() == 2 * 7 + 3


def test_area_rule_keeps_top_g_pixels_and_lifts_the_median_ceiling():
    from avlearn.metrics import binarize_area, oracle_heatmap

    gt = torch.zeros(1, 10, 10, dtype=torch.bool)
    gt[0, 1:4, 2:6] = True  # |G| = 12 pixels, 12% of the image
    heat = torch.arange(100, dtype=torch.float32).reshape(1, 10, 10)
    kept = binarize_area(heat, gt)
    assert kept.sum() == 12 and kept[0, 9].all() and kept[0, 8, 8:].all()  # the 12 largest values
    perfect = oracle_heatmap(gt)
    assert ciou(perfect, gt, rule="area").item() == pytest.approx(1.0)
    assert ciou(perfect, gt, rule="median").item() <= 2 * 0.12 + 1e-6  # the protocol's ceiling for small G
    assert ciou(torch.ones(1, 10, 10), gt, rule="area").item() == pytest.approx(0.12)  # constant map keeps all
    with pytest.raises(ValueError, match="rule"):
        ciou(heat, gt, rule="mean")
