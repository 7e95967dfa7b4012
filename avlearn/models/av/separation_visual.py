"""Small visual encoders of the separators: frames, object crops and faces to features.

Sound of Pixels (Zhao et al., ECCV 2018, Sec. 3.2) uses a dilated ResNet-18 on each of 3
frames, a 3x3 convolution to K channels, max-pooling over space (at training time) and over
the frames (temporal max pooling): ``i_k = sigmoid(max_t max_{x,y} I_k(t, x, y))``. Co-Separation (Gao & Grauman, ICCV 2019, Sec. 3.2) encodes
each detected object's crop with a ResNet-18 into one vector; VisualVoice (Gao et al., CVPR
2021, Sec. 3.2) encodes a face crop into an identity vector.

Trained from scratch on CPU here, the ResNet-18 is replaced by :class:`FrameEncoder`, a
stack of 3x3 stride-2 convolutions (BatchNorm, ReLU) ending in a 1x1 projection, with the same
pooling rules: max over space, then max over frames. :func:`encode_sources` runs an encoder
on the valid sources of a padded batch only.

:class:`SyncTowerEncoder` is the alternative start of Owens & Efros (ECCV 2018, Sec. 6: the
self-supervised sync features as the start of separation): the video tower of the
``multisensory_small`` sync network (:mod:`avlearn.models.av.sync_towers`, 3D convolutions over
consecutive frames at the sync net's 16 fps, made dense to reduction 4) and a 1x1x1
projection to K, with the same max pooling over space and frames; its tower loads from a sync
run's ``weights.pt`` (``visual="sync_tower"`` of ``sound_of_pixels_small`` and the separation
recipe's ``model.visual_weights``).

Registered (task networks, ``output="features"``): ``frame_encoder_small`` (frames
(B, 3, F, H, W) -> (B, K)) and ``sync_tower_encoder_small`` (the same from the sync tower).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.sync_towers import load_towers, sync_video_tower

__all__ = ["FrameEncoder", "SyncTowerEncoder", "encode_sources", "frame_encoder_small", "sync_tower_encoder_small"]


class FrameEncoder(nn.Module):
    """Frames (or crops) to a feature map, and max-pooled to one vector per clip.

    Args:
        in_channels: image planes (3 colour, 1 grey).
        width: channels of the first convolution (doubling per stage).
        stages: stride-2 stages (a 64-pixel frame gives a 4x4 map with 4).
        out_channels: channels of the output map (SoP: K).
    """

    def __init__(self, *, in_channels: int = 3, width: int = 16, stages: int = 4, out_channels: int = 32):
        super().__init__()
        layers: list[nn.Module] = []
        cin = in_channels
        for i in range(stages):
            cout = width * 2 ** min(i, 2)
            layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
            cin = cout
        self.body = nn.Sequential(*layers)
        self.proj = nn.Conv2d(cin, out_channels, 1)
        self.out_channels = out_channels

    def forward_map(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, out_channels, H / 2^stages, W / 2^stages)."""
        return self.proj(self.body(x))

    def frame_maps(self, x: Tensor) -> Tensor:
        """(B, C, F, H, W) frames -> (B, F, out_channels, h, w), each frame on its own."""
        b, f = x.shape[0], x.shape[2]
        maps = self.forward_map(x.transpose(1, 2).flatten(0, 1))  # (B*F, K, h, w)
        return maps.view(b, f, *maps.shape[1:])

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) or (B, C, F, H, W) frames -> (B, out_channels): max over space, then frames."""
        if x.dim() == 4:
            return self.forward_map(x).amax(dim=(-2, -1))  # (B, K)
        return self.frame_maps(x).amax(dim=(-2, -1)).amax(dim=1)  # (B, K): space, then frames


class SyncTowerEncoder(nn.Module):
    """The sync network's video tower as the visual encoder: consecutive frames to K features.

    Args:
        out_channels: K.
        dense: the tower at reduction 4 (:func:`~avlearn.models.av.sync_towers.densify`), else 8.

    The tower's 5-frame temporal kernel was trained on consecutive frames at 16 fps: feed
    every frame of the window (``data.num_frames`` at least the window's frame count) at the
    sync run's frame size (32 px for ``avlearn/recipes/sync_multisensory.yaml``).

    Attributes:
        pretrained: sync-run prefix -> this module's prefix, for
            :func:`~avlearn.models.av.sync_towers.load_towers`.
    """

    pretrained: ClassVar[dict[str, str]] = {"video_tower.": "tower."}

    def __init__(self, *, out_channels: int = 32, dense: bool = True):
        super().__init__()
        self.tower = sync_video_tower(dense=dense)
        self.proj = nn.Conv3d(self.tower.out_channels, out_channels, 1)
        self.out_channels = out_channels

    def load_sync_weights(self, weights) -> dict[str, list[str]]:
        """Start the tower from a sync run's ``weights.pt`` (see :func:`load_towers`)."""
        return load_towers(self, weights, self.pretrained)

    def frame_maps(self, x: Tensor) -> Tensor:
        """(B, 3, F, H, W) consecutive frames -> (B, F, out_channels, H / r, W / r)."""
        return self.proj(self.tower(x)).transpose(1, 2)  # (B, F, K, h, w)

    def forward(self, x: Tensor) -> Tensor:
        """(B, 3, F, H, W) -> (B, out_channels): max over space, then frames."""
        if x.dim() != 5:
            raise ValueError(f"SyncTowerEncoder needs (B, 3, F, H, W) frames, got shape {tuple(x.shape)}")
        return self.frame_maps(x).amax(dim=(-2, -1)).amax(dim=1)  # (B, K)


def encode_sources(encoder: nn.Module, x: Tensor, valid: Tensor) -> Tensor:
    """Run ``encoder`` on the valid sources of a padded batch.

    Args:
        encoder: maps (M, ...) to (M, C) (or (M, C, T)).
        x: (B, S, ...) per-source inputs.
        valid: (B, S) booleans.

    Returns:
        (B, S, C[, T]) features, zero for padded sources.
    """
    feats = encoder(x[valid])  # (M, C[, T])
    out = torch.zeros((*valid.shape, *feats.shape[1:]), dtype=feats.dtype, device=feats.device)
    out[valid] = feats
    return out


@register_model(modality="video", input_size=(3, 3, 64, 64), tiny_input=(3, 3, 32, 32), output="features")
def frame_encoder_small(**kwargs) -> FrameEncoder:
    """Sound of Pixels' frame encoder, CPU-sized: 4 stride-2 stages of 16-64 channels (instead of
    a dilated ResNet-18), K = 32; frames (B, 3, F, H, W) -> (B, K), max over space and frames."""
    return FrameEncoder(**kwargs)


@register_model(modality="video", input_size=(3, 32, 32, 32), tiny_input=(3, 8, 32, 32), output="features")
def sync_tower_encoder_small(**kwargs) -> SyncTowerEncoder:
    """The ``multisensory_small`` video tower (dense, reduction 4) with a 1x1x1 projection to K = 32;
    consecutive frames (B, 3, F, H, W) at 16 fps -> (B, K), max over space and frames."""
    return SyncTowerEncoder(**kwargs)
