"""Audio-visual attention network for sound-source localization.

Arandjelović & Zisserman, "Objects that Sound", ECCV 2018, Sec. 4 and Fig. 4 (AVOL-Net): the
vision subnetwork keeps a spatial grid of D-dimensional features, the audio subnetwork maps the
clip's sound to one D-dimensional embedding, and their scalar product at every location is a
localization map. A learned calibration (one scale, one bias) turns the map into logits, and the
maximum over locations is the audio-visual correspondence score (multiple-instance learning:
"some location matches the sound"), trained with the correspondence objective (does this sound
belong to this video?). Senocak et al., "Learning to Localize Sound Source in Visual Scenes",
CVPR 2018, Sec. 3 (Eq. 1-2) score each location by the cosine similarity of its visual feature
with the sound embedding; we use the cosine form too (unit-length features), so the calibration
scale plays the role of a temperature.

Shapes (``attention_loc_small``: 64x64 frames, spatial reduction 4, D = 32):

    video (B, 3, T, H, W) -> visual grid (B, D, T, H/4, W/4), unit length over D
    audio (B, C, N) -> log-mel (B, 1, n_mels, frames) -> ResNet2d -> mean and max over time
        -> embedding (B, D), unit length (the max keeps brief impacts as strong as sustained tones)
    logits (B, T, H/4, W/4) = scale * <v, a> + bias;   heatmap = sigmoid(logits) resized to (T, H, W)
    correspondence score (B,) = mean over t of the max over (h, w) of the logits (or of the mean of
    the top ``pool_fraction`` of the locations)

The visual tower is a small 3D CNN that keeps the frame rate (one (3, 3, 3) convolution gives
each location a little temporal context; all others are per frame), so a clip gets one map per
frame. The audio tower is the zoo's log-mel ResNet (:class:`~avlearn.models._resnet2d.ResNet2d`).

The scoring (calibration, pooling, heatmaps) lives in :class:`AttentionScoring`, so other
towers can share it: :mod:`avlearn.models.av.attention_loc_sync` puts the towers of the
multisensory sync network under it (``attention_loc_sync_small``).

Registered as task networks (``output="score"``: ``forward({"video", "audio"})`` gives the
(B, 1) correspondence logit; :meth:`AttentionScoring.heatmaps` the maps):
``create_model("attention_loc_small")`` or ``create_model("attention_loc")``.
"""

from __future__ import annotations

import abc
import math
from typing import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d
from avlearn.models.av._towers import ConvBNAct, ResBlock

__all__ = [
    "AttentionScoring",
    "AttentionLocNet",
    "upsample_aligned",
    "attention_loc_small",
    "attention_loc",
]


def upsample_aligned(maps: Tensor, size: tuple[int, int], reduction: float, *, scale: float = 1.0) -> Tensor:
    """Bilinearly resize (B, T, h, w) maps of a fully convolutional network to (H, W) frames.

    When every layer pads by half its (odd) kernel, map cell ``j`` is centred on input pixel
    ``reduction * j``; plain resizing would put it at ``reduction * j + (reduction - 1) / 2``.
    Here cell ``j`` lands on output pixel ``scale * (reduction * j + 0.5) - 0.5``, where
    ``scale`` is the output size over the size the network saw (frames resized before the
    network); the border value is repeated beyond the outer cells.

    Args:
        maps: (B, T, h, w).
        size: output (H, W).
        reduction: input pixels per map cell.
        scale: output pixels per input pixel.

    Returns:
        (B, T, H, W).
    """
    b, t, h, w = maps.shape
    step, offset = scale * reduction, 0.5 * scale - 0.5  # output position of cell j: step * j + offset

    def axis(n_out: int, n_in: int) -> Tensor:
        cells = (torch.arange(n_out, dtype=maps.dtype, device=maps.device) - offset) / step  # map coordinate
        return 2 * cells / max(n_in - 1, 1) - 1

    grid = torch.stack(torch.meshgrid(axis(size[1], w), axis(size[0], h), indexing="xy"), dim=-1)  # (H, W, 2) as (x, y)
    out = F.grid_sample(maps.reshape(b * t, 1, h, w), grid.expand(b * t, *grid.shape), mode="bilinear",
                        padding_mode="border", align_corners=True)  # (BT, 1, H, W)
    return out.view(b, t, *size)


