"""All trained preview models in one file, for ``avlearn classify`` and the evaluation.

A preview bundle holds the models of the Listen to Look pipeline (Gao et al., CVPR 2020) and
what is needed to feed them:

* ``teacher``: the clip-level 3D classifier over K actions + background (dense baseline and
  localization), a registered video model;
* ``student``: the IMGAUD2VID image-audio network (K + 1 outputs);
* ``skimming``: the IMGAUD-SKIMMING network over the student's feature banks (K outputs);
* ``frames`` / ``audio`` (optional): the single-frame and audio-only baselines;
* ``classes`` (the K action names), ``data`` (window, hop, step, fps, size, sample rate,
  normalisation; :func:`avlearn.tasks.preview.steps.settings`), and for each model the builder
  name and keyword arguments.

File format: ``torch.save`` of ``{"format": "avlearn-preview", "version": 1, "classes",
"data", "specs": {role: {"name", "kwargs"}}, "state": {role: state_dict}}``; loading uses
``weights_only=True``.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avlearn.errors import summary
from avlearn.models.av.preview import ImageAudioNet, SkimmingNet

__all__ = ["BUNDLE_FORMAT", "ROLES", "PreviewModels", "build_models", "bundle_from_runs", "load_bundle", "save_bundle"]

BUNDLE_FORMAT = "avlearn-preview"
ROLES = ("teacher", "student", "skimming", "frames", "audio")
_SKIMMING = "imgaud_skimming_small"
#: The skimming network's name in bundles written before it was registered.
_LEGACY_SKIMMING = "SkimmingNet"


@dataclass
class PreviewModels:
    """The trained models (eval mode) and their input settings.

    Attributes:
        teacher: clip classifier, (B, 3, F, H, W) -> (B, K + 1).
        student: IMGAUD2VID student, ``{"image", "audio"}`` -> (B, K + 1).
        skimming: IMGAUD-SKIMMING over the student's banks -> (B, K).
        classes: the K action names (the background is index K of teacher and student).
        data: input settings (``window``, ``hop``, ``step``, ``fps``, ``size``,
            ``sample_rate``, ``mean``, ``std``).
        frames: single-frame baseline (image-only ImageAudioNet), or None.
        audio: audio-only baseline, or None.
        specs: per role ``{"name": builder, "kwargs": {...}}`` (how to rebuild it).
    """

    teacher: nn.Module
    student: ImageAudioNet
    skimming: SkimmingNet
    classes: list[str]
    data: dict[str, Any]
    frames: ImageAudioNet | None = None
    audio: ImageAudioNet | None = None
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def models(self) -> dict[str, nn.Module]:
        """The models present, by role."""
        return {r: getattr(self, r) for r in ROLES if getattr(self, r) is not None}


def _build(spec: dict[str, Any]) -> nn.Module:
    from avlearn.models import create_model

    name = _SKIMMING if spec["name"] == _LEGACY_SKIMMING else spec["name"]
    return create_model(name, **spec["kwargs"])


def build_models(classes: list[str], data: dict[str, Any], specs: dict[str, dict[str, Any]]) -> PreviewModels:
    """Freshly initialised models from their specs (``{role: {"name", "kwargs"}}``; the
    skimming network's is ``"imgaud_skimming_small"``, ``"SkimmingNet"`` in older bundles), in eval mode.

    Raises:
        KeyError: the teacher, student or skimming spec is missing.
    """
    missing = [r for r in ("teacher", "student", "skimming") if r not in specs]
    if missing:
        raise KeyError(f"preview models need specs for {missing}")
    built = {r: _build(spec).eval() for r, spec in specs.items() if r in ROLES}
    return PreviewModels(classes=list(classes), data=dict(data), specs=dict(specs), **built)


def save_bundle(models: PreviewModels, path: str | os.PathLike) -> str:
    """Write ``models`` to one file (atomically); returns the path."""
    blob = {
        "format": BUNDLE_FORMAT, "version": 1, "classes": list(models.classes), "data": dict(models.data),
        "specs": {r: models.specs[r] for r in models.models()},
        "state": {r: m.state_dict() for r, m in models.models().items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    torch.save(blob, tmp)
    os.replace(tmp, path)
    return str(path)


def load_bundle(path: str | os.PathLike) -> PreviewModels:
    """Read a bundle written by :func:`save_bundle`.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a preview bundle, or a model does not fit its weights.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, pickle.UnpicklingError) as exc:  # not a torch checkpoint
        raise ValueError(f"{path}: not a torch checkpoint ({summary(exc)})") from None
    if not isinstance(blob, dict) or blob.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path}: not a preview bundle (write one with python -m avlearn.tasks.preview.evaluate "
                         f"or the pipeline; a single model's weights.pt is not enough)")
    try:
        models = build_models(blob["classes"], blob["data"], blob["specs"])
    except KeyError as exc:
        raise ValueError(f"{path}: preview bundle incomplete: {exc.args[0]}") from None
    for role, model in models.models().items():
        try:
            model.load_state_dict(blob["state"][role])
        except RuntimeError as exc:
            raise ValueError(f"{path}: the {role} weights do not fit {blob['specs'][role]['name']}: {exc}") from None
    return models


def bundle_from_runs(runs: dict[str, str | os.PathLike]) -> PreviewModels:
    """Collect trained runs (``{role: run folder}``; teacher, student and skimming required)
    into :class:`PreviewModels`.

    Raises:
        KeyError: a required role is missing.
        FileNotFoundError / ValueError: as :func:`~avlearn.tasks.preview.imgaud2vid.load_run`.
    """
    from avlearn.tasks.preview.imgaud2vid import load_run
    from avlearn.tasks.preview.steps import class_names, settings

    missing = [r for r in ("teacher", "student", "skimming") if r not in runs]
    if missing:
        raise KeyError(f"bundle_from_runs: missing runs for {missing}")
    built, specs, cfg = {}, {}, None
    for role in ROLES:
        if role not in runs:
            continue
        model, cfg_r = load_run(runs[role])
        built[role] = model
        if role == "skimming":
            specs[role] = {"name": cfg_r.model.name, "kwargs": dict(model.hparams)}
        else:
            kwargs = dict(cfg_r.model.kwargs, num_classes=len(class_names(cfg_r.data.world)) + 1)
            if isinstance(model, ImageAudioNet):
                kwargs["sample_rate"] = cfg_r.data.sample_rate
            specs[role] = {"name": cfg_r.model.name, "kwargs": kwargs}
        if role == "student":
            cfg = cfg_r
    return PreviewModels(classes=class_names(cfg.data.world), data=settings(cfg.data), specs=specs, **built)
