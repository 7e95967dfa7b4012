"""Space-time transformers: divided attention, a factorised encoder, and pooling attention.

* **TimeSformer** (Bertasius et al., "Is Space-Time Attention All You Need for Video
  Understanding?", ICML 2021, Sec. 3 eqs. 6-8 and Fig. 1 "Divided Space-Time"): frames cut into
  1 x P x P patches; every block applies *temporal* attention (each patch attends to the patches
  at the same spatial position in the other frames), then *spatial* attention (each patch
  attends to the patches of its own frame), then an MLP, each with a pre-norm residual.
* **ViViT, factorised encoder** (Arnab et al., "ViViT: A Video Vision Transformer", ICCV 2021,
  Sec. 3.3 "Model 2"): tubelet embedding (Sec. 3.2, t x P x P), a *spatial* transformer on each
  temporal index's tokens separately, one representation per temporal index, then a *temporal*
  transformer over those.
* **MViT** (Fan et al., "Multiscale Vision Transformers", ICCV 2021, Sec. 3.1 "Pooling
  Attention", Table 3 MViT-B): queries, keys and values are pooled (a depthwise 3D convolution
  and LayerNorm per head) before attention; a query stride of (1, 2, 2) at the first block of a
  stage halves the spatial resolution while the channels double, and keys/values are pooled
  with a stride that keeps their resolution constant across stages. The channel expansion is
  done in the attention's projection, with the residual projected to match, as in MViTv2
  (Li et al., CVPR 2022, Sec. 4.1 "dim_mul_in_att").

Common choices, stated where they differ from the papers: the class token is replaced by
global average pooling of the output tokens (with a final LayerNorm), as in MViTv2's pooled
head; positional embeddings are learned and *separable* (a spatial grid shared by all frames
plus one vector per time index, TimeSformer's and MViT's choice), and are interpolated
(bicubic in space, linear in time) when the input's token grid differs from the reference
size the model was built for. Every stage maps a channel-first grid ``(B, D, T, H, W)`` to
another, so ``feature_info`` and ``features_only`` behave as for the CNNs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model

__all__ = [
    "Attention",
    "Block",
    "DividedBlock",
    "MViT",
    "MViTBlock",
    "PoolingAttention",
    "PosEmbed",
    "TimeSformer",
    "TokenStage",
    "ViViT",
    "mvit_base_16x4",
    "mvit_small",
    "timesformer_base",
    "timesformer_small",
    "vivit_fe_base",
    "vivit_fe_small",
]


def init_trunc_normal_(w: Tensor, std: float = 0.02) -> Tensor:
    """Normal(0, std) clipped to +-2 std: the support of timm's ``trunc_normal_``, ~6x faster to draw
    (it matters for the 120 M-parameter base models)."""
    with torch.no_grad():
        return w.normal_(0.0, std).clamp_(-2 * std, 2 * std)


def interpolate_pos(pos: Tensor, size: tuple[int, ...]) -> Tensor:
    """Resize a learned positional embedding ``(1, D, *grid)`` to ``size`` (1-3 axes)."""
    if tuple(pos.shape[2:]) == tuple(size):
        return pos
    mode = {1: "linear", 2: "bicubic", 3: "trilinear"}[len(size)]
    return F.interpolate(pos, size=tuple(size), mode=mode, align_corners=False)


class PosEmbed(nn.Module):
    """Learned separable positional embedding added to ``(B, D, T, H, W)`` or ``(B, D, T)``.

    Args:
        dim: channels D.
        frames: reference number of time indices (None: no temporal embedding).
        size: reference (H, W) token grid (None: no spatial embedding).
    """

    def __init__(self, dim: int, *, frames: int | None = None, size: tuple[int, int] | None = None):
        super().__init__()
        self.spatial = nn.Parameter(torch.zeros(1, dim, *size)) if size else None
        self.temporal = nn.Parameter(torch.zeros(1, dim, frames)) if frames else None
        for p in (self.spatial, self.temporal):
            if p is not None:
                init_trunc_normal_(p)

    def forward(self, x: Tensor) -> Tensor:
        if self.spatial is not None:
            x = x + interpolate_pos(self.spatial, x.shape[-2:]).unsqueeze(2)  # (B, D, T, H, W)
        if self.temporal is not None:
            pt = interpolate_pos(self.temporal, (x.shape[2],))  # (1, D, T)
            x = x + pt.view(*pt.shape, *([1] * (x.dim() - 3)))
        return x


class Mlp(nn.Sequential):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None, drop: float = 0.0):
        super().__init__(
            nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, out_dim or dim), nn.Dropout(drop)
        )


class Attention(nn.Module):
    """Multi-head self-attention over ``(N, L, D)`` sequences (scaled dot product)."""

    def __init__(self, dim: int, heads: int, *, qkv_bias: bool = True, drop: float = 0.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim {dim} is not divisible by heads {heads}")
        self.heads, self.drop = heads, drop
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        q, k, v = rearrange(self.qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.heads)  # each (N, h, L, d)
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.drop if self.training else 0.0)  # (N, h, L, d)
        return self.proj(rearrange(x, "n h l d -> n l (h d)"))  # (N, L, D)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm(x))``, then ``x + mlp(norm(x))``."""

    def __init__(self, dim: int, heads: int, *, mlp_ratio: float = 4.0, drop: float = 0.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads, drop=drop)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))  # (N, L, D)
        return x + self.mlp(self.norm2(x))


