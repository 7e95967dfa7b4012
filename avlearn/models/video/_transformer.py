"""Building blocks shared by the space-time transformers (TimeSformer, ViViT, MViT).

The pieces are those of the Vision Transformer (Dosovitskiy et al., "An Image is Worth 16x16
Words", ICLR 2021, Sec. 3.1 eqs. 1-4): a linear embedding of non-overlapping patches
(:class:`PatchEmbed`, here a 3D convolution so that it also cuts ViViT's tubelets and MViT's
overlapping cubes), multi-head scaled dot-product self-attention (Vaswani et al., "Attention Is
All You Need", NeurIPS 2017, Sec. 3.2, eq. 1; :class:`Attention`), a two-layer GELU MLP
(:class:`Mlp`) and the pre-norm residual block ``x + MSA(LN(x))``, ``x + MLP(LN(x))``
(:class:`Block`, eqs. 2-3).

Common choices of avlearn's video transformers, stated where they differ from the papers: the
class token is replaced by global average pooling of the output tokens with a final LayerNorm,
as in MViTv2's pooled head (Li et al., CVPR 2022; :class:`VideoTransformer`); positional
embeddings are learned and *separable* (a spatial grid shared by all frames plus one vector per
time index, TimeSformer's and MViT's choice; :class:`PosEmbed`), and are interpolated (bicubic in
space, linear in time) when the input's token grid differs from the reference size the model was
built for. Every stage maps a channel-first grid ``(B, D, T, H, W)`` to another
(:class:`TokenStage`), so ``feature_info`` and ``features_only`` behave as for the CNNs. Linear
weights start from Normal(0, 0.02) clipped to +-2 std (:func:`init_trunc_normal_`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

__all__ = [
    "Attention",
    "Block",
    "Mlp",
    "PatchEmbed",
    "PosEmbed",
    "TokenStage",
    "VideoTransformer",
    "init_trunc_normal_",
    "interpolate_pos",
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


class PatchEmbed(nn.Conv3d):
    """Patch, tubelet or cube embedding: a 3D convolution from pixels to a grid of tokens.

    ``(B, C, T, H, W) -> (B, D, T', H', W')``. With ``kernel = stride`` (the default) the
    patches do not overlap: TimeSformer's 1 x P x P patches, ViViT's t x P x P tubelets (Sec.
    3.2); MViT's cube embedding overlaps (kernel 3 x 7 x 7, stride 2 x 4 x 4, padding kernel // 2).
    The parameters are the convolution's ``weight`` and ``bias``.

    Args:
        in_channels: input channels C.
        embed_dim: token width D.
        kernel: (t, h, w) extent of one patch.
        stride: (t, h, w) step between patches (default ``kernel``).
        padding: (t, h, w) zero padding (default none).
    """

    def __init__(
        self,
        in_channels: int,
        embed_dim: int,
        kernel: tuple[int, int, int],
        *,
        stride: tuple[int, int, int] | None = None,
        padding: tuple[int, int, int] = (0, 0, 0),
    ):
        kernel = tuple(kernel)
        super().__init__(in_channels, embed_dim, kernel, stride=tuple(stride or kernel), padding=tuple(padding))


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


class VideoTransformer(nn.Module):
    """Base of TimeSformer, ViViT and MViT: the pooled head and the weight init.

    A subclass builds its embedding and stages, defines ``forward_features`` (a channel-first
    token grid), and calls :meth:`_init_head` last, which adds the head (mean over every token,
    LayerNorm, dropout, linear) and initialises every linear layer.
    """

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
