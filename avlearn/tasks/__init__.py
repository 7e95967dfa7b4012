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

# Task files register their builders on import, so list_tasks() sees them all. Temporal action
# localization lives with the preview task (avlearn.tasks.preview.temporal_localization).
_TASK_MODULES = (
    "avlearn.tasks.classification",
    "avlearn.tasks.sync",
    "avlearn.tasks.localization",
    "avlearn.tasks.separation",
    "avlearn.tasks.preview",
)
for _m in _TASK_MODULES:
    importlib.import_module(_m)
