"""Two-stream network: which inputs each stream sees, the two fusion modes, input checks."""

from __future__ import annotations

import math

import pytest
import torch

from avlearn.flow import optical_flow, stack_flow
from avlearn.models import create_model


def _inputs(b=2, t=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "rgb": torch.randn(b, 3, t, size, size, generator=g),
        "flow": torch.randn(b, 2 * (t - 1), size, size, generator=g),
    }


def _model(fusion="average", t=3):
    torch.manual_seed(0)
    return create_model("two_stream_small", num_classes=5, num_flow_frames=t - 1, fusion=fusion).eval()


def test_average_fusion_is_the_mean_of_softmax_scores():
    model, x = _model("average"), _inputs()
    with torch.no_grad():
        out = model(x)
        s, t = model.forward_streams(x)
    assert out.shape == (2, 5)
    torch.testing.assert_close(out.exp(), (s.softmax(-1) + t.softmax(-1)) / 2)
    torch.testing.assert_close(out.exp().sum(-1), torch.ones(2))


def test_learned_fusion_is_a_layer_on_both_embeddings():
    model, x = _model("learned"), _inputs()
    assert isinstance(model.spatial.fc, torch.nn.Identity) and isinstance(model.temporal.fc, torch.nn.Identity)
    with torch.no_grad():
        emb = model.forward_head(model.forward_features(x), pre_logits=True)
        out = model(x)
    assert emb.shape == (2, model.num_features) == (2, 2 * model.spatial.num_features)
    torch.testing.assert_close(out, model.fuse(emb))
    with pytest.raises(ValueError, match="fusion='average'"):
        model.forward_streams(x)
    with pytest.raises(ValueError, match="fusion must be one of"):
        create_model("two_stream_small", fusion="max")


@pytest.mark.parametrize("fusion", ["average", "learned"])
def test_spatial_stream_sees_only_the_middle_frame(fusion):
    model, x = _model(fusion, t=5), _inputs(t=5)
    with torch.no_grad():
        ref = model(x)
        other = {**x, "rgb": x["rgb"].clone()}
        other["rgb"][:, :, [0, 1, 3, 4]] = 0  # every frame but the middle one
        assert torch.allclose(model(other), ref, atol=1e-6)
        other["rgb"][:, :, 2] += 1  # the middle frame
        assert not torch.allclose(model(other), ref, atol=1e-4)
        moved = {**x, "flow": x["flow"] + 1}  # the temporal stream reads the flow
        assert not torch.allclose(model(moved), ref, atol=1e-4)


def test_temporal_stream_input_is_2L_channels_and_unstacked_flow_is_accepted():
    model, x = _model(t=3), _inputs(t=3)
    assert model.temporal.conv1.in_channels == 4 and model.spatial.conv1.in_channels == 3
    unstacked = {**x, "flow": x["flow"].view(2, 2, 2, 16, 16)}  # (B, L, 2, H, W)
    with torch.no_grad():
        torch.testing.assert_close(model(unstacked), model(x))
    with pytest.raises(ValueError, match=r"'flow' must be \(B, 4, H, W\)"):
        model({**x, "flow": torch.randn(2, 6, 16, 16)})
    with pytest.raises(ValueError, match="TwoStreamNet takes"):
        model(x["rgb"])
    with pytest.raises(ValueError, match="TwoStreamNet takes"):
        model({"rgb": x["rgb"]})


def test_with_flow_from_avlearn_flow_and_training_step():
    torch.manual_seed(0)
    clip = torch.randint(0, 256, (2, 3, 4, 24, 24), dtype=torch.uint8)  # (B, 3, T, H, W)
    flow = stack_flow(optical_flow(clip))  # (B, 2(T-1), H, W)
    assert flow.shape == (2, 6, 24, 24)
    model = create_model("two_stream_small", num_classes=3, num_flow_frames=3)
    x = {"rgb": clip.float() / 255, "flow": flow}
    loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 2]))
    assert math.isfinite(loss.item())
    loss.backward()
    assert model.spatial.conv1.weight.grad.abs().sum() > 0 and model.temporal.conv1.weight.grad.abs().sum() > 0


def test_flow_at_another_resolution_is_pooled_to_the_rgb_map():
    model, x = _model(), _inputs(size=16)
    x["flow"] = torch.randn(2, 4, 32, 32)
    with torch.no_grad():
        assert model.forward_features(x).shape == (2, 2 * model.spatial.num_features, 2, 2)
