"""Sound of Pixels (Zhao et al., ECCV 2018): the mix-and-separate task with frame features.

Sec. 3.2-3.3 of the paper and its released code:

* an **audio network**, the U-Net of :mod:`avlearn.models.av.unet`, maps the mixture's
  log-frequency log-magnitude spectrogram to K feature maps ``s_k(f, t)``;
* a **visual network** maps each source's frames (3 frames of its clip) to K numbers
  ``i_k``: per-frame features max-pooled over space, then over the frames, through a sigmoid
  (SoP's ``img_activation``);
* the **synthesizer** combines them linearly into the mask of that source:
  ``m(f, t) = sigmoid(sum_k w_k i_k s_k(f, t) + b)`` with learnt ``w`` (K) and ``b``;
* the loss is the weighted L1 (ratio masks) or BCE (binary masks) of
  :mod:`avlearn.tasks.separation.masks`, over the warped spectrogram.

The audio network runs once per mixture; only the K-dimensional visual vector differs per
source, so separating N sources costs one U-Net pass. ``model.temporal: true`` keeps the visual
features in time, as Sound of Motions does (Zhao et al., ICCV 2019, Sec. 3: the motion of each
source conditions the separator frame by frame): every frame of the window, with its
difference from the previous frame as three more input planes, gives K features (max over
space only), a temporal convolution mixes neighbouring frames, and the features are linearly
resampled to the spectrogram's columns, so the synthesizer becomes
``m(f, t) = sigmoid(sum_k w_k i_k(t) s_k(f, t) + b)``: a source's mask can follow what its
loudness follows on screen (a pulsing tone, a moving texture, a bounce). It wants every frame
of the window (``data.num_frames`` at least the frames of the longest clip).
``model.visual: sync_tower`` swaps the
frame CNN for the video tower of the multisensory sync network (Owens & Efros, ECCV 2018,
Sec. 6: sync features as the start of separation; :class:`~avlearn.tasks.separation.visual.
SyncTowerEncoder`), started from ``model.visual_weights`` (a sync run's ``weights.pt``). The
audio U-Net keeps its own start: the sync net's audio tower is a 1D network on the waveform and
has no place in a U-Net over the mixture's spectrogram. ``model.conditioning: bottleneck``
replaces the synthesizer by the conditioning of Co-Separation / VisualVoice (Gao & Grauman
ICCV 2019, Sec. 3.2): the K visual features are tiled and concatenated at the U-Net
bottleneck, and the decoder (run once per source on the shared encoder features) outputs that
source's mask logit directly. Recipe: ``avlearn/recipes/separate_instruments.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models.av.unet import unet_small
from avlearn.tasks.base import register_task
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import (
    SeparationConfig,
    SeparationTask,
    SeparatorModel,
    build_separator,
)
from avlearn.tasks.separation.visual import (
    FrameEncoder,
    SyncTowerEncoder,
    encode_sources,
)

__all__ = ["SoundOfPixelsNet", "SoundOfPixelsTask", "SoPConfig", "SoPModel", "build_sop", "CONDITIONINGS", "VISUALS"]

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


@dataclass
class SoPConfig(SeparationConfig):
    """Task section of ``sop`` (see :class:`SeparationConfig`)."""

    name: str = "sop"


@dataclass
class SoPModel(SeparatorModel):
    """Model section of ``sop`` (see :class:`SeparatorModel`).

    Attributes:
        visual: ``frames`` (SoP's frame CNN) or ``sync_tower`` (the sync net's video tower).
        visual_weights: a sync run's ``weights.pt`` to start the ``sync_tower`` from (null:
            random init). Loaded before ``weights``, which (a whole separator) overrides it.
        temporal: frame-by-frame visual features (Sound of Motions style; module docstring).
    """

    visual: Literal["frames", "sync_tower"] = "frames"
    visual_weights: str | None = None
    temporal: bool = False


class SoundOfPixelsTask(SeparationTask):
    """Sound of Pixels: masks ``sigmoid(synthesizer)`` from frames (batch key ``"frames"``; an
    optional ``"regions"`` (B, S, 4) pools the visual features inside boxes, for files with
    several objects in one frame)."""

    def __init__(self, cfg: SeparationConfig, model: SoPModel):
        super().__init__(cfg)
        self.net = SoundOfPixelsNet(sound_channels=model.sound_channels, unet_levels=model.unet_levels,
                                    unet_channels=model.unet_channels, visual_width=model.visual_width,
                                    conditioning=model.conditioning, visual=model.visual, temporal=model.temporal)

    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        return torch.sigmoid(self.net(net_input, batch["frames"], batch["valid"], batch.get("regions")))  # (B, S, R, T)


def _sop_task(task_cfg: SoPConfig, model: SoPModel) -> SoundOfPixelsTask:
    """The task, its sync tower started from ``model.visual_weights`` when given."""
    from avlearn.tasks.config import ConfigError

    try:
        task = SoundOfPixelsTask(task_cfg, model)
    except ValueError as exc:  # the net's own check of what temporal features need
        if not model.temporal:
            raise
        raise ConfigError("task sop", "model.temporal", str(exc)) from None
    if model.visual_weights:
        if not isinstance(task.net.visual, SyncTowerEncoder):
            raise ConfigError("task sop", "model.visual_weights", f"needs model.visual: sync_tower, got {model.visual!r}")
        task.net.visual.load_sync_weights(model.visual_weights)
    return task


@register_task("sop", config=SoPConfig, model=SoPModel, data=SeparationData, datasets=build_separation_datasets)
def build_sop(cfg) -> SoundOfPixelsTask:
    """Build :class:`SoundOfPixelsTask` from a validated recipe (``visual_weights``, then ``weights``
    loaded if given).

    Raises:
        ConfigError: besides :func:`build_separator`'s, ``model.temporal`` with fewer
            ``data.num_frames`` than a training window has frames (the features would skip frames).
    """
    d = cfg.data
    if cfg.model.temporal and d.duration is not None and d.num_frames < round(d.duration * d.fps):
        from avlearn.tasks.config import ConfigError

        raise ConfigError("task sop", "data.num_frames", f"model.temporal needs every frame of the window: at least "
                          f"{round(d.duration * d.fps)} (duration x fps), got {d.num_frames}")
    return build_separator(_sop_task, cfg, visual="frames")
