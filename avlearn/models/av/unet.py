"""The U-Net audio network of visually guided separation (Sound of Pixels, Co-Separation, VisualVoice).

Zhao et al., ECCV 2018 (Sound of Pixels), Sec. 3.2 and the released ``Unet`` of
``models/audio_net.py``: a 7-level U-Net (Ronneberger et al. 2015) on the log-frequency
magnitude spectrogram. Each of the ``L`` encoder levels is a 4x4 convolution with stride 2
(LeakyReLU 0.2 before it, BatchNorm after it, except on the first and the innermost level);
each decoder level is ReLU, bilinear x2 upsampling and a 3x3 convolution (BatchNorm after it,
except on the outermost level), its input being the concatenation of the encoder feature of
the same level and the decoder output below (skip connections). The outermost convolution
gives ``K`` output channels (SoP: K = 32 "sound feature" maps, combined with the visual
features by the synthesizer; a separator predicting masks directly uses K = 1 or 2).

Channels per level: ``min(c * 2**i, 8c)`` with ``c = base_channels`` (SoP: c = 64, levels
64, 128, 256, 512, 512, 512, 512).

Conditioning at the bottleneck (Co-Separation, Gao & Grauman ICCV 2019, Sec. 3.2;
VisualVoice, Gao et al. CVPR 2021, Sec. 3.2): a visual vector (B, C) is tiled over the
innermost feature map, or a time-varying feature (B, C, T') (lip motion) is resampled to the
map's width and repeated over its rows, and concatenated before the decoder.

Inputs of any size work: the spectrogram is padded to a multiple of ``2**levels`` and the
output cropped back. Registered (task networks, ``output="maps"``): ``unet7`` and ``unet_small``,
and ``audio_only_unet_small``, the audio-only separator: one mask logit per output slot,
trained permutation-invariantly (Yu et al., ICASSP 2017; the audio-only baseline of Sound of
Pixels, Sec. 5, and VisualVoice, Table 2):

    >>> net = unet7(out_channels=32)                       # SoP's full-size U-Net
    >>> net = unet_small(out_channels=1, cond_channels=64)  # 5 levels of 16..128 channels (CPU)
    >>> y = net(torch.randn(2, 1, 128, 126), cond=torch.randn(2, 64))  # (2, 1, 128, 126)
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.models._registry import register_model

__all__ = ["UNet", "unet7", "unet_small", "audio_only_unet_small", "tile_condition"]


def tile_condition(cond: Tensor, height: int, width: int) -> Tensor:
    """A (B, C) vector or (B, C, T') sequence as a (B, C, height, width) map.

    Vectors are tiled over the whole map; sequences are linearly resampled to ``width`` and
    repeated over the rows (time runs along the width of a spectrogram).
    """
    if cond.dim() == 2:
        return cond[:, :, None, None].expand(-1, -1, height, width)  # (B, C, H, W)
    if cond.dim() == 3:
        seq = F.interpolate(cond, size=width, mode="linear", align_corners=False) if cond.shape[-1] != width else cond
        return seq[:, :, None, :].expand(-1, -1, height, -1)  # (B, C, H, W)
    raise ValueError(f"U-Net condition must be (B, C) or (B, C, T), got shape {tuple(cond.shape)}")


class UNet(nn.Module):
    """Sound of Pixels' U-Net, with optional conditioning at the bottleneck.

    Args:
        in_channels: input planes (1: log magnitude; 2: real/imaginary parts).
        out_channels: K output planes.
        levels: encoder levels (SoP: 7).
        base_channels: channels of the first level (SoP: 64); deeper levels double up to 8x.
        cond_channels: channels of the bottleneck condition (0: none).
        input_norm: BatchNorm the input planes first (SoP's ``bn0``).
        norm_layer: normalisation after the inner convolutions.
    """

    def __init__(
        self,
        *,
        in_channels: int = 1,
        out_channels: int = 32,
        levels: int = 7,
        base_channels: int = 64,
        cond_channels: int = 0,
        input_norm: bool = True,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
    ):
        super().__init__()
        if levels < 2:
            raise ValueError(f"UNet: levels must be >= 2, got {levels}")
        self.levels, self.cond_channels, self.out_channels = levels, cond_channels, out_channels
        ch = [min(base_channels * 2**i, base_channels * 8) for i in range(levels)]
        self.channels = ch
        self.input_norm = norm_layer(in_channels) if input_norm else nn.Identity()
        downs = []
        for i in range(levels):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, inplace=False)]
            layers.append(nn.Conv2d(in_channels if i == 0 else ch[i - 1], ch[i], 4, stride=2, padding=1, bias=i in (0, levels - 1)))
            if 0 < i < levels - 1:
                layers.append(norm_layer(ch[i]))
            downs.append(nn.Sequential(*layers))
        self.downs = nn.ModuleList(downs)
        ups = []
        for i in range(levels):
            cin = ch[i] + cond_channels if i == levels - 1 else 2 * ch[i]
            cout = out_channels if i == 0 else ch[i - 1]
            layers = [nn.ReLU(), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                      nn.Conv2d(cin, cout, 3, padding=1, bias=i == 0)]
            if i > 0:
                layers.append(norm_layer(cout))
            ups.append(nn.Sequential(*layers))
        self.ups = nn.ModuleList(ups)

    def forward_encoder(self, x: Tensor) -> list[Tensor]:
        """Encoder features of every level (the last is the bottleneck); x must be padded."""
        h = self.input_norm(x)  # (B, Cin, F, T)
        feats = []
        for down in self.downs:
            h = down(h)  # (B, ch[i], F / 2^(i+1), T / 2^(i+1))
            feats.append(h)
        return feats

    def forward(self, x: Tensor, cond: Tensor | None = None, index: Tensor | None = None) -> Tensor:
        """(B, Cin, F, T) -> (B', K, F, T).

        Args:
            x: input spectrograms.
            cond: (B', C) or (B', C, T') condition joined at the bottleneck.
            index: (B',) input row of each condition row: the encoder runs once per input and
                its features are shared by every condition of that input (one pass per mixture,
                one decoder pass per source). Default: ``B' == B``, row ``i`` with row ``i``.
        """
        if (cond is None) != (self.cond_channels == 0):
            raise ValueError(f"UNet built with cond_channels={self.cond_channels} got cond={'None' if cond is None else tuple(cond.shape)}")
        rows, frames = x.shape[-2:]
        m = 2**self.levels
        pad_f, pad_t = (-rows) % m, (-frames) % m
        x = F.pad(x, (0, pad_t, 0, pad_f))  # (B, Cin, F', T') multiples of 2^levels
        feats = self.forward_encoder(x)
        if index is not None:
            feats = [f[index] for f in feats]  # (B', ., ., .) shared encoder features
        h = feats[-1]  # (B', ch[-1], F'/2^L, T'/2^L)
        if cond is not None:
            if cond.dim() == 3:  # a sequence over the clip: resample to the unpadded share of the width
                inner = max(1, round(h.shape[-1] * frames / (frames + pad_t)))
                c = tile_condition(cond, h.shape[-2], inner)
                c = F.pad(c, (0, h.shape[-1] - inner, 0, 0), mode="replicate") if inner < h.shape[-1] else c
            else:
                c = tile_condition(cond, *h.shape[-2:])
            h = torch.cat([h, c.to(h.dtype)], dim=1)  # (B', ch[-1] + C, ., .)
        for i in reversed(range(self.levels)):
            if i < self.levels - 1:
                h = torch.cat([feats[i], h], dim=1)  # (B', 2 ch[i], ., .)
            h = self.ups[i](h)  # (B', ch[i-1] or K, 2x, 2x)
        return h[..., :rows, :frames]


@register_model(modality="audio", input_size=(1, 256, 256), tiny_input=(1, 32, 32), output="maps")
def unet7(*, in_channels: int = 1, out_channels: int = 32, base_channels: int = 64, cond_channels: int = 0) -> UNet:
    """Sound of Pixels' 7-level U-Net (64..512 channels) for 256 x 256 warped spectrograms."""
    return UNet(in_channels=in_channels, out_channels=out_channels, levels=7, base_channels=base_channels,
                cond_channels=cond_channels)


@register_model(modality="audio", input_size=(1, 128, 128), tiny_input=(1, 32, 32), output="maps")
def unet_small(*, in_channels: int = 1, out_channels: int = 32, base_channels: int = 16, levels: int = 5,
               cond_channels: int = 0) -> UNet:
    """A CPU-sized U-Net: 5 levels of 16..128 channels (about 0.5 M parameters), same layout."""
    return UNet(in_channels=in_channels, out_channels=out_channels, levels=levels, base_channels=base_channels,
                cond_channels=cond_channels)


@register_model(modality="audio", input_size=(1, 128, 128), tiny_input=(1, 32, 16), output="maps")
def audio_only_unet_small(*, max_outputs: int = 3, unet_levels: int = 5, unet_channels: int = 16) -> UNet:
    """The audio-only separator: a U-Net from the mixture's log magnitude (B, 1, R, T) to
    ``max_outputs`` mask logits (B, O, R, T), one per output slot (matched to the sources by
    permutation-invariant training). Same arguments as the visual separators' U-Nets."""
    return unet_small(in_channels=1, out_channels=max_outputs, levels=unet_levels, base_channels=unet_channels)
