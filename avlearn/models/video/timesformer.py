"""TimeSformer: divided space-time attention.

Bertasius, Wang & Torresani, "Is Space-Time Attention All You Need for Video Understanding?"
(ICML 2021), Sec. 3 eqs. 6-8 and Fig. 1 "Divided Space-Time": frames are cut into 1 x P x P
patches; every block applies *temporal* attention (each patch attends to the patches at the
same spatial position in the other frames), then *spatial* attention (each patch attends to the
patches of its own frame), then an MLP, each with a pre-norm residual. The temporal attention's
output passes through a linear layer (``temporal_fc``) before its residual sum.

Shared pieces (patch embedding, attention, MLP, separable positional embedding, pooled head)
are in :mod:`avlearn.models.video._transformer`. Registered as ``timesformer_small`` (8 x 64 x 64
clips for CPU) and ``timesformer_base`` (the paper's ViT-B at 8 x 224 x 224).
"""

from __future__ import annotations

from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._transformer import Attention, Block, PatchEmbed, PosEmbed, TokenStage, VideoTransformer

__all__ = ["DividedBlock", "TimeSformer", "timesformer_base", "timesformer_small"]


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


def _groups(depth: int, n: int) -> list[int]:
    """Split ``depth`` blocks into ``n`` nearly equal consecutive groups."""
    n = max(1, min(n, depth))
    return [depth // n + (i < depth % n) for i in range(n)]


class TimeSformer(VideoTransformer):
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
        self.patch_embed = PatchEmbed(in_channels, embed_dim, (1, patch_size, patch_size))
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
