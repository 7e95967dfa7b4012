"""MViTv2: pooling attention with decomposed relative positions and residual pooling.

Li, Wu, Fan, Mangalam, Xiong, Malik & Feichtenhofer, "MViTv2: Improved Multiscale Vision
Transformers for Classification and Detection" (CVPR 2022), Sec. 4.1, on top of the MViT v1
pooling attention (:mod:`avlearn.models.video.mvit`):

* **Decomposed relative position embedding** (Eq. 3-4): the attention logits of query i and key
  j get ``Q_i · R_{p(i), p(j)}`` with ``R_{p(i), p(j)} = R^h_{h(i), h(j)} + R^w_{w(i), w(j)} +
  R^t_{t(i), t(j)}``, one learned table per axis indexed by the (stride-scaled) distance between
  the query's and the key's positions along that axis. Queries and keys live on grids of
  different strides after pooling, so a coordinate is scaled by ``max(other / own, 1)`` before
  the difference is taken (the official implementation's rule).
* **Residual pooling connection** (Eq. 5): ``Z = Attn(Q, K, V) + Q``, the pooled queries added
  to the attention output (per head, before the output projection).
* Channel expansion in the attention's projection (already in :class:`~.mvit.MViT`) and no
  absolute positional embedding.

The relative tables are sized for the reference input; for other inputs a table is resized by
linear interpolation. Registered as ``mvitv2_s`` (MViTv2-S 16x4: 16 x 224 x 224, D 96-768,
depths 1-2-11-2, heads 1-2-4-8; the paper's Kinetics-400 table lists 34.5 M parameters) and
``mvitv2_tiny`` (8 x 64 x 64 clips for CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._transformer import init_trunc_normal_
from avlearn.models.video.mvit import MViT, MViTBlock, PoolingAttention

__all__ = ["MViTv2", "RelPosPoolingAttention", "rel_pos_index", "mvitv2_s", "mvitv2_tiny"]

Grid = tuple[int, int, int]


def _pooled(thw: Grid, stride: tuple[int, int, int]) -> Grid:
    return tuple(-(-n // s) for n, s in zip(thw, stride))


def rel_pos_index(q_len: int, k_len: int) -> Tensor:
    """``(q_len, k_len)`` int64 indices into a table of ``2 max(q_len, k_len) - 1`` distances.

    Coordinates are scaled to the finer grid (``max(k/q, 1)`` for queries, ``max(q/k, 1)`` for
    keys), so that query i and key j on grids of different strides get the distance of their
    positions in the input, shifted to be non-negative.
    """
    q_ratio, k_ratio = max(k_len / q_len, 1.0), max(q_len / k_len, 1.0)
    dist = torch.arange(q_len)[:, None] * q_ratio - torch.arange(k_len)[None, :] * k_ratio  # (q, k)
    return (dist + (k_len - 1) * k_ratio).long()


def _table(table: Tensor, q_len: int, k_len: int) -> Tensor:
    """The ``(q_len, k_len, d)`` embeddings of one axis, resizing ``table`` if the grid differs."""
    need = int(2 * max(q_len, k_len) - 1)
    if table.shape[0] != need:
        table = F.interpolate(table.t()[None], size=need, mode="linear", align_corners=False)[0].t()  # (need, d)
    return table[rel_pos_index(q_len, k_len).to(table.device)]


class RelPosPoolingAttention(PoolingAttention):
    """Pooling attention with decomposed relative positions (Eq. 4) and residual pooling (Eq. 5).

    Args:
        dim_in, dim_out, heads, q_stride, kv_stride, kernel: as :class:`~.mvit.PoolingAttention`.
        thw: the input token grid at the reference size (sizes the relative tables).
        residual_pooling: add the pooled queries to the attention output (Eq. 5).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        heads: int,
        *,
        thw: Grid,
        q_stride: tuple[int, int, int] = (1, 1, 1),
        kv_stride: tuple[int, int, int] = (1, 1, 1),
        kernel: tuple[int, int, int] = (3, 3, 3),
        residual_pooling: bool = True,
    ):
        super().__init__(dim_in, dim_out, heads, q_stride=q_stride, kv_stride=kv_stride, kernel=kernel)
        self.residual_pooling = residual_pooling
        head_dim = dim_out // heads
        q_thw, kv_thw = _pooled(thw, q_stride), _pooled(thw, kv_stride)
        sizes = [2 * max(q, k) - 1 for q, k in zip(q_thw, kv_thw)]
        self.rel_pos_t = nn.Parameter(init_trunc_normal_(torch.zeros(sizes[0], head_dim)))
        self.rel_pos_h = nn.Parameter(init_trunc_normal_(torch.zeros(sizes[1], head_dim)))
        self.rel_pos_w = nn.Parameter(init_trunc_normal_(torch.zeros(sizes[2], head_dim)))

    def rel_pos_bias(self, q: Tensor, q_thw: Grid, k_thw: Grid) -> Tensor:
        """``E^rel`` of Eq. 4: ``(B, heads, Lq, Lk)`` with entries ``Q_i · (R^t + R^h + R^w)``."""
        rt = _table(self.rel_pos_t, q_thw[0], k_thw[0])  # (qt, kt, d)
        rh = _table(self.rel_pos_h, q_thw[1], k_thw[1])  # (qh, kh, d)
        rw = _table(self.rel_pos_w, q_thw[2], k_thw[2])  # (qw, kw, d)
        qg = rearrange(q, "b n (t y x) d -> b n t y x d", t=q_thw[0], y=q_thw[1])  # (B, n, qt, qh, qw, d)
        bt = torch.einsum("bntyxd,tkd->bntyxk", qg, rt)  # (B, n, qt, qh, qw, kt)
        bh = torch.einsum("bntyxd,ykd->bntyxk", qg, rh)  # (B, n, qt, qh, qw, kh)
        bw = torch.einsum("bntyxd,xkd->bntyxk", qg, rw)  # (B, n, qt, qh, qw, kw)
        bias = bt[..., :, None, None] + bh[..., None, :, None] + bw[..., None, None, :]  # (..., kt, kh, kw)
        return rearrange(bias, "b n t y x kt kh kw -> b n (t y x) (kt kh kw)")

    def forward(self, x: Tensor, thw: Grid) -> tuple[Tensor, Grid]:
        """``(B, T*H*W, dim_in)`` -> ``(B, T'*H'*W', dim_out)`` and the queries' grid."""
        q, k, v = rearrange(self.qkv(x), "b l (three n d) -> three b n l d", three=3, n=self.heads)  # (B, n, L, d)
        q_thw = k_thw = thw
        if self.pool_q is not None:
            q, q_thw = self.pool_q(q, thw)  # (B, n, Lq, d)
        if self.pool_k is not None:
            k, k_thw = self.pool_k(k, thw)  # (B, n, Lkv, d)
            v, _ = self.pool_v(v, thw)  # (B, n, Lkv, d)
        bias = self.rel_pos_bias(q, q_thw, k_thw)  # (B, n, Lq, Lkv)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))  # (B, n, Lq, d)
        if self.residual_pooling:
            out = out + q  # Eq. 5
        return self.proj(rearrange(out, "b n l d -> b l (n d)")), q_thw


