"""All trained preview models in one file, for ``avlearn classify`` and the evaluation.

A preview bundle holds the models of the Listen to Look pipeline (Gao et al., CVPR 2020) and
what is needed to feed them:

* ``teacher``: the clip-level 3D classifier over K actions + background (dense baseline and
  localization), a registered video model;
* ``student``: the IMGAUD2VID image-audio network (K + 1 outputs);
* ``skimming``: the IMGAUD-SKIMMING network over the student's feature banks (K outputs);
* ``frames`` / ``audio`` (optional): the single-frame and audio-only baselines;
* ``classes`` (the K action names), ``data`` (window, hop, step, fps, size, sample rate,
  normalisation; :func:`avlearn.tasks.preview.data.settings`), and for each model the builder
  name and keyword arguments.

File format: ``torch.save`` of ``{"format": "avlearn-preview", "version": 1, "classes",
"data", "specs": {role: {"name", "kwargs"}}, "state": {role: state_dict}}``; loading uses
``weights_only=True`` (:func:`avlearn.load_run` reads a bundle; :func:`preview_models` turns the
run into :class:`PreviewModels`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from avlearn.models.av.preview import ImageAudioNet, SkimmingNet

__all__ = ["BUNDLE_FORMAT", "ROLES", "PreviewModels", "build_models", "models_from_blob",
           "preview_models", "save_bundle"]

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


def models_from_blob(blob: Any, path: str) -> PreviewModels:
    """:class:`PreviewModels` from the contents of a bundle file (``torch.load``-ed).

    Raises:
        ValueError: not a preview bundle, an incomplete one, or weights that do not fit.
    """
    if not isinstance(blob, dict) or blob.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{path}: not a preview bundle (write one with `avlearn preview bundle` "
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


def preview_models(run: Any) -> PreviewModels:
    """The :class:`PreviewModels` of a preview bundle loaded with :func:`avlearn.load_run`.

    Raises:
        ValueError: ``run`` is not a preview bundle (e.g. a single model's run).
    """
    if run.task_name != "preview":
        raise ValueError(f"{run.path}: a {run.task_name!r} run is not a preview bundle (the Listen-to-Look models in "
                         "one file, written by `avlearn preview bundle`)")
    built = {role: module for role, module in run.network.items()}
    return PreviewModels(classes=list(run.recipe["classes"]), data=dict(run.recipe["data"]),
                         specs=dict(run.recipe["specs"]), **built)
