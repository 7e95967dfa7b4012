"""The networks of audio-preview recognition (Gao et al., "Listen to Look: Action Recognition by
Previewing Audio", CVPR 2020).

* :class:`ImageAudioNet` is IMGAUD2VID's student (Sec. 3.1, Fig. 2): one frame and the audio
  around it go through an image tower and an audio tower (2D ResNets on the frame and on a
  log-mel spectrogram, :class:`~avlearn.models._resnet2d.ResNet2d`); the two pooled
  features are concatenated and fused by a fully connected layer into a feature that stands in
  for the clip feature of a 3D teacher, followed by the classifier. The teacher's softened
  predictions supervise it (the loss lives in :mod:`avlearn.tasks.preview.imgaud2vid`). With one
  modality (``modalities=("image",)`` or ``("audio",)``) the same network is the single-frame
  and the audio-only baseline of the paper's Fig. 5.
* :class:`SkimmingNet` is IMGAUD-SKIMMING (Sec. 3.2, Fig. 3): an LSTM that, step by step,
  queries an image feature bank and an audio feature bank (the student's tower features of
  every time step of an untrimmed video). Two query MLPs map the hidden state to a query per
  modality; dot-product attention against the keys of each bank gives two distributions over
  time steps, mixed by a 2-way modality attention (softmax of an MLP of the hidden state). The
  moment the mixture points at is "looked at": its image and audio features are indexed,
  fused, and fed to the LSTM as its next input. The prediction is made from the moments chosen
  (their fused features averaged, then a classifier).

Indexing is made differentiable for training (Gao et al., Sec. 3.2): ``"gumbel"``
draws a straight-through Gumbel-softmax sample (Jang et al., ICLR 2017, Eq. 2; the forward
pass uses the one-hot index, gradients flow through the soft sample), ``"soft"`` uses the
attention-weighted average of the bank (soft attention indexing). At evaluation the index is
the argmax, so only the chosen moments reach the classifier. Moments already chosen are
excluded from later steps, so ``steps`` distinct moments are looked at.

Registered: ``imgaud2vid_small`` (a media classifier) and ``imgaud_skimming_small`` (a task
network on feature banks: ``forward(image_bank, audio_bank[, mask])`` -> a dict with ``logits``,
``step_logits``, ``indices``, ``attention`` and ``modality``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchaudio
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d

__all__ = ["MODALITIES", "SELECTIONS", "ImageAudioNet", "SkimmingNet", "imgaud2vid_small", "imgaud_skimming_small"]

MODALITIES = ("image", "audio")
SELECTIONS = ("gumbel", "soft")


class ImageAudioNet(nn.Module):
    """IMGAUD2VID student: a frame and its audio -> a fused, clip-like feature -> logits.

    Args:
        num_classes: classifier outputs.
        modalities: ``("image", "audio")`` (the student), ``("image",)`` (single-frame
            baseline) or ``("audio",)`` (audio-only baseline).
        in_channels: image channels.
        sample_rate: audio sample rate the mel filterbank assumes.
        n_mels: mel bands.
        n_fft: FFT size of the spectrogram.
        hop_length: samples between spectrogram frames.
        widths: channels of the four stages of each tower.
        depths: basic blocks per stage.
        stem: ResNet stem of both towers, ``imagenet`` (7x7/2 conv + max-pool) or ``small``.
        feature_dim: width of the fused feature (the hallucinated clip feature).
        dropout: dropout before the classifier.

    Inputs:
        ``{"image": (B, 3, H, W) normalised frame, "audio": (B, C, N) waveform}`` (only the
        keys of ``modalities`` are read).
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        modalities: Sequence[str] = MODALITIES,
        in_channels: int = 3,
        sample_rate: int = 16000,
        n_mels: int = 40,
        n_fft: int = 512,
        hop_length: int = 320,
        widths: Sequence[int] = (16, 32, 64, 128),
        depths: Sequence[int] = (1, 1, 1, 1),
        stem: str = "imagenet",
        feature_dim: int = 256,
        dropout: float = 0.0,
    ):
        super().__init__()
        modalities = tuple(modalities)
        if not modalities or any(m not in MODALITIES for m in modalities) or len(set(modalities)) != len(modalities):
            raise ValueError(f"ImageAudioNet: modalities must be a non-empty subset of {MODALITIES}, got {modalities}")
        self.modalities = modalities
        self.sample_rate, self.n_fft, self.hop_length = int(sample_rate), int(n_fft), int(hop_length)
        tower = dict(num_classes=0, widths=tuple(widths), depths=tuple(depths), stem=stem)
        self.feature_info: list[dict] = []
        self.image_net = self.audio_net = self.melspec = self.audio_norm = None
        if "image" in modalities:
            self.image_net = ResNet2d(in_channels=in_channels, **tower)
            self.feature_info += [dict(d, module=f"image_net.{d['module']}") for d in self.image_net.feature_info]
        if "audio" in modalities:
            self.melspec = torchaudio.transforms.MelSpectrogram(
                sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels
            )
            self.audio_norm = nn.BatchNorm2d(1)  # log-mel levels -> zero mean, unit variance
            self.audio_net = ResNet2d(in_channels=1, **tower)
            self.feature_info.append(dict(self.audio_net.feature_info[-1], module=f"audio_net.{self.audio_net.feature_info[-1]['module']}"))
        self.image_dim = self.image_net.num_features if self.image_net is not None else 0
        self.audio_dim = self.audio_net.num_features if self.audio_net is not None else 0
        self.fusion = nn.Sequential(nn.Linear(self.image_dim + self.audio_dim, feature_dim), nn.ReLU(inplace=True))
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)
        self.num_features = feature_dim
        self.num_classes = num_classes

    def log_mel(self, audio: Tensor) -> Tensor:
        """Waveform (B, C, N) -> normalised log-mel (B, 1, n_mels, frames)."""
        spec = torch.log(self.melspec(audio.mean(dim=1, keepdim=True)) + 1e-6)  # (B, 1, M, L)
        return self.audio_norm(spec)

    def image_features(self, image: Tensor) -> Tensor:
        """Pooled image-tower feature (B, image_dim) of frames (B, 3, H, W)."""
        return self.image_net.forward_features(image).mean(dim=(2, 3))  # (B, Di)

    def audio_features(self, audio: Tensor) -> Tensor:
        """Pooled audio-tower feature (B, audio_dim) of waveforms (B, C, N)."""
        return self.audio_net.forward_features(self.log_mel(audio)).mean(dim=(2, 3))  # (B, Da)

    def fuse(self, image_feat: Tensor | None, audio_feat: Tensor | None) -> Tensor:
        """Fused feature (B, feature_dim) from the pooled tower features present."""
        parts = [f for f in (image_feat, audio_feat) if f is not None]
        return self.fusion(torch.cat(parts, dim=-1))  # (B, F)

    def forward_features(self, x: dict[str, Tensor]) -> Tensor:
        """The fused feature (B, feature_dim) of ``{"image", "audio"}``."""
        img = self.image_features(x["image"]) if self.image_net is not None else None
        aud = self.audio_features(x["audio"]) if self.audio_net is not None else None
        return self.fuse(img, aud)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Dropout and the classifier; ``pre_logits`` returns the fused feature."""
        return feats if pre_logits else self.fc(self.drop(feats))  # (B, K)

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        return self.forward_head(self.forward_features(x))


class SkimmingNet(nn.Module):
    """IMGAUD-SKIMMING: an attention LSTM that picks the moments of a video to look at.

    Args:
        num_classes: video classes.
        image_dim: width of the image bank's features.
        audio_dim: width of the audio bank's features.
        feature_dim: width of the fused feature of a moment (the LSTM's input).
        hidden: LSTM hidden size (1024 in the paper).
        key_dim: width of queries and keys.
        steps: moments looked at.
        selection: differentiable indexing used in training, ``"gumbel"`` or ``"soft"``.
        tau: Gumbel-softmax temperature.
        dropout: dropout before the classifier.

    Inputs of ``forward``: ``image_bank`` (B, T, image_dim), ``audio_bank`` (B, T, audio_dim)
    and an optional ``mask`` (B, T), True where a time step exists (videos of different
    lengths padded to T).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        image_dim: int,
        audio_dim: int,
        feature_dim: int = 256,
        hidden: int = 256,
        key_dim: int = 64,
        steps: int = 4,
        selection: str = "gumbel",
        tau: float = 1.0,
        dropout: float = 0.0,
    ):
        super().__init__()
        if selection not in SELECTIONS:
            raise ValueError(f"SkimmingNet: selection must be one of {SELECTIONS}, got {selection!r}")
        if steps < 1:
            raise ValueError(f"SkimmingNet: steps must be >= 1, got {steps}")
        self.steps, self.selection, self.tau, self.key_dim = int(steps), selection, float(tau), int(key_dim)
        self.key_image = nn.Linear(image_dim, key_dim)
        self.key_audio = nn.Linear(audio_dim, key_dim)
        self.query_image = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, key_dim))
        self.query_audio = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, key_dim))
        self.modality = nn.Sequential(nn.Linear(hidden, hidden // 2), nn.ReLU(inplace=True), nn.Linear(hidden // 2, 2))
        self.fusion = nn.Sequential(nn.Linear(image_dim + audio_dim, feature_dim), nn.ReLU(inplace=True))
        self.preview = nn.Sequential(nn.Linear(audio_dim, feature_dim), nn.ReLU(inplace=True))
        self.lstm = nn.LSTMCell(feature_dim, hidden)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(feature_dim, num_classes)
        self.num_classes, self.hidden = num_classes, hidden
        self.hparams = dict(num_classes=num_classes, image_dim=image_dim, audio_dim=audio_dim, feature_dim=feature_dim,
                            hidden=hidden, key_dim=key_dim, steps=steps, selection=selection, tau=tau, dropout=dropout)

    def init_fusion(self, student: ImageAudioNet) -> None:
        """Start the moment fusion from an IMGAUD2VID student's fusion layer (same shapes)."""
        self.fusion.load_state_dict(student.fusion.state_dict())

    def attention(self, h: Tensor, keys_image: Tensor, keys_audio: Tensor, invalid: Tensor) -> tuple[Tensor, Tensor]:
        """Where to look next: the mixed distribution over time steps and the modality weights.

        Args:
            h: LSTM hidden state (B, hidden).
            keys_image, keys_audio: (B, T, key_dim).
            invalid: (B, T) True where a step may not be chosen.

        Returns:
            ``p`` (B, T), a distribution over the allowed steps, and ``w`` (B, 2), the weights of
            the image and the audio attention.
        """
        scale = 1.0 / math.sqrt(self.key_dim)
        q_img, q_aud = self.query_image(h), self.query_audio(h)  # (B, d) each
        s_img = torch.einsum("btd,bd->bt", keys_image, q_img) * scale  # (B, T)
        s_aud = torch.einsum("btd,bd->bt", keys_audio, q_aud) * scale  # (B, T)
        a_img = s_img.masked_fill(invalid, float("-inf")).softmax(dim=1)  # (B, T)
        a_aud = s_aud.masked_fill(invalid, float("-inf")).softmax(dim=1)  # (B, T)
        w = self.modality(h).softmax(dim=1)  # (B, 2)
        return w[:, :1] * a_img + w[:, 1:] * a_aud, w  # (B, T), (B, 2)

    def select(self, p: Tensor, invalid: Tensor) -> Tensor:
        """Selection weights (B, T): one-hot argmax at evaluation; a straight-through Gumbel
        sample or ``p`` itself in training."""
        if not self.training:
            return F.one_hot(p.argmax(dim=1), p.shape[1]).to(p.dtype)  # (B, T)
        if self.selection == "soft":
            return p
        logp = p.clamp_min(1e-20).log().masked_fill(invalid, float("-inf"))  # (B, T)
        return F.gumbel_softmax(logp, tau=self.tau, hard=True, dim=1)  # (B, T)

    def forward(self, image_bank: Tensor, audio_bank: Tensor, mask: Tensor | None = None, *, steps: int | None = None) -> dict[str, Tensor]:
        """Look at ``steps`` moments and classify the video.

        Returns:
            ``logits`` (B, K) from the moments chosen; ``step_logits`` (B, S, K), the
            prediction after each step (from the moments chosen so far); ``indices`` (B, S)
            the chosen time steps; ``attention`` (B, S, T) the distribution each choice was
            made from; ``modality`` (B, S, 2) the image and audio attention weights.
        """
        B, T, _ = image_bank.shape
        steps = self.steps if steps is None else int(steps)
        mask = torch.ones(B, T, dtype=torch.bool, device=image_bank.device) if mask is None else mask.bool()
        keys_image, keys_audio = self.key_image(image_bank), self.key_audio(audio_bank)  # (B, T, d) each
        lengths = mask.sum(dim=1, keepdim=True).clamp_min(1)  # (B, 1)
        preview = (audio_bank * mask[..., None]).sum(dim=1) / lengths  # (B, Da): the whole-video audio preview
        x = self.preview(preview)  # (B, F)
        h = c = image_bank.new_zeros(B, self.hidden)
        chosen = torch.zeros_like(mask)
        feats, indices, attn, modal = [], [], [], []
        for _ in range(steps):
            h, c = self.lstm(x, (h, c))  # (B, hidden) each
            invalid = ~mask | chosen
            invalid = torch.where(invalid.all(dim=1, keepdim=True), ~mask, invalid)  # all seen: allow repeats
            p, w = self.attention(h, keys_image, keys_audio, invalid)  # (B, T), (B, 2)
            y = self.select(p, invalid)  # (B, T)
            img = torch.einsum("bt,btd->bd", y, image_bank)  # (B, Di)
            aud = torch.einsum("bt,btd->bd", y, audio_bank)  # (B, Da)
            x = self.fusion(torch.cat([img, aud], dim=1))  # (B, F)
            idx = y.detach().argmax(dim=1)  # (B,)
            chosen = chosen | F.one_hot(idx, T).bool()
            feats.append(x)
            indices.append(idx)
            attn.append(p)
            modal.append(w)
        feats_t = torch.stack(feats, dim=1)  # (B, S, F)
        running = feats_t.cumsum(dim=1) / torch.arange(1, steps + 1, device=feats_t.device)[None, :, None]  # (B, S, F)
        step_logits = self.fc(self.drop(running))  # (B, S, K)
        return {
            "logits": step_logits[:, -1],
            "step_logits": step_logits,
            "indices": torch.stack(indices, dim=1),
            "attention": torch.stack(attn, dim=1),
            "modality": torch.stack(modal, dim=1),
        }


@register_model(
    modality="av",
    input_size={"image": (3, 32, 32), "audio": (1, 16000)},
    tiny_input={"image": (3, 32, 32), "audio": (1, 8000)},
)
def imgaud2vid_small(*, num_classes: int = 400, **kwargs) -> ImageAudioNet:
    """CPU-sized IMGAUD2VID student: a 32x32 frame and 1 s of 16 kHz audio (40-band log-mel),
    two ResNet towers of 16-128 channels with the 7x7/2 stem, a 256-wide fused feature."""
    return ImageAudioNet(num_classes=num_classes, **kwargs)


@register_model(
    modality="av",
    input_size={"image_bank": (64, 128), "audio_bank": (64, 128)},
    tiny_input={"image_bank": (6, 128), "audio_bank": (6, 128)},
    output="dict",
    kwargs_input=True,
)
def imgaud_skimming_small(*, num_classes: int = 400, image_dim: int = 128, audio_dim: int = 128, feature_dim: int = 256,
                          **kwargs) -> SkimmingNet:
    """IMGAUD-SKIMMING over the banks of ``imgaud2vid_small`` (128-D image and audio features,
    256-D fused), a 256-wide LSTM, 4 steps. Forward: ``(image_bank (B, T, 128), audio_bank
    (B, T, 128)[, mask (B, T)])`` -> dict of ``logits`` (B, K) and the steps' choices."""
    return SkimmingNet(num_classes=num_classes, image_dim=image_dim, audio_dim=audio_dim, feature_dim=feature_dim, **kwargs)
