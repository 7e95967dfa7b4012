"""Recipe loading for the training engine.

The recipe dataclasses, validation and ``--set`` overrides live in :mod:`avlearn.tasks.config`
(tasks validate their own recipe sections and must not import the engine); the engine re-uses
them from here so ``avlearn.train.config`` keeps working.
"""

from avlearn.tasks.config import (  # noqa: F401
    ConfigError,
    ExperimentConfig,
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    from_dict,
    RECIPES_DIR,
    list_recipes,
    load_config,
    load_recipe,
    recipe_path,
    parse_overrides,
    save_config,
    to_dict,
)

__all__ = [
    "ConfigError", "ExperimentConfig", "OptimConfig", "ScheduleConfig", "TrainConfig", "RECIPES_DIR",
    "apply_overrides", "config_from_dict", "from_dict", "list_recipes", "load_config", "load_recipe",
    "parse_overrides", "recipe_path", "save_config", "to_dict",
]
