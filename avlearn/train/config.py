"""Recipe loading for the training engine.

The recipe dataclasses, safe YAML reading, validation and ``--set`` overrides live in
:mod:`avlearn.tasks.config` (tasks validate their own recipe sections and must not import the
engine); the engine re-uses them from here so ``avlearn.train.config`` keeps working.
"""

from avlearn.tasks.config import (  # noqa: F401
    MAX_NODES,
    MAX_RECIPE_BYTES,
    RECIPES_DIR,
    ConfigError,
    ExperimentConfig,
    OptimConfig,
    ParamGroupConfig,
    RecipeLoader,
    ScheduleConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    from_dict,
    list_recipes,
    load_config,
    load_recipe,
    parse_overrides,
    recipe_path,
    safe_load_yaml,
    save_config,
    to_dict,
)

__all__ = [
    "ConfigError", "ExperimentConfig", "OptimConfig", "ParamGroupConfig", "ScheduleConfig", "TrainConfig", "RECIPES_DIR",
    "MAX_NODES", "MAX_RECIPE_BYTES", "RecipeLoader", "safe_load_yaml",
    "apply_overrides", "config_from_dict", "from_dict", "list_recipes", "load_config", "load_recipe",
    "parse_overrides", "recipe_path", "save_config", "to_dict",
]
