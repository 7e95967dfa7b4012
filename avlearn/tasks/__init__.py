"""Tasks: a model with its loss and metrics, behind one registry (see :mod:`avlearn.tasks.base`).

One package per task with the same parts (``task.py``: head, loss, metrics; ``data.py``;
``evaluate.py``; ``inference.py``: whole files): :mod:`~avlearn.tasks.classification`,
:mod:`~avlearn.tasks.sync`, :mod:`~avlearn.tasks.localization` (sound-source),
:mod:`~avlearn.tasks.separation`, :mod:`~avlearn.tasks.preview` (with temporal action
localization), :mod:`~avlearn.tasks.detection` (spatio-temporal action detection), :mod:`~avlearn.tasks.temporal` (temporal action localization by proposals, TAL-Net). Beside them: :mod:`~avlearn.tasks.config` (recipes), :mod:`~avlearn.tasks.runs`
(:func:`~avlearn.tasks.runs.load_run`) and :mod:`~avlearn.tasks.features` (FeatureExtractor).

>>> from avlearn.tasks import list_tasks, build_task
>>> list_tasks()
['classification', ...]
"""

import importlib

from avlearn.tasks import base as _base
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

__all__ = list(_base.__all__)

# Task files register their builders on import, so list_tasks() sees them all. Temporal action
# localization lives with the preview task (avlearn.tasks.preview.temporal_localization).
_TASK_MODULES = (
    "avlearn.tasks.classification",
    "avlearn.tasks.sync",
    "avlearn.tasks.localization",
    "avlearn.tasks.separation",
    "avlearn.tasks.preview",
    "avlearn.tasks.detection",
    "avlearn.tasks.temporal",
)
for _m in _TASK_MODULES:
    importlib.import_module(_m)
