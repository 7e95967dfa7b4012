"""The Task contract the training engine runs, and the task registry.

A **task** is an ``nn.Module`` that owns a model plus its loss and metrics (the data flows
``models -> tasks -> train``, as in pytorchvideo's task/trainer split). The engine (:mod:`avlearn.train`) knows nothing else about
it, so every audio-visual task (classification, sync, localization, separation, preview) plugs
in by implementing four methods:

* ``forward(batch) -> dict``: at least ``"loss"`` (a scalar tensor) plus any outputs
  (``"logits"``, ``"mask"``, ``"heatmap"``...). ``batch`` is the collated dict of the task's
  datasets, already on the training device.
* ``metric_sums(outputs, batch) -> dict[str, Tensor]``: per-batch **sums and counts** (e.g.
  ``{"correct_top1": 3., "count": 4.}``; tensors of any fixed shape, e.g. a confusion matrix),
  so the engine can add them over batches and all-reduce them over processes.
* ``summarize(sums) -> dict[str, float]``: the metrics from the reduced sums
  (``{"top1": correct_top1 / count}``).
* ``train_monitor(outputs, batch) -> dict[str, float]`` (optional): cheap numbers logged with
  the training loss, e.g. the prediction balance that reveals a collapsed sync model.

A task registers a builder and a dataset builder together with the dataclasses that validate
its recipe sections::

    @register_task("classification", config=ClassificationConfig, model=ModelConfig,
                   data=ClassificationData, datasets=build_classification_datasets)
    def build_classification(cfg: ExperimentConfig) -> ClassificationTask: ...

``build(cfg)`` and ``datasets(cfg)`` receive the validated
:class:`~avlearn.train.config.ExperimentConfig` (``cfg.task``, ``cfg.model``, ``cfg.data`` are
instances of the registered dataclasses); ``datasets(cfg)`` returns
``{"train": Dataset, "val": Dataset, "test": Dataset}`` (missing splits allowed) so the engine
stays data-agnostic. Samples are collated by :meth:`Task.collate` (default: avlearn.data's
collate, which drops ``None`` samples and reports their number as ``batch["skipped"]``).
"""

from __future__ import annotations

import abc
import fnmatch
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import torch
from torch import Tensor, nn

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


@dataclass
class ModelConfig:
    """The ``model`` section most tasks use: a registered model and its builder arguments.

    Attributes:
        name: a name from :func:`avlearn.models.list_models`.
        kwargs: keyword arguments for the builder (``width``, ``dropout``...).
        weights: a local checkpoint or state dict to start from (never downloaded).
        strict: require an exact key match when loading ``weights``.
    """

    name: str = "r3d_18"
    kwargs: dict[str, Any] = field(default_factory=dict)
    weights: str | None = None
    strict: bool = True

    #: Builder arguments a task's ``model`` section held at top level before it named a
    #: registered network; :meth:`upgrade` moves them under ``kwargs`` (old runs' recipes).
    legacy_keys: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def upgrade(cls, raw: dict[str, Any], source: str = "<dict>") -> dict[str, Any]:
        """A ``model`` section in today's form: a section of an older run whose network
        arguments sit at top level (``{unet_levels: 5, ...}``, no ``kwargs``) gets them under
        ``kwargs`` (those the builder takes; sizes of another network are dropped) and the
        task's default ``name``, with a warning. The networks' state-dict keys did not change,
        so such a run's weights load as they are. Any other section is returned unchanged.
        """
        legacy = set(raw) & set(cls.legacy_keys) if isinstance(raw, dict) else set()
        if not legacy or "kwargs" in raw:
            return raw
        from avlearn.models._registry import builder_arguments

        name = raw.get("name", cls.__dataclass_fields__["name"].default)
        accepted = builder_arguments(name) or legacy
        out = {k: v for k, v in raw.items() if k not in legacy}
        out["name"], out["kwargs"] = name, {k: raw[k] for k in sorted(legacy) if k in accepted}
        warnings.warn(f"{source}: model section in the older form (network arguments at top level); read as "
                      f"name: {name}, kwargs: {out['kwargs']}", UserWarning, stacklevel=2)
        return out

    def __post_init__(self) -> None:
        """Reject an unregistered ``name`` or a keyword its builder does not take, so a recipe
        fails when it is loaded (a ConfigError naming ``model``), before anything runs.

        Raises:
            ValueError: an unknown model name.
            TypeError: an argument the builder does not accept (the accepted ones listed).
        """
        from avlearn.models._registry import check_model_kwargs

        try:
            check_model_kwargs(self.name, self.kwargs)
        except KeyError as exc:
            raise ValueError(f"name: {exc.args[0]}") from None
        except TypeError as exc:
            raise TypeError(f"kwargs: {exc}") from None


