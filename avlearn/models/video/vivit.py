"""ViViT, factorised encoder: a spatial transformer per time index, then a temporal transformer.

Arnab, Dehghani, Heigold, Sun, Lučić & Schmid, "ViViT: A Video Vision Transformer" (ICCV 2021),
Sec. 3.3 "Model 2: Factorised encoder": tubelet embedding (Sec. 3.2, non-overlapping t x P x P
tubelets), a *spatial* transformer on each temporal index's tokens separately (L_s blocks), one
representation per temporal index (here the mean of its tokens, then a LayerNorm, instead of
a class token), then a *temporal* transformer (L_t blocks) over those. Both encoders are stacks
of the standard pre-norm block (:class:`~avlearn.models.video._transformer.Block`).

Shared pieces are in :mod:`avlearn.models.video._transformer`. Registered as ``vivit_fe_small``
(8 x 64 x 64 clips for CPU) and ``vivit_fe_base`` (ViViT-B/16x2 FE at 32 x 224 x 224).
"""

from __future__ import annotations

from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._transformer import Block, PatchEmbed, PosEmbed, TokenStage, VideoTransformer

__all__ = ["ViViT", "vivit_fe_base", "vivit_fe_small"]


class ViViT(VideoTransformer):
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
        self.patch_embed = PatchEmbed(in_channels, embed_dim, tubelet)
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
