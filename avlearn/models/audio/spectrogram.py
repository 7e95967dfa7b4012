"""Log-mel spectrogram audio tower: a 2D ResNet on (frequency x time) images.

The network is the 2D ResNet of He et al. (CVPR 2016, Table 1; :class:`~avlearn.models._resnet2d.ResNet2d`)
on a log-mel spectrogram ``(B, 1, F, T)``, as in the spectrogram CNNs of Hershey et al.
(ICASSP 2017, "CNN Architectures for Large-Scale Audio Classification", the ResNet-50 rows of
their Table 3) and the audio subnetwork of Arandjelović & Zisserman (ICCV 2017, L3-Net).
``forward_features`` keeps both axes ``(B, C, F/r, T/r)``;
:meth:`~avlearn.models._resnet2d.ResNet2d.temporal_features` averages frequency away to
``(B, C, T/r)`` for fusion with video over time.

Two variants: ``spec_resnet18`` (Table 1's 18-layer column; parameter names follow
``torchvision.models.resnet18``, so a torchvision state dict saved to a local file loads with
``in_channels=3, num_classes=1000``) and ``spec_resnet_small`` (3x3/1 stem, 16-128 channels,
one block per stage), which trains in minutes on CPU.
"""

from __future__ import annotations

from avlearn.models._registry import register_model
from avlearn.models._resnet2d import ResNet2d

__all__ = ["spec_resnet18", "spec_resnet_small"]


@register_model(modality="audio", input_size=(1, 64, 128), tiny_input=(1, 64, 64))
def spec_resnet_small(*, num_classes: int = 10, in_channels: int = 1, **kwargs) -> ResNet2d:
    """Small log-mel ResNet: 3x3/1 stem, stages 16-32-64-128, one block each (~0.3 M params)."""
    return ResNet2d(
        num_classes=num_classes,
        in_channels=in_channels,
        widths=(16, 32, 64, 128),
        depths=(1, 1, 1, 1),
        stem="small",
        **kwargs,
    )


@register_model(modality="audio", input_size=(1, 128, 256), tiny_input=(1, 64, 64))
def spec_resnet18(*, num_classes: int = 527, in_channels: int = 1, **kwargs) -> ResNet2d:
    """ResNet-18 (He et al. Table 1) on log-mel; 527 outputs as AudioSet's label set by default."""
    return ResNet2d(num_classes=num_classes, in_channels=in_channels, **kwargs)
