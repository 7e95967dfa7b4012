"""VTN: Longformer attention pattern (sliding window + global [CLS]) and the model's shapes."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model
from avlearn.models.video.vtn import LongformerBlock, longformer_mask


def test_longformer_mask_hand_case():
    m = longformer_mask(6, 2)  # [CLS] + 5 frames, one neighbour each side
    expected = torch.tensor(
        [
            [1, 1, 1, 1, 1, 1],
            [1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 0, 0],
            [1, 0, 1, 1, 1, 0],
            [1, 0, 0, 1, 1, 1],
            [1, 0, 0, 0, 1, 1],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(m, expected)
    with pytest.raises(ValueError, match="window"):
        longformer_mask(4, -1)


def test_local_tokens_only_see_their_window_and_cls_sees_all():
    torch.manual_seed(0)
    block = LongformerBlock(16, 2).eval()
    n = 10
    x = torch.randn(1, n, 16)
    x2 = x.clone()
    x2[0, 8] += torch.randn(16)  # perturb frame token 8
    mask = longformer_mask(n, 4)  # two neighbours on each side
    with torch.no_grad():
        changed = (block(x2, mask) - block(x, mask)).abs().amax(-1)[0] > 1e-6
    assert changed.tolist() == [True, False, False, False, False, False, True, True, True, True]


def test_vtn_shapes_and_cls_head():
    torch.manual_seed(0)
    model = create_model("vtn_tiny", num_classes=5).eval()
    x = torch.randn(2, 3, 6, 32, 32)
    with torch.no_grad():
        feats = model.forward_features(x)
        assert feats.shape == (2, 7, 64)  # [CLS] + 6 frames (positions interpolated from 8 + 1)
        assert model(x).shape == (2, 5)
        torch.testing.assert_close(model.forward_head(feats, pre_logits=True), feats[:, 0])
        # The frame backbone is 2D: the embedding of a frame does not depend on the other frames.
        x2 = x.clone()
        x2[:, :, 3] = 0
        e1, e2 = model.frame_embeddings(x), model.frame_embeddings(x2)
    assert torch.allclose(e1[:, [0, 1, 2, 4, 5]], e2[:, [0, 1, 2, 4, 5]], atol=1e-5)
    with pytest.raises(ValueError, match="expected video input"):
        model(torch.randn(2, 3, 32, 32))


def test_vtn_r18_uses_resnet18_frames():
    with torch.device("meta"):
        model = create_model("vtn_r18")
    backbone = sum(p.numel() for p in model.backbone.parameters())
    assert backbone == 11_176_512  # torchvision resnet18 without its fc (11,689,512 - 513,000)
    assert len(model.blocks) == 3 and model.attention_window == 32
