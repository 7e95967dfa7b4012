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
    __all__,
    apply_overrides,
    config_from_dict,
    from_dict,
    load_config,
    parse_overrides,
    save_config,
    to_dict,
)
