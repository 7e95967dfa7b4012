"""Two-tower audio-visual embedding network in the style of AVTS (Korbar et al., NeurIPS 2018).

"Cooperative Learning of Audio and Video Models from Self-Supervised Synchronization",
Sec. 3: a video subnetwork (3D convolutions) and an audio subnetwork (2D convolutions on a
log-mel spectrogram) each map a clip to an embedding; the contrastive loss (their Eq. 1)

    E = 1/N sum_n  y_n ||v_n - a_n||^2 + (1 - y_n) max(eta - ||v_n - a_n||, 0)^2

pulls synchronized pairs together and pushes easy (other video) and hard (same video,
shifted) negatives apart; it lives in :mod:`avlearn.tasks.sync`. The paper also evaluates a
fused classifier (concatenated features -> two fully connected layers -> aligned logit); that
is this model's ``forward`` and doubles as the L3-Net correspondence head of Arandjelovic &
Zisserman (ICCV 2017: vision and audio subnetworks, concatenation, fc 128 -> 2-way).

The video tower reuses the multisensory video stem and residual stages
(:mod:`avlearn.models.av._towers`); the audio tower is the zoo's log-mel ResNet
(:class:`~avlearn.models._resnet2d.ResNet2d`) on a log-mel spectrogram computed in the
model (``torchaudio.transforms.MelSpectrogram``, 25 ms window, 10 ms hop), so both sync
networks take the same input: ``{"video": (B, 3, T, H, W), "audio": (B, C, N) waveform}``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d
from avlearn.models.av._towers import VideoTower, residual_stages

__all__ = ["TwoTowerNet", "avts", "avts_small"]


class TwoTowerNet(nn.Module):
    """Separate video and audio embeddings (AVTS) plus a fused classifier head.

    Args:
        num_classes: outputs of the fused classifier (1: aligned logit; the L3 head).
        in_channels: video channels.
        audio_channels: waveform channels.
        sample_rate: audio sample rate the spectrogram assumes.
        n_mels: mel bands.
        embed_dim: width of each embedding.
        video_width: channels of the video stem.
        stage_widths: channels of the video residual stages after the stem.
        stage_strides: stride of each stage's first block.
        stem_stride: stride of the video stem conv.
        block_stride: stride of the video stem's last residual block.
        audio_widths: channels of the spectrogram ResNet's stages.
        audio_depths: basic blocks per stage.
        audio_stem: ``imagenet`` (7x7/2 + max-pool) or ``small`` (3x3/1) ResNet stem.
        hidden: width of the fused classifier's hidden layer.

    Attributes:
        num_features: width of the fused representation ``2 * embed_dim``.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1,
        in_channels: int = 3,
        audio_channels: int = 1,
        sample_rate: int = 16000,
        n_mels: int = 40,
        embed_dim: int = 128,
        video_width: int = 64,
        stage_widths: Sequence[int] = (128, 256, 512),
        stage_strides: Sequence = (1, 2, 2),
        stem_stride: tuple[int, int, int] = (2, 2, 2),
        block_stride: tuple[int, int, int] = (2, 2, 2),
        audio_widths: Sequence[int] = (64, 128, 256, 512),
        audio_depths: Sequence[int] = (2, 2, 2, 2),
        audio_stem: str = "imagenet",
        hidden: int = 128,
    ):
        super().__init__()
        self.video_tower = VideoTower(
            width=video_width, in_channels=in_channels, stem_stride=stem_stride, block_stride=block_stride
        )
        self.video_stages = residual_stages(stage_widths, stage_strides, video_width)
        self.video_embed = nn.Linear(stage_widths[-1], embed_dim)
        n_fft = int(round(sample_rate * 0.025))
        self.melspec = torchaudio.transforms.MelSpectrogram(
            sample_rate=sample_rate, n_fft=n_fft, hop_length=int(round(sample_rate * 0.010)), n_mels=n_mels
        )
        self.audio_tower = ResNet2d(
            num_classes=0, in_channels=1, widths=tuple(audio_widths), depths=tuple(audio_depths), stem=audio_stem
        )
        self.audio_embed = nn.Linear(self.audio_tower.num_features, embed_dim)
        self.num_features = 2 * embed_dim
        self.head = nn.Sequential(nn.Linear(2 * embed_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes))
        self.num_classes = num_classes
        red = 8  # the video tower: stem and pool halve H and W, its last block again
        self.feature_info = [{"module": "video_tower", "num_chs": video_width, "reduction": red}]
        for i, (w, s) in enumerate(zip(stage_widths, stage_strides)):
            red *= s[1] if isinstance(s, (tuple, list)) else s
            self.feature_info.append({"module": f"video_stages.{i}", "num_chs": w, "reduction": red})
        self.feature_info.append(dict(self.audio_tower.feature_info[-1], module=f"audio_tower.{self.audio_tower.feature_info[-1]['module']}"))

    def embed_video(self, video: Tensor) -> Tensor:
        """L2-normalised video embedding (B, D) from (B, 3, T, H, W)."""
        v = self.video_stages(self.video_tower(video))  # (B, C, T', H', W')
        return F.normalize(self.video_embed(v.mean(dim=(2, 3, 4))), dim=1)  # (B, D)

    def embed_audio(self, audio: Tensor) -> Tensor:
        """L2-normalised audio embedding (B, D) from a waveform (B, C, N)."""
        spec = torch.log(self.melspec(audio.mean(dim=1, keepdim=True)) + 1e-6)  # (B, 1, n_mels, frames)
        a = self.audio_tower.forward_features(spec)  # (B, C, F', T')
        return F.normalize(self.audio_embed(a.mean(dim=(2, 3))), dim=1)  # (B, D)

    def embed(self, x: dict) -> tuple[Tensor, Tensor]:
        """Both embeddings ``(v, a)``, each (B, D), unit length."""
        return self.embed_video(x["video"]), self.embed_audio(x["audio"])

    def forward_features(self, x: dict) -> Tensor:
        """The fused representation: the two embeddings concatenated, (B, 2D)."""
        v, a = self.embed(x)
        return torch.cat([v, a], dim=1)  # (B, 2D)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Fused classifier (B, num_classes); ``pre_logits`` returns the (B, 2D) features."""
        return feats if pre_logits else self.head(feats)  # (B, num_classes)

    def forward(self, x: dict) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def distance(self, x: dict) -> Tensor:
        """Euclidean distance between the video and audio embeddings, (B,)."""
        v, a = self.embed(x)
        return (v - a).norm(dim=1)  # (B,)

    def score_audio_windows(self, video: Tensor, audio: Tensor) -> Tensor:
        """Negative distances (S,) of one video window (1, 3, T, H, W) to S audio windows
        (S, C, N); the video is embedded once (offset search, eval mode)."""
        return -(self.embed_video(video) - self.embed_audio(audio)).norm(dim=1)  # (S,)

    def audio_window_features(self, audio: Tensor) -> Tensor:
        """Audio embeddings (S, D) of S audio windows (S, C, N), for :meth:`score_audio_features`."""
        return self.embed_audio(audio)

    def score_audio_features(self, video: Tensor, audio_feats: Tensor) -> Tensor:
        """:meth:`score_audio_windows` from precomputed :meth:`audio_window_features` (S, D)."""
        return -(self.embed_video(video) - audio_feats).norm(dim=1)  # (S,)

    def sync_score(self, x: dict) -> Tensor:
        """Negative embedding distance (B,): higher means "in sync" (AVTS' decision rule)."""
        return -self.distance(x)


