"""AVA-style detector: temporal pooling, RoIAlign on keyframe boxes, per-box multi-label logits."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("ava_r3d_tiny", num_classes=5).eval()


def test_roi_features_crop_the_box_of_the_time_averaged_map(model):
    # a feature map whose value is the column index (x) at t=0 and 3x that at t=1: mean 2x
    x = torch.arange(8.0).view(1, 1, 1, 1, 8).expand(1, 4, 2, 8, 8).clone()
    x[:, :, 1] *= 3
    left, right = torch.tensor([[0.0, 0.0, 0.5, 1.0]]), torch.tensor([[0.5, 0.0, 1.0, 1.0]])
    pooled, counts = model.roi_features(x, [torch.cat([left, right])])
    assert counts == [2]
    assert pooled[0].max() <= 2 * 3.5 + 1e-5 and pooled[0].min() >= 2 * 3.0 - 1e-5  # max over the left half: x ~ 3.5
    assert pooled[1].min() >= 2 * 7.0 - 1e-4  # right half reaches the last column (border clamped)


def test_box_formats_agree_and_default_is_the_whole_frame(model):
    video = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 0.5], [0.2, 0.3, 0.9, 1.0]], [[0.1, 0.1, 0.6, 0.8], [0.0, 0.0, 1.0, 1.0]]])
    with torch.no_grad():
        dense = model(video, boxes)  # (B, N, K)
        listed = model({"video": video, "boxes": [boxes[0], boxes[1, :1]]})
        whole = model(video)
        single = model(video[:1], boxes[:1])
    assert dense.shape == (2, 2, 5) and [o.shape for o in listed] == [(2, 5), (1, 5)]
    torch.testing.assert_close(listed[0], dense[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(listed[1][0], dense[1, 0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(whole[1, 0], dense[1, 1], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(single[0], dense[0], atol=1e-5, rtol=1e-5)  # a clip's boxes do not see other clips
    assert not torch.allclose(dense[0, 0], dense[0, 1], atol=1e-4)  # different actors, different scores


def test_bad_boxes_are_named(model):
    video = torch.randn(1, 3, 4, 32, 32)
    with pytest.raises(ValueError, match=r"normalised to \[0, 1\]"):
        model(video, torch.tensor([[[0.0, 0.0, 20.0, 20.0]]]))
    with pytest.raises(ValueError, match="x2 >= x1"):
        model(video, torch.tensor([[[0.6, 0.0, 0.2, 1.0]]]))
    with pytest.raises(ValueError, match="box sets for 1 clips"):
        model(video, [torch.zeros(1, 4), torch.zeros(1, 4)])
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        model(video, torch.zeros(1, 2, 3))


def test_multilabel_training_step_learns_two_actions_per_actor():
    torch.manual_seed(0)
    model = create_model("ava_r3d_tiny", num_classes=4)
    video = torch.randn(2, 3, 4, 32, 32)
    boxes = torch.tensor([[[0.0, 0.0, 0.5, 1.0], [0.5, 0.0, 1.0, 1.0]]] * 2)
    target = torch.tensor([[[1.0, 1.0, 0, 0], [0, 0, 1, 0]]] * 2)  # actor 1 does two actions at once
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(video, boxes), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    model.eval()
    with torch.no_grad():
        pred = model(video, boxes).sigmoid() > 0.5
    assert torch.equal(pred, target.bool())