class AttentionScoring(nn.Module, abc.ABC):
    """The attention scoring shared by the towers: calibrated cosine maps, pooling, heatmaps.

    Subclasses provide :meth:`embed_video` (unit-length (B, D, T, h, w) grids), :meth:`embed_audio`
    (unit-length (B, D) embeddings) and set :attr:`reduction`.

    Args:
        init_scale: initial calibration scale of the cosine similarity.
        init_bias: initial calibration bias.
        pool_fraction: 0 pools each frame's map by its maximum (AVOL's multiple-instance rule);
            a fraction in (0, 1] averages the top ``ceil(fraction * h * w)`` locations instead, so
            an object-sized region, not one location, has to match the sound.
    """

    reduction: float = 1.0

    def __init__(self, *, init_scale: float = 5.0, init_bias: float = 0.0, pool_fraction: float = 0.0):
        super().__init__()
        self.logit_scale = nn.Parameter(torch.tensor(float(init_scale)))
        self.logit_bias = nn.Parameter(torch.tensor(float(init_bias)))
        if not 0.0 <= pool_fraction <= 1.0:
            raise ValueError(f"pool_fraction must lie in [0, 1], got {pool_fraction}")
        self.pool_fraction = pool_fraction

    @abc.abstractmethod
    def embed_video(self, video: Tensor) -> Tensor:
        """Unit-length visual grid (B, D, T, h, w) from frames (B, 3, T, H, W)."""

    @abc.abstractmethod
    def embed_audio(self, audio: Tensor) -> Tensor:
        """Unit-length audio embedding (B, D) from a waveform (B, C, N)."""

    def calibrate(self, cosine: Tensor) -> Tensor:
        """Cosine similarities -> logits with the learned scale and bias (AVOL's calibration)."""
        return self.logit_scale * cosine + self.logit_bias

    def logit_maps(self, vis: Tensor, aud: Tensor) -> Tensor:
        """Per-location logits of matching pairs: (B, T, h, w) from (B, D, T, h, w) and (B, D)."""
        return self.calibrate(torch.einsum("bdthw,bd->bthw", vis, aud))  # (B, T, h, w)

    def pool(self, maps: Tensor) -> Tensor:
        """Clip scores from logit maps (..., T, h, w): the mean over frames of each frame's
        maximum (or of the mean of its top ``pool_fraction`` of locations). Returns (...)."""
        flat = maps.flatten(-2)  # (..., T, h*w)
        if self.pool_fraction > 0:
            k = max(1, math.ceil(self.pool_fraction * flat.shape[-1]))
            return flat.topk(k, dim=-1).values.mean(dim=-1).mean(dim=-1)
        return flat.amax(dim=-1).mean(dim=-1)

    def pair_scores(self, vis: Tensor, aud: Tensor) -> Tensor:
        """Correspondence scores of every video with every audio: (Bv, Ba) (see :meth:`pool`)."""
        return self.pool(self.calibrate(torch.einsum("bdthw,cd->bcthw", vis, aud)))  # (Bv, Ba)

    def heatmaps(self, video: Tensor, audio: Tensor) -> Tensor:
        """Where the sound comes from: sigmoid of the logits, one map per frame at input resolution.

        Args:
            video: (B, 3, T, H, W) frames in [0, 1].
            audio: (B, C, N) waveform of the same stretch of time.

        Returns:
            (B, T, H, W) in [0, 1].
        """
        logits = self.logit_maps(self.embed_video(video), self.embed_audio(audio))  # (B, T, h, w)
        return torch.sigmoid(self.upsample(logits, tuple(video.shape[-2:])))

    def upsample(self, maps: Tensor, size: tuple[int, int]) -> Tensor:
        """Resize (B, T, h, w) maps to the frames' (H, W), each cell on the pixels it sees
        (:func:`upsample_aligned` with this network's reduction)."""
        return upsample_aligned(maps, size, self.reduction)

    def forward(self, x: dict) -> Tensor:
        """Correspondence logit of each given (video, audio) pair: (B, 1)."""
        vis, aud = self.embed_video(x["video"]), self.embed_audio(x["audio"])
        return self.pool(self.logit_maps(vis, aud))[:, None]  # (B, 1)