class Task(nn.Module, abc.ABC):
    """Base class of every task: a model with its loss and metrics (see the module docstring).

    Abstract: a subclass that does not implement :meth:`forward` cannot be instantiated.
    """

    @abc.abstractmethod
    def forward(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Compute ``{"loss": scalar tensor, ...outputs}`` for a collated batch."""

    def metric_sums(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, Tensor]:
        """Per-batch sums and counts (tensors) that :meth:`summarize` turns into metrics."""
        return {}

    def summarize(self, sums: dict[str, Tensor]) -> dict[str, float]:
        """Metrics from the sums of :meth:`metric_sums` over a whole split (all processes)."""
        return {}

    def train_monitor(self, outputs: dict[str, Any], batch: dict[str, Any]) -> dict[str, float]:
        """Cheap numbers to log with the training loss (default: none)."""
        return {}

    def batch_size(self, batch: dict[str, Any]) -> int:
        """Number of samples in ``batch`` (first tensor's leading dimension by default)."""
        for v in batch.values():
            if isinstance(v, Tensor) and v.dim() > 0:
                return int(v.shape[0])
        for v in batch.values():
            if isinstance(v, (list, tuple)):
                return len(v)
        return 0

    def collate(self, samples: list[Any]) -> dict[str, Any]:
        """Collate samples into a batch; drops ``None`` samples and reports ``"skipped"``."""
        from avlearn.data.collate import collate

        return collate(samples)

    def export_module(self) -> nn.Module:
        """The part users reuse (e.g. the backbone); the trainer saves its state dict as
        ``weights.pt``, loadable with ``create_model(name, weights=...)``."""
        return self


@dataclass(frozen=True)
class TaskEntry:
    """A registered task.

    Attributes:
        name: registry name (``task.name`` in recipes).
        build: ``build(cfg) -> Task``.
        datasets: ``datasets(cfg) -> {"train": ..., "val": ..., "test": ...}``.
        config: dataclass validating the ``task`` section (has a ``name`` field).
        model: dataclass validating the ``model`` section.
        data: dataclass validating the ``data`` section.
        module: module path of the builder.
    """

    name: str
    build: Callable[[Any], Task]
    datasets: Callable[[Any], dict]
    config: type
    model: type
    data: type
    module: str


_TASKS: dict[str, TaskEntry] = {}


def register_task(
    name: str,
    *,
    config: type,
    data: type,
    datasets: Callable[[Any], dict],
    model: type = ModelConfig,
) -> Callable:
    """Register a task builder (decorator).

    Args:
        name: the ``task.name`` recipes use.
        config: dataclass of the ``task`` section; must have a ``name: str`` field.
        data: dataclass of the ``data`` section.
        datasets: ``datasets(cfg) -> dict[str, Dataset]`` building the task's splits.
        model: dataclass of the ``model`` section (default :class:`ModelConfig`).
    """
    if "name" not in getattr(config, "__dataclass_fields__", {}):
        raise TypeError(f"task {name!r}: config dataclass {config.__name__} needs a 'name' field")

    def wrap(fn: Callable[[Any], Task]) -> Callable[[Any], Task]:
        if name in _TASKS and _TASKS[name].build is not fn:
            raise ValueError(f"task {name!r} is registered twice ({_TASKS[name].module} and {fn.__module__})")
        _TASKS[name] = TaskEntry(name, fn, datasets, config, model, data, fn.__module__)
        return fn

    return wrap


def _ensure_loaded() -> None:
    import avlearn.tasks  # noqa: F401  (importing the package registers every task file)


def list_tasks(pattern: str = "*") -> list[str]:
    """Sorted names of registered tasks matching a shell-style pattern."""
    _ensure_loaded()
    return sorted(n for n in _TASKS if fnmatch.fnmatch(n, pattern))


def task_entry(name: str) -> TaskEntry:
    """The :class:`TaskEntry` registered as ``name``; KeyError if there is none."""
    _ensure_loaded()
    if name not in _TASKS:
        raise KeyError(f"unknown task {name!r}; registered: {sorted(_TASKS)}")
    return _TASKS[name]


def build_task(cfg: Any) -> Task:
    """Build the task ``cfg.task.name`` from a validated ExperimentConfig."""
    task = task_entry(cfg.task.name).build(cfg)
    if not isinstance(task, Task):
        raise TypeError(f"task builder {cfg.task.name!r} returned {type(task).__name__}, not an avlearn Task")
    return task


def build_datasets(cfg: Any) -> dict[str, torch.utils.data.Dataset]:
    """Build the datasets of task ``cfg.task.name`` from a validated ExperimentConfig."""
    out = task_entry(cfg.task.name).datasets(cfg)
    if not isinstance(out, dict) or not set(out) <= {"train", "val", "test"}:
        raise TypeError(
            f"datasets builder of {cfg.task.name!r} must return a dict with train/val/test keys, got {out!r}"
        )
    return {k: v for k, v in out.items() if v is not None}
