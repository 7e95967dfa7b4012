"""MBT: multimodal bottleneck transformer for audio-visual classification.

Nagrani, Yang, Arnab, Jansen, Schmid & Sun, "Attention Bottlenecks for Multimodal Fusion"
(NeurIPS 2021), Sec. 3:

* Each modality is tokenised as in ViT / AST: RGB frames into 16x16 patches (Sec. 3.1, ViViT's
  frame tokens), the log-mel spectrogram into 16x16 patches; each stream gets a learned
  positional embedding and its own classification token.
* Layers ``0 .. L_f - 1`` are modality-specific transformer layers (separate weights per
  modality, no exchange; Eq. 7).
* From the fusion layer ``L_f`` on, ``B`` learned *bottleneck* tokens ``z_fsn`` are the only
  channel between the modalities (Eq. 8-9): each modality's layer runs over its own tokens
  concatenated with the bottlenecks, ``[z_rgb^{l+1} || ẑ_fsn,rgb] = T_rgb([z_rgb^l || z_fsn^l])``
  and ``[z_spec^{l+1} || ẑ_fsn,spec] = T_spec([z_spec^l || z_fsn^l])``, and the bottlenecks of the
  next layer are the average ``z_fsn^{l+1} = (ẑ_fsn,rgb + ẑ_fsn,spec) / 2``.
* Each modality's classification token goes through its own linear classifier and the logits
  are averaged (Sec. 3).

With one modality (``modalities=("video",)`` or ``("audio",)``) the network is the corresponding
unimodal ViT baseline of the paper's Table 1. The transformer layers are the zoo's pre-norm
blocks (:mod:`avlearn.models.video._transformer`). The log-mel spectrogram is computed in the
model (25 ms window, 10 ms hop, as in AST/MBT; the FFT zero-pads the window to a power of two) and normalised by a BatchNorm.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
import torchaudio
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.video._transformer import Block, PatchEmbed, PosEmbed, init_trunc_normal_

__all__ = ["MBT", "mbt_base", "mbt_tiny"]

AV_MODALITIES = ("video", "audio")


class _Stream(nn.Module):
    """One modality: patch embedding, positional embedding, [CLS], its layers and classifier."""

    def __init__(self, in_channels: int, dim: int, kernel: tuple[int, int, int], grid: tuple[int, int, int],
                 depth: int, heads: int, mlp_ratio: float, drop: float, num_classes: int):
        super().__init__()
        self.embed = PatchEmbed(in_channels, dim, kernel)
        self.pos = PosEmbed(dim, frames=grid[0] if grid[0] > 1 else None, size=grid[1:])
        self.cls = nn.Parameter(init_trunc_normal_(torch.zeros(1, 1, dim)))
        self.blocks = nn.ModuleList([Block(dim, heads, mlp_ratio=mlp_ratio, drop=drop) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.fc = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def tokens(self, x: Tensor) -> Tensor:
        """``(B, C, T, H, W) -> (B, 1 + T*h*w, D)``: [CLS] then the patch tokens."""
        grid = self.pos(self.embed(x))  # (B, D, T, h, w)
        tok = rearrange(grid, "b d t h w -> b (t h w) d")
        return torch.cat([self.cls.expand(tok.shape[0], -1, -1), tok], dim=1)


class MBT(nn.Module):
    """Multimodal bottleneck transformer over RGB frame patches and spectrogram patches.

    Args:
        num_classes: classes.
        modalities: ``("video", "audio")`` (MBT), ``("video",)`` or ``("audio",)`` (baselines).
        num_frames: reference number of frames (the temporal positional embedding's length).
        img_size: reference frame size H = W.
        patch_size: P of the P x P patches of both modalities.
        embed_dim: token width D (shared, so the bottlenecks live in both streams).
        depth: transformer layers per modality (12 in ViT-Base).
        heads: attention heads.
        fusion_layer: ``L_f``, the first layer with bottleneck exchange (8 of 12 in the paper's
            default; ``depth`` gives no fusion but the averaged logits, i.e. late fusion).
        bottlenecks: number ``B`` of bottleneck tokens (4).
        sample_rate: audio sample rate.
        n_mels: mel bands.
        audio_seconds: reference audio duration (sizes the spectrogram's positional embedding).
        mlp_ratio: MLP hidden width / D.
        drop_rate: dropout in the layers.

    Inputs:
        ``{"video": (B, 3, T, H, W), "audio": (B, C, N) waveform}`` (only the keys of ``modalities``).
    """

    def __init__(
        self,
        *,
        num_classes: int = 527,
        modalities: Sequence[str] = AV_MODALITIES,
        num_frames: int = 8,
        img_size: int = 224,
        patch_size: int = 16,
        embed_dim: int = 768,
        depth: int = 12,
        heads: int = 12,
        fusion_layer: int = 8,
        bottlenecks: int = 4,
        sample_rate: int = 16000,
        n_mels: int = 128,
        audio_seconds: float = 8.0,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
    ):
        super().__init__()
        modalities = tuple(modalities)
        if not modalities or any(m not in AV_MODALITIES for m in modalities) or len(set(modalities)) != len(modalities):
            raise ValueError(f"MBT: modalities must be a non-empty subset of {AV_MODALITIES}, got {modalities}")
        if not 0 <= fusion_layer <= depth:
            raise ValueError(f"MBT: fusion_layer must be in [0, {depth}], got {fusion_layer}")
        self.modalities, self.fusion_layer, self.depth = modalities, int(fusion_layer), int(depth)
        p = patch_size
        common = dict(dim=embed_dim, depth=depth, heads=heads, mlp_ratio=mlp_ratio, drop=drop_rate, num_classes=num_classes)
        streams = {}
        if "video" in modalities:
            streams["video"] = _Stream(3, kernel=(1, p, p), grid=(num_frames, img_size // p, img_size // p), **common)
        if "audio" in modalities:
            hop, win = int(round(sample_rate * 0.010)), int(round(sample_rate * 0.025))
            with warnings.catch_warnings():  # 128 bands on a 512-point FFT leave the lowest filters
                warnings.filterwarnings("ignore", "At least one mel filterbank")  # empty, as in AST/Kaldi
                self.melspec = torchaudio.transforms.MelSpectrogram(
                    sample_rate=sample_rate,
                    n_fft=1 << (win - 1).bit_length(),  # the 25 ms window zero-padded to a power of two
                    win_length=win,
                    hop_length=hop,
                    n_mels=n_mels,
                )
            self.audio_norm = nn.BatchNorm2d(1)
            frames = int(audio_seconds * sample_rate) // hop + 1
            streams["audio"] = _Stream(1, kernel=(1, p, p), grid=(1, n_mels // p, frames // p), **common)
        self.streams = nn.ModuleDict(streams)
        fuses = len(modalities) > 1 and fusion_layer < depth
        self.bottleneck = nn.Parameter(init_trunc_normal_(torch.zeros(1, bottlenecks, embed_dim))) if fuses else None
        self.num_features = embed_dim * len(modalities)
        self.feature_info = [{"module": f"streams.{m}.embed", "num_chs": embed_dim, "reduction": p} for m in streams]
        for m in self.modules():
            if isinstance(m, nn.Linear):
                init_trunc_normal_(m.weight)
                nn.init.zeros_(m.bias)

    def log_mel(self, audio: Tensor) -> Tensor:
        """Waveform ``(B, C, N)`` -> normalised log-mel ``(B, 1, 1, n_mels, frames)`` (a one-frame "video")."""
        spec = torch.log(self.melspec(audio.mean(dim=1, keepdim=True)) + 1e-6)  # (B, 1, M, L)
        return self.audio_norm(spec).unsqueeze(2)

    def forward_features(self, x: dict[str, Tensor]) -> Tensor:
        """The classification tokens of the modalities side by side, ``(B, D * len(modalities))``."""
        inputs = {"video": lambda: x["video"], "audio": lambda: self.log_mel(x["audio"])}
        z = {m: s.tokens(inputs[m]()) for m, s in self.streams.items()}  # each (B, 1 + N_m, D)
        fsn = None
        for layer in range(self.depth):
            if layer < self.fusion_layer or len(z) == 1:
                z = {m: self.streams[m].blocks[layer](t) for m, t in z.items()}  # Eq. 7: no exchange
                continue
            if fsn is None:
                fsn = self.bottleneck.expand(next(iter(z.values())).shape[0], -1, -1)  # (B, nb, D)
            nb, outs = fsn.shape[1], {}
            for m, t in z.items():  # Eq. 8: each modality's layer over [own tokens || bottlenecks]
                outs[m] = self.streams[m].blocks[layer](torch.cat([t, fsn], dim=1))  # (B, 1 + N_m + nb, D)
            z = {m: o[:, :-nb] for m, o in outs.items()}  # (B, 1 + N_m, D)
            fsn = torch.stack([o[:, -nb:] for o in outs.values()]).mean(0)  # Eq. 9: averaged over modalities
        return torch.cat([self.streams[m].norm(t[:, 0]) for m, t in z.items()], dim=-1)  # (B, D * M)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Each modality's classifier on its [CLS] token, logits averaged; ``pre_logits`` returns ``feats``."""
        if pre_logits:
            return feats
        parts = feats.chunk(len(self.streams), dim=-1)
        return torch.stack([s.fc(f) for s, f in zip(self.streams.values(), parts)]).mean(0)  # (B, K)

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        return self.forward_head(self.forward_features(x))


@register_model(
    modality="av",
    input_size={"video": (3, 8, 64, 64), "audio": (1, 16000)},
    tiny_input={"video": (3, 4, 32, 32), "audio": (1, 8000)},
)
def mbt_tiny(*, num_classes: int = 10, **kwargs) -> MBT:
    """CPU MBT: 8 x 8 patches, D 64, 4 layers per modality (fusion from layer 2), 4 bottlenecks,
    32-band log-mel of 1 s at 16 kHz."""
    defaults = dict(num_frames=8, img_size=64, patch_size=8, embed_dim=64, depth=4, heads=4, fusion_layer=2,
                    n_mels=32, audio_seconds=1.0)
    return MBT(num_classes=num_classes, **{**defaults, **kwargs})


@register_model(
    modality="av",
    input_size={"video": (3, 8, 224, 224), "audio": (1, 128000)},
    tiny_input={"video": (3, 2, 32, 32), "audio": (1, 8000)},
)
def mbt_base(*, num_classes: int = 527, **kwargs) -> MBT:
    """MBT with ViT-Base layers (D 768, 12 layers, 12 heads), L_f = 8, B = 4 bottlenecks; 8 frames
    at 224 px and 8 s of 16 kHz audio as a 128-band log-mel (the paper's AudioSet setting)."""
    return MBT(num_classes=num_classes, **kwargs)
