"""Speech separation networks from faces: lip motion plus face appearance condition a complex-mask U-Net.

VisualVoice (Gao et al., CVPR 2021, Sec. 3.2) and Looking to Listen (Ephrat et al., SIGGRAPH
2018, Sec. 4), the networks only (inputs, masks and losses live in ``avlearn.tasks.separation``):

* a **lip-motion stream** (:class:`LipStream`) encodes the mouth region of every frame (a 3D
  convolution front end over 5 frames, then a per-frame 2D encoder and temporal 1D
  convolutions, as lip-reading networks do) into a feature sequence ``l(t)`` that says *when*
  the speaker talks;
* a **face-appearance stream** encodes one face crop into an identity vector ``f`` that says
  *what the voice sounds like* (VisualVoice's cross-modal identity cue);
* both condition the separator at the U-Net **bottleneck** (:class:`VoiceNet`): ``[f; l(t)]``,
  the identity tiled over time, the lip sequence resampled to the bottleneck's width
  (:func:`avlearn.models.av.unet.tile_condition`); the U-Net sees the mixture's power-law
  compressed complex spectrogram ``|X|^0.3 e^{i angle X}`` (Looking to Listen, Sec. 4) as two
  planes and outputs the raw complex mask planes ``(M_r, M_i)`` of each speaker (VisualVoice
  squashes them with ``5 tanh``; the task does).

Shapes (``visualvoice_small``)::

    spec_in (B, 2, F, T), face (B, S, 3, c, c), mouth (B, S, 1, Tv, h, w), valid (B, S)
    -> identity (M, 32), lips (M, 32, Tv) -> condition (M, 64, Tv) -> mask planes (M, 2, F, T)
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.separation_visual import FrameEncoder
from avlearn.models.av.sound_of_pixels import SEPARATOR_ENTRY
from avlearn.models.av.unet import unet_small

__all__ = ["LipStream", "VoiceNet", "visualvoice_small", "lip_stream_small"]


class LipStream(nn.Module):
    """Grey mouth crops (B, 1, T, h, w) -> lip-motion features (B, C, T).

    Args:
        width: channels of the 3D front end.
        out_channels: C.
    """

    def __init__(self, *, width: int = 16, out_channels: int = 32):
        super().__init__()
        self.front = nn.Sequential(  # spatio-temporal front end: sees motion across 5 frames
            nn.Conv3d(1, width, (5, 3, 3), stride=(1, 2, 2), padding=(2, 1, 1), bias=False),
            nn.BatchNorm3d(width), nn.ReLU(inplace=True),
        )
        self.frame = FrameEncoder(in_channels=width, width=width, stages=2, out_channels=out_channels)
        self.temporal = nn.Sequential(
            nn.Conv1d(out_channels, out_channels, 5, padding=2, bias=False), nn.BatchNorm1d(out_channels),
            nn.ReLU(inplace=True), nn.Conv1d(out_channels, out_channels, 5, padding=2),
        )

    def forward(self, mouth: Tensor) -> Tensor:
        h = self.front(mouth)  # (B, w, T, h/2, w/2)
        b, c, t = h.shape[:3]
        per_frame = self.frame(h.transpose(1, 2).reshape(b * t, c, *h.shape[-2:]))  # (B*T, C) spatial max
        return self.temporal(per_frame.view(b, t, -1).transpose(1, 2))  # (B, C, T)


class VoiceNet(nn.Module):
    """Face and lip encoders and the complex-mask U-Net conditioned at its bottleneck.

    Args:
        unet_levels, unet_channels: U-Net size.
        visual_width: first-stage channels of the face and lip encoders.
        visual_channels: channels of the identity vector and of the lip features each.
        planes: input and output planes of the U-Net (2: complex; 1: magnitude).
    """

    def __init__(self, *, unet_levels: int = 5, unet_channels: int = 16, visual_width: int = 16, visual_channels: int = 32,
                 planes: int = 2):
        super().__init__()
        self.face = FrameEncoder(width=visual_width, stages=3, out_channels=visual_channels)
        self.lips = LipStream(width=visual_width, out_channels=visual_channels)
        self.audio = unet_small(in_channels=planes, out_channels=planes, levels=unet_levels, base_channels=unet_channels,
                                cond_channels=2 * visual_channels)

    def forward(self, spec_in: Tensor, face: Tensor, mouth: Tensor, valid: Tensor) -> Tensor:
        """Raw mask planes (M, planes, F, T) of the M valid speakers.

        Args:
            spec_in: (B, planes, F, T) mixture input.
            face: (B, S, 3, c, c) face crops.
            mouth: (B, S, 1, T, h, w) mouth crops.
            valid: (B, S) real speakers.
        """
        rows = valid.nonzero()[:, 0]  # (M,) mixture of each speaker
        identity = self.face(face[valid])  # (M, C)
        lips = self.lips(mouth[valid])  # (M, C, Tv)
        cond = torch.cat([identity[:, :, None].expand(-1, -1, lips.shape[-1]), lips], dim=1)  # (M, 2C, Tv)
        return self.audio(spec_in, cond, index=rows)  # (M, planes, F, T)


@register_model(
    **SEPARATOR_ENTRY,
    input_size={"spec_in": (2, 256, 301), "face": (2, 3, 224, 224), "mouth": (2, 1, 75, 88, 88)},
    tiny_input={"spec_in": (2, 32, 16), "face": (2, 3, 16, 16), "mouth": (2, 1, 4, 8, 16)},
)
def visualvoice_small(**kwargs) -> VoiceNet:
    """CPU-sized VisualVoice separator: 3-stage face encoder and lip stream of 16..64 channels
    (32-D each), a 5-level complex-mask U-Net of 16..128 channels. Forward:
    ``(spec_in, face, mouth, valid)`` -> raw mask planes (M, planes, F, T)."""
    return VoiceNet(**kwargs)


@register_model(modality="video", input_size=(1, 75, 88, 88), tiny_input=(1, 4, 8, 16), output="features")
def lip_stream_small(**kwargs) -> LipStream:
    """The lip-motion stream of ``visualvoice_small``: grey mouth crops (B, 1, T, h, w) -> (B, 32, T)."""
    return LipStream(**kwargs)
