"""Co-Separation (Gao & Grauman, ICCV 2019): the object encoder, the conditioned U-Net and the classifier.

Sec. 3 of the paper, the network only (the losses live in ``avlearn.tasks.separation``):

* each detected **object region** is a source: its crop (frames ``F`` of a ``c x c`` box) is
  encoded into a visual vector ``v_n`` (a ResNet-18 in the paper; here the small
  :class:`~avlearn.models.av.separation_visual.FrameEncoder`, max over space and frames);
* the vector conditions the U-Net at its bottleneck (tiled and concatenated, Sec. 3.2), and the
  U-Net predicts that object's mask logit; the audio encoder runs once per mixture and the
  decoder once per object (:class:`~avlearn.models.av.unet.UNet` with ``index``);
* an **object classifier** on each separated spectrogram (the object-consistency loss, Eq. 3:
  ``L_obj = sum_n CE(C(log |M_n * X|), y_n)``), so each separated track sounds like its object.
  It runs on the separated spectrograms in the task's loss, not in :meth:`CoSeparationNet.forward`.

Shapes (``coseparation_small``)::

    log_mag (B, 1, R, T), crops (B, S, 3, F, c, c), valid (B, S) -> v (M, 32) for the M valid objects
    -> U-Net conditioned at the bottleneck -> mask logits (M, R, T)
    classifier: separated log-magnitude (M, 1, R, T) -> (M, classes)
"""

from __future__ import annotations

from torch import Tensor, nn

from avlearn.models._registry import register_model
from avlearn.models.av.separation_visual import FrameEncoder
from avlearn.models.av.sound_of_pixels import SEPARATOR_ENTRY
from avlearn.models.av.unet import unet_small

__all__ = ["CoSeparationNet", "coseparation_small"]


class CoSeparationNet(nn.Module):
    """Object encoder, bottleneck-conditioned U-Net and the spectrogram classifier.

    Args:
        classes: object classes of the consistency classifier.
        unet_levels, unet_channels: U-Net size.
        visual_width: first-stage channels of the object encoder.
        visual_channels: the object vector's size (condition channels).
    """

    def __init__(self, *, classes: int, unet_levels: int = 5, unet_channels: int = 16, visual_width: int = 16,
                 visual_channels: int = 32):
        super().__init__()
        self.visual = FrameEncoder(width=visual_width, stages=3, out_channels=visual_channels)
        self.audio = unet_small(in_channels=1, out_channels=1, levels=unet_levels, base_channels=unet_channels,
                                cond_channels=visual_channels)
        self.classifier = nn.Sequential(
            FrameEncoder(in_channels=1, width=visual_width, stages=4, out_channels=4 * visual_width),
            nn.ReLU(), nn.Linear(4 * visual_width, classes),
        )

    def forward(self, log_mag: Tensor, crops: Tensor, valid: Tensor) -> Tensor:
        """Mask logits (M, R, T) of the M valid objects (in ``valid``'s row-major order).

        Args:
            log_mag: (B, 1, R, T) mixture input.
            crops: (B, S, 3, F, c, c) object crops.
            valid: (B, S) real objects.
        """
        rows = valid.nonzero()[:, 0]  # (M,) mixture of each object
        obj = self.visual(crops[valid])  # (M, C) max over space and frames
        return self.audio(log_mag, obj, index=rows)[:, 0]  # (M, R, T)


@register_model(
    **SEPARATOR_ENTRY,
    input_size={"log_mag": (1, 256, 256), "crops": (4, 3, 3, 224, 224)},
    tiny_input={"log_mag": (1, 32, 16), "crops": (2, 3, 2, 16, 16)},
)
def coseparation_small(*, classes: int = 12, **kwargs) -> CoSeparationNet:
    """CPU-sized Co-Separation: a 3-stage object encoder (32-D object vectors), a 5-level U-Net of
    16..128 channels, and a 4-stage classifier over ``classes`` object classes (the paper: ResNet-18
    object features, a 7-level U-Net). Forward: ``(log_mag, crops, valid)`` -> mask logits (M, R, T)."""
    return CoSeparationNet(classes=classes, **kwargs)