class DividedBlock(Block):
    """TimeSformer block: temporal attention, then spatial attention, then the MLP (eqs. 6-8).

    Tokens are ``(B, T*S, D)`` ordered time-major (S = H*W patches per frame).
    """

    def __init__(self, dim: int, heads: int, *, mlp_ratio: float = 4.0, drop: float = 0.0):
        super().__init__(dim, heads, mlp_ratio=mlp_ratio, drop=drop)
        self.norm_t = nn.LayerNorm(dim)
        self.attn_t = Attention(dim, heads, drop=drop)
        self.temporal_fc = nn.Linear(dim, dim)

    def temporal_attention(self, x: Tensor, t: int) -> Tensor:
        """Residual temporal attention: each token attends only to its spatial position over time."""
        xt = rearrange(x, "b (t s) d -> (b s) t d", t=t)  # (B*S, T, D)
        res = self.temporal_fc(self.attn_t(self.norm_t(xt)))  # (B*S, T, D)
        return x + rearrange(res, "(b s) t d -> b (t s) d", b=x.shape[0])

    def spatial_attention(self, x: Tensor, t: int) -> Tensor:
        """Residual spatial attention: each token attends only to the tokens of its own frame."""
        xs = rearrange(x, "b (t s) d -> (b t) s d", t=t)  # (B*T, S, D)
        return x + rearrange(self.attn(self.norm1(xs)), "(b t) s d -> b (t s) d", t=t)

    def forward(self, x: Tensor, t: int) -> Tensor:
        x = self.spatial_attention(self.temporal_attention(x, t), t)  # (B, T*S, D)
        return x + self.mlp(self.norm2(x))


class TokenStage(nn.Module):
    """Blocks applied to the tokens of a channel-first grid, returned as a grid again.

    Args:
        blocks: the transformer blocks.
        layout: "divided" (``(B, D, T, H, W)``, all tokens, :class:`DividedBlock` gets T),
            "spatial" (``(B, D, T, H, W)``, each time index separately) or "temporal"
            (``(B, D, T)``, one token per time index).
    """

    def __init__(self, blocks: list[nn.Module], layout: str):
        super().__init__()
        if layout not in ("divided", "spatial", "temporal"):
            raise ValueError(f"unknown token layout {layout!r}")
        self.blocks = nn.ModuleList(blocks)
        self.layout = layout

    def forward(self, x: Tensor) -> Tensor:
        if self.layout == "temporal":
            x = x.transpose(1, 2)  # (B, T, D)
            for blk in self.blocks:
                x = blk(x)
            return x.transpose(1, 2)  # (B, D, T)
        b, _, t, h, _ = x.shape
        if self.layout == "spatial":
            x = rearrange(x, "b d t h w -> (b t) (h w) d")  # (B*T, H*W, D)
            for blk in self.blocks:
                x = blk(x)
            return rearrange(x, "(b t) (h w) d -> b d t h w", b=b, h=h)
        x = rearrange(x, "b d t h w -> b (t h w) d")  # (B, T*H*W, D)
        for blk in self.blocks:
            x = blk(x, t)
        return rearrange(x, "b (t h w) d -> b d t h w", t=t, h=h)