class MViTv2Block(MViTBlock):
    """An MViT block whose attention is :class:`RelPosPoolingAttention`."""

    def __init__(self, dim_in: int, dim_out: int, heads: int, *, thw: Grid, residual_pooling: bool = True, **kwargs):
        super().__init__(dim_in, dim_out, heads, **kwargs)
        self.attn = RelPosPoolingAttention(dim_in, dim_out, heads, thw=thw, residual_pooling=residual_pooling, **{
            k: kwargs[k] for k in ("q_stride", "kv_stride", "kernel") if k in kwargs
        })


class MViTv2(MViT):
    """MViTv2: :class:`~.mvit.MViT` with relative positions, residual pooling, no absolute positions.

    Args:
        residual_pooling: the residual pooling connection (Eq. 5); False gives the ablation.
        **kwargs: as :class:`~.mvit.MViT` (``abs_pos`` defaults to False).
    """

    def __init__(self, *, residual_pooling: bool = True, **kwargs):
        self._residual_pooling = residual_pooling
        super().__init__(**{"abs_pos": False, **kwargs})

    def _make_block(self, dim_in: int, dim_out: int, heads: int, *, thw: Grid, **kwargs) -> nn.Module:
        return MViTv2Block(dim_in, dim_out, heads, thw=thw, residual_pooling=self._residual_pooling, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def mvitv2_tiny(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> MViTv2:
    """8 x 64 x 64 clips, D 32-256 over four one-block stages, key/value stride (1, 4, 4)."""
    kwargs = {"num_frames": 8, "img_size": 64, "embed_dim": 32, "depths": (1, 1, 1, 1), "kv_stride": (1, 4, 4), **kwargs}
    return MViTv2(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 4, 32, 32))
def mvitv2_s(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> MViTv2:
    """MViTv2-S 16x4: 16 x 224 x 224, D 96-768, depths 1-2-11-2, heads 1-2-4-8 (34.5 M parameters)."""
    return MViTv2(num_classes=num_classes, in_channels=in_channels, **kwargs)
