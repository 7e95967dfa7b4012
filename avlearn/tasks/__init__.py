"""Tasks: a model with its loss and metrics, behind one registry (see :mod:`avlearn.tasks.base`).

>>> from avlearn.tasks import list_tasks, build_task
>>> list_tasks()
['classification', ...]
"""

import importlib

from avlearn.tasks.base import (
    ModelConfig,
    Task,
    TaskEntry,
    build_datasets,
    build_task,
    list_tasks,
    register_task,
    task_entry,
)

__all__ = [
    "Task",
    "ModelConfig",
    "TaskEntry",
    "register_task",
    "task_entry",
    "list_tasks",
    "build_task",
    "build_datasets",
]

# Task files register their builders on import. Listed here so list_tasks() sees them all;
# files that do not exist yet are skipped.
_TASK_MODULES = (
    "avlearn.tasks.classification",
    "avlearn.tasks.sync",
    "avlearn.tasks.localization",
    "avlearn.tasks.separation",
    "avlearn.tasks.preview",
    "avlearn.tasks.temporal_localization",
)
for _m in _TASK_MODULES:
    try:
        importlib.import_module(_m)
    except ModuleNotFoundError as _exc:
        if _exc.name != _m:
            raise