class _Pool(nn.Module):
    """Per-head pooling of MViT: depthwise 3D conv over the token grid, then LayerNorm."""

    def __init__(self, head_dim: int, kernel: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__()
        padding = tuple(k // 2 for k in kernel)
        self.conv = nn.Conv3d(head_dim, head_dim, kernel, stride=stride, padding=padding, groups=head_dim, bias=False)
        self.norm = nn.LayerNorm(head_dim)

    def forward(self, x: Tensor, thw: tuple[int, int, int]) -> tuple[Tensor, tuple[int, int, int]]:
        b = x.shape[0]
        x = rearrange(x, "b n (t y x) d -> (b n) d t y x", t=thw[0], y=thw[1])  # (B*heads, d, T, H, W)
        x = self.conv(x)  # (B*heads, d, T/s, H/s, W/s)
        thw = tuple(x.shape[2:])
        x = rearrange(x, "(b n) d t y x -> b n (t y x) d", b=b)  # (B, heads, L', d)
        return self.norm(x), thw


class PoolingAttention(nn.Module):
    """Multi-head pooling attention (MViT eq. 2-4): Q, K, V pooled before attention.

    Args:
        dim_in: input channels.
        dim_out: output channels (the channel expansion happens here).
        heads: attention heads.
        q_stride: pooling stride of the queries, i.e. the output's downsampling.
        kv_stride: pooling stride of the keys and values.
        kernel: pooling kernel (used where the stride is not 1; otherwise no pooling).
    """

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        heads: int,
        *,
        q_stride: tuple[int, int, int] = (1, 1, 1),
        kv_stride: tuple[int, int, int] = (1, 1, 1),
        kernel: tuple[int, int, int] = (3, 3, 3),
    ):
        super().__init__()
        if dim_out % heads:
            raise ValueError(f"dim {dim_out} is not divisible by heads {heads}")
        self.heads = heads
        head_dim = dim_out // heads
        self.qkv = nn.Linear(dim_in, 3 * dim_out)
        self.pool_q = _Pool(head_dim, kernel, q_stride) if max(q_stride) > 1 else None
        self.pool_k = _Pool(head_dim, kernel, kv_stride) if max(kv_stride) > 1 else None
        self.pool_v = _Pool(head_dim, kernel, kv_stride) if max(kv_stride) > 1 else None
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: Tensor, thw: tuple[int, int, int]) -> tuple[Tensor, tuple[int, int, int]]:
        """``(B, T*H*W, dim_in)`` -> ``(B, T'*H'*W', dim_out)`` and the queries' grid (T', H', W')."""
        q, k, v = rearrange(
            self.qkv(x), "b l (three n d) -> three b n l d", three=3, n=self.heads
        )  # each (B, heads, L, d)
        q_thw = thw
        if self.pool_q is not None:
            q, q_thw = self.pool_q(q, thw)  # (B, heads, Lq, d)
        if self.pool_k is not None:
            k, _ = self.pool_k(k, thw)  # (B, heads, Lkv, d)
            v, _ = self.pool_v(v, thw)  # (B, heads, Lkv, d)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, Lq, d)
        return self.proj(rearrange(x, "b n l d -> b l (n d)")), q_thw


