"""TAL-Net: anchors, boundary coding, receptive field alignment, proposal selection, training."""

from __future__ import annotations

import pytest
import torch

from avlearn.metrics import Segment, detection_map
from avlearn.models import create_model
from avlearn.models.detection.tal_net import decode_segments, encode_segments, make_anchors


def test_anchors_and_boundary_coding():
    a = make_anchors(3, (1, 4))
    assert a.tolist() == [[0, 1], [1, 2], [2, 3], [-1.5, 2.5], [-0.5, 3.5], [0.5, 4.5]]
    seg = torch.tensor([[2.0, 6.0], [0.0, 1.0]])
    anchors = torch.tensor([[1.0, 5.0], [0.0, 2.0]])
    d = encode_segments(seg, anchors)
    torch.testing.assert_close(d, torch.tensor([[0.25, 0.0], [-0.25, -0.6931472]]))
    torch.testing.assert_close(decode_segments(d, anchors), seg)


def test_receptive_field_grows_with_the_anchor_scale():
    torch.manual_seed(0)
    model = create_model("tal_net_tiny").eval()
    fields = []
    for branch, s in zip(model.branches, model.anchor_scales):
        x = torch.randn(1, 64, 64, requires_grad=True)
        branch(x)[0, :, 32].sum().backward()
        hit = (x.grad[0].abs().sum(0) > 0).nonzero().flatten()
        fields.append(int(hit.max() - hit.min() + 1))
        r1, r2 = branch.dilations
        assert fields[-1] <= 1 + 2 * r1 + 2 * r2 + 2 * (r1 // 2)  # convs + smoothing pool
    assert fields == sorted(fields) and fields[-1] > 4 * fields[0]
    # the widest branch sees about its anchor plus half of it on each side (2 x 16 steps)
    assert 24 <= fields[-1] <= 40


def test_proposal_selection_nms_and_padding():
    model = create_model("tal_net_tiny", num_proposals=3, proposal_nms=0.5)
    segs = torch.tensor([[[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [40.0, 50.0]]])
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
    # [1, 10] overlaps the best by tIoU 0.9 and is suppressed; the rest fill the 3 slots
    assert model.select_proposals(segs, scores, 64)[0].tolist() == [[0, 10], [20, 30], [40, 50]]
    model.num_proposals = 4  # NMS leaves 3: the best suppressed one pads, proposals stay a fixed number
    assert model.select_proposals(segs, scores, 64)[0].tolist() == [[0, 10], [20, 30], [40, 50], [1, 10]]
    # clipped to the sequence before NMS
    assert model.select_proposals(torch.tensor([[[-5.0, 3.0]]]), torch.tensor([[1.0]]), 64)[0, 0].tolist() == [0, 3]


def test_input_checks():
    model = create_model("tal_net_tiny")
    with pytest.raises(ValueError, match=r"expected features \(B, 64, T\)"):
        model(torch.randn(2, 32, 16))
    with pytest.raises(ValueError, match="background"):
        create_model("tal_net_tiny", num_classes=1)


def _toy_sequences(n: int, g: torch.Generator, patterns: torch.Tensor):
    """64-d features over 48 steps: noise, plus a class pattern inside each action segment."""
    xs, targets, gts = [], [], []
    for i in range(n):
        x = torch.randn(64, 48, generator=g) * 0.5
        segs, labels = [], []
        for start, length in ((int(torch.randint(0, 12, (1,), generator=g)), 6), (26, int(torch.randint(8, 17, (1,), generator=g)))):
            k = int(torch.randint(1, 4, (1,), generator=g))
            x[:, start:start + length] += patterns[k - 1, :, None]
            segs.append([start, start + length])
            labels.append(k)
            gts.append(Segment(i, start, start + length, k))
        xs.append(x)
        targets.append({"segments": torch.tensor(segs, dtype=torch.float32), "labels": torch.tensor(labels)})
    return torch.stack(xs), targets, gts


def test_training_both_stages_localizes_actions():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    model = create_model("tal_net_tiny", num_classes=4)
    patterns = torch.randn(3, 64, generator=g) * 2
    x, targets, _ = _toy_sequences(8, g, patterns)
    xt, _, gts = _toy_sequences(8, g, patterns)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for step in range(120):
        losses = model.loss(x, targets)
        total = sum(losses.values())
        first = first if first is not None else {k: v.item() for k, v in losses.items()}
        opt.zero_grad()
        total.backward()
        opt.step()
    assert losses["actionness"].item() < 0.5 * first["actionness"]
    assert losses["classification"].item() < 0.5 * first["classification"]
    model.eval()
    dets = model.detect(xt)
    preds = [Segment(i, *s.tolist(), int(k), float(p)) for i, d in enumerate(dets)
             for s, p, k in zip(d["segments"], d["scores"], d["labels"])]
    scores = detection_map(preds, gts, tiou_thresholds=(0.3, 0.5))
    assert scores.map[0.5] > 0.5, scores.map  # held-out sequences


def test_proposal_losses_reach_the_proposal_stage():
    torch.manual_seed(0)
    model = create_model("tal_net_tiny", num_classes=4)
    target = [{"segments": torch.tensor([[2.0, 30.0]]), "labels": torch.tensor([2])}, {"segments": torch.zeros(0, 2), "labels": torch.zeros(0)}]
    losses = model.loss(torch.randn(2, 64, 32), target)
    (losses["actionness"] + losses["anchor_regression"] + losses["refinement"]).backward()
    declared = set(model.loss_only_parameters)
    assert declared and all(p.grad is not None for n, p in model.named_parameters() if n in declared)
    assert losses["refinement"].item() > 0 and losses["classification"].item() > 0
