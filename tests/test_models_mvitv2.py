"""MViTv2: decomposed relative positions (Eq. 4), residual pooling (Eq. 5), the paper's size."""

from __future__ import annotations

import pytest
import torch
from einops import rearrange

from avlearn.models import create_model
from avlearn.models.video.mvit import PoolingAttention
from avlearn.models.video.mvitv2 import RelPosPoolingAttention, rel_pos_index


def test_rel_pos_index_hand_cases():
    # Same grid: distance i - j shifted by k - 1 into a table of 2*3 - 1 = 5 entries.
    assert rel_pos_index(3, 3).tolist() == [[2, 1, 0], [3, 2, 1], [4, 3, 2]]
    # Keys pooled by 2 (4 queries, 2 keys): key coordinates scaled by 2 -> input positions 0, 2.
    assert rel_pos_index(4, 2).tolist() == [[2, 0], [3, 1], [4, 2], [5, 3]]
    assert rel_pos_index(4, 2).max() < 2 * 4 - 1


def _attn(**kw):
    torch.manual_seed(0)
    return RelPosPoolingAttention(8, 8, 2, thw=(2, 4, 4), kv_stride=(1, 2, 2), **kw).eval()


def test_relative_bias_is_the_sum_of_three_axis_terms():
    attn = _attn()
    q_thw, k_thw = (2, 4, 4), (2, 2, 2)
    q = torch.randn(1, 2, 32, 4)
    bias = attn.rel_pos_bias(q, q_thw, k_thw)  # (1, 2, 32, 8)
    qi = [(t, y, x) for t in range(2) for y in range(4) for x in range(4)]
    kj = [(t, y, x) for t in range(2) for y in range(2) for x in range(2)]
    it, ih, iw = rel_pos_index(2, 2), rel_pos_index(4, 2), rel_pos_index(4, 2)
    for i in (0, 5, 17, 31):
        for j in (0, 3, 6):
            (t1, y1, x1), (t2, y2, x2) = qi[i], kj[j]
            r = attn.rel_pos_t[it[t1, t2]] + attn.rel_pos_h[ih[y1, y2]] + attn.rel_pos_w[iw[x1, x2]]
            torch.testing.assert_close(bias[0, 1, i, j], q[0, 1, i] @ r)


def test_zero_tables_without_residual_pooling_is_mvit_v1_attention():
    v2 = _attn(residual_pooling=False)
    v1 = PoolingAttention(8, 8, 2, kv_stride=(1, 2, 2)).eval()
    v1.load_state_dict({k: v for k, v in v2.state_dict().items() if not k.startswith("rel_pos")})
    with torch.no_grad():
        for p in (v2.rel_pos_t, v2.rel_pos_h, v2.rel_pos_w):
            p.zero_()
        x = torch.randn(2, 32, 8)
        torch.testing.assert_close(v2(x, (2, 4, 4))[0], v1(x, (2, 4, 4))[0])
        # with the tables back, positions matter
        v2.rel_pos_h.normal_()
        assert not torch.allclose(v2(x, (2, 4, 4))[0], v1(x, (2, 4, 4))[0], atol=1e-4)


def test_residual_pooling_adds_the_pooled_queries():
    with_res, without = _attn(residual_pooling=True), _attn(residual_pooling=False)
    attn = RelPosPoolingAttention(8, 16, 2, thw=(2, 4, 4), q_stride=(1, 2, 2), kv_stride=(1, 2, 2)).eval()
    x = torch.randn(2, 32, 8)
    with torch.no_grad():
        q = rearrange(with_res.qkv(x), "b l (three n d) -> three b n l d", three=3, n=2)[0]
        expected = rearrange(q, "b n l d -> b l (n d)") @ with_res.proj.weight.t()
        torch.testing.assert_close(with_res(x, (2, 4, 4))[0] - without(x, (2, 4, 4))[0], expected, atol=1e-5, rtol=1e-4)
        out, thw = attn(x, (2, 4, 4))  # pooled queries: the residual has the output's (strided) size
    assert thw == (2, 2, 2) and out.shape == (2, 8, 16)


def test_mvitv2_s_parameter_count_matches_the_paper():
    with torch.device("meta"):
        model = create_model("mvitv2_s")
    n = sum(p.numel() for p in model.parameters())
    assert n == pytest.approx(34.5e6, rel=0.01)  # Li et al. 2022, Kinetics-400 results: MViTv2-S 16x4, 34.5 M
    assert not any("pos_embed" in k for k, _ in model.named_parameters())  # relative positions only


def test_mvitv2_other_input_sizes_interpolate_the_tables():
    torch.manual_seed(0)
    model = create_model("mvitv2_tiny", num_classes=3).eval()
    with torch.no_grad():
        for shape in [(1, 3, 8, 64, 64), (1, 3, 6, 48, 40)]:
            assert model(torch.randn(shape)).shape == (1, 3)
