"""Experiment configuration: typed dataclasses loaded from YAML recipes with ``--set`` overrides.

A recipe has six sections::

    task:     {name: classification, ...}   # validated by the task's own dataclass
    model:    {...}                         # validated by the task's model dataclass
    data:     {...}                         # validated by the task's data dataclass
    optim:    {name: adamw, lr: 1.0e-3, weight_decay: 0.05, momentum: 0.9}
    schedule: {kind: cosine, warmup_steps: 100}
    train:    {steps: 2000, batch_size: 16, precision: fp32, out_dir: runs/x, ...}

``task``, ``model`` and ``data`` are checked against the dataclasses the task registered
(:func:`avlearn.tasks.register_task`), so every key of a recipe is validated. Loading rejects
unknown keys and values of the wrong type with a :class:`ConfigError` whose message names the
file and the dotted key, before any data is read or any model is built::

    avlearn.tasks.config.ConfigError: avlearn/recipes/classify_world.yaml: train.stepz: unknown key
    (known: steps, batch_size, ...)

Overrides are ``dotted.key=value`` strings; the value is parsed as a YAML scalar or flow
collection (``--set optim.lr=0.01``, ``--set task.topk=[1,3]``, ``--set model.weights=null``).

Type rules: ``int`` fields take integers only (not booleans); ``float`` fields take integers and
numeric strings too, because YAML 1.1 reads ``1e-3`` (no dot) as a string; ``tuple``/``list``
fields take YAML lists; ``dict[str, Any]`` fields (e.g. ``model.kwargs``) take any mapping.

Reading is safe on hostile files (:class:`RecipeLoader`): only plain YAML types are built
(``!!python/...`` tags are refused), a file larger than :data:`MAX_RECIPE_BYTES` is refused, a
document whose aliases would expand to more than :data:`MAX_NODES` nodes (a "billion laughs"
alias bomb) is refused before anything is built, a key given twice in one mapping is an error
(instead of the last value silently winning), and error messages quote at most 80 characters
of a value.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import yaml

from avlearn.errors import UsageError, short

__all__ = [
    "load_recipe",
    "recipe_path",
    "list_recipes",
    "RECIPES_DIR",
    "MAX_RECIPE_BYTES",
    "MAX_NODES",
    "ConfigError",
    "RecipeLoader",
    "safe_load_yaml",
    "OptimConfig",
    "ParamGroupConfig",
    "ScheduleConfig",
    "TrainConfig",
    "ExperimentConfig",
    "load_config",
    "config_from_dict",
    "parse_overrides",
    "apply_overrides",
    "from_dict",
    "to_dict",
    "save_config",
]


class ConfigError(UsageError, ValueError):
    """A recipe or override is invalid. The message names the source file and the dotted key.

    Attributes:
        source: the recipe path (or ``"--set"`` / ``"<dict>"``).
        key: the dotted key at fault (empty when the whole document is wrong).
        reason: what is wrong.
    """

    def __init__(self, source: str, key: str, reason: str):
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key + ': ' if key else ''}{reason}")


@dataclass
class ParamGroupConfig:
    """One entry of ``optim.groups``: parameters trained at their own learning rate, as papers
    that train each sub-network at its own rate do (Zhao et al., ECCV 2018, Sec. 4.2: the frame
    network at 1e-4, the audio networks at 1e-3).

    Attributes:
        params: a glob pattern, or a list of them, over the names ``task.named_parameters()``
            gives (``net.visual.body.*`` in the separation tasks; ``fnmatch`` rules). A parameter joins the first group
            whose pattern matches it; the rest stay in the default group (``optim.lr``).
        lr: the group's peak learning rate (null: ``optim.lr``); the schedule scales it like
            every other group's.
        weight_decay: the group's decay (null: ``optim.weight_decay``), applied to its weights of
            two or more dimensions only, as in the default group.
    """

    params: str | list[str]
    lr: float | None = None
    weight_decay: float | None = None

    def __post_init__(self) -> None:
        self.params = [self.params] if isinstance(self.params, str) else list(self.params)
        if not self.params or not all(self.params):
            raise ValueError("optim.groups: params needs at least one non-empty pattern")
        for key in ("lr", "weight_decay"):
            value = getattr(self, key)
            if value is not None and value < 0:
                raise ValueError(f"optim.groups: {key} must be >= 0, got {value}")


@dataclass
class OptimConfig:
    """Optimizer section.

    Attributes:
        name: ``sgd``, ``adam`` or ``adamw``.
        lr: peak learning rate (reached after warm-up).
        weight_decay: decoupled (adamw) or L2 (sgd, adam) decay, applied to weights with two or
            more dimensions only (not to biases and normalisation parameters).
        momentum: SGD momentum.
        nesterov: SGD Nesterov momentum.
        betas: Adam betas.
        groups: parameter groups with their own learning rate / decay
            (:class:`ParamGroupConfig`); a pattern matching no trainable parameter is an error
            when the optimizer is built.
    """

    name: Literal["sgd", "adam", "adamw"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    betas: tuple[float, float] = (0.9, 0.999)
    groups: list[ParamGroupConfig] = field(default_factory=list)


@dataclass
class ScheduleConfig:
    """Learning-rate schedule: linear warm-up from 0, then ``kind``.

    Attributes:
        kind: ``cosine`` (to ``min_lr_ratio * lr`` at the last step), ``step`` (multiply by
            ``gamma`` every ``step_size`` steps after warm-up), ``multistep`` (multiply by
            ``gamma`` at each of ``milestones``) or ``constant``.
        warmup_steps: optimizer steps of linear warm-up.
        min_lr_ratio: final learning rate of the cosine schedule, as a fraction of ``lr``.
        step_size: period of the step schedule, in optimizer steps.
        gamma: factor of the step and multistep schedules.
        milestones: optimizer steps (0-based, counted from the start of training, warm-up
            included) from which the multistep schedule has one more factor ``gamma``: with
            ``[30000, 40000]`` steps 0..29999 train at ``lr``, 30000..39999 at ``gamma * lr``.
    """

    kind: Literal["cosine", "step", "multistep", "constant"] = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    step_size: int = 1000
    gamma: float = 0.1
    milestones: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.milestones = list(self.milestones)
        if any(m < 1 for m in self.milestones) or self.milestones != sorted(set(self.milestones)):
            raise ValueError(f"schedule.milestones must be increasing positive steps, got {self.milestones}")
        if self.kind == "multistep" and not self.milestones:
            raise ValueError("schedule.kind multistep needs schedule.milestones (optimizer steps)")


@dataclass
class TrainConfig:
    """Training-loop section.

    Attributes:
        steps: optimizer steps to train for.
        batch_size: clips per micro-batch summed over all processes (each of W processes
            loads ``batch_size / W``); one optimizer step sees ``batch_size * grad_accum``.
        eval_batch_size: clips per evaluation batch per process (default ``batch_size``).
        grad_accum: micro-batches accumulated per optimizer step.
        clip_grad: max global gradient norm (0 disables clipping).
        precision: ``fp32``, ``bf16`` (autocast), ``fp16`` (autocast + GradScaler) or ``auto``
            (bf16 where the device computes it natively, else fp32; see
            :func:`avlearn.train.trainer.resolve_precision`).
        log_every: optimizer steps between training-log lines.
        ckpt_every: optimizer steps between checkpoints (0: only at the end).
        keep_ckpts: how many of the newest checkpoints to keep.
        eval_every: optimizer steps between validation passes (0: only at the end).
        final_eval: splits evaluated after the last step.
        seed: seeds model initialisation, data order and augmentation.
        num_workers: DataLoader worker processes per training process.
        out_dir: where checkpoints, ``metrics.jsonl``, TensorBoard events and weights go.
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda``.
        tensorboard: also write TensorBoard events (when ``tensorboard`` is installed).
        progress: show a tqdm progress bar (rank 0 only).
        find_unused_parameters: passed to DistributedDataParallel.
        max_nonfinite_steps: a run whose loss is NaN or infinite on this many consecutive
            optimizer steps stops with a :class:`~avlearn.errors.TrainingError` (such steps
            are skipped, not applied; default 20).
        sync_batchnorm: in a distributed run, synchronise BatchNorm statistics over all
            processes during training (``torch.nn.SyncBatchNorm``; CUDA only). Either way the
            BatchNorm buffers of rank 0 are broadcast to every rank before each evaluation and
            before the weights are exported.
        dist_timeout: seconds a distributed collective may wait for the other processes
            before the run stops with an error naming this option (a stopped or hung rank;
            default 1800, torch's own default).
    """

    steps: int = 1000
    batch_size: int = 8
    eval_batch_size: int | None = None
    grad_accum: int = 1
    clip_grad: float = 0.0
    precision: Literal["fp32", "bf16", "fp16", "auto"] = "fp32"
    log_every: int = 10
    ckpt_every: int = 0
    keep_ckpts: int = 3
    eval_every: int = 0
    final_eval: list[str] = field(default_factory=lambda: ["val", "test"])
    seed: int = 0
    num_workers: int = 0
    out_dir: str = "runs/experiment"
    device: Literal["auto", "cpu", "cuda"] = "auto"
    tensorboard: bool = True
    progress: bool = True
    find_unused_parameters: bool = False
    max_nonfinite_steps: int = 20
    sync_batchnorm: bool = False
    dist_timeout: float = 1800.0

    def __post_init__(self) -> None:
        if self.max_nonfinite_steps < 1:
            raise ValueError(f"train.max_nonfinite_steps must be >= 1, got {self.max_nonfinite_steps}")
        if not (0 < self.dist_timeout < float("inf")):
            raise ValueError(f"train.dist_timeout must be a positive number of seconds, got {self.dist_timeout}")


@dataclass
class ExperimentConfig:
    """A whole recipe. ``task``, ``model`` and ``data`` are instances of the dataclasses the
    task registered; the other sections are the engine's own."""

    task: Any
    model: Any
    data: Any
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- conversion


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (tuples, floats)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)

    def fail(expected: str) -> ConfigError:
        return ConfigError(source, key, f"expected {expected}, got {type(value).__name__} {short(value)}")

    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key, source)
            except ConfigError:
                continue
        raise fail(" or ".join(_type_name(a) for a in args))
    if origin is Literal:
        if value not in args:
            raise ConfigError(source, key, f"expected one of {list(args)}, got {short(value)}")
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise fail(f"a mapping of {tp.__name__} fields")
        return from_dict(tp, value, source=source, prefix=key)
    if tp is bool:
        if not isinstance(value, bool):
            raise fail("bool (true/false)")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail("int")
        return value
    if tp is float:
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise fail("float") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise fail("float")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise fail("str")
        return value
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise fail(f"a list ({_type_name(tp)})")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ConfigError(source, key, f"expected {len(args)} items, got {len(value)}: {short(value)}")
            return tuple(_convert(v, a, f"{key}[{i}]", source) for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(out) if origin is tuple else out
    if origin is dict:
        if not isinstance(value, dict):
            raise fail("a mapping")
        vt = args[1] if len(args) == 2 else Any
        return {str(k): _convert(v, vt, f"{key}.{k}", source) for k, v in value.items()}
    raise ConfigError(source, key, f"unsupported field type {_type_name(tp)}")  # pragma: no cover


def from_dict(cls: type, data: dict, *, source: str = "<dict>", prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, validating keys and types recursively.

    Args:
        cls: a dataclass type.
        data: the mapping (e.g. one recipe section).
        source: named in error messages (the recipe path).
        prefix: the dotted key of ``data`` in the recipe (named in error messages).

    Raises:
        ConfigError: an unknown key, a missing required key, or a value of the wrong type.
    """
    if not isinstance(data, dict):
        raise ConfigError(source, prefix, f"expected a mapping, got {type(data).__name__} {short(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    dotted = (prefix + ".") if prefix else ""
    for k in data:
        if k not in fields:
            raise ConfigError(source, f"{dotted}{k}", f"unknown key (known: {', '.join(fields)})")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{dotted}{name}", source)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(source, f"{dotted}{name}", "required key is missing")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:  # a __post_init__ check
        if isinstance(exc, ConfigError):
            raise
        raise ConfigError(source, prefix, str(exc)) from None


def to_dict(obj: Any) -> Any:
    """A dataclass (or nested containers of them) as plain dicts/lists/scalars (YAML- and
    ``torch.load(weights_only=True)``-safe)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- safe YAML

MAX_RECIPE_BYTES = 1 << 20
"""Largest recipe file read (1 MiB; the shipped recipes are about 1 KiB)."""

MAX_NODES = 100_000
"""Most YAML nodes a document may hold once its aliases are expanded."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], limit: int) -> int:
    """Nodes in ``node`` with every alias expanded (memoised per node: linear in the file)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = limit + 1  # a node reached again while being counted: a recursive document
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, memo, limit)
            if total > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            total += _expanded_size(k, memo, limit) + _expanded_size(v, memo, limit)
            if total > limit:
                break
    memo[key] = total
    return total


class RecipeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses alias bombs and duplicate keys.

    Alias expansion is bounded by counting the nodes of the composed document with every alias
    expanded (:data:`MAX_NODES`) before any Python object is constructed.
    """

    max_nodes = MAX_NODES

    def construct_document(self, node):
        size = _expanded_size(node, {}, self.max_nodes)
        if size > self.max_nodes:
            raise yaml.constructor.ConstructorError(
                None, None, f"the document expands to more than {self.max_nodes} nodes (aliases nested too deep "
                "or a recursive alias); refused", node.start_mark)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the base class reports it
                    continue
                if first is not key_node:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {short(key)} (first at line {first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


RecipeLoader.add_constructor("tag:yaml.org,2002:map", RecipeLoader.construct_yaml_map)


def safe_load_yaml(text: str, *, source: str = "--set") -> Any:
    """Parse one YAML document with :class:`RecipeLoader`.

    Raises:
        ConfigError: not valid YAML, a refused tag, a duplicate key or an alias bomb; the
            message names ``source`` and the line.
    """
    try:
        return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - RecipeLoader is a SafeLoader
    except yaml.YAMLError as exc:
        raise ConfigError(source, "", f"not valid YAML: {_yaml_reason(exc)}") from None
    except RecursionError:
        raise ConfigError(source, "", "not valid YAML: nested too deeply") from None


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """The YAML error as one short line (problem, line, column)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = exc.problem or exc.context or "error"
        return f"{short(problem, 200)[1:-1] if len(problem) > 200 else problem}{where}"
    return short(str(exc), 200)


# ----------------------------------------------------------------------------- overrides


def parse_overrides(items: list[str] | tuple[str, ...]) -> list[tuple[str, Any]]:
    """Parse ``["train.steps=200", "optim.lr=1e-2"]`` into ``[(dotted_key, value), ...]``.

    Values are parsed as YAML (``200`` -> int, ``[1, 5]`` -> list, ``null`` -> None).

    Raises:
        ConfigError: an item without ``=`` or with an unparsable value.
    """
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key or any(not p for p in key.split(".")):
            raise ConfigError("--set", item, "expected dotted.key=value")
        try:
            value = safe_load_yaml(raw) if raw.strip() else ""
        except ConfigError as exc:
            raise ConfigError("--set", key, f"cannot parse value {short(raw)}: {exc.reason}") from None
        out.append((key, value))
    return out


def apply_overrides(raw: dict, overrides: list[tuple[str, Any]], *, source: str = "--set") -> dict:
    """Return a copy of the raw recipe mapping with each ``(dotted_key, value)`` set."""
    raw = copy.deepcopy(raw)
    for key, value in overrides:
        parts = key.split(".")
        node = raw
        for i, p in enumerate(parts[:-1]):
            child = node.get(p)
            if child is None:
                child = node[p] = {}
            if not isinstance(child, dict):
                raise ConfigError(source, ".".join(parts[: i + 1]), f"is {short(child)}, not a section; cannot set {key}")
            node = child
        node[parts[-1]] = value
    return raw


# ----------------------------------------------------------------------------- loading

_SECTIONS = ("task", "model", "data", "optim", "schedule", "train")


def _upgrade(model_cls: type, section: Any, source: str) -> Any:
    """The ``model`` section through the model dataclass's ``upgrade`` (older runs' recipes), if it has one."""
    upgrade = getattr(model_cls, "upgrade", None)
    return upgrade(section, source) if callable(upgrade) else section


def config_from_dict(raw: dict, *, source: str = "<dict>") -> ExperimentConfig:
    """Validate a raw recipe mapping into an :class:`ExperimentConfig`.

    The ``task.name`` picks the registered task, whose dataclasses validate the ``task``,
    ``model`` and ``data`` sections.

    Raises:
        ConfigError: naming ``source`` and the dotted key at fault.
    """
    from avlearn.tasks.base import list_tasks, task_entry

    if not isinstance(raw, dict):
        raise ConfigError(source, "", f"a recipe must be a mapping of sections, got {type(raw).__name__}")
    for k in raw:
        if k not in _SECTIONS:
            raise ConfigError(source, str(k), f"unknown section (known: {', '.join(_SECTIONS)})")
    task_raw = raw.get("task")
    if not isinstance(task_raw, dict) or "name" not in task_raw:
        raise ConfigError(source, "task.name", "required key is missing (the task to train)")
    name = task_raw["name"]
    try:
        entry = task_entry(name)
    except KeyError:
        raise ConfigError(
            source, "task.name", f"unknown task {short(name)} (registered: {', '.join(list_tasks())})"
        ) from None
    return ExperimentConfig(
        task=from_dict(entry.config, task_raw, source=source, prefix="task"),
        model=from_dict(entry.model, _upgrade(entry.model, raw.get("model") or {}, source), source=source, prefix="model"),
        data=from_dict(entry.data, raw.get("data") or {}, source=source, prefix="data"),
        optim=from_dict(OptimConfig, raw.get("optim") or {}, source=source, prefix="optim"),
        schedule=from_dict(ScheduleConfig, raw.get("schedule") or {}, source=source, prefix="schedule"),
        train=from_dict(TrainConfig, raw.get("train") or {}, source=source, prefix="train"),
    )


#: The recipes shipped inside the package (``avlearn/recipes/*.yaml``).
RECIPES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")


def list_recipes() -> list[str]:
    """Names of the packaged recipes (``sync_multisensory``, ``separate_voices``...), sorted."""
    if not os.path.isdir(RECIPES_DIR):
        return []
    return sorted(f[: -len(".yaml")] for f in os.listdir(RECIPES_DIR) if f.endswith(".yaml"))


def recipe_path(name_or_path: str | os.PathLike) -> str:
    """The file of a recipe given as a path or as the name of a packaged recipe.

    An existing file wins; otherwise a bare name (``sync_multisensory``, with or without
    ``.yaml``) is looked up among the recipes shipped in the package (:data:`RECIPES_DIR`).

    Raises:
        ConfigError: neither a file nor a packaged recipe (the message lists the known names).
    """
    path = os.fspath(name_or_path)
    if os.path.isfile(path):
        return path
    name = os.path.basename(path)
    stem = name[: -len(".yaml")] if name.endswith(".yaml") else name
    packaged = os.path.join(RECIPES_DIR, stem + ".yaml")
    if os.sep not in path.rstrip(os.sep) and "/" not in path and os.path.isfile(packaged):
        return packaged
    raise ConfigError(path, "", f"recipe file not found (nor a packaged recipe; known: {', '.join(list_recipes())})")


def load_recipe(name_or_path: str | os.PathLike) -> dict[str, Any]:
    """The raw mapping of a recipe file or packaged recipe (:func:`recipe_path`), read safely
    (:func:`safe_load_yaml`) but not yet validated against the task's dataclasses.

    Raises:
        ConfigError: no such recipe, too large, not YAML, or not a mapping of sections.
    """
    path = recipe_path(name_or_path)
    size = os.path.getsize(path)
    if size > MAX_RECIPE_BYTES:
        raise ConfigError(path, "", f"{size} bytes is too large for a recipe (at most {MAX_RECIPE_BYTES})")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, "", f"cannot read: {exc}") from None
    raw = safe_load_yaml(text, source=path)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, "", f"a recipe must be a mapping of sections, got a {type(raw).__name__}")
    return raw


def load_config(path: str | os.PathLike, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Load a YAML recipe, apply ``dotted.key=value`` overrides, and validate it.

    Args:
        path: the recipe file, or the name of a packaged recipe (``sync_multisensory``).
        overrides: ``--set`` items, applied in order after the file is read.

    Raises:
        ConfigError: the file is missing or not YAML, or a key/value is invalid (the message
            names the file, and says ``(from --set)`` when an override introduced the error).
    """
    path = recipe_path(path)
    raw = load_recipe(path)
    items = parse_overrides(list(overrides))
    try:
        return config_from_dict(apply_overrides(raw, items, source=path), source=path)
    except ConfigError as exc:
        set_keys = {k for k, _ in items}
        if exc.key and any(
            exc.key == k or exc.key.startswith((k + ".", k + "[")) or k.startswith(exc.key + ".") for k in set_keys
        ):
            raise ConfigError(path, exc.key, exc.reason + " (from --set)") from None
        raise


def save_config(cfg: ExperimentConfig, path: str | os.PathLike) -> None:
    """Write ``cfg`` as a YAML recipe that :func:`load_config` reads back to an equal config."""
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)
