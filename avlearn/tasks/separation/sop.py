"""Sound of Pixels (Zhao et al., ECCV 2018): the mix-and-separate task with frame features.

The network (:class:`~avlearn.models.av.sound_of_pixels.SoundOfPixelsNet`, registered as
``sound_of_pixels_small``) is the paper's Sec. 3.2-3.3: a U-Net on the mixture's log-magnitude
spectrogram gives K maps ``s_k(f, t)``, a frame encoder gives each source K features ``i_k``,
and the synthesizer makes its mask ``m(f, t) = sigmoid(sum_k w_k i_k s_k(f, t) + b)``. This
task adds the loss, the weighted L1 (ratio masks) or BCE (binary masks) of
:mod:`avlearn.tasks.separation.masks` over the (warped) spectrogram, and the recipe checks.

The recipe's ``model`` section names the network and its arguments::

    model:
      name: sound_of_pixels_small
      kwargs: {unet_levels: 5, unet_channels: 32, sound_channels: 32, visual_width: 16, temporal: true}
      visual_weights: runs/sync_multisensory/weights.pt   # with kwargs.visual: sync_tower

``kwargs.temporal: true`` keeps the visual features in time (Sound of Motions, Zhao et al., ICCV
2019, Sec. 3) and wants every frame of the window (``data.num_frames`` at least the frames of
the longest clip). ``kwargs.visual: sync_tower`` swaps the frame CNN for the video tower of the
multisensory sync network (Owens & Efros, ECCV 2018, Sec. 6), started from
``model.visual_weights`` (a sync run's ``weights.pt``); the audio U-Net keeps its own start (the
sync net's audio tower is a 1D network on the waveform). ``kwargs.conditioning: bottleneck``
conditions the U-Net bottleneck instead of the synthesizer (Gao & Grauman, ICCV 2019,
Sec. 3.2). Recipe: ``avlearn/recipes/separate_instruments.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from avlearn.models.av.separation_visual import SyncTowerEncoder
from avlearn.models.av.sound_of_pixels import SoundOfPixelsNet
from avlearn.tasks.base import register_task
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import (
    SeparationConfig,
    SeparationTask,
    SeparatorModel,
    build_separator,
)

__all__ = ["SoundOfPixelsTask", "SoPConfig", "SoPModel", "build_sop"]


@dataclass
class SoPConfig(SeparationConfig):
    """Task section of ``sop`` (see :class:`SeparationConfig`)."""

    name: str = "sop"


@dataclass
class SoPModel(SeparatorModel):
    """Model section of ``sop``: a registered network (default ``sound_of_pixels_small``) and
    its ``kwargs`` (see :class:`SeparatorModel`).

    Attributes:
        visual_weights: a sync run's ``weights.pt`` to start the ``sync_tower`` visual encoder
            from (null: random init). Loaded before ``weights``, which (a whole separator) overrides it.
    """

    name: str = "sound_of_pixels_small"
    visual_weights: str | None = None


class SoundOfPixelsTask(SeparationTask):
    """Sound of Pixels: masks ``sigmoid(synthesizer)`` from frames (batch key ``"frames"``; an
    optional ``"regions"`` (B, S, 4) pools the visual features inside boxes, for files with
    several objects in one frame).

    Args:
        cfg: the task section.
        net: the network (``create_model("sound_of_pixels_small", ...)``).
    """

    def __init__(self, cfg: SeparationConfig, net: SoundOfPixelsNet):
        super().__init__(cfg)
        self.net = net

    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        return torch.sigmoid(self.net(net_input, batch["frames"], batch["valid"], batch.get("regions")))  # (B, S, R, T)


@register_task("sop", config=SoPConfig, model=SoPModel, data=SeparationData, datasets=build_separation_datasets)
def build_sop(cfg) -> SoundOfPixelsTask:
    """Build :class:`SoundOfPixelsTask` from a validated recipe (``visual_weights``, then ``weights``
    loaded if given).

    Raises:
        ConfigError: besides :func:`build_separator`'s, ``model.kwargs.temporal`` with fewer
            ``data.num_frames`` than a training window has frames (the features would skip
            frames), or ``model.visual_weights`` without the ``sync_tower`` visual encoder.
    """
    from avlearn.tasks.config import ConfigError

    d, m = cfg.data, cfg.model
    if m.kwargs.get("temporal") and d.duration is not None and d.num_frames < round(d.duration * d.fps):
        raise ConfigError("task sop", "data.num_frames", f"model.kwargs.temporal needs every frame of the window: at "
                          f"least {round(d.duration * d.fps)} (duration x fps), got {d.num_frames}")

    def make(task_cfg: SoPConfig, net: SoundOfPixelsNet) -> SoundOfPixelsTask:
        if m.visual_weights:
            if not isinstance(net.visual, SyncTowerEncoder):
                raise ConfigError("task sop", "model.visual_weights",
                                  f"needs model.kwargs.visual: sync_tower, got {m.kwargs.get('visual', 'frames')!r}")
            net.visual.load_sync_weights(m.visual_weights)
        return SoundOfPixelsTask(task_cfg, net)

    return build_separator(make, cfg, visual="frames", network=SoundOfPixelsNet)
