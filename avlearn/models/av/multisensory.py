"""The multisensory fused audio-visual network of Owens & Efros (ECCV 2018).

"Audio-Visual Scene Analysis with Self-Supervised Multisensory Features", Sec. 3.1 and Fig. 2
(layer shapes as in the authors' released code):

* video tower: conv3d 64 [5,7,7] s2, max-pool [1,3,3] s[1,2,2], two 3D residual blocks of 64;
* audio tower on the raw (mu-law compressed) waveform: conv1d 64 k65 s4, max-pool 4, residual
  blocks 128, 128, 256 (k15 s4) -- the zoo's :class:`~avlearn.models.audio.waveform.WaveformNet`;
* early fusion: the audio features are max-pooled (fractionally) to the video's temporal
  length, projected to 128 channels, tiled over H' x W' and concatenated with the video
  features; 1x1x1 convs 512 -> 128 with a residual (the video channels repeated);
* residual blocks 128x2, 256x2, 512x2, global mean pool and one 1x1x1 conv -> one
  aligned/misaligned logit. The same 1x1x1 conv applied to the last feature map, before
  pooling, is the class activation map (:meth:`MultisensoryNet.cam`, Sec. 5 of the paper).

Input: ``{"video": (B, 3, T, H, W) float, "audio": (B, C, N) waveform in [-1, 1]}``. The
mu-law compression is applied inside the model, so do not compress in the data pipeline.

Variants: ``multisensory`` (the paper's: 4.2 s at 29.97 fps, 224x224, stereo 21 kHz) and
``multisensory_small`` (CPU-sized: 64x64, 1 s at 16 fps, mono 16 kHz; keeps the frame rate
through the network so offsets resolve to one frame). ``multisensory_small_video`` is the
video path alone (audio features replaced by zeros) for transfer to video-only tasks: its
parameter names are those of ``multisensory_small`` minus the audio tower, and its classifier
is called ``classifier``, so a sync run's ``weights.pt`` loads into it with ``strict=False``
(``create_model("multisensory_small_video", num_classes=K, weights=..., strict=False)``;
``frozen=True`` makes it a linear probe).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from einops import repeat
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.audio.waveform import WaveformNet
from avlearn.models.av._towers import ConvBNAct, VideoTower, residual_stages

__all__ = ["MultisensoryNet", "multisensory", "multisensory_small", "multisensory_small_video"]


class MultisensoryNet(nn.Module):
    """Owens & Efros' fused audio-visual network with a CAM-ready 1x1x1 conv head.

    Args:
        num_classes: outputs of the head (1: the aligned-vs-shifted logit).
        in_channels: video channels.
        audio_channels: waveform channels (2 in the paper, 1 for mono).
        video_width: channels of the video tower (64).
        audio_widths: the audio tower's (stem, blocks...) channels ((64, 128, 128, 256)).
        audio_stride: stride of the audio stem and blocks (4).
        audio_pool: the audio stem's max-pool (4).
        fused_width: channels after fusion (128); the audio is projected to this width.
        fusion_hidden: width of the first 1x1x1 fusion conv (512).
        stage_widths: channels of the post-fusion residual stages ((128, 256, 512)).
        stage_strides: stride of each stage's first block.
        stem_stride: stride of the video stem conv.
        block_stride: stride of the video tower's last block.
        video_only: build without the audio tower; the fused audio features are zeros. The
            classifier is then named ``classifier`` (not ``head``), so a sync network's
            weights (whose ``head`` is the one-logit sync head) load with ``strict=False``
            and no shape clash.
        frozen: train only the classifier (a linear probe): every other parameter is frozen
            and its BatchNorm layers stay in eval mode.
        mu_law: compress the input waveform inside the model.

    Attributes:
        num_features: width of the pooled embedding (``stage_widths[-1]``).
        feature_info: the video tower, the fusion and every post-fusion stage.
    """

    def __init__(
        self,
        *,
        num_classes: int = 1,
        in_channels: int = 3,
        audio_channels: int = 2,
        video_width: int = 64,
        audio_widths: Sequence[int] = (64, 128, 128, 256),
        audio_stride: int = 4,
        audio_pool: int = 4,
        fused_width: int = 128,
        fusion_hidden: int = 512,
        stage_widths: Sequence[int] = (128, 256, 512),
        stage_strides: Sequence = (1, 2, (1, 2, 2)),
        stem_stride: tuple[int, int, int] = (2, 2, 2),
        block_stride: tuple[int, int, int] = (2, 2, 2),
        video_only: bool = False,
        frozen: bool = False,
        mu_law: bool = True,
    ):
        super().__init__()
        self.video_only = video_only
        self.fused_width = fused_width
        self.video_tower = VideoTower(
            width=video_width, in_channels=in_channels, stem_stride=stem_stride, block_stride=block_stride
        )
        if not video_only:
            self.audio_tower = WaveformNet(  # the zoo's Owens & Efros waveform tower, no classifier
                num_classes=0, in_channels=audio_channels, stem_width=audio_widths[0], widths=tuple(audio_widths[1:]),
                stem_stride=audio_stride, stride=audio_stride, pool=audio_pool, compress=mu_law,
            )
            self.audio_proj = ConvBNAct(audio_widths[-1], fused_width, 1, dims=1)
        self.fusion = nn.Sequential(
            ConvBNAct(video_width + fused_width, fusion_hidden, 1, dims=3),
            ConvBNAct(fusion_hidden, fused_width, 1, dims=3, act=False),
        )
        if fused_width % video_width == 0:
            self.fusion_shortcut: nn.Module | None = None  # video channels repeated, as in the paper
        else:
            self.fusion_shortcut = ConvBNAct(video_width, fused_width, 1, dims=3, act=False)
        self.fusion_act = nn.ReLU(inplace=True)
        self.stages = residual_stages(stage_widths, stage_strides, fused_width)
        self.num_features = stage_widths[-1]
        head = nn.Conv3d(self.num_features, num_classes, 1)
        self.head_name = "classifier" if video_only else "head"
        self.add_module(self.head_name, head)
        self.num_classes = num_classes
        self.frozen = frozen
        if frozen:
            for name, p in self.named_parameters():
                p.requires_grad_(name.startswith(self.head_name + "."))
        s_sp = 4 * (block_stride[1] if isinstance(block_stride, (tuple, list)) else block_stride)
        self.feature_info = [
            {"module": "video_tower", "num_chs": video_width, "reduction": s_sp},
            {"module": "fusion_act", "num_chs": fused_width, "reduction": s_sp},
        ]
        for i, (w, s) in enumerate(zip(stage_widths, stage_strides)):
            s_sp *= s[1] if isinstance(s, (tuple, list)) else s
            self.feature_info.append({"module": f"stages.{i}", "num_chs": w, "reduction": s_sp})

    @property
    def classifier_conv(self) -> nn.Conv3d:
        """The 1x1x1 conv of the head (``head``, or ``classifier`` in video-only nets)."""
        return getattr(self, self.head_name)

    def train(self, mode: bool = True) -> "MultisensoryNet":
        super().train(mode)
        if self.frozen:  # a linear probe keeps the frozen features' BatchNorm statistics
            for name, m in self.named_children():
                if name != self.head_name:
                    m.eval()
        return self

    @staticmethod
    def _split(x) -> tuple[Tensor, Tensor | None]:
        if isinstance(x, dict):
            return x["video"], x.get("audio")
        return x, None

    def fuse_audio(self, v: Tensor, audio: Tensor | None, audio_feats: Tensor | None = None) -> Tensor:
        """Tile the audio features over the video features' space and fuse (the paper's merge).

        Args:
            v: video tower features (B, Cv, T', H', W').
            audio: waveform (B, C, N), or None in video-only mode.
            audio_feats: the audio tower's features of ``audio`` (B, Ca, N'), when already computed.

        Returns:
            fused features (B, fused_width, T', H', W').
        """
        b, _, t, h, w = v.shape
        if self.video_only or audio is None:
            if not self.video_only:
                raise ValueError("MultisensoryNet needs an 'audio' input unless built with video_only=True")
            a = v.new_zeros(b, self.fused_width, t, h, w)  # (B, Cf, T', H', W')
        else:
            a = self.audio_tower.forward_features(audio) if audio_feats is None else audio_feats  # (B, Ca, N')
            if a.shape[-1] < t:
                raise ValueError(
                    f"audio too short for the video: {audio.shape[-1]} samples give {a.shape[-1]} audio steps "
                    f"for {t} video steps"
                )
            a = F.adaptive_max_pool1d(a, t)  # (B, Ca, T') -- fractional max-pool to video time
            a = self.audio_proj(a)  # (B, Cf, T')
            a = repeat(a, "b c t -> b c t h w", h=h, w=w)  # (B, Cf, T', H', W')
        y = self.fusion(torch.cat([v, a], dim=1))  # (B, Cf, T', H', W')
        if self.fusion_shortcut is None:
            short = v.repeat(1, self.fused_width // v.shape[1], 1, 1, 1)  # (B, Cf, T', H', W')
        else:
            short = self.fusion_shortcut(v)  # (B, Cf, T', H', W')
        return self.fusion_act(y + short)

    def forward_features(self, x) -> Tensor:
        """Last feature map (B, num_features, T'', H'', W'') from ``{"video", "audio"}``."""
        video, audio = self._split(x)
        v = self.video_tower(video)  # (B, Cv, T', H', W')
        f = self.fuse_audio(v, audio)  # (B, Cf, T', H', W')
        return self.stages(f)  # (B, C, T'', H'', W'')

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Global mean pool, then the 1x1x1 conv: (B, num_classes) (or (B, C) with pre_logits)."""
        pooled = feats.mean(dim=(2, 3, 4))  # (B, C)
        if pre_logits:
            return pooled
        return self.classifier_conv(pooled[:, :, None, None, None]).flatten(1)  # (B, num_classes)

    def forward(self, x) -> Tensor:
        return self.forward_head(self.forward_features(x))

    def sync_score(self, x) -> Tensor:
        """The aligned logit (B,) (class 0); higher means "in sync"."""
        return self.forward(x)[:, 0]

    def score_audio_windows(self, video: Tensor, audio: Tensor) -> Tensor:
        """Aligned logits (S,) of one video window (1, 3, T, H, W) against S audio windows
        (S, C, N); the video tower runs once (offset search, eval mode)."""
        v = self.video_tower(video)  # (1, Cv, T', H', W')
        f = self.fuse_audio(v.expand(len(audio), *v.shape[1:]), audio)  # (S, Cf, T', H', W')
        return self.forward_head(self.stages(f))[:, 0]  # (S,)

    def audio_window_features(self, audio: Tensor) -> Tensor:
        """The audio tower's features (S, Ca, N') of S audio windows (S, C, N), for
        :meth:`score_audio_features` (an offset search reuses them across video windows)."""
        return self.audio_tower.forward_features(audio)

    def score_audio_features(self, video: Tensor, audio_feats: Tensor) -> Tensor:
        """:meth:`score_audio_windows` from precomputed :meth:`audio_window_features` (S, Ca, N')."""
        v = self.video_tower(video)  # (1, Cv, T', H', W')
        f = self.fuse_audio(v.expand(len(audio_feats), *v.shape[1:]), audio_feats, audio_feats)  # (S, Cf, T', H', W')
        return self.forward_head(self.stages(f))[:, 0]  # (S,)

    def cam(self, video: Tensor, audio: Tensor | None = None, *, class_index: int = 0) -> Tensor:
        """Class activation map: the head's 1x1x1 conv on the last feature map.

        Its spatio-temporal mean equals the logit (the head is linear after mean pooling).

        Args:
            video: (B, 3, T, H, W).
            audio: (B, C, N) waveform (None only for ``video_only`` models).
            class_index: which output's map.

        Returns:
            (B, T'', H'', W'') map.
        """
        feats = self.forward_features({"video": video, "audio": audio})  # (B, C, T'', H'', W'')
        return self.classifier_conv(feats)[:, class_index]  # (B, T'', H'', W'')


_PAPER = dict(audio_channels=2)
_SMALL = dict(
    audio_channels=1,
    video_width=16,
    audio_widths=(16, 32, 32, 64),
    audio_stride=4,
    audio_pool=2,
    fused_width=32,
    fusion_hidden=64,
    stage_widths=(32, 64, 64),
    stage_strides=(1, (1, 2, 2), 1),
    stem_stride=(1, 2, 2),
    block_stride=(1, 2, 2),
)


@register_model(
    modality="av",
    input_size={"video": (3, 125, 224, 224), "audio": (2, 88200)},
    tiny_input={"video": (3, 8, 32, 32), "audio": (2, 8192)},
)
def multisensory(**kwargs) -> MultisensoryNet:
    """The paper's network: 4.2 s clips at 29.97 fps, 224x224, stereo 21 kHz waveform."""
    return MultisensoryNet(**{**_PAPER, **kwargs})


@register_model(
    modality="av",
    input_size={"video": (3, 16, 64, 64), "audio": (1, 16000)},
    tiny_input={"video": (3, 8, 32, 32), "audio": (1, 8000)},
)
def multisensory_small(**kwargs) -> MultisensoryNet:
    """CPU-sized: 64x64, 1 s at 16 fps, mono 16 kHz; widths / 4, time kept at the frame rate."""
    return MultisensoryNet(**{**_SMALL, **kwargs})


@register_model(modality="video", input_size=(3, 16, 64, 64), tiny_input=(3, 8, 32, 32))
def multisensory_small_video(**kwargs) -> MultisensoryNet:
    """The video path of ``multisensory_small`` alone (for transfer to video-only tasks)."""
    return MultisensoryNet(**{**_SMALL, "video_only": True, **kwargs})
