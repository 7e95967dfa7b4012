"""Temporal Binding Network (EPIC-Fusion) and its late-fusion baseline.

Kazakos, Nagrani, Zisserman & Damen, "EPIC-Fusion: Audio-Visual Temporal Binding for Egocentric
Action Recognition" (ICCV 2019), Sec. 3 and Fig. 2-3:

* **Temporal binding.** The video is split into ``segments`` equal spans (TSN-style, Wang et
  al. ECCV 2016). Each span is a *temporal binding window*: inside it one frame and one audio
  window are sampled *independently* (random offsets in training, the window centre at
  evaluation), so the modalities are fused within a window of time but not forced to be
  synchronous.
* **Mid-level fusion.** Per segment, each modality's tower gives a pooled feature; the features
  are concatenated and fused by a fully connected layer with ReLU, then classified. This is
  exactly the per-frame network of Listen to Look's IMGAUD2VID
  (:class:`~avlearn.models.av.preview.ImageAudioNet`: two 2D ResNet towers on the frame and on a
  log-mel spectrogram, concat + FC), reused here as the per-segment network.
* **Consensus.** The predictions of the segments are averaged (TSN's average consensus).

The paper binds three modalities (RGB, optical flow, audio); this network binds RGB and audio
(flow enters avlearn through the two-stream video models). ``fusion="late"`` is the paper's
late-fusion baseline (Table 3): one single-modality network per
modality, each with its own classifier, their segment scores averaged. ``modalities`` selects
the audio-only or video-only network for the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from einops import rearrange
from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.preview import ImageAudioNet

__all__ = ["TemporalBindingNet", "binding_offsets", "tbn_tiny", "tbn_r18", "av_late_fusion_tiny"]

AV_MODALITIES = ("video", "audio")
FUSIONS = ("mid", "late")


def binding_offsets(span: int, window: int, segments: int, batch: int, *, random: bool, generator=None) -> Tensor:
    """Start index of a ``window`` inside each of ``segments`` equal spans of a length-``span`` axis.

    Returns ``(batch, segments)`` int64 starts: uniformly random within each binding window
    (``random=True``) or centred in it.

    Raises:
        ValueError: a window longer than a segment.
    """
    seg = span // segments
    if window > seg or seg < 1:
        raise ValueError(f"binding window: {segments} segments of {seg} steps cannot hold a window of {window}")
    base = torch.arange(segments) * seg  # (S,)
    if random:
        off = torch.randint(0, seg - window + 1, (batch, segments), generator=generator)  # (B, S)
    else:
        off = torch.full((batch, segments), (seg - window) // 2)
    return base + off


class TemporalBindingNet(nn.Module):
    """TBN: per-segment frame + audio window, mid-level (or late) fusion, averaged over segments.

    Args:
        num_classes: classes.
        modalities: ``("video", "audio")``, ``("video",)`` or ``("audio",)``.
        fusion: ``"mid"`` (concatenation + FC, the TBN) or ``"late"`` (per-modality classifiers,
            scores averaged).
        segments: binding windows per clip (3 in the paper's training).
        audio_window: audio samples per segment as a fraction of the segment's span.
        **net_kwargs: the per-segment network's options
            (:class:`~avlearn.models.av.preview.ImageAudioNet`: ``widths``, ``depths``, ``stem``,
            ``feature_dim``, ``sample_rate``, ``n_mels``, ``n_fft``, ``hop_length``, ``dropout``).

    Inputs:
        ``{"video": (B, 3, T, H, W), "audio": (B, C, N)}`` (only the keys of ``modalities``).
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        modalities: Sequence[str] = AV_MODALITIES,
        fusion: str = "mid",
        segments: int = 3,
        audio_window: float = 0.5,
        **net_kwargs,
    ):
        super().__init__()
        modalities = tuple(modalities)
        if not modalities or any(m not in AV_MODALITIES for m in modalities) or len(set(modalities)) != len(modalities):
            raise ValueError(f"TemporalBindingNet: modalities must be a non-empty subset of {AV_MODALITIES}, got {modalities}")
        if fusion not in FUSIONS:
            raise ValueError(f"TemporalBindingNet: fusion must be one of {FUSIONS}, got {fusion!r}")
        if not 0 < audio_window <= 1:
            raise ValueError(f"TemporalBindingNet: audio_window must be in (0, 1], got {audio_window}")
        self.modalities, self.fusion, self.segments, self.audio_window = modalities, fusion, int(segments), audio_window
        inner = {"video": "image", "audio": "audio"}
        if fusion == "mid" or len(modalities) == 1:
            nets = {"fused": ImageAudioNet(num_classes=num_classes, modalities=[inner[m] for m in modalities], **net_kwargs)}
        else:
            nets = {m: ImageAudioNet(num_classes=num_classes, modalities=[inner[m]], **net_kwargs) for m in modalities}
        self.nets = nn.ModuleDict(nets)
        self.num_features = sum(n.num_features for n in self.nets.values())
        self.feature_info = [
            dict(d, module=f"nets.{k}.{d['module']}") for k, n in self.nets.items() for d in n.feature_info
        ]

    def bind(self, x: dict[str, Tensor], generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Sample one frame and one audio window per binding window, folded into the batch:
        ``{"image": (B*S, 3, H, W), "audio": (B*S, C, n)}``."""
        out, s = {}, self.segments
        if "video" in self.modalities:
            v = x["video"]  # (B, C, T, H, W)
            b, t = v.shape[0], v.shape[2]
            idx = binding_offsets(t, 1, s, b, random=self.training, generator=generator).to(v.device)  # (B, S)
            frames = v[torch.arange(b, device=v.device)[:, None], :, idx]  # (B, S, C, H, W)
            out["image"] = rearrange(frames, "b s c h w -> (b s) c h w")
        if "audio" in self.modalities:
            a = x["audio"]  # (B, C, N)
            b, n = a.shape[0], a.shape[-1]
            win = max(1, int(n // s * self.audio_window))
            start = binding_offsets(n, win, s, b, random=self.training, generator=generator).to(a.device)  # (B, S)
            idx = start[..., None] + torch.arange(win, device=a.device)  # (B, S, win)
            windows = torch.gather(a[:, None].expand(-1, s, -1, -1), 3, idx[:, :, None].expand(-1, -1, a.shape[1], -1))
            out["audio"] = rearrange(windows, "b s c n -> (b s) c n")  # (B*S, C, win)
        return out

    def forward_features(self, x: dict[str, Tensor]) -> Tensor:
        """Per-segment features ``(B, S, num_features)`` (late fusion: the modalities' features side by side)."""
        b = next(iter(x.values())).shape[0]
        inputs = self.bind(x)
        feats = [n.forward_features(inputs) for n in self.nets.values()]  # each (B*S, F)
        return rearrange(torch.cat(feats, dim=-1), "(b s) f -> b s f", b=b)

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Per-segment classifiers (late fusion: the modalities' scores averaged), then the mean
        over segments ``(B, K)``; ``pre_logits`` returns the segment-averaged feature."""
        if pre_logits:
            return feats.mean(1)  # (B, F)
        parts = feats.split([n.num_features for n in self.nets.values()], dim=-1)
        scores = torch.stack([n.forward_head(p) for n, p in zip(self.nets.values(), parts)]).mean(0)  # (B, S, K)
        return scores.mean(1)  # (B, K): the consensus of the segments

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        return self.forward_head(self.forward_features(x))


_TINY = dict(widths=(16, 32, 64, 128), depths=(1, 1, 1, 1), stem="small", feature_dim=128, n_mels=32, hop_length=160)
_TINY_SHAPES = dict(
    modality="av",
    input_size={"video": (3, 12, 64, 64), "audio": (1, 48000)},
    tiny_input={"video": (3, 6, 32, 32), "audio": (1, 8000)},
)


@register_model(**_TINY_SHAPES)
def tbn_tiny(*, num_classes: int = 10, **kwargs) -> TemporalBindingNet:
    """CPU TBN: 16-128-channel ResNet towers (small stem), 128-wide fusion, 3 segments."""
    return TemporalBindingNet(num_classes=num_classes, **{**_TINY, **kwargs})


@register_model(**_TINY_SHAPES)
def av_late_fusion_tiny(*, num_classes: int = 10, **kwargs) -> TemporalBindingNet:
    """The late-fusion baseline of ``tbn_tiny``: per-modality networks, scores averaged."""
    return TemporalBindingNet(num_classes=num_classes, fusion="late", **{**_TINY, **kwargs})


@register_model(
    modality="av",
    input_size={"video": (3, 24, 224, 224), "audio": (1, 48000)},
    tiny_input={"video": (3, 6, 32, 32), "audio": (1, 8000)},
)
def tbn_r18(*, num_classes: int = 400, **kwargs) -> TemporalBindingNet:
    """TBN with ResNet-18 towers (He et al. Table 1) on frames and a 64-band log-mel, 512-wide fusion."""
    defaults = dict(widths=(64, 128, 256, 512), depths=(2, 2, 2, 2), stem="imagenet", feature_dim=512, n_mels=64,
                    hop_length=160, n_fft=400)
    return TemporalBindingNet(num_classes=num_classes, **{**defaults, **kwargs})
