"""The towers of a trained multisensory sync network, as the start of other tasks.

Owens & Efros, "Audio-Visual Scene Analysis with Self-Supervised Multisensory Features"
(ECCV 2018), Sec. 4-6: the network pretrained on audio-visual synchronization is the starting
point for action recognition, sound-source localization and on/off-screen separation. Here
its two towers (``multisensory_small``, :mod:`avlearn.models.av.multisensory`) are rebuilt
alone and loaded from a sync run's ``weights.pt``:

* the video tower (:class:`~avlearn.models.av._towers.VideoTower`: conv3d [5,7,7] s(1,2,2),
  max-pool s(1,2,2), two 3D residual blocks, the last with stride (1,2,2): spatial reduction 8);
* the audio tower (:class:`~avlearn.models.audio.waveform.WaveformNet` on the mu-law
  compressed mono waveform).

``dense=True`` removes the last block's spatial stride *à trous* (Holschneider et al. 1989;
Chen et al., "DeepLab", ICLR 2015, Sec. 3.1): its first convolution and projection shortcut
run at stride 1 and its second convolution is dilated by 2, so the tower computes the
pretrained features on a grid twice as dense (reduction 4) with the same receptive fields:
the dense map at even positions equals the strided tower's map exactly.

:func:`load_towers` copies the tower tensors of a sync run into any module that holds the
same towers under other names, checks that every tower tensor is there with its shape, and
reports what was loaded and what of the file was skipped (the fusion, post-fusion stages and
sync head). A file that lacks the towers raises :class:`TowerWeightsError` naming the file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from torch import Tensor, nn

from avlearn.models._registry import read_state_dict
from avlearn.models.audio.waveform import WaveformNet
from avlearn.models.av._towers import VideoTower
from avlearn.models.av.multisensory import _SMALL

__all__ = [
    "TowerWeightsError",
    "SYNC_TOWERS",
    "densify",
    "sync_video_tower",
    "sync_audio_tower",
    "load_towers",
]

log = logging.getLogger(__name__)

#: Prefixes of the two towers in a ``multisensory_small`` sync run's state dict.
SYNC_TOWERS = ("video_tower.", "audio_tower.")


class TowerWeightsError(ValueError):
    """A weights file that does not hold the towers a model asks for (the message names the file)."""


def densify(tower: VideoTower) -> VideoTower:
    """Remove the spatial stride of the tower's last residual block *à trous*, in place.

    The block's first conv and its projection shortcut run at stride 1 and its second conv is
    dilated (and padded) by the removed stride, so at even positions the output equals the
    strided block's output: same weights, same receptive field, twice the map resolution.

    Raises:
        ValueError: the last block has no spatial stride to remove.
    """
    block = tower.blocks[-1]
    conv1, conv2 = block.conv1[0], block.conv2[0]
    st, sh, sw = conv1.stride
    if (sh, sw) == (1, 1):
        raise ValueError("densify: the tower's last block has no spatial stride")
    if st != 1:
        raise ValueError(f"densify: the last block also strides time ({st}); only space is densified")
    conv1.stride = (1, 1, 1)
    if isinstance(block.shortcut, nn.Sequential):
        block.shortcut[0].stride = (1, 1, 1)
    conv2.dilation = (1, sh, sw)
    conv2.padding = (conv2.padding[0], conv2.padding[1] * sh, conv2.padding[2] * sw)
    return tower


def sync_video_tower(*, dense: bool = True, in_channels: int = 3) -> VideoTower:
    """The video tower of ``multisensory_small`` (16 channels; reduction 4 if ``dense``, else 8).

    Shapes: (B, 3, T, H, W) -> (B, 16, T, H / r, W / r) (time is kept: stem and blocks do
    not stride it).
    """
    tower = VideoTower(width=_SMALL["video_width"], in_channels=in_channels, stem_stride=_SMALL["stem_stride"],
                       block_stride=_SMALL["block_stride"])
    return densify(tower) if dense else tower


def sync_audio_tower() -> WaveformNet:
    """The audio tower of ``multisensory_small``: mono waveform (B, 1, N) -> (B, 64, ~N / 512)."""
    widths = _SMALL["audio_widths"]
    return WaveformNet(num_classes=0, in_channels=_SMALL["audio_channels"], stem_width=widths[0], widths=tuple(widths[1:]),
                       stem_stride=_SMALL["audio_stride"], stride=_SMALL["audio_stride"], pool=_SMALL["audio_pool"],
                       compress=True)


def _read_state(weights: str | os.PathLike | Mapping[str, Tensor]) -> tuple[str, dict[str, Tensor]]:
    try:
        return read_state_dict(weights)
    except FileNotFoundError:
        raise
    except ValueError as exc:
        raise TowerWeightsError(str(exc)) from None


def load_towers(module: nn.Module, weights: str | os.PathLike | Mapping[str, Tensor],
                prefixes: Mapping[str, str]) -> dict[str, list[str]]:
    """Copy a sync run's towers into ``module``; everything else of ``module`` is untouched.

    Args:
        module: holds the towers (parameters and BatchNorm buffers) under ``prefixes``' values.
        weights: a sync run's ``weights.pt`` (or checkpoint, or state dict).
        prefixes: file prefix -> module prefix, e.g. ``{"video_tower.": "tower."}``.

    Returns:
        ``{"loaded": module keys filled, "skipped": file keys not used}``; a one-line summary is
        logged (warning level, so a training log shows it).

    Raises:
        FileNotFoundError: no such file.
        TowerWeightsError: the file is not a state dict, or a tower tensor is missing from it or
            has another shape (a file of another network, or of another size of the sync net).
    """
    path, state = _read_state(weights)
    own = module.state_dict()
    picked: dict[str, Tensor] = {}
    for src, dst in prefixes.items():
        keys = [k for k in own if k.startswith(dst)]
        if not keys:
            raise ValueError(f"load_towers: {type(module).__name__} has no parameters under {dst!r}")
        missing = [src + k[len(dst):] for k in keys if src + k[len(dst):] not in state]
        if missing:
            raise TowerWeightsError(
                f"{path}: not a multisensory_small sync run's {src[:-1]}: {len(missing)} of its {len(keys)} tensors "
                f"are missing (e.g. {missing[:3]})"
            )
        for k in keys:
            value = state[src + k[len(dst):]]
            if value.shape != own[k].shape:
                raise TowerWeightsError(f"{path}: {src}{k[len(dst):]} has shape {tuple(value.shape)}, the model's "
                                        f"{k} {tuple(own[k].shape)} (another size of the sync net?)")
            picked[k] = value
    module.load_state_dict(picked, strict=False)
    used = {src + k[len(dst):] for src, dst in prefixes.items() for k in picked if k.startswith(dst)}
    skipped = [k for k in state if k not in used]
    groups = sorted({k.split(".")[0] for k in skipped})
    log.warning("%s: %d tensors of %s loaded into %s; %d of the file's tensors skipped (%s)", path, len(picked),
                ", ".join(p[:-1] for p in prefixes), type(module).__name__, len(skipped), ", ".join(groups) or "none")
    return {"loaded": sorted(picked), "skipped": skipped}
