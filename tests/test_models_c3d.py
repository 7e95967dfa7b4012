"""C3D follows the layer table of Tran et al. (ICCV 2015, Fig. 3) and its per-layer cost (the
multiply-accumulate column of the "C3D: The VGG of 3D CNNs" table, Stanford CS231n 2024, Lecture 10) exactly."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from avlearn.models import create_model

# "C3D: The VGG of 3D CNNs" (Tran et al. 2015), layer -> (C, T, H, W), conv GMACs ("MFLOPs" column).
TABLE = {
    "conv1": ((64, 16, 112, 112), 1.04),
    "pool1": ((64, 16, 56, 56), None),
    "conv2": ((128, 16, 56, 56), 11.10),
    "pool2": ((128, 8, 28, 28), None),
    "conv3a": ((256, 8, 28, 28), 5.55),
    "conv3b": ((256, 8, 28, 28), 11.10),
    "pool3": ((256, 4, 14, 14), None),
    "conv4a": ((512, 4, 14, 14), 2.77),
    "conv4b": ((512, 4, 14, 14), 5.55),
    "pool4": ((512, 2, 7, 7), None),
    "conv5a": ((512, 2, 7, 7), 0.69),
    "conv5b": ((512, 2, 7, 7), 0.69),
    "pool5": ((512, 1, 3, 3), None),
}


def _layer_sizes(model, x):
    sizes = {}
    for name in TABLE:
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: sizes.__setitem__(name, tuple(o.shape[1:]))
        )
    model(x)
    return sizes


def test_layer_output_sizes_follow_the_table():
    with torch.device("meta"):
        model = create_model("c3d")
        sizes = _layer_sizes(model, torch.empty(1, 3, 16, 112, 112))
    assert sizes == {k: v[0] for k, v in TABLE.items()}
    assert model.fc6.in_features == 512 * 3 * 3 and model.fc6.out_features == 4096
    assert model.fc7.out_features == 4096 and model.fc8.out_features == 487


def test_conv_cost_follows_the_table():
    counter = FlopCounterMode(display=False)
    with torch.device("meta"):
        model = create_model("c3d")
        with counter:
            model(torch.empty(1, 3, 16, 112, 112))
    per_module = counter.get_flop_counts()
    gmacs = {k: round(sum(per_module[f"C3D.{k}"].values()) / 2 / 1e9, 2) for k, v in TABLE.items() if v[1] is not None}
    assert gmacs == {k: v[1] for k, v in TABLE.items() if v[1] is not None}


def test_caffe_pool5_padding_option():
    with torch.device("meta"):
        model = create_model("c3d", pool5_padding=(0, 1, 1))
        sizes = _layer_sizes(model, torch.empty(1, 3, 16, 112, 112))
    assert sizes["pool5"] == (512, 1, 4, 4)
    assert model.fc6.in_features == 8192


def test_small_variant_keeps_the_layout_and_other_sizes_work():
    model = create_model("c3d_small", num_classes=5).eval()
    assert [d["num_chs"] for d in model.feature_info] == [8, 16, 32, 64, 64]
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 64, 48)).shape == (1, 5)
        assert model.forward_head(model.forward_features(torch.randn(1, 3, 16, 32, 32)), pre_logits=True).shape == (
            1,
            512,
        )


def test_too_short_clip_is_a_clear_error():
    with pytest.raises(ValueError, match="at least 16 frames"):
        create_model("c3d_small")(torch.randn(1, 3, 8, 112, 112))
