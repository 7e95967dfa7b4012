"""The training engine: config, trainer (DDP via torchrun, AMP), checkpoints, logs.

>>> from avlearn.train import load_config, fit, evaluate
>>> cfg = load_config("avlearn/recipes/classify_world.yaml", ["train.steps=100"])
>>> results = fit(cfg)                       # {"val": {...}, "test": {...}}
>>> evaluate(cfg, "runs/classify_world/weights.pt", split="test")
"""

from avlearn.train.checkpoint import CheckpointError, latest_checkpoint, load_checkpoint, load_task_weights
from avlearn.train.config import (
    ConfigError,
    ExperimentConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    config_from_dict,
    load_config,
    save_config,
    to_dict,
)
from avlearn.train.log import read_metrics
from avlearn.train.trainer import Trainer, evaluate, fit, seed_everything

__all__ = [
    "ConfigError",
    "ExperimentConfig",
    "OptimConfig",
    "ScheduleConfig",
    "TrainConfig",
    "config_from_dict",
    "load_config",
    "save_config",
    "to_dict",
    "Trainer",
    "fit",
    "evaluate",
    "seed_everything",
    "CheckpointError",
    "latest_checkpoint",
    "load_checkpoint",
    "load_task_weights",
    "read_metrics",
]
