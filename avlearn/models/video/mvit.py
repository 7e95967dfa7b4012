"""MViT: multiscale vision transformer with pooling attention.

Fan, Xiong, Mangalam, Li, Yan, Malik & Feichtenhofer, "Multiscale Vision Transformers" (ICCV
2021), Sec. 3.1 "Pooling Attention" (eqs. 2-4) and Table 3 (MViT-B): queries, keys and values
are pooled (a depthwise 3D convolution and LayerNorm per head) before attention; a query stride
of (1, 2, 2) at the first block of a stage halves the spatial resolution while the channels
double, and keys/values are pooled with a stride that keeps their resolution constant across
stages. The channel expansion is done in the attention's projection, with the residual
projected to match, as in MViTv2 (Li et al., CVPR 2022, Sec. 4.1 "dim_mul_in_att").

Shared pieces (cube embedding, MLP, separable positional embedding, pooled head) are in
:mod:`avlearn.models.video._transformer`. Registered as ``mvit_small`` (8 x 64 x 64 clips for
CPU) and ``mvit_base_16x4`` (MViT-B 16x4 at 16 x 224 x 224).
"""

from __future__ import annotations

import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._transformer import Mlp, PatchEmbed, PosEmbed, VideoTransformer

__all__ = ["MViT", "MViTBlock", "PoolingAttention", "mvit_base_16x4", "mvit_small"]


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


class MViT(VideoTransformer):
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
        abs_pos: add the learned absolute positional embedding after the cube embedding (MViTv2
            drops it for relative positions).
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
        abs_pos: bool = True,
    ):
        super().__init__()
        if len(depths) != len(heads):
            raise ValueError(f"depths {depths} and heads {heads} must have the same length")
        self.patch_embed = PatchEmbed(
            in_channels, embed_dim, patch_kernel, stride=patch_stride, padding=tuple(k // 2 for k in patch_kernel)
        )
        grid = (num_frames // patch_stride[0], img_size // patch_stride[1], img_size // patch_stride[2])
        self.pos_embed = PosEmbed(embed_dim, frames=grid[0], size=grid[1:]) if abs_pos else nn.Identity()
        stages, self.feature_info = [], []
        dim, kv, reduction = embed_dim, tuple(kv_stride), patch_stride[1]
        for i, (depth, n_heads) in enumerate(zip(depths, heads)):
            q_stride = (1, 1, 1) if i == 0 else (1, 2, 2)
            kv = tuple(max(1, k // q) for k, q in zip(kv, q_stride))
            reduction *= q_stride[1]
            dim_out = embed_dim * 2**i
            blocks = []
            for j in range(depth):
                blk_q = q_stride if j == 0 else (1, 1, 1)
                blocks.append(
                    self._make_block(
                        dim if j == 0 else dim_out,
                        dim_out,
                        n_heads,
                        mlp_ratio=mlp_ratio,
                        q_stride=blk_q,
                        kv_stride=kv,
                        kernel=tuple(pool_kernel),
                        thw=grid,
                    )
                )
                grid = tuple(-(-g // s) for g, s in zip(grid, blk_q))  # the queries' grid after this block
            stages.append(_MViTStage(blocks))
            self.feature_info.append({"module": f"stages.{i}", "num_chs": dim_out, "reduction": reduction})
            dim = dim_out
        self.stages = nn.Sequential(*stages)
        self._init_head(dim, num_classes, drop_rate)

    def _make_block(self, dim_in: int, dim_out: int, heads: int, *, thw: tuple[int, int, int], **kwargs) -> nn.Module:
        """One block; ``thw`` is its input token grid at the reference size (unused by MViT v1)."""
        return MViTBlock(dim_in, dim_out, heads, **kwargs)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, 8 D, T/2, H/32, W/32)`` with the MViT-B strides."""
        x = self.pos_embed(self.patch_embed(x))  # (B, D, T/2, H/4, W/4)
        return self.stages(x)


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
