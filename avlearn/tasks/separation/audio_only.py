"""The audio-only baseline: a U-Net with one mask per output slot, trained permutation-invariantly.

Without a visual input nothing tells the network which source goes to which output, so the
loss is taken under the best assignment of outputs to sources (permutation-invariant
training, Yu et al., ICASSP 2017, Eq. 5; Kolbaek et al. 2017): for a mixture of up to ``O``
sources and ``O`` output masks, ``L = min_pi sum_o loss(m_{pi(o)}, t_o)``, unused slots
targeting silence (all-zero masks); the minimum is found by linear assignment. This is the audio-only model the visual separators are
compared with (Sound of Pixels, Sec. 5; VisualVoice, Table 2).

The network is a U-Net with ``max_outputs`` output planes (registered as
``audio_only_unet_small``; :func:`~avlearn.models.av.unet.audio_only_unet_small`). Same input,
masks and weighted losses as :mod:`avlearn.tasks.separation.sop` (so the two differ only in the
visual conditioning). At evaluation the ``k`` loudest outputs of a
``k``-source mixture are kept and matched to the sources by BSS Eval's best permutation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from avlearn.models.av.unet import UNet
from avlearn.tasks.base import register_task
from avlearn.tasks.separation.data import SeparationData, build_separation_datasets
from avlearn.tasks.separation.task import SeparationConfig, SeparationTask, SeparatorModel, build_separator

__all__ = ["AudioOnlyTask", "AudioOnlyConfig", "AudioOnlyModel", "pit_loss", "build_audio_only"]


def pit_loss(per_pair: Tensor) -> tuple[Tensor, Tensor]:
    """Permutation-invariant loss from the losses of every (output, target) pair.

    The loss of an assignment is the mean of its pairs' losses, so the best permutation is a
    linear assignment problem, solved exactly per sample (Hungarian algorithm, scipy) instead
    of enumerating the O! permutations.

    Args:
        per_pair: (B, O, O) with ``per_pair[b, o, t]`` the loss of output ``o`` against target ``t``.

    Returns:
        ``(loss, perm)``: the mean over the batch of the best assignment's mean loss, and the
        (B, O) assignment (``perm[b, t]`` = output used for target ``t``).
    """
    from scipy.optimize import linear_sum_assignment

    b, o, _ = per_pair.shape
    cost = per_pair.detach().double().cpu().numpy()
    perm = torch.empty(b, o, dtype=torch.long)
    for i in range(b):
        outputs, targets = linear_sum_assignment(cost[i])
        perm[i, torch.as_tensor(targets)] = torch.as_tensor(outputs)
    perm = perm.to(per_pair.device)
    chosen = per_pair.gather(1, perm[:, None, :]).squeeze(1)  # (B, O): loss of output perm[t] on target t
    return chosen.mean(), perm


@dataclass
class AudioOnlyConfig(SeparationConfig):
    """Task section of ``audio_only_pit`` (see :class:`SeparationConfig`)."""

    name: str = "audio_only_pit"


@dataclass
class AudioOnlyModel(SeparatorModel):
    """Model section of ``audio_only_pit`` (see :class:`SeparatorModel`; ``kwargs.max_outputs``
    sets the output slots)."""

    name: str = "audio_only_unet_small"


class AudioOnlyTask(SeparationTask):
    """Audio-only permutation-invariant separator (no visual input; batch keys ignored).

    Args:
        cfg: the task section.
        net: a U-Net with one output plane per slot (``create_model("audio_only_unet_small", ...)``).
    """

    permutation_invariant = True

    def __init__(self, cfg: SeparationConfig, net: UNet):
        super().__init__(cfg)
        self.net = net
        self.outputs = net.out_channels  # one mask per output slot

    def predict(self, net_input: Tensor, batch: dict[str, Any]) -> Tensor:
        return torch.sigmoid(self.net(net_input))  # (B, O, R, T)

    def compute_loss(self, pred: Tensor, mix_spec: Tensor, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Tensor]]:
        sources, valid = batch["sources"], batch["valid"]  # (B, S, N), (B, S)
        if sources.shape[1] > self.outputs:
            if valid[:, self.outputs:].any():
                raise ValueError(f"audio_only_pit: a mixture has more than {self.outputs} sources; raise model.kwargs.max_outputs")
            sources = sources[:, : self.outputs]
        target, weight = self.targets(mix_spec, sources)  # (B, S, R, T)
        if target.shape[1] < self.outputs:  # unused slots target silence
            target = torch.cat([target, target.new_zeros(target.shape[0], self.outputs - target.shape[1], *target.shape[2:])], 1)
        o = self.outputs
        pairs = self.mask_loss(pred[:, :, None].expand(-1, -1, o, -1, -1), target[:, None].expand(-1, o, -1, -1, -1),
                               weight[:, None], per_item=True)  # (B, O, O)
        loss, perm = pit_loss(pairs)
        return loss, {"perm": perm}

    def competing(self, batch: dict[str, Any]) -> Tensor | None:
        """All outputs compete for the bins (they are not tied to the batch's sources)."""
        return None

    def select_estimates(self, estimates: Tensor, valid: Tensor) -> Tensor:
        """The ``k`` loudest outputs (in slot order) for a mixture of ``k`` valid sources."""
        k = int(valid.sum())
        loud = estimates.square().sum(-1).topk(k).indices.sort().values
        return estimates[loud]


@register_task("audio_only_pit", config=AudioOnlyConfig, model=AudioOnlyModel, data=SeparationData,
               datasets=build_separation_datasets)
def build_audio_only(cfg) -> AudioOnlyTask:
    """Build :class:`AudioOnlyTask` from a validated recipe (``weights`` loaded if given)."""
    return build_separator(AudioOnlyTask, cfg, visual=None, network=UNet)
