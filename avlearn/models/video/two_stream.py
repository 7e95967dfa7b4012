"""Two-stream network: appearance from one RGB frame, motion from stacked optical flow.

Simonyan & Zisserman, "Two-Stream Convolutional Networks for Action Recognition in Videos"
(NeurIPS 2014). The spatial stream is a 2D CNN on a single frame (here the middle one of the
clip); the temporal stream is the same kind of CNN whose first convolution sees the x and y
flow of L consecutive frame pairs stacked into 2L channels (their Sec. 3.1, eq. 1, "optical flow
stacking", L = 10). Class scores are fused either by averaging the two streams' softmax
scores (their Sec. 6, "fusion by averaging") or by a learned layer over the concatenated
pooled features (their "fusion by SVM", replaced by a linear layer trained end to end).

Input is a dict ``{"rgb": (B, 3, T, H, W), "flow": (B, 2L, H, W)}``; the flow comes from
:func:`avlearn.flow.optical_flow` + :func:`avlearn.flow.stack_flow` (or a cache written by
``data_prep/cache_flow.py``), ``(B, L, 2, H, W)`` is stacked here. Both streams are
:class:`~avlearn.models._resnet2d.ResNet2d` (ResNet-18 at the standard size instead of
the paper's CNN-M-2048, a small ResNet for CPU training).

With ``fusion="average"`` the logits returned are ``log((softmax(s) + softmax(t)) / 2)``: the
log of the averaged class scores, so ``cross_entropy`` on them trains the fused prediction
and ``softmax`` of them is exactly the paper's average. :meth:`TwoStreamNet.forward_streams`
gives each stream's own logits, to train the streams separately as in the paper.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from avlearn.flow import stack_flow
from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d

__all__ = ["TwoStreamNet", "two_stream_resnet18", "two_stream_small"]

FUSIONS = ("average", "learned")


class TwoStreamNet(nn.Module):
    """Spatial (RGB frame) and temporal (stacked flow) 2D ResNets with late score fusion.

    Args:
        num_classes: classes.
        in_channels: channels of the RGB clip.
        num_flow_frames: L, the number of flow fields stacked (the temporal stream sees 2L
            channels).
        fusion: "average" (mean of the streams' softmax scores) or "learned" (a linear layer on
            the concatenated pooled features of both streams).
        widths: stage widths of both ResNets.
        depths: blocks per stage.
        stem: ResNet stem, "imagenet" or "small".
        drop_rate: dropout before the classifiers (the paper uses heavy dropout: 0.5-0.9).
        norm_layer: 2D normalisation constructor.
        act_layer: activation constructor.
    """

    def __init__(
        self,
        *,
        num_classes: int = 400,
        in_channels: int = 3,
        num_flow_frames: int = 10,
        fusion: str = "average",
        widths: tuple[int, ...] = (64, 128, 256, 512),
        depths: tuple[int, ...] = (2, 2, 2, 2),
        stem: str = "imagenet",
        drop_rate: float = 0.0,
        norm_layer: Callable[[int], nn.Module] = nn.BatchNorm2d,
        act_layer: Callable[[], nn.Module] = nn.ReLU,
    ):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}; got {fusion!r}")
        self.fusion = fusion
        self.num_flow_frames = num_flow_frames
        stream_classes = num_classes if fusion == "average" else 0
        common = {
            "widths": widths,
            "depths": depths,
            "stem": stem,
            "drop_rate": drop_rate,
            "norm_layer": norm_layer,
            "act_layer": act_layer,
        }
        self.spatial = ResNet2d(num_classes=stream_classes, in_channels=in_channels, **common)
        self.temporal = ResNet2d(num_classes=stream_classes, in_channels=2 * num_flow_frames, **common)
        width = self.spatial.num_features
        self.num_features = 2 * width
        self.fuse = nn.Linear(2 * width, num_classes) if fusion == "learned" else None
        self.feature_info = [
            {**info, "module": f"{stream}.{info['module']}"}
            for pair in zip(self.spatial.feature_info, self.temporal.feature_info)
            for stream, info in zip(("spatial", "temporal"), pair)
        ]

    def _inputs(self, x: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Validate the input dict; return the middle RGB frame and the stacked flow."""
        if not isinstance(x, dict) or "rgb" not in x or "flow" not in x:
            got = sorted(x) if isinstance(x, dict) else type(x).__name__
            raise ValueError(f"TwoStreamNet takes {{'rgb': (B, 3, T, H, W), 'flow': (B, 2L, H, W)}}; got {got}")
        rgb, flow = x["rgb"], x["flow"]
        if rgb.dim() != 5:
            raise ValueError(f"'rgb' must be (B, C, T, H, W); got shape {tuple(rgb.shape)}")
        if flow.dim() == 5:  # (B, L, 2, H, W) unstacked
            flow = stack_flow(flow)  # (B, 2L, H, W)
        if flow.dim() != 4 or flow.shape[1] != 2 * self.num_flow_frames:
            raise ValueError(
                f"'flow' must be (B, {2 * self.num_flow_frames}, H, W) (L={self.num_flow_frames} stacked x/y fields); "
                f"got shape {tuple(flow.shape)}"
            )
        frame = rgb[:, :, rgb.shape[2] // 2]  # (B, 3, H, W) the middle frame
        return frame, flow

    def forward_features(self, x: dict[str, Tensor]) -> Tensor:
        """Both streams' last maps concatenated on channels: ``(B, 2C, h, w)``.

        The first C channels are the spatial stream's, the last C the temporal stream's; the
        flow map is resized to the RGB map's size if the two inputs differ in resolution.
        """
        frame, flow = self._inputs(x)
        fs = self.spatial.forward_features(frame)  # (B, C, H/r, W/r)
        ft = self.temporal.forward_features(flow)  # (B, C, H'/r, W'/r)
        if ft.shape[-2:] != fs.shape[-2:]:
            ft = F.adaptive_avg_pool2d(ft, fs.shape[-2:])  # (B, C, H/r, W/r)
        return torch.cat((fs, ft), dim=1)  # (B, 2C, H/r, W/r)

    def _stream_logits(self, feats: Tensor) -> tuple[Tensor, Tensor]:
        fs, ft = feats.chunk(2, dim=1)  # each (B, C, h, w)
        return self.spatial.forward_head(fs), self.temporal.forward_head(ft)  # each (B, K)

    def forward_streams(self, x: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """Each stream's own logits ``(spatial, temporal)``, both ``(B, num_classes)``.

        Only with ``fusion="average"`` (the learned fusion has no per-stream classifier).
        """
        if self.fuse is not None:
            raise ValueError("forward_streams needs fusion='average'; this model fuses with a learned layer")
        return self._stream_logits(self.forward_features(x))

    def forward_head(self, feats: Tensor, pre_logits: bool = False) -> Tensor:
        """Fuse the streams. ``pre_logits`` returns both pooled embeddings ``(B, 2C)``."""
        if pre_logits:
            fs, ft = feats.chunk(2, dim=1)  # each (B, C, h, w)
            return torch.cat(
                (self.spatial.forward_head(fs, pre_logits=True), self.temporal.forward_head(ft, pre_logits=True)), 1
            )
        if self.fuse is not None:
            return self.fuse(self.forward_head(feats, pre_logits=True))  # (B, K)
        s, t = self._stream_logits(feats)  # each (B, K)
        log_scores = torch.stack((s.log_softmax(-1), t.log_softmax(-1)))  # (2, B, K)
        return torch.logsumexp(log_scores, dim=0) - math.log(2.0)  # (B, K) log of the mean softmax

    def forward(self, x: dict[str, Tensor]) -> Tensor:
        """``{"rgb": (B, 3, T, H, W), "flow": (B, 2L, H, W)} -> (B, num_classes)``."""
        return self.forward_head(self.forward_features(x))


@register_model(modality="two_stream", input_size=(3, 11, 64, 64), tiny_input=(3, 11, 32, 32))
def two_stream_small(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> TwoStreamNet:
    """Two small ResNets (3x3 stem, 16-128 channels), L = 10 flow fields; for 64x64 clips."""
    kwargs.setdefault("widths", (16, 32, 64, 128))
    kwargs.setdefault("depths", (1, 1, 1, 1))
    kwargs.setdefault("stem", "small")
    return TwoStreamNet(num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="two_stream", input_size=(3, 11, 224, 224), tiny_input=(3, 11, 32, 32))
def two_stream_resnet18(*, num_classes: int = 400, in_channels: int = 3, **kwargs) -> TwoStreamNet:
    """Two ResNet-18 streams, L = 10 flow fields, 224x224 (Simonyan & Zisserman's setting)."""
    return TwoStreamNet(num_classes=num_classes, in_channels=in_channels, **kwargs)