class AttentionLocNet(AttentionScoring):
    """Visual grid x audio embedding similarity (AVOL-Net / Senocak et al. attention).

    Args:
        in_channels: video channels.
        audio_channels: waveform channels (averaged to mono before the spectrogram).
        sample_rate: audio rate the spectrogram assumes.
        n_mels: mel bands.
        hop_ms: spectrogram hop in milliseconds (25 ms windows).
        embed_dim: D, the width of the shared embedding space.
        video_widths: channels of the four visual layers (stem, temporal conv, two residual blocks).
        video_strides: spatial stride of each of the four layers (their product is the map's reduction).
        temporal_kernel: temporal extent of the second visual layer (1 makes the tower 2D per frame).
        audio_widths: channels of the audio ResNet's stages.
        audio_depths: basic blocks per audio stage.
        init_scale, init_bias, pool_fraction: the scoring's (:class:`AttentionScoring`).

    Attributes:
        reduction: spatial reduction of the map (input H / map H).
    """

    def __init__(
        self,
        *,
        in_channels: int = 3,
        audio_channels: int = 1,
        sample_rate: int = 16000,
        n_mels: int = 40,
        hop_ms: float = 20.0,
        embed_dim: int = 32,
        video_widths: Sequence[int] = (16, 32, 32, 32),
        video_strides: Sequence[int] = (2, 2, 1, 1),
        temporal_kernel: int = 3,
        audio_widths: Sequence[int] = (16, 32, 64),
        audio_depths: Sequence[int] = (1, 1, 1),
        init_scale: float = 5.0,
        init_bias: float = 0.0,
        pool_fraction: float = 0.0,
    ):
        super().__init__(init_scale=init_scale, init_bias=init_bias, pool_fraction=pool_fraction)
        if len(video_widths) != 4 or len(video_strides) != 4:
            raise ValueError(f"video_widths and video_strides need 4 entries, got {video_widths}, {video_strides}")
        w, s = tuple(video_widths), tuple(video_strides)
        self.stem = nn.Sequential(  # per frame (2D): frames folded into the batch
            ConvBNAct(in_channels, w[0], 5, s[0], dims=2),
            ConvBNAct(w[0], w[1], 3, s[1], dims=2),
        )
        self.temporal = ConvBNAct(w[1], w[1], (temporal_kernel, 1, 1), dims=3)  # across frames, per location
        self.blocks = nn.Sequential(ResBlock(w[1], w[2], 3, s[2], dims=2), ResBlock(w[2], w[3], 3, s[3], dims=2))
        self.video_proj = nn.Conv2d(w[3], embed_dim, 1)
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=int(round(sample_rate * 0.025)),
            hop_length=int(round(sample_rate * hop_ms / 1000)), n_mels=n_mels,
        )
        self.audio_tower = ResNet2d(
            num_classes=0, in_channels=1, widths=tuple(audio_widths), depths=tuple(audio_depths), stem="small"
        )
        self.audio_proj = nn.Linear(2 * self.audio_tower.num_features, embed_dim)
        self.embed_dim, self.audio_channels = embed_dim, audio_channels
        self.reduction = s[0] * s[1] * s[2] * s[3]

    def embed_video(self, video: Tensor) -> Tensor:
        """Unit-length visual grid (B, D, T, H/r, W/r) from frames (B, 3, T, H, W)."""
        b, t = video.shape[0], video.shape[2]
        x = self.stem(rearrange(video, "b c t h w -> (b t) c h w"))  # (BT, C1, H/r1, W/r1)
        x = rearrange(x, "(b t) c h w -> b c t h w", b=b, t=t)
        x = x + self.temporal(x)  # (B, C1, T, H/r1, W/r1): each location sees its neighbouring frames
        x = self.blocks(rearrange(x, "b c t h w -> (b t) c h w"))  # (BT, C, H/r, W/r)
        v = F.normalize(self.video_proj(x), dim=1)  # (BT, D, H/r, W/r)
        return rearrange(v, "(b t) d h w -> b d t h w", b=b, t=t)

    def embed_audio(self, audio: Tensor) -> Tensor:
        """Unit-length audio embedding (B, D) from a waveform (B, C, N)."""
        spec = torch.log(self.melspec(audio.mean(dim=1, keepdim=True)) + 1e-6)  # (B, 1, n_mels, frames)
        a = self.audio_tower.forward_features(spec).mean(dim=2)  # (B, C, frames')
        pooled = torch.cat([a.mean(dim=2), a.amax(dim=2)], dim=1)  # (B, 2C): sustained and brief sounds
        return F.normalize(self.audio_proj(pooled), dim=1)  # (B, D)


@register_model(
    modality="av",
    input_size={"video": (3, 4, 64, 64), "audio": (1, 16000)},
    tiny_input={"video": (3, 2, 32, 32), "audio": (1, 4000)},
    output="score",
)
def attention_loc_small(**kwargs) -> AttentionLocNet:
    """CPU-sized: 64x64 frames -> 16x16 maps, D = 32, 40-band log-mel, clip scores from the top
    5% of each frame's locations; trains in minutes."""
    return AttentionLocNet(**{"pool_fraction": 0.05, **kwargs})


@register_model(
    modality="av",
    input_size={"video": (3, 1, 224, 224), "audio": (1, 16000)},
    tiny_input={"video": (3, 1, 32, 32), "audio": (1, 4000)},
    output="score",
)
def attention_loc(**kwargs) -> AttentionLocNet:
    """AVOL-Net-sized: 224x224 frames -> 14x14 maps of 128-D features, 64-band log-mel ResNet."""
    defaults = dict(
        n_mels=64, hop_ms=10.0, embed_dim=128, video_widths=(64, 128, 256, 512), video_strides=(2, 2, 2, 2),
        audio_widths=(64, 128, 256, 512), audio_depths=(2, 2, 2, 2),
    )
    return AttentionLocNet(**{**defaults, **kwargs})
