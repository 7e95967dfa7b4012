"""Sound of Pixels (Zhao et al., ECCV 2018): the audio U-Net, the visual network and the synthesizer.

Sec. 3.2-3.3 of the paper and its released code:

* an **audio network**, the U-Net of :mod:`avlearn.models.av.unet`, maps the mixture's
  log-frequency log-magnitude spectrogram ``log |X(f, t)|`` to K feature maps ``s_k(f, t)``;
* a **visual network** (:class:`~avlearn.models.av.separation_visual.FrameEncoder`) maps each
  source's frames (3 frames of its clip) to K numbers ``i_k``: per-frame features max-pooled
  over space, then over the frames, through a sigmoid (SoP's ``img_activation``);
* the **synthesizer** combines them linearly into the mask of that source (Sec. 3.3):
  ``m(f, t) = sigmoid(sum_k w_k i_k s_k(f, t) + b)`` with learnt ``w`` (K) and ``b``.

The audio network runs once per mixture; only the K-dimensional visual vector differs per
source, so separating N sources costs one U-Net pass. Options:

* ``temporal=True`` keeps the visual features in time, as Sound of Motions does (Zhao et al.,
  ICCV 2019, Sec. 3: the motion of each source conditions the separator frame by frame): every
  frame, with its difference from the previous frame as three more input planes, gives K
  features (max over space only), a temporal convolution mixes neighbouring frames, and the
  features are linearly resampled to the spectrogram's columns:
  ``m(f, t) = sigmoid(sum_k w_k i_k(t) s_k(f, t) + b)``;
* ``visual="sync_tower"`` swaps the frame CNN for the video tower of the multisensory sync
  network (Owens & Efros, ECCV 2018, Sec. 6: self-supervised sync features as the start of
  separation; :class:`~avlearn.models.av.separation_visual.SyncTowerEncoder`);
* ``conditioning="bottleneck"`` replaces the synthesizer by the conditioning of Co-Separation /
  VisualVoice (Gao & Grauman, ICCV 2019, Sec. 3.2): the K visual features are tiled and
  concatenated at the U-Net bottleneck, and the decoder (run once per source on the shared
  encoder features) outputs that source's mask logit directly.

Shapes (``sound_of_pixels_small``, K = 16)::

    log_mag (B, 1, R, T) -> U-Net -> s (B, K, R, T)
    frames (B, S, 3, F, H, W), valid (B, S) -> i (B, S, K)   (temporal: (B, S, K, F) -> (B, S, K, T))
    mask logits (B, S, R, T) = sum_k w_k i_k s_k + b

The losses (weighted L1 on ratio masks, BCE on binary masks) and the mixing live in the
separation task (``avlearn.tasks.separation``).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.separation_visual import FrameEncoder, SyncTowerEncoder, encode_sources
from avlearn.models.av.unet import unet_small

__all__ = ["SoundOfPixelsNet", "sound_of_pixels_small", "separation_example", "SEPARATOR_ENTRY", "CONDITIONINGS",
           "VISUALS"]

#: How the visual features reach the masks: SoP's synthesizer, or concatenation at the bottleneck.
CONDITIONINGS = ("synthesizer", "bottleneck")
#: Visual encoders: SoP's per-frame CNN, or the sync network's 3D video tower.
VISUALS = ("frames", "sync_tower")
#: Mask logit of padded sources in ``bottleneck`` mode (sigmoid 0).
_PAD_LOGIT = -1e4


class SoundOfPixelsNet(nn.Module):
    """Audio U-Net, visual encoder and synthesizer of Sound of Pixels.

    Args:
        sound_channels: K.
        unet_levels: U-Net levels (SoP 7).
        unet_channels: first-level U-Net channels (SoP 64).
        visual_width: first-stage channels of the frame encoder.
        conditioning: ``synthesizer`` (SoP) or ``bottleneck`` (see the module docstring).
        visual: ``frames`` (:class:`FrameEncoder`) or ``sync_tower`` (:class:`SyncTowerEncoder`).
        temporal: frame-by-frame features resampled to the spectrogram's columns (see the module
            docstring; synthesizer and ``frames`` only).
    """

    def __init__(self, *, sound_channels: int = 16, unet_levels: int = 5, unet_channels: int = 16, visual_width: int = 16,
                 conditioning: Literal["synthesizer", "bottleneck"] = "synthesizer",
                 visual: Literal["frames", "sync_tower"] = "frames", temporal: bool = False):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"SoundOfPixelsNet: conditioning must be one of {CONDITIONINGS}, got {conditioning!r}")
        if visual not in VISUALS:
            raise ValueError(f"SoundOfPixelsNet: visual must be one of {VISUALS}, got {visual!r}")
        if temporal and (conditioning != "synthesizer" or visual != "frames"):
            raise ValueError("SoundOfPixelsNet: temporal features need conditioning 'synthesizer' and visual 'frames', "
                             f"got {conditioning!r} and {visual!r}")
        k = sound_channels
        self.conditioning, self.temporal = conditioning, temporal
        bottleneck = conditioning == "bottleneck"
        self.audio = unet_small(in_channels=1, out_channels=1 if bottleneck else k, levels=unet_levels,
                                base_channels=unet_channels, cond_channels=k if bottleneck else 0)
        self.visual: FrameEncoder | SyncTowerEncoder = (
            SyncTowerEncoder(out_channels=k) if visual == "sync_tower"
            else FrameEncoder(in_channels=6 if temporal else 3, width=visual_width, out_channels=k)
        )
        if temporal:  # neighbouring frames' features mixed: changes over time (speed, pulsing) become features
            self.time_mix = nn.Conv1d(k, k, 3, padding=1, padding_mode="replicate")  # window ends not special
        if not bottleneck:
            self.weight = nn.Parameter(torch.ones(k))  # w_k of the synthesizer
            self.bias = nn.Parameter(torch.zeros(1))  # b

    @staticmethod
    def motion_input(frames: Tensor) -> Tensor:
        """(M, 3, F, H, W) frames -> (M, 6, F, H, W): each frame and its difference from the
        previous one (the first frame takes the second's difference; zero for one frame)."""
        diff = frames.diff(dim=2)  # (M, 3, F-1, H, W)
        diff = torch.cat([diff[:, :, :1], diff], dim=2) if diff.shape[2] else torch.zeros_like(frames)
        return torch.cat([frames, diff], dim=1)

    def _mix_time(self, pooled: Tensor) -> Tensor:
        """(M, F, K) per-frame features -> (M, K, F) with the temporal convolution added."""
        x = pooled.transpose(1, 2)  # (M, K, F)
        return x + self.time_mix(x)

    def _temporal_features(self, x: Tensor) -> Tensor:
        """(M, 3, F, H, W) frames -> (M, K, F) logits of the features of every frame (max over space)."""
        return self._mix_time(self.visual.frame_maps(self.motion_input(x)).amax(dim=(-2, -1)))

    def visual_features(self, frames: Tensor, valid: Tensor, regions: Tensor | None = None) -> Tensor:
        """(B, S, 3, F, H, W) frames of the valid (B, S) sources -> (B, S, K) features in (0, 1),
        or (B, S, K, F), one per frame, with ``temporal``.

        Training pools the feature map over the whole frame; SoP's pixel-level inference pools
        it inside a region instead: ``regions`` (B, S, 4) ``[x0, y0, x1, y1]`` as fractions of
        the frame (the cells whose centres lie inside; at least the cell of the box centre).
        """
        if regions is None:
            encoder = self._temporal_features if self.temporal else self.visual
            return torch.sigmoid(encode_sources(encoder, frames, valid))  # (B, S, K[, F])
        x = frames[valid]  # (M, 3, F, H, W)
        m = x.shape[0]
        maps = self.visual.frame_maps(self.motion_input(x) if self.temporal else x)  # (M, F, K, h, w)
        h, w = maps.shape[-2:]
        r = regions[valid].to(maps.dtype)  # (M, 4)
        ys = (torch.arange(h, device=maps.device) + 0.5) / h
        xs = (torch.arange(w, device=maps.device) + 0.5) / w
        inside = ((xs[None, None, :] >= r[:, 0, None, None]) & (xs[None, None, :] < r[:, 2, None, None])
                  & (ys[None, :, None] >= r[:, 1, None, None]) & (ys[None, :, None] < r[:, 3, None, None]))  # (M, h, w)
        cy = ((r[:, 1] + r[:, 3]) / 2 * h).long().clamp(0, h - 1)
        cx = ((r[:, 0] + r[:, 2]) / 2 * w).long().clamp(0, w - 1)
        inside[torch.arange(m), cy, cx] = True
        pooled = maps.masked_fill(~inside[:, None, None], float("-inf")).amax(dim=(-2, -1))  # (M, F, K)
        pooled = self._mix_time(pooled) if self.temporal else pooled.amax(1)  # (M, K, F) or (M, K)
        out = pooled.new_zeros(*valid.shape, *pooled.shape[1:])
        out[valid] = torch.sigmoid(pooled)
        return out

    def forward(self, log_mag: Tensor, frames: Tensor, valid: Tensor, regions: Tensor | None = None) -> Tensor:
        """Mask logits (B, S, R, T) of every source from the mixture (B, 1, R, T) and frames."""
        img = self.visual_features(frames, valid, regions)  # (B, S, K)
        if self.conditioning == "bottleneck":
            rows = valid.nonzero()[:, 0]  # (M,) mixture of each valid source
            logits = self.audio(log_mag, img[valid], index=rows)[:, 0]  # (M, R, T)
            out = logits.new_full((*valid.shape, *logits.shape[-2:]), _PAD_LOGIT)
            out[valid] = logits
            return out  # (B, S, R, T); padded sources get a zero mask
        snd = self.audio(log_mag)  # (B, K, R, T)
        if self.temporal:  # features of the frames resampled to the spectrogram's columns
            b, n, k, f = img.shape
            img = F.interpolate(img.reshape(b * n, k, f), size=snd.shape[-1], mode="linear", align_corners=False)
            img = img.view(b, n, k, snd.shape[-1])  # (B, S, K, T)
            return torch.einsum("bskt,bkrt->bsrt", img * self.weight[:, None], snd) + self.bias  # (B, S, R, T)
        return torch.einsum("bsk,bkrt->bsrt", img * self.weight, snd) + self.bias  # (B, S, R, T)


def separation_example(batch: int, shapes: dict[str, tuple[int, ...]], generator: torch.Generator | None) -> dict[str, Tensor]:
    """Example inputs of a separation network: random tensors of ``shapes`` (per-source keys
    carry the source axis first, e.g. ``frames: (S, 3, F, H, W)``) and ``valid`` (B, S), the
    last source of each mixture but the first padded (mixtures of different sizes)."""
    out = {k: torch.randn(batch, *v, generator=generator) for k, v in shapes.items()}
    sources = next(v[0] for k, v in shapes.items() if k not in ("log_mag", "spec_in"))
    valid = torch.ones(batch, sources, dtype=torch.bool)
    if sources > 1:
        valid[1:, -1] = False
    out["valid"] = valid
    return out


#: Registry facts shared by the separation networks: dict inputs passed as keyword arguments,
#: mask logits out, examples from :func:`separation_example`.
SEPARATOR_ENTRY = dict(modality="av", output="masks", kwargs_input=True, example=separation_example)


@register_model(
    **SEPARATOR_ENTRY,
    input_size={"log_mag": (1, 256, 256), "frames": (2, 3, 3, 224, 224)},
    tiny_input={"log_mag": (1, 32, 16), "frames": (2, 3, 2, 32, 32)},
)
def sound_of_pixels_small(**kwargs) -> SoundOfPixelsNet:
    """CPU-sized Sound of Pixels: a 5-level U-Net of 16..128 channels, K = 16, a 4-stage frame CNN
    (SoP: 7 levels of 64..512 channels, K = 32, a dilated ResNet-18: ``unet_levels=7,
    unet_channels=64, sound_channels=32``). Forward: ``(log_mag, frames, valid[, regions])``
    -> mask logits (B, S, R, T)."""
    return SoundOfPixelsNet(**kwargs)
