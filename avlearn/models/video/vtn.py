"""VTN: a 2D frame backbone followed by a Longformer temporal encoder.

Neimark, Bar, Zohar & Asselmann, "Video Transformer Network" (ICCV Workshops 2021), Sec. 3 and
Fig. 2: every frame goes through a 2D spatial backbone (here the zoo's ResNet,
:class:`~avlearn.models._resnet2d.ResNet2d`) to one embedding; learned positional embeddings are
added to the frame embeddings, a classification token ``[CLS]`` is prepended, and a
*Longformer* (Beltagy, Peters & Cohan, "Longformer: The Long-Document Transformer", 2020,
Sec. 3.1) attends over time: each frame token attends only to the frames inside a sliding
window of ``attention_window`` tokens centred on it (local attention), while ``[CLS]`` has
*global* attention — it attends to every token and every token attends to it. The ``[CLS]``
output goes through an MLP head (Linear -> GELU -> Dropout -> Linear, VTN Sec. 3 "MLP head").

The Longformer layers reuse the pre-norm transformer block of
:mod:`avlearn.models.video._transformer`; the sliding window and the global token are an
additive attention mask (``-inf`` outside the allowed pattern), which gives Longformer's
attention pattern exactly (its banded CUDA kernel only changes the cost). Registered as
``vtn_r18`` (ResNet-18 frames, 3 Longformer layers) and ``vtn_tiny`` (for tests and CPU).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d
from avlearn.models.video._transformer import Attention, Block, init_trunc_normal_, interpolate_pos

__all__ = ["VTN", "LongformerBlock", "longformer_mask", "vtn_r18", "vtn_tiny"]


def longformer_mask(num_tokens: int, window: int, *, num_global: int = 1, device=None) -> Tensor:
    """Boolean ``(L, L)`` attention pattern of Longformer: True where query i may attend to key j.

    Tokens ``0 .. num_global-1`` are global (attend to all and are attended by all); the others
    attend to the tokens within ``window // 2`` positions on either side (a sliding window of
    ``window + 1`` tokens counting the centre when ``window`` is even).

    Raises:
        ValueError: ``window < 0`` or ``num_global < 0``.
    """
    if window < 0 or num_global < 0:
        raise ValueError(f"longformer_mask: window {window} and num_global {num_global} must be >= 0")
    idx = torch.arange(num_tokens, device=device)
    allowed = (idx[:, None] - idx[None, :]).abs() <= window // 2  # (L, L) local band
    is_global = idx < num_global
    return allowed | is_global[:, None] | is_global[None, :]


class _MaskedAttention(Attention):
    """Multi-head self-attention restricted by a boolean ``(L, L)`` pattern."""

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        q, k, v = rearrange(self.qkv(x), "n l (three h d) -> three n h l d", three=3, h=self.heads)  # (N, h, L, d)
        drop = self.drop if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)  # (N, h, L, d)
        return self.proj(rearrange(x, "n h l d -> n l (h d)"))  # (N, L, D)


class LongformerBlock(Block):
    """Pre-norm transformer block whose attention follows :func:`longformer_mask`."""

    def __init__(self, dim: int, heads: int, *, mlp_ratio: float = 4.0, drop: float = 0.0):
        super().__init__(dim, heads, mlp_ratio=mlp_ratio, drop=drop)
        self.attn = _MaskedAttention(dim, heads, drop=drop)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:  # type: ignore[override]
        x = x + self.attn(self.norm1(x), mask)  # (N, L, D)
        return x + self.mlp(self.norm2(x))


class VTN(nn.Module):
    """Video Transformer Network: per-frame 2D backbone, Longformer over time, [CLS] MLP head.

    Args:
        num_classes: classes.
        in_channels: input channels.
        num_frames: reference T (the learned positional embedding's length; other lengths
            interpolate it linearly).
        backbone_widths: channels of the ResNet's stages.
        backbone_depths: basic blocks per stage.
        backbone_stem: "imagenet" (7x7/2 + max-pool) or "small" (3x3/1).
        embed_dim: Longformer width (frame embeddings are projected to it when they differ).
        depth: Longformer layers (3 in VTN).
        heads: attention heads.
        attention_window: the sliding window (VTN uses 32 frames).
        mlp_ratio: Longformer MLP hidden width / ``embed_dim``.
        head_hidden: hidden width of the MLP head (default ``embed_dim``).
        drop_rate: dropout in the Longformer and the MLP head.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        num_frames: int = 16,
        backbone_widths: tuple[int, ...] = (64, 128, 256, 512),
        backbone_depths: tuple[int, ...] = (2, 2, 2, 2),
        backbone_stem: str = "imagenet",
        embed_dim: int = 512,
        depth: int = 3,
        heads: int = 8,
        attention_window: int = 32,
        mlp_ratio: float = 4.0,
        head_hidden: int | None = None,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        self.in_channels = in_channels
        self.attention_window = attention_window
        self.backbone = ResNet2d(
            num_classes=0,
            in_channels=in_channels,
            widths=tuple(backbone_widths),
            depths=tuple(backbone_depths),
            stem=backbone_stem,
        )
        width = self.backbone.num_features
        self.frame_proj = nn.Linear(width, embed_dim) if width != embed_dim else nn.Identity()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, num_frames + 1))  # [CLS] + T frames
        self.blocks = nn.ModuleList(
            [LongformerBlock(embed_dim, heads, mlp_ratio=mlp_ratio, drop=drop_rate) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim)
        hidden = head_hidden or embed_dim
        self.head = nn.Sequential(
            nn.Linear(embed_dim, hidden), nn.GELU(), nn.Dropout(drop_rate), nn.Linear(hidden, num_classes)
        ) if num_classes > 0 else nn.Identity()
        self.num_features = embed_dim
        self.feature_info = [dict(d, module=f"backbone.{d['module']}") for d in self.backbone.feature_info]
        for m in [self.frame_proj, *self.blocks, self.head]:
            for lin in m.modules():
                if isinstance(lin, nn.Linear):
                    init_trunc_normal_(lin.weight)
                    nn.init.zeros_(lin.bias)
        init_trunc_normal_(self.cls_token)
        init_trunc_normal_(self.pos_embed)

    def frame_embeddings(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, T, D)``: the 2D backbone on every frame, pooled and projected."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"VTN: expected video input (B, {self.in_channels}, T, H, W), got shape {tuple(x.shape)}")
        b = x.shape[0]
        frames = rearrange(x, "b c t h w -> (b t) c h w")  # (B*T, C, H, W)
        f = self.backbone.forward_features(frames).mean((2, 3))  # (B*T, width)
        return rearrange(self.frame_proj(f), "(b t) d -> b t d", b=b)  # (B, T, D)

    def forward_features(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, 1 + T, D)``: the Longformer's output tokens, [CLS] first."""
        f = self.frame_embeddings(x)  # (B, T, D)
        tokens = torch.cat([self.cls_token.expand(f.shape[0], -1, -1), f], dim=1)  # (B, 1+T, D)
        pos = interpolate_pos(self.pos_embed, (tokens.shape[1],)).transpose(1, 2)  # (1, 1+T, D)
        tokens = tokens + pos
        mask = longformer_mask(tokens.shape[1], self.attention_window, device=tokens.device)  # (1+T, 1+T)
        for blk in self.blocks:
            tokens = blk(tokens, mask)  # (B, 1+T, D)
        return self.norm(tokens)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """The [CLS] token through the MLP head; ``pre_logits`` returns it ``(B, D)``."""
        cls = feats[:, 0]  # (B, D)
        return cls if pre_logits else self.head(cls)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 4, 32, 32))
def vtn_r18(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> VTN:
    """ResNet-18 frames (512-d), 3 Longformer layers of width 512 with 8 heads, window 32."""
    return VTN(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def vtn_tiny(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> VTN:
    """ResNet stages 16-32-64-128 (one block each, small stem), 2 layers of width 64, window 4."""
    kwargs = {
        "num_frames": 8,
        "backbone_widths": (16, 32, 64, 128),
        "backbone_depths": (1, 1, 1, 1),
        "backbone_stem": "small",
        "embed_dim": 64,
        "depth": 2,
        "heads": 4,
        "attention_window": 4,
        **kwargs,
    }
    return VTN(num_classes=num_classes, in_channels=in_channels, **kwargs)
