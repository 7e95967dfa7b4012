"""Speech separation from faces: lip motion plus face appearance condition a complex-mask U-Net.

VisualVoice (Gao et al., CVPR 2021, Sec. 3) and Looking to Listen (Ephrat et al., SIGGRAPH
2018, Sec. 4); the network is :class:`~avlearn.models.av.voice.VoiceNet` (registered as
``visualvoice_small``; ``model.kwargs`` sizes it, ``task.mask`` sets its planes):

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
Mixtures follow VisualVoice: each clip normalised to RMS 0.1 (``data.rms: 0.1``), then
averaged as its released code does (``data.divide: true``, the paper recipe) or summed
(``data.divide: false``, the CPU recipe). STFT: VisualVoice's 16 kHz / 512 / 400 / 160 with
the last bin dropped, scaled here to 8 kHz / 256 / 200 / 80 (128 x 201 for 2 s).
Recipe: ``avlearn/recipes/separate_voices.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import Tensor

from avlearn.models.av.voice import VoiceNet
from avlearn.tasks.base import register_task
from avlearn.tasks.separation import masks as M
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import SeparationConfig, SeparationTask, SeparatorModel, build_separator

__all__ = ["VoiceTask", "VoiceConfig", "VoiceModel", "compress_spectrogram", "build_voice"]


def compress_spectrogram(spec: Tensor, power: float = 0.3) -> Tensor:
    """Power-law compressed complex spectrogram as (B, 2, F, T) real/imaginary planes (Looking to Listen)."""
    mag = spec.abs()
    scaled = spec * (mag.clamp(min=1e-8).pow(power) / mag.clamp(min=1e-8))  # |X|^p e^{i angle X}
    return torch.stack([scaled.real, scaled.imag], dim=1)  # (B, 2, F, T)




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


@dataclass
class VoiceModel(SeparatorModel):
    """Model section of ``visualvoice`` (see :class:`SeparatorModel`)."""

    name: str = "visualvoice_small"


class VoiceTask(SeparationTask):
    """Speech separation from faces (batch keys ``"face"`` and ``"mouth"``); complex masks by default.

    Args:
        cfg: the task section.
        net: the network (``create_model("visualvoice_small", planes=2 or 1, ...)``: 2 planes
            for complex masks, 1 for magnitude masks).
    """

    def __init__(self, cfg: VoiceConfig, net: VoiceNet):
        super().__init__(cfg, complex_mask=cfg.mask == "complex")
        self.net = net

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


@register_task("visualvoice", config=VoiceConfig, model=VoiceModel, data=SeparationData,
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
    return build_separator(VoiceTask, cfg, visual="face", network=VoiceNet, planes=2 if cfg.task.mask == "complex" else 1)
