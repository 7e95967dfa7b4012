"""CNN+LSTM and recurrent convolutional networks: output forms, time sharing, causality, the GRU equations."""

from __future__ import annotations

import pytest
import torch

from avlearn.models import create_model
from avlearn.models.video.recurrent import (
    ConvGRUCell,
    ConvRNNCell,
    RecurrentConvLayer,
    RecurrentConvNet,
)


def _clip(b=2, t=5, size=16, seed=0):
    return torch.randn(b, 3, t, size, size, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ["cnn_lstm_small", "rcn_gru_small", "rcn_rnn_small"])
def test_many_to_one_is_the_last_step_of_many_to_many(name):
    torch.manual_seed(0)
    one = create_model(name, num_classes=4).eval()
    many = create_model(name, num_classes=4, many_to_many=True).eval()
    many.load_state_dict(one.state_dict())
    x = _clip()
    with torch.no_grad():
        y1, yt = one(x), many(x)
        emb = many.forward_head(many.forward_features(x), pre_logits=True)
    assert y1.shape == (2, 4) and yt.shape == (2, 5, 4)
    assert emb.shape == (2, 5, many.num_features)
    torch.testing.assert_close(yt[:, -1], y1)


@pytest.mark.parametrize("name", ["cnn_lstm_small", "rcn_gru_small", "rcn_rnn_small"])
def test_outputs_are_causal_in_time(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4, many_to_many=True).eval()
    x = _clip()
    with torch.no_grad():
        ref = model(x)
        x2 = x.clone()
        x2[:, :, 3] += 1.0  # change frame 3 only
        out = model(x2)
    torch.testing.assert_close(out[:, :3], ref[:, :3])  # steps before it are untouched
    assert not torch.allclose(out[:, 3:], ref[:, 3:], atol=1e-5)


@pytest.mark.parametrize("name", ["rcn_gru_small", "rcn_rnn_small", "cnn_lstm_small"])
def test_parameters_do_not_depend_on_clip_length(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    n_params = sum(p.numel() for p in model.parameters())
    for t in (2, 7):
        out = model(_clip(t=t))
        assert out.shape == (2, 4)
        out.sum().backward()
    assert sum(p.numel() for p in model.parameters()) == n_params
    # The recurrent weights receive gradient from every step they are shared across.
    hidden = model.lstm.weight_hh_l0 if name.startswith("cnn") else model.layers[-1].cell.hidden_conv.weight
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0


@pytest.mark.parametrize("cell_cls", [ConvGRUCell, ConvRNNCell])
def test_layer_is_one_cell_applied_at_every_step(cell_cls):
    torch.manual_seed(0)
    layer = RecurrentConvLayer(cell_cls(3, 8, stride=2)).eval()
    x = _clip(t=4)
    with torch.no_grad():
        out = layer(x)  # (B, 8, T, 8, 8)
        h = torch.zeros(2, 8, 8, 8)
        for t in range(4):
            h = layer.cell.step(layer.cell.project_input(x[:, :, t]), h)
            torch.testing.assert_close(out[:, :, t], h)
    assert out.shape == (2, 8, 4, 8, 8)


def test_conv_gru_equations():
    torch.manual_seed(0)
    cell = ConvGRUCell(4, 6, kernel=3).eval()
    xp = torch.randn(2, 18, 5, 5)  # projected input: W_z x, W_r x, W x
    h = torch.randn(2, 6, 5, 5)
    with torch.no_grad():
        got = cell.step(xp, h)
        uz, ur = cell.gate_conv(h).chunk(2, dim=1)
        z = torch.sigmoid(xp[:, :6] + uz)
        r = torch.sigmoid(xp[:, 6:12] + ur)
        n = torch.tanh(xp[:, 12:] + cell.hidden_conv(r * h))
    torch.testing.assert_close(got, (1 - z) * h + z * n)
    assert cell.input_conv.out_channels == 18 and cell.gate_conv.weight.shape[-1] == 3  # convolutions, not matmuls


def test_rcn_stage_shapes_and_cnn_lstm_per_frame_features():
    torch.manual_seed(0)
    x = _clip(t=3, size=32)
    rcn = create_model("rcn_gru_small", features_only=True)
    feats = rcn(x)
    assert [tuple(f.shape) for f in feats] == [(2, 16, 3, 16, 16), (2, 32, 3, 8, 8), (2, 64, 3, 4, 4)]
    assert [i["reduction"] for i in rcn.feature_info] == [2, 4, 8]
    lstm = create_model("cnn_lstm_small", features_only=True)
    assert [tuple(f.shape) for f in lstm(x)][-1] == (6, 128, 4, 4)  # (B*T, C, h, w): per-frame maps
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentConvNet(cell="lstm")
