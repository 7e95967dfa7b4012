"""Load a trained run: one function, one object carrying the network, its recipe and its inputs.

A weights file is half of a trained model; the other half is how its inputs were made. In the
spirit of torchaudio's pipeline bundles and torchvision's ``Weights`` entries (the model plus its
``transforms``), :func:`load_run` returns a :class:`Run` with the network in eval mode, the task
around it, the recipe it was trained with and its :class:`~avlearn.models.contract.InputContract`
(frame rate, frame size, clip length, normalisation, audio rate and features). Every command and
the Python API load trained runs through it; task-specific inference objects are built from a
:class:`Run` (``Localizer.from_run``, ``PreviewModels.from_run``...).

    >>> run = avlearn.load_run("runs/sync_multisensory")          # the run folder
    >>> run.task_name, run.contract.fps, run.contract.sample_rate
    ('sync', 16.0, 16000)
    >>> run = avlearn.load_run("runs/sync_multisensory/weights.pt").to("cuda")

Accepted paths: a run folder (``config.yaml`` + ``weights.pt`` as the trainer writes them; a
folder with only ``checkpoints/step_*.pt`` uses the newest), an exported ``weights.pt`` next to
its ``config.yaml``, a training checkpoint (which holds its recipe), or a preview bundle (the
Listen-to-Look models in one file), or an exported folder (``model.safetensors`` + its model card
``model.json``, :mod:`avlearn.tasks.export`). Files are read with ``torch.load(weights_only=True)``,
exports with safetensors.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avlearn.errors import UsageError, summary
from avlearn.models.contract import InputContract

__all__ = [
    "CheckpointError",
    "CHECKPOINT_FORMAT",
    "Run",
    "load_run",
    "recipe_contract",
    "load_task_weights",
    "run_recipe",
    "network_state",
]

class CheckpointError(UsageError, RuntimeError):
    """A checkpoint or weights file cannot be read or does not fit; the message names the file
    and the reason (exit status 2 in the ``avlearn`` command: the user gave the wrong file)."""


#: The ``"format"`` entry of a training checkpoint (:mod:`avlearn.train.checkpoint` writes them).
CHECKPOINT_FORMAT = "avlearn-checkpoint"

#: How audio enters the networks of each task (raw waveform towers or STFT masks).
_AUDIO_FEATURES = {
    "sync": "waveform",
    "localization": "waveform",
    "imgaud2vid": "waveform",
    "imgaud_skimming": "waveform",
    "preview": "waveform",
    "sop": "stft",
    "coseparation": "stft",
    "visualvoice": "stft",
    "audio_only_pit": "stft",
}


# ----------------------------------------------------------------------------- weights files


def _load_state(task: nn.Module, obj: Any, path: str, strict: bool) -> nn.Module:
    from avlearn.models import load_weights

    if isinstance(obj, dict) and obj.get("format") == CHECKPOINT_FORMAT:
        target, state = task, obj["model"]
    else:
        target, state = (task.export_module() if hasattr(task, "export_module") else task), obj
    try:
        load_weights(target, state, strict=strict)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return task


def load_task_weights(task: nn.Module, weights: str | os.PathLike, *, strict: bool = True) -> nn.Module:
    """Load weights into a task from a training checkpoint or an exported ``weights.pt``.

    A training checkpoint carries the whole task's state under ``"model"``; an exported file
    (the trainer's ``weights.pt``, or any state dict of the reusable part) is loaded into
    ``task.export_module()``.

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is not a readable weights file (junk, truncated, or a pickle
            that ``weights_only`` refuses).
        ValueError: the keys or shapes do not fit; the message names the file and the missing
            and unexpected keys (:func:`avlearn.models.load_weights`).
    """
    path = os.fspath(weights)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # junk, truncated or a pickle that asks for code: refused by weights_only
        raise CheckpointError(f"{path}: not a readable weights file ({summary(exc)})") from None
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: not a weights file (holds a {type(obj).__name__}, not a state dict)")
    return _load_state(task, obj, path, strict)


def run_recipe(path: str | os.PathLike, obj: Any = None) -> dict[str, Any] | None:
    """The raw recipe a weights file was trained with, or None when there is none.

    A training checkpoint (``<run>/checkpoints/step_*.pt``) holds it under ``"config"``; an
    exported ``<run>/weights.pt`` has the run's ``config.yaml`` beside it (a checkpoint copied
    out of ``checkpoints/`` finds it one folder up).

    Args:
        path: the weights file.
        obj: its already loaded contents (``torch.load``), to avoid reading it twice.
    """
    import yaml

    if isinstance(obj, dict) and isinstance(obj.get("config"), dict):
        return obj["config"]
    here = os.path.dirname(os.path.abspath(os.fspath(path)))
    for cand in (os.path.join(here, "config.yaml"), os.path.join(os.path.dirname(here), "config.yaml")):
        if os.path.isfile(cand):
            with open(cand, encoding="utf-8") as fh:
                return yaml.safe_load(fh)
    return None


def network_state(obj: Any) -> dict[str, Any]:
    """The network's state dict from a loaded weights file: a checkpoint's task state (its
    ``"model."`` entries, prefix removed) or an exported state dict as is."""
    state = obj["model"] if isinstance(obj, dict) and isinstance(obj.get("model"), dict) else obj
    if any(k.startswith("model.") for k in state):
        state = {k[len("model."):]: v for k, v in state.items() if k.startswith("model.")}
    return state


# ----------------------------------------------------------------------------- the run


def recipe_contract(raw: dict[str, Any]) -> InputContract:
    """The :class:`InputContract` of a raw recipe's ``data`` section (its task picks the audio
    features): ``fps``, ``size`` -> ``frame_size``, ``clip_duration`` / ``window`` /
    ``duration`` -> ``clip_duration``, ``num_frames``, ``mean``/``std``, ``sample_rate``."""
    data = dict(raw.get("data") or {})
    task = (raw.get("task") or {}).get("name")
    size = data.get("size")
    if isinstance(size, int):
        size = (size, size)
    duration = next((data[k] for k in ("clip_duration", "window", "duration") if data.get(k) is not None), None)
    return InputContract(
        fps=float(data["fps"]) if data.get("fps") is not None else None,
        frame_size=tuple(size) if size is not None else None,
        clip_duration=float(duration) if duration is not None else None,
        num_frames=data.get("num_frames"),
        mean=data.get("mean"),
        std=data.get("std"),
        sample_rate=data.get("sample_rate"),
        audio_channels=1 if data.get("sample_rate") is not None else None,
        audio_features=_AUDIO_FEATURES.get(task) if data.get("sample_rate") is not None else None,
    )


@dataclass
class Run:
    """A trained run: what :func:`load_run` returns.

    Attributes:
        path: the weights file that was loaded.
        task_name: the recipe's ``task.name`` (``"preview"`` for a preview bundle, ``"model"``
            for a bare registered model).
        network: the reusable network (the task's ``export_module()``) in eval mode; for a
            preview bundle an ``nn.ModuleDict`` of its models by role.
        task: the task module around the network (eval mode), None where there is none.
        recipe: the raw recipe (a plain dict; a bundle's ``classes``/``data``/``specs``).
        contract: the preprocessing the weights expect.
        config: the validated :class:`~avlearn.tasks.config.ExperimentConfig`, None where
            there is no task recipe.
    """

    path: Path
    task_name: str
    network: nn.Module
    task: nn.Module | None
    recipe: dict[str, Any]
    contract: InputContract
    config: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to(self, device: str | torch.device) -> "Run":
        """Move the task (and so the network) to ``device``; returns self."""
        (self.task if self.task is not None else self.network).to(device)
        return self

    @property
    def device(self) -> torch.device:
        """Where the network's parameters are."""
        p = next(self.network.parameters(), None)
        return p.device if p is not None else torch.device("cpu")


def _weights_path(path: Path) -> Path:
    if not path.is_dir():
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such run folder or weights file")
        return path
    if (path / "weights.pt").is_file():
        return path / "weights.pt"
    ckpts = sorted(glob.glob(str(path / "checkpoints" / "step_*.pt")))
    if ckpts:
        return Path(ckpts[-1])
    raise FileNotFoundError(f"{path}: not a run folder (no weights.pt and no checkpoints/step_*.pt)")


def _preview_run(path: Path, blob: dict[str, Any]) -> Run:
    from avlearn.tasks.preview.bundle import models_from_blob

    models = models_from_blob(blob, str(path))
    data = dict(blob["data"])
    raw = {"task": {"name": "preview"}, "data": {k: data[k] for k in ("fps", "size", "sample_rate", "window") if k in data}}
    contract = recipe_contract(raw)
    if data.get("mean") is not None:
        contract = contract.replace(mean=tuple(data["mean"]), std=tuple(data["std"]))
    recipe = {"classes": list(blob["classes"]), "data": data, "specs": dict(blob["specs"])}
    return Run(path, "preview", nn.ModuleDict(models.models()), None, recipe, contract, extra={"classes": list(blob["classes"])})


def _model_run(path: Path, obj: Any, name: str) -> Run:
    from avlearn.models import create_model, load_weights, model_entry

    model = create_model(name)
    try:
        load_weights(model, network_state(obj))
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    contract = model_entry(name).contract or InputContract()
    return Run(path, "model", model.eval(), None, {"model": {"name": name}}, contract)


def load_run(
    path: str | os.PathLike,
    *,
    config: str | os.PathLike | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    model: str | None = None,
) -> Run:
    """Load a trained run (see the module docstring for the accepted paths).

    Args:
        path: a run folder, a ``weights.pt`` beside its ``config.yaml``, a training checkpoint,
            a preview bundle, or a folder written by ``avlearn export`` (``model.json`` +
            ``model.safetensors``; read without pickle).
        config: a recipe to use instead of the one found with the weights.
        overrides: ``dotted.key=value`` items applied to the recipe (inference options such as
            ``task.combine=argmax`` or ``task.tta_flip=false``; the weights stay the same).
        model: a registered model name, for a bare state dict that has no recipe at all.

    Returns:
        the :class:`Run`, in eval mode on the CPU.

    Raises:
        FileNotFoundError: no such path, or a folder without weights.
        ValueError: no recipe (and no ``model``), a file that is not a torch file, or weights
            that do not fit the recipe's network (the message names the file and the keys).
        avlearn.tasks.config.ConfigError: the recipe or an override is invalid.
    """
    from avlearn.models import load_weights_file
    from avlearn.tasks.export import is_export

    if config is None and is_export(path):
        return _exported_run(Path(path), overrides)
    weights = _weights_path(Path(path))
    obj = load_weights_file(weights)
    if isinstance(obj, dict) and obj.get("format") == "avlearn-preview":
        return _preview_run(weights, obj)
    if config is not None:
        import yaml

        if not os.path.isfile(config):
            raise FileNotFoundError(f"{config}: recipe not found")
        with open(config, encoding="utf-8") as fh:
            raw = yaml.safe_load(fh) or {}
        source = os.fspath(config)
    else:
        raw, source = run_recipe(weights, obj), str(weights)
    if raw is None:
        if model is not None:
            return _model_run(weights, obj, model)
        raise ValueError(f"{weights}: no recipe found (no config in the checkpoint, no config.yaml beside it); "
                         "pass config= or model=")
    return _task_run(weights, raw, source, obj, overrides)


def _task_run(weights: Path, raw: dict[str, Any], source: str, obj: Any, overrides, contract=None) -> Run:
    """Build the recipe's task, load ``obj`` (a checkpoint or the network's state) into it."""
    from avlearn.tasks.base import build_task
    from avlearn.tasks.config import ConfigError, apply_overrides, config_from_dict, parse_overrides

    raw = apply_overrides(raw, parse_overrides(list(overrides)), source=source)
    if not isinstance(raw.get("task"), dict) or "name" not in raw["task"]:
        raise ConfigError(source, "task.name", "required key is missing (the run's task)")
    cfg = config_from_dict(raw, source=source)
    for key in ("weights", "visual_weights"):  # the weights come from ``path``: starting points are not read
        if hasattr(cfg.model, key):
            setattr(cfg.model, key, None)
    task = build_task(cfg)
    _load_state(task, obj, str(weights), strict=True)
    task.eval()
    network = task.export_module() if hasattr(task, "export_module") else task
    return Run(weights, cfg.task.name, network.eval(), task, raw, contract or recipe_contract(raw), config=cfg)


def _exported_run(path: Path, overrides) -> Run:
    """A run written by ``avlearn export`` (:mod:`avlearn.tasks.export`): safetensors + model card."""
    from avlearn.models import create_model, load_weights
    from avlearn.tasks.export import load_export

    card, state, contract, weights = load_export(path)
    if card.get("task") == "model":
        name, kwargs = card["model"]["name"], card["model"].get("kwargs") or {}
        model = create_model(name, **kwargs)
        try:
            load_weights(model, state)
        except ValueError as exc:
            raise ValueError(f"{weights}: {exc}") from None
        return Run(weights, "model", model.eval(), None, card.get("recipe") or {"model": {"name": name}}, contract)
    return _task_run(weights, dict(card.get("recipe") or {}), str(weights.parent / "model.json"), state, overrides, contract)