_SMALL = dict(
    embed_dim=64,
    video_width=16,
    stage_widths=(32, 64, 64),
    stage_strides=(1, (1, 2, 2), 1),
    stem_stride=(1, 2, 2),
    block_stride=(1, 2, 2),
    audio_widths=(16, 32, 64),
    audio_depths=(1, 1, 1),
    audio_stem="small",
    hidden=64,
)


@register_model(
    modality="av",
    input_size={"video": (3, 16, 112, 112), "audio": (1, 16000)},
    tiny_input={"video": (3, 8, 32, 32), "audio": (1, 8000)},
)
def avts(**kwargs) -> TwoTowerNet:
    """AVTS-sized towers: 16 frames of 112x112; 1 s of 16 kHz audio as a 64-band log-mel into a ResNet-18."""
    return TwoTowerNet(**{"n_mels": 64, **kwargs})


@register_model(
    modality="av",
    input_size={"video": (3, 16, 64, 64), "audio": (1, 16000)},
    tiny_input={"video": (3, 8, 32, 32), "audio": (1, 8000)},
)
def avts_small(**kwargs) -> TwoTowerNet:
    """CPU-sized two-tower net for 64x64, 1 s at 16 fps, 16 kHz mono."""
    return TwoTowerNet(**{**_SMALL, **kwargs})
