"""Audio-visual attention localization on the towers of the multisensory sync network.

Owens & Efros, "Audio-Visual Scene Analysis with Self-Supervised Multisensory Features"
(ECCV 2018), Sec. 6: features learnt from audio-visual synchronization, with no labels, are a
starting point for other audio-visual tasks. Here the two towers of ``multisensory_small``
(:mod:`avlearn.models.av.sync_towers`) become the towers of the attention localizer of
Arandjelović & Zisserman, "Objects that Sound" (ECCV 2018, Sec. 4, AVOL-Net) with the cosine
scoring of Senocak et al. (CVPR 2018, Eq. 1-2): :class:`~avlearn.models.av.attention_loc.
AttentionScoring` (calibration, top-fraction pooling, heatmaps), trained by the localization
task as ``attention_loc_small`` is.

Shapes (``attention_loc_sync_small``: D = 32, 64x64 frames)::

    video (B, 3, T, 64, 64) -> sync video tower, dense -> (B, 16, T, 16, 16)
        -> 1x1x1 conv -> (B, D, T, 16, 16), unit length over D
    audio (B, C, N) 16 kHz -> mono -> sync audio tower (mu-law inside) -> (B, 64, ~N / 512)
        -> mean and max over time (B, 128) -> linear -> (B, D), unit length
    heatmaps (B, T, H, W): each map cell on the pixels at the centre of its receptive field

Choices (the sync run is avlearn/recipes/sync_multisensory.yaml):

* **Frame rate 16 fps** (the recipe's ``data.fps: 16``). The tower's first convolution has a
  temporal kernel of 5 frames learnt at 16 fps, and no layer strides time, so every frame
  keeps its own map; the frozen lists' frame is one of the window's 16 frames
  (:func:`avlearn.tasks.localization_data.frame_indices`). At the 4 fps of
  ``avlearn/recipes/localize_attention.yaml`` the same 5 taps would span 1.25 s and see motion four
  times faster than they learnt.
* **Reduction 4**: the tower's last block is made dense *à trous*
  (:func:`~avlearn.models.av.sync_towers.densify`): the pretrained features on a grid twice as
  fine (16x16 maps at 64x64, one cell per 4 pixels, as ``attention_loc_small``), same weights.
* **Frames as they come** (64x64 for the sync world). ``input_size=(32, 32)`` resizes them to
  the sync run's own frame size first (objects at the pixel scale the tower learnt, 4x cheaper,
  maps upsampled back); it localized worse in both starts (benchmarks/RESULTS.md,
  "Synchronization"): at 32x32 every cell of the 8x8 map sees the whole frame.

Weights: ``create_model("attention_loc_sync_small", weights="runs/sync_multisensory/weights.pt",
strict=False)`` (the recipe's ``model.weights`` / ``model.strict: false``; :meth:`SyncAttentionLocNet.
load_pretrained`) starts both towers from a sync run (every tower tensor required; its fusion, post-fusion stages and sync
head are skipped and reported); the projections and the calibration start at random.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.attention_loc import AttentionScoring, upsample_aligned
from avlearn.models.av.sync_towers import (
    SYNC_TOWERS,
    load_towers,
    sync_audio_tower,
    sync_video_tower,
)

__all__ = ["SyncAttentionLocNet", "attention_loc_sync_small"]


class SyncAttentionLocNet(AttentionScoring):
    """AVOL-style attention on the multisensory sync network's video and audio towers.

    Args:
        embed_dim: D, the width of the shared embedding space.
        input_size: (H, W) the frames are resized to before the video tower (None: as given).
        dense: remove the tower's last spatial stride à trous (reduction 4, else 8).
        init_scale, init_bias, pool_fraction: the scoring's (:class:`AttentionScoring`).

    Attributes:
        reduction: map reduction relative to the frames the tower sees.
        pretrained: sync-run prefix -> this network's prefix of the two towers
            (:func:`~avlearn.models.av.sync_towers.load_towers`).
    """

    pretrained: ClassVar[dict[str, str]] = {p: p for p in SYNC_TOWERS}

    def __init__(
        self,
        *,
        embed_dim: int = 32,
        input_size: Sequence[int] | None = None,
        dense: bool = True,
        init_scale: float = 5.0,
        init_bias: float = 0.0,
        pool_fraction: float = 0.0,
    ):
        super().__init__(init_scale=init_scale, init_bias=init_bias, pool_fraction=pool_fraction)
        self.video_tower = sync_video_tower(dense=dense)
        self.audio_tower = sync_audio_tower()
        self.video_embed = nn.Conv3d(self.video_tower.out_channels, embed_dim, 1)
        self.audio_embed = nn.Linear(2 * self.audio_tower.num_features, embed_dim)
        self.input_size = tuple(int(v) for v in input_size) if input_size is not None else None
        self.embed_dim, self.reduction = embed_dim, 4 if dense else 8

    def load_pretrained(self, weights: str | os.PathLike | Mapping[str, Tensor]) -> dict[str, list[str]]:
        """Start both towers from a sync run's ``weights.pt`` (every tower tensor required; the
        rest of the file skipped and reported; :func:`~avlearn.models.av.sync_towers.load_towers`).
        ``create_model(..., weights=..., strict=False)`` calls it.

        Raises:
            TowerWeightsError: the file lacks a tower tensor or has one of another shape.
        """
        return load_towers(self, weights, self.pretrained)

    def _resize(self, video: Tensor) -> Tensor:
        b, c, t, h, w = video.shape
        if self.input_size is None or self.input_size == (h, w):
            return video
        x = F.interpolate(video.transpose(1, 2).flatten(0, 1), size=self.input_size, mode="bilinear",
                          align_corners=False, antialias=True)  # (BT, 3, h', w')
        return x.view(b, t, c, *self.input_size).transpose(1, 2)  # (B, 3, T, h', w')

    def embed_video(self, video: Tensor) -> Tensor:
        """Unit-length visual grid (B, D, T, h', w') from frames (B, 3, T, H, W) in [0, 1]."""
        v = self.video_tower(self._resize(video))  # (B, 16, T, h, w): reduction r of the resized frames
        return F.normalize(self.video_embed(v), dim=1)  # (B, D, T, h, w)

    def embed_audio(self, audio: Tensor) -> Tensor:
        """Unit-length audio embedding (B, D) from a waveform (B, C, N) in [-1, 1]."""
        a = self.audio_tower.forward_features(audio.mean(dim=1, keepdim=True))  # (B, 64, N')
        pooled = torch.cat([a.mean(dim=2), a.amax(dim=2)], dim=1)  # (B, 128): sustained and brief sounds
        return F.normalize(self.audio_embed(pooled), dim=1)  # (B, D)

    def upsample(self, maps: Tensor, size: tuple[int, int]) -> Tensor:
        """Resize (B, T, h, w) maps to the frames' (H, W), each cell on the pixels it sees (the
        frames were resized to ``input_size`` first)."""
        scale = 1.0 if self.input_size is None else size[1] / self.input_size[1]
        return upsample_aligned(maps, size, self.reduction, scale=scale)


@register_model(
    modality="av",
    input_size={"video": (3, 16, 64, 64), "audio": (1, 16000)},
    tiny_input={"video": (3, 2, 32, 32), "audio": (1, 4000)},
    output="score",
)
def attention_loc_sync_small(**kwargs) -> SyncAttentionLocNet:
    """The ``multisensory_small`` towers: 64x64 frames -> 16x16 maps, D = 32, clip scores from the
    top 5% of each frame's locations (as ``attention_loc_small``)."""
    return SyncAttentionLocNet(**{"pool_fraction": 0.05, **kwargs})

