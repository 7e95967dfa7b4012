"""Optimizers and learning-rate schedules with linear warm-up.

The schedule is a closed-form function of the optimizer step (so a resumed run recomputes it
exactly), in the usual forms (Goyal et al. 2017, "Accurate, Large Minibatch SGD", Sec. 2.2
for gradual warm-up; Loshchilov & Hutter ICLR'17, Eq. 5 for the cosine decay without restarts):

* warm-up, ``s < W``: ``lr(s) = lr * (s + 1) / W``
* cosine: ``lr(s) = lr * (m + (1 - m) * (1 + cos(pi * p)) / 2)``, ``p = (s - W) / (S - W)``,
  ``m = min_lr_ratio``
* step: ``lr(s) = lr * gamma ** floor((s - W) / step_size)``
* multistep: ``lr(s) = lr * gamma ** |{m in milestones : m <= s}|`` (absolute steps, as the
  "drop the rate at steps 30k and 40k" schedules of the separation papers)
* constant: ``lr(s) = lr``

where ``S`` is the total number of optimizer steps. Each parameter group (``optim.groups``: the
per-sub-network learning rates of e.g. Zhao et al., ECCV 2018, Sec. 4.2) keeps its own peak rate
and follows the same curve.
"""

from __future__ import annotations

import fnmatch
import math

import torch
from torch import nn
from torch.optim.lr_scheduler import LRScheduler

from avlearn.train.config import ConfigError, OptimConfig, ScheduleConfig

__all__ = ["build_optimizer", "WarmupSchedule", "lr_factor"]


def build_optimizer(cfg: OptimConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Build the optimizer of ``cfg`` over ``model``'s trainable parameters.

    Weight decay applies to parameters with two or more dimensions (conv and linear weights,
    embeddings); biases and normalisation scales/shifts are not decayed. Each entry of
    ``cfg.groups`` takes the parameters whose names match its patterns (first matching entry
    wins) at its own learning rate and decay; the others use ``cfg.lr`` / ``cfg.weight_decay``.

    Raises:
        ConfigError: an ``optim.groups`` entry matches no trainable parameter (a mistyped name).
        ValueError: ``model`` has no trainable parameters.
    """
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    owner = [_group_of(n, cfg) for n, _ in named]  # -1: the default group
    for i, g in enumerate(cfg.groups):
        if i not in owner:
            sample = ", ".join(n for n, _ in named[:4])
            raise ConfigError("recipe", f"optim.groups[{i}].params",
                              f"{g.params} match no trainable parameter of {type(model).__name__} (names look like: "
                              f"{sample}, ...)")
    groups = []
    for i in range(-1, len(cfg.groups)):
        g = cfg.groups[i] if i >= 0 else None
        lr = g.lr if g is not None and g.lr is not None else cfg.lr
        wd = g.weight_decay if g is not None and g.weight_decay is not None else cfg.weight_decay
        mine = [p for (_, p), o in zip(named, owner) if o == i]
        for params, decay in (([p for p in mine if p.dim() >= 2], wd), ([p for p in mine if p.dim() < 2], 0.0)):
            if params:
                groups.append({"params": params, "lr": lr, "weight_decay": decay})
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    if cfg.name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0)
    if cfg.name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=cfg.betas)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def _group_of(name: str, cfg: OptimConfig) -> int:
    """Index of the first ``cfg.groups`` entry with a pattern matching ``name`` (-1: none)."""
    for i, g in enumerate(cfg.groups):
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in g.params):
            return i
    return -1


def lr_factor(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """The multiplier of the peak learning rate for optimizer step ``step`` (0-based)."""
    w = cfg.warmup_steps
    if step < w:
        return (step + 1) / w
    if cfg.kind == "constant":
        return 1.0
    if cfg.kind == "step":
        return cfg.gamma ** ((step - w) // max(1, cfg.step_size))
    if cfg.kind == "multistep":
        return cfg.gamma ** sum(1 for m in cfg.milestones if m <= step)
    span = max(1, total_steps - w)
    p = min(1.0, (step - w) / span)
    m = cfg.min_lr_ratio
    return m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * p))


class WarmupSchedule(LRScheduler):
    """Warm-up followed by a cosine, step, multistep or constant schedule (module docstring).

    Its ``state_dict`` holds only numbers (``torch.load(weights_only=True)`` reads it back).

    Args:
        optimizer: the optimizer whose groups' ``lr`` is set each step.
        cfg: the schedule section.
        total_steps: the run's optimizer steps.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, *, total_steps: int):
        self.kind = cfg.kind
        self.warmup_steps = cfg.warmup_steps
        self.min_lr_ratio = cfg.min_lr_ratio
        self.step_size = cfg.step_size
        self.gamma = cfg.gamma
        self.milestones = list(cfg.milestones)
        self.total_steps = total_steps
        super().__init__(optimizer)

    def _cfg(self) -> ScheduleConfig:
        return ScheduleConfig(self.kind, self.warmup_steps, self.min_lr_ratio, self.step_size, self.gamma,
                              self.milestones)

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore the step counters only; the shape of the schedule comes from the current
        config (so a resumed run may change ``train.steps`` or the schedule)."""
        keep = ("last_epoch", "_step_count", "base_lrs", "_last_lr")
        self.__dict__.update({k: v for k, v in state_dict.items() if k in keep})

    def get_lr(self) -> list[float]:
        f = lr_factor(max(0, self.last_epoch), self.total_steps, self._cfg())
        return [base * f for base in self.base_lrs]
