"""Spatio-temporal action detection in the AVA style: actor boxes classified from a 3D backbone.

Gu et al., "AVA: A Video Dataset of Spatio-temporally Localized Atomic Visual Actions" (CVPR
2018), Sec. 5.1 and Fig. 6: a 3D ConvNet runs over the clip centred on a keyframe; its last
feature map is averaged over time; the feature of each actor box *on the keyframe* is cropped by
RoI pooling; a classifier gives one independent (sigmoid) score per atomic action, since an
actor does several actions at once (multi-label, trained with binary cross-entropy per class).
The crop here is ``torchvision.ops.roi_align`` (Mask R-CNN's bilinear RoIAlign, He et al. ICCV
2017, with ``aligned=True``), followed by a spatial max-pool as in SlowFast's AVA head
(Feichtenhofer et al., ICCV 2019, Sec. 5).

The backbone is any registered 3D network with ``forward_features`` and ``feature_info`` (a 3D
ResNet by default). Boxes are ``(x1, y1, x2, y2)`` normalised to [0, 1] of the keyframe, either
given (ground-truth actors, or a person detector's boxes) or, when absent, one whole-frame box
per clip. Registered as ``ava_r3d_18`` and ``ava_r3d_tiny``.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from avlearn.models._registry import create_model, register_model

__all__ = ["AVADetector", "check_boxes", "ava_r3d_18", "ava_r3d_tiny"]

Boxes = Tensor | Sequence[Tensor]


def check_boxes(boxes: Tensor, where: str = "boxes") -> Tensor:
    """Validate ``(..., 4)`` normalised ``(x1, y1, x2, y2)`` boxes.

    Raises:
        ValueError: wrong last dimension, coordinates outside [0, 1], or x2 < x1 / y2 < y1.
    """
    if boxes.shape[-1] != 4:
        raise ValueError(f"{where}: expected (..., 4) boxes (x1, y1, x2, y2), got shape {tuple(boxes.shape)}")
    if boxes.numel() and (boxes.min() < 0 or boxes.max() > 1):
        raise ValueError(f"{where}: box coordinates must be normalised to [0, 1], got range [{boxes.min():.3g}, {boxes.max():.3g}]")
    if (boxes[..., 2] < boxes[..., 0]).any() or (boxes[..., 3] < boxes[..., 1]).any():
        raise ValueError(f"{where}: boxes must have x2 >= x1 and y2 >= y1")
    return boxes


class AVADetector(nn.Module):
    """3D backbone -> temporal mean -> RoIAlign on actor boxes -> max-pool -> multi-label head.

    Args:
        backbone: registry name of a 3D video network (built with ``num_classes=0``).
        num_classes: atomic actions (80 in AVA v2); logits are independent per action.
        in_channels: video channels.
        roi_size: RoIAlign output size (7 x 7).
        sampling_ratio: bilinear samples per RoIAlign bin (0: adaptive).
        dropout: dropout before the classifier.
        **backbone_kwargs: passed to the backbone's builder.
    """

    def __init__(
        self,
        *,
        backbone: str = "r3d_18",
        num_classes: int = 80,
        in_channels: int = 3,
        roi_size: int = 7,
        sampling_ratio: int = 0,
        dropout: float = 0.0,
        **backbone_kwargs,
    ):
        super().__init__()
        self.backbone = create_model(backbone, num_classes=0, in_channels=in_channels, **backbone_kwargs)
        info = self.backbone.feature_info
        self.num_features = info[-1]["num_chs"]
        self.roi_size, self.sampling_ratio = int(roi_size), int(sampling_ratio)
        self.feature_info = [dict(d, module=f"backbone.{d['module']}") for d in info]
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(self.fc.weight, 0.0, 0.01)
        nn.init.zeros_(self.fc.bias)

    @staticmethod
    def _split(x: Tensor | dict, boxes: Boxes | None) -> tuple[Tensor, Boxes | None]:
        if isinstance(x, dict):
            return x["video"], x.get("boxes", boxes)
        return x, boxes

    def forward_features(self, x: Tensor | dict) -> Tensor:
        """The backbone's last feature map ``(B, C, T', H', W')`` of the clips ``(B, 3, T, H, W)``."""
        video, _ = self._split(x, None)
        return self.backbone.forward_features(video)

    def roi_features(self, feats: Tensor, boxes: Boxes | None) -> tuple[Tensor, list[int]]:
        """Pooled actor features ``(K, C)`` for all boxes and the number of boxes per clip.

        ``boxes``: ``(B, N, 4)``, a list of B ``(N_i, 4)`` tensors, or None (one whole-frame
        box per clip); normalised ``(x1, y1, x2, y2)`` on the keyframe.
        """
        from torchvision.ops import roi_align  # imported on first use: torchvision's import costs seconds
        b = feats.shape[0]
        if boxes is None:
            boxes = feats.new_tensor([0.0, 0.0, 1.0, 1.0]).expand(b, 1, 4)
        per_clip = list(boxes) if not isinstance(boxes, Tensor) else list(boxes.unbind(0))
        if len(per_clip) != b:
            raise ValueError(f"AVADetector: {len(per_clip)} box sets for {b} clips")
        per_clip = [
            check_boxes(bx.to(feats.dtype), f"AVADetector boxes of clip {i}").reshape(-1, 4) for i, bx in enumerate(per_clip)
        ]
        fmap = feats.mean(2)  # (B, C, H', W'): temporal pooling of the last feature map
        h, w = fmap.shape[-2:]
        scale = fmap.new_tensor([w, h, w, h])
        rois = [bx * scale for bx in per_clip]  # boxes in feature-map cells
        crops = roi_align(fmap.contiguous(), rois, self.roi_size, spatial_scale=1.0,
                          sampling_ratio=self.sampling_ratio, aligned=True)  # (K, C, r, r)
        return crops.amax((2, 3)), [len(r) for r in rois]  # (K, C)

    def forward_head(self, feats: Tensor, boxes: Boxes | None = None, pre_logits: bool = False):
        """Action logits per box: ``(B, N, K)`` for ``(B, N, 4)`` or absent boxes, a list of
        ``(N_i, K)`` for a list of boxes; ``pre_logits`` gives the pooled actor features instead."""
        pooled, counts = self.roi_features(feats, boxes)  # (sum N_i, C)
        out = pooled if pre_logits else self.fc(self.dropout(pooled))  # (sum N_i, K)
        if boxes is None or isinstance(boxes, Tensor):
            return out.view(feats.shape[0], -1, out.shape[-1])  # (B, N, K)
        return list(out.split(counts))

    def forward(self, x: Tensor | dict, boxes: Boxes | None = None):
        """``x``: clips ``(B, 3, T, H, W)`` or ``{"video": ..., "boxes": ...}``; returns per-box
        action logits (see :meth:`forward_head`)."""
        video, boxes = self._split(x, boxes)
        return self.forward_head(self.forward_features(video), boxes)


@register_model(modality="video", input_size=(3, 16, 224, 224), tiny_input=(3, 4, 32, 32))
def ava_r3d_18(*, num_classes: int = 80, in_channels: int = 3, **kwargs) -> AVADetector:
    """AVA detector on R3D-18 (16 frames around the keyframe, 14 x 14 map at 224 px), 80 actions."""
    return AVADetector(backbone="r3d_18", num_classes=num_classes, in_channels=in_channels, **kwargs)


@register_model(modality="video", input_size=(3, 8, 64, 64), tiny_input=(3, 4, 32, 32))
def ava_r3d_tiny(*, num_classes: int = 10, in_channels: int = 3, **kwargs) -> AVADetector:
    """AVA detector on ``r3d_tiny`` (width 16, one block per stage) for CPU."""
    return AVADetector(backbone="r3d_tiny", num_classes=num_classes, in_channels=in_channels, **kwargs)
