"""Speech separation from faces: lip motion plus face appearance condition a complex-mask U-Net.

VisualVoice (Gao et al., CVPR 2021, Sec. 3) and Looking to Listen (Ephrat et al., SIGGRAPH
2018, Sec. 4):

* a **lip-motion stream** encodes the mouth region of every frame (a 3D convolution front
  end over time, then a per-frame 2D encoder and temporal 1D convolutions, as lip-reading
  networks do) into a feature sequence that says *when* the speaker talks;
* a **face-appearance stream** encodes one face crop into an identity vector that says *what
  the voice sounds like* (VisualVoice's cross-modal identity cue);
* both condition the separator at the U-Net **bottleneck**: the identity tiled over time, the
  lip sequence resampled to the bottleneck's width (:func:`avlearn.models.av.unet.tile_condition`);
* the separator sees the mixture's **complex** spectrogram, power-law compressed as in
  Looking to Listen (``|X|^0.3`` with the phase of ``X``), and predicts a **complex ratio
  mask** squashed by ``5 tanh`` (VisualVoice), trained with the L2 loss weighted by
  ``log1p(|X|)`` (:func:`avlearn.tasks.separation.masks.weighted_l2_complex`); the estimate is
  the complex product of mask and mixture, then the iSTFT (no mixture-phase reuse needed).

VisualVoice's extra co-separation and cross-modal triplet losses (weights 0.01) are not used.
Mixtures follow VisualVoice: each clip normalised to RMS 0.1, then summed
(``data.rms: 0.1``, ``data.divide: false``). STFT: VisualVoice's 16 kHz / 512 / 400 / 160 with
the last bin dropped, scaled here to 8 kHz / 256 / 200 / 80 (128 x 201 for 2 s).
Recipe: ``avlearn/recipes/separate_voices.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor, nn

from avlearn.models.av.unet import unet_small
from avlearn.tasks.base import register_task
from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import SeparationConfig, SeparationTask, SeparatorModel, build_separator
from avlearn.tasks.separation.visual import FrameEncoder

__all__ = ["LipStream", "VoiceNet", "VoiceTask", "VoiceConfig", "compress_spectrogram", "build_voice"]


def compress_spectrogram(spec: Tensor, power: float = 0.3) -> Tensor:
    """Power-law compressed complex spectrogram as (B, 2, F, T) real/imaginary planes (Looking to Listen)."""
    mag = spec.abs()
    scaled = spec * (mag.clamp(min=1e-8).pow(power) / mag.clamp(min=1e-8))  # |X|^p e^{i angle X}
    return torch.stack([scaled.real, scaled.imag], dim=1)  # (B, 2, F, T)


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


@dataclass
class VoiceConfig(SeparationConfig):
    """Task section of ``visualvoice`` (STFT scaled from VisualVoice; no warp).

    Attributes:
        mask: ``complex`` (VisualVoice), or ``ratio`` / ``binary`` magnitude masks on the
            log magnitude with the mixture's phase (as :mod:`.sop`), for comparison.
    """

    name: str = "visualvoice"
    n_fft: int = 256
    hop: int = 80
    win_length: int | None = 200
    drop_last_bin: bool = True
    mask: Literal["complex", "ratio", "binary"] = "complex"


class VoiceTask(SeparationTask):
    """Speech separation from faces (batch keys ``"face"`` and ``"mouth"``); complex masks by default."""

    def __init__(self, cfg: VoiceConfig, model: SeparatorModel):
        super().__init__(cfg, complex_mask=cfg.mask == "complex")
        self.net = VoiceNet(unet_levels=model.unet_levels, unet_channels=model.unet_channels,
                            visual_width=model.visual_width, visual_channels=model.visual_channels,
                            planes=2 if self.complex_mask else 1)

    def network_input(self, mix_spec: Tensor) -> Tensor:
        return compress_spectrogram(mix_spec) if self.complex_mask else super().network_input(mix_spec)

    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        valid = batch["valid"]
        raw = self.net(net_input, batch["face"], batch["mouth"], valid)  # (M, planes, F, T)
        if self.complex_mask:
            out = raw.new_zeros(*valid.shape, *raw.shape[1:])
            out[valid] = M.squash_complex_mask(raw)
            return out  # (B, S, 2, F, T)
        out = raw.new_zeros(*valid.shape, *raw.shape[2:])
        out[valid] = torch.sigmoid(raw[:, 0])
        return out  # (B, S, F, T)

    def compute_loss(self, pred: Tensor, mix_spec: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        if not self.complex_mask:
            return super().compute_loss(pred, mix_spec, batch)
        target = M.complex_ratio_mask(self.spec.stft(batch["sources"]), mix_spec.unsqueeze(1))  # (B, S, 2, F, T)
        return M.weighted_l2_complex(pred, target, mix_spec.abs().unsqueeze(1), valid=batch["valid"]), {}

    def linear_masks(self, pred: Tensor, valid: Tensor | None = None) -> Tensor:
        """Masks on linear frequency (B, S, F, T); the magnitude of complex masks."""
        return torch.linalg.vector_norm(pred, dim=-3) if self.complex_mask else super().linear_masks(pred, valid)

    def reconstruct(self, pred: Tensor, mix_spec: Tensor, length: int, valid: Tensor | None = None) -> Tensor:
        if not self.complex_mask:
            return super().reconstruct(pred, mix_spec, length, valid)
        return self.spec.istft(M.apply_complex_mask(pred.float(), mix_spec.unsqueeze(1)), length)  # (B, S, N)


@register_task("visualvoice", config=VoiceConfig, model=SeparatorModel, data=SeparationData,
               datasets=build_separation_datasets)
def build_voice(cfg) -> VoiceTask:
    """Build :class:`VoiceTask` from a validated recipe (``weights`` loaded if given).

    Raises:
        ConfigError: ``task.combine`` other than ``independent`` with complex masks (the rules
            compare magnitude masks).
    """
    if cfg.task.mask == "complex" and cfg.task.combine != "independent":
        from avlearn.tasks.config import ConfigError

        raise ConfigError("task visualvoice", "task.combine", f"complex masks are combined independently, got {cfg.task.combine!r}")
    return build_separator(VoiceTask, cfg, visual="face")