class MViTBlock(nn.Module):
    """MViT block: pooling attention with a pooled (and projected) residual, then an MLP."""

    def __init__(
        self,
        dim_in: int,
        dim_out: int,
        heads: int,
        *,
        mlp_ratio: float = 4.0,
        q_stride: tuple[int, int, int] = (1, 1, 1),
        kv_stride: tuple[int, int, int] = (1, 1, 1),
        kernel: tuple[int, int, int] = (3, 3, 3),
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim_in)
        self.attn = PoolingAttention(dim_in, dim_out, heads, q_stride=q_stride, kv_stride=kv_stride, kernel=kernel)
        self.proj = nn.Linear(dim_in, dim_out) if dim_in != dim_out else None
        skip_k = tuple(s + 1 if s > 1 else 1 for s in q_stride)
        self.pool_skip = nn.MaxPool3d(skip_k, q_stride, tuple(k // 2 for k in skip_k)) if max(q_stride) > 1 else None
        self.norm2 = nn.LayerNorm(dim_out)
        self.mlp = Mlp(dim_out, int(dim_out * mlp_ratio))

    def forward(self, x: Tensor, thw: tuple[int, int, int]) -> tuple[Tensor, tuple[int, int, int]]:
        xn = self.norm1(x)  # (B, L, Din)
        out, new_thw = self.attn(xn, thw)  # (B, L', Dout)
        skip = x if self.proj is None else self.proj(xn)  # (B, L, Dout)
        if self.pool_skip is not None:
            grid = rearrange(skip, "b (t y x) d -> b d t y x", t=thw[0], y=thw[1])
            skip = rearrange(self.pool_skip(grid), "b d t y x -> b (t y x) d")  # (B, L', Dout)
        x = skip + out
        return x + self.mlp(self.norm2(x)), new_thw


class _MViTStage(nn.Module):
    """MViT blocks on a ``(B, D, T, H, W)`` grid; returns the pooled, widened grid."""

    def __init__(self, blocks: list[MViTBlock]):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x: Tensor) -> Tensor:
        thw = tuple(x.shape[2:])
        x = rearrange(x, "b d t y x -> b (t y x) d")  # (B, L, D)
        for blk in self.blocks:
            x, thw = blk(x, thw)  # (B, L', D')
        return rearrange(x, "b (t y x) d -> b d t y x", t=thw[0], y=thw[1])


class _VideoTransformer(nn.Module):
    """Shared head: mean over every token, LayerNorm, dropout, linear; and the weight init."""

    def _init_head(self, dim: int, num_classes: int, drop_rate: float) -> None:
        self.num_features = dim
        self.fc_norm = nn.LayerNorm(dim)
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                init_trunc_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Average every token, LayerNorm, dropout, ``fc``; ``pre_logits`` returns ``(B, D)``."""
        x = self.drop(self.fc_norm(feats.flatten(2).mean(-1)))  # (B, D)
        return x if pre_logits else self.fc(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


def _groups(depth: int, n: int) -> list[int]:
    """Split ``depth`` blocks into ``n`` nearly equal consecutive groups."""
    n = max(1, min(n, depth))
    return [depth // n + (i < depth % n) for i in range(n)]


class TimeSformer(_VideoTransformer):
    """TimeSformer with divided space-time attention.

    Args:
        num_classes: classes.
        in_channels: input channels.
        num_frames: reference T (the temporal positional embedding's length).
        img_size: reference H = W.
        patch_size: P of the 1 x P x P patches.
        embed_dim: token width D.
        depth: number of divided blocks.
        heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        num_stages: groups of blocks listed in ``feature_info``.
        drop_rate: dropout in attention/MLP and before the classifier.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        num_frames: int = 8,
        img_size: int = 224,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        num_stages: int = 3,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.patch_embed = nn.Conv3d(
            in_channels, embed_dim, (1, patch_size, patch_size), stride=(1, patch_size, patch_size)
        )
        self.pos_embed = PosEmbed(embed_dim, frames=num_frames, size=(img_size // patch_size,) * 2)
        self.stages = nn.Sequential(
            *[
                TokenStage(
                    [DividedBlock(embed_dim, heads, mlp_ratio=mlp_ratio, drop=drop_rate) for _ in range(n)], "divided"
                )
                for n in _groups(depth, num_stages)
            ]
        )
        self.feature_info = [
            {"module": f"stages.{i}", "num_chs": embed_dim, "reduction": patch_size} for i in range(len(self.stages))
        ]
        self._init_head(embed_dim, num_classes, drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, D, T, H/P, W/P)``."""
        x = self.pos_embed(self.patch_embed(x))  # (B, D, T, H/P, W/P)
        return self.stages(x)


class ViViT(_VideoTransformer):
    """ViViT factorised encoder: spatial transformer per time index, then a temporal transformer.

    Args:
        num_classes: classes.
        in_channels: input channels.
        num_frames: reference T.
        img_size: reference H = W.
        tubelet: (t, P, P) tubelet size of the embedding.
        embed_dim: token width D.
        spatial_depth: blocks of the spatial transformer (L_s).
        temporal_depth: blocks of the temporal transformer (L_t).
        heads: attention heads.
        mlp_ratio: MLP hidden width / D.
        drop_rate: dropout in attention/MLP and before the classifier.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        num_frames: int = 32,
        img_size: int = 224,
        tubelet: tuple[int, int, int] = (2, 16, 16),
        embed_dim: int = 768,
        spatial_depth: int = 12,
        temporal_depth: int = 4,
        heads: int = 12,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        tubelet = tuple(tubelet)
        self.patch_embed = nn.Conv3d(in_channels, embed_dim, tubelet, stride=tubelet)
        self.pos_spatial = PosEmbed(embed_dim, size=(img_size // tubelet[1], img_size // tubelet[2]))
        self.pos_temporal = PosEmbed(embed_dim, frames=num_frames // tubelet[0])

        def blocks(n: int) -> list[Block]:
            return [Block(embed_dim, heads, mlp_ratio=mlp_ratio, drop=drop_rate) for _ in range(n)]

        self.spatial = TokenStage(blocks(spatial_depth), "spatial")
        self.spatial_norm = nn.LayerNorm(embed_dim)
        self.temporal = TokenStage(blocks(temporal_depth), "temporal")
        self.feature_info = [
            {"module": "spatial", "num_chs": embed_dim, "reduction": tubelet[1]},
            {"module": "temporal", "num_chs": embed_dim, "reduction": tubelet[1]},
        ]
        self._init_head(embed_dim, num_classes, drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, D, T/t)``: one token per temporal index after both encoders."""
        x = self.pos_spatial(self.patch_embed(x))  # (B, D, T/t, H/P, W/P)
        x = self.spatial(x)  # (B, D, T/t, H/P, W/P)
        frames = self.spatial_norm(x.mean(dim=(-2, -1)).transpose(1, 2)).transpose(1, 2)  # (B, D, T/t)
        return self.temporal(self.pos_temporal(frames))  # (B, D, T/t)


class MViT(_VideoTransformer):
    """Multiscale vision transformer with pooling attention.

    Args:
        num_classes: classes.
        in_channels: input channels.
        num_frames: reference T.
        img_size: reference H = W.
        patch_kernel: kernel of the cube embedding (3, 7, 7).
        patch_stride: stride of the cube embedding (2, 4, 4).
        embed_dim: channels of the first stage (96 in MViT-B); doubled at every stage.
        depths: blocks per stage ((1, 2, 11, 2) in MViT-B).
        heads: heads per stage ((1, 2, 4, 8)).
        kv_stride: key/value pooling stride in the first stage, divided by the query stride at
            every stage change so the key/value grid stays the same size ((1, 8, 8)).
        pool_kernel: pooling kernel (3, 3, 3).
        mlp_ratio: MLP hidden width / D.
        drop_rate: dropout before the classifier.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        num_frames: int = 16,
        img_size: int = 224,
        patch_kernel: tuple[int, int, int] = (3, 7, 7),
        patch_stride: tuple[int, int, int] = (2, 4, 4),
        embed_dim: int = 96,
        depths: tuple[int, ...] = (1, 2, 11, 2),
        heads: tuple[int, ...] = (1, 2, 4, 8),
        kv_stride: tuple[int, int, int] = (1, 8, 8),
        pool_kernel: tuple[int, int, int] = (3, 3, 3),
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        if len(depths) != len(heads):
            raise ValueError(f"depths {depths} and heads {heads} must have the same length")
        self.patch_embed = nn.Conv3d(
            in_channels,
            embed_dim,
            tuple(patch_kernel),
            stride=tuple(patch_stride),
            padding=tuple(k // 2 for k in patch_kernel),
        )
        self.pos_embed = PosEmbed(
            embed_dim,
            frames=num_frames // patch_stride[0],
            size=(img_size // patch_stride[1], img_size // patch_stride[2]),
        )
        stages, self.feature_info = [], []
        dim, kv, reduction = embed_dim, tuple(kv_stride), patch_stride[1]
        for i, (depth, n_heads) in enumerate(zip(depths, heads)):
            q_stride = (1, 1, 1) if i == 0 else (1, 2, 2)
            kv = tuple(max(1, k // q) for k, q in zip(kv, q_stride))
            reduction *= q_stride[1]
            dim_out = embed_dim * 2**i
            blocks = [
                MViTBlock(
                    dim if j == 0 else dim_out,
                    dim_out,
                    n_heads,
                    mlp_ratio=mlp_ratio,
                    q_stride=q_stride if j == 0 else (1, 1, 1),
                    kv_stride=kv,
                    kernel=tuple(pool_kernel),
                )
                for j in range(depth)
            ]
            stages.append(_MViTStage(blocks))
            self.feature_info.append({"module": f"stages.{i}", "num_chs": dim_out, "reduction": reduction})
            dim = dim_out
        self.stages = nn.Sequential(*stages)
        self._init_head(dim, num_classes, drop_rate)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, 8 D, T/2, H/32, W/32)`` with the MViT-B strides."""
        x = self.pos_embed(self.patch_embed(x))  # (B, D, T/2, H/4, W/4)
        return self.stages(x)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def timesformer_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> TimeSformer:
    """8 x 64 x 64 clips, 8 x 8 patches, D 128, 4 divided blocks, 4 heads."""
    kwargs = {
        "num_frames": 8,
        "img_size": 64,
        "patch_size": 8,
        "embed_dim": 128,
        "depth": 4,
        "heads": 4,
        "num_stages": 2,
        **kwargs,
    }
    return TimeSformer(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 224, 224), tiny_input=(3, 4, 32, 32))
def timesformer_base(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> TimeSformer:
    """TimeSformer (ViT-B): 8 x 224 x 224, 16 x 16 patches, D 768, 12 blocks, 12 heads."""
    return TimeSformer(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def vivit_fe_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> ViViT:
    """8 x 64 x 64 clips, 2 x 8 x 8 tubelets, D 128, 4 spatial + 2 temporal blocks, 4 heads."""
    kwargs = {
        "num_frames": 8,
        "img_size": 64,
        "tubelet": (2, 8, 8),
        "embed_dim": 128,
        "spatial_depth": 4,
        "temporal_depth": 2,
        "heads": 4,
        **kwargs,
    }
    return ViViT(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 32, 224, 224), tiny_input=(3, 4, 32, 32))
def vivit_fe_base(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> ViViT:
    """ViViT-B factorised encoder: 32 x 224 x 224, 2 x 16 x 16 tubelets, L_s 12, L_t 4."""
    return ViViT(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def mvit_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> MViT:
    """8 x 64 x 64 clips, D 32-256 over four one-block stages, key/value stride (1, 4, 4)."""
    kwargs = {
        "num_frames": 8,
        "img_size": 64,
        "embed_dim": 32,
        "depths": (1, 1, 1, 1),
        "kv_stride": (1, 4, 4),
        **kwargs,
    }
    return MViT(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 4, 32, 32))
def mvit_base_16x4(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> MViT:
    """MViT-B 16x4 (Table 3): 16 x 224 x 224, D 96-768, depths 1-2-11-2, heads 1-2-4-8."""
    return MViT(num_classes=num_classes, in_channels=in_channels, **kwargs)
