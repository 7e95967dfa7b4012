"""Model registry: one visible builder function per variant (timm / torchvision style).

    >>> from avlearn.models import create_model, list_models
    >>> list_models("r*3d*")
    >>> m = create_model("r2plus1d_18", num_classes=10, weights="r2plus1d.pt", features_only=True)

Builders are registered with ``@register_model`` at the bottom of each model file. A builder
takes keyword arguments only and never reads files; :func:`create_model` loads ``weights``
(a local checkpoint or a torchvision-style state dict) after construction.

Two kinds of entries share the registry (``ModelEntry.output``):

* ``"logits"`` -- the zoo's classifiers: ``create_model(name, num_classes=K)`` gives
  ``(B, K)`` logits, ``forward_features`` / ``forward_head`` and ``feature_info``;
* task networks -- the audio-visual nets a task wraps (``"score"``: correspondence logits,
  ``"masks"``: separation mask logits, ``"features"``: encoder features, ``"maps"``: dense
  maps, ``"dict"``: a dict of tensors). They take no ``num_classes``.

Inputs: one tensor, a dict of tensors passed as one argument (``modality="av"``), or a dict
passed as keyword arguments (``kwargs_input=True``, for networks whose ``forward`` takes several
arguments, e.g. ``forward(log_mag, frames, valid)``); :func:`example_input` makes one and
:func:`call_model` passes it the way the entry says.
"""

from __future__ import annotations

import fnmatch
import inspect
import os
import typing
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from avlearn.errors import summary
from avlearn.models.contract import InputContract

__all__ = [
    "register_model",
    "list_models",
    "create_model",
    "model_entry",
    "ModelEntry",
    "load_weights",
    "example_input",
    "call_model",
    "check_model_kwargs",
    "builder_arguments",
    "model_class",
    "OUTPUTS",
    "InputContract",
]

#: What a registered network's ``forward`` returns (``ModelEntry.output``).
OUTPUTS = ("logits", "score", "masks", "features", "maps", "dict")


@dataclass(frozen=True)
class ModelEntry:
    """A registered builder and the facts the zoo table and tests need.

    Attributes:
        name: registry name.
        fn: the builder.
        modality: "video", "audio", "flow", "two_stream" or "av" (what ``forward`` takes).
        input_size: reference input shape without batch, e.g. (3, 16, 112, 112).
        tiny_input: a small input shape for tests (CPU, seconds).
        module: module path of the builder (for docs).
        contract: the preprocessing the model's reference weights expect
            (:class:`~avlearn.models.contract.InputContract`), None where none is fixed.
        output: what ``forward`` returns, one of :data:`OUTPUTS` (``"logits"``: a zoo classifier).
        kwargs_input: ``forward`` takes the input dict's entries as keyword arguments.
        example: ``example(batch, shapes, generator) -> dict`` makes inputs that are not plain
            random tensors (e.g. a boolean ``valid`` mask); ``shapes`` is ``tiny_input`` or
            ``input_size``. None: random normal tensors of the entry's shapes.
    """

    name: str
    fn: Callable[..., nn.Module]
    modality: str
    input_size: tuple[int, ...] | dict[str, tuple[int, ...]]
    tiny_input: tuple[int, ...] | dict[str, tuple[int, ...]]
    module: str
    contract: InputContract | None = None
    output: str = "logits"
    kwargs_input: bool = False
    example: Callable[..., dict] | None = None


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None,
    *,
    modality: str = "video",
    input_size: tuple[int, ...] | dict[str, tuple[int, ...]] = (3, 16, 112, 112),
    tiny_input: tuple[int, ...] | dict[str, tuple[int, ...]] = (3, 4, 32, 32),
    name: str | None = None,
    contract: InputContract | None = None,
    output: str = "logits",
    kwargs_input: bool = False,
    example: Callable[..., dict] | None = None,
):
    """Register a builder; usable as ``@register_model`` or ``@register_model(modality=...)``.

    See :class:`ModelEntry` for the arguments.
    """
    if output not in OUTPUTS:
        raise ValueError(f"register_model: output must be one of {OUTPUTS}, got {output!r}")

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _REGISTRY and _REGISTRY[key].fn is not f:
            raise ValueError(f"model {key!r} is registered twice ({_REGISTRY[key].module} and {f.__module__})")
        shapes = [input_size, tiny_input]
        shapes = [{k: tuple(v) for k, v in s.items()} if isinstance(s, dict) else tuple(s) for s in shapes]
        _REGISTRY[key] = ModelEntry(key, f, modality, shapes[0], shapes[1], f.__module__, contract, output,
                                    kwargs_input, example)
        return f

    return wrap(fn) if fn is not None else wrap


def _ensure_loaded() -> None:
    # Importing the package registers every model file.
    import avlearn.models  # noqa: F401


def list_models(pattern: str = "*", *, modality: str | None = None, output: str | None = None) -> list[str]:
    """Sorted names of registered models matching a shell-style ``pattern`` (and, when given,
    a ``modality`` and an ``output`` kind, e.g. ``output="logits"`` for the classifiers)."""
    _ensure_loaded()
    names = [n for n, e in _REGISTRY.items() if fnmatch.fnmatch(n, pattern)
             and (modality is None or e.modality == modality) and (output is None or e.output == output)]
    return sorted(names)


def model_entry(name: str) -> ModelEntry:
    """The :class:`ModelEntry` of ``name``; raises KeyError listing close names."""
    _ensure_loaded()
    if name not in _REGISTRY:
        close = [n for n in _REGISTRY if name.split("_")[0] in n][:8]
        raise KeyError(f"unknown model {name!r}; similar: {close or sorted(_REGISTRY)[:8]}")
    return _REGISTRY[name]


def _unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("model", "state_dict", "model_state"):
            if key in obj and isinstance(obj[key], dict):
                return _unwrap_state_dict(obj[key])
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            # strip DDP / torch.compile prefixes
            out = {}
            for k, v in obj.items():
                for p in ("module.", "_orig_mod."):
                    if k.startswith(p):
                        k = k[len(p):]
                out[k] = v
            return out
    raise ValueError("no state dict found (expected a tensor dict or one under 'model'/'state_dict')")


def load_weights_file(path: str | os.PathLike):
    """The contents of a local weights file, read with ``torch.load(weights_only=True)`` on the CPU.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a torch file (the message names it).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: weights file not found")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except OSError:
        raise
    except Exception as exc:  # torch's unpicklers raise pickle, struct, zip and runtime errors on foreign bytes
        raise ValueError(f"{path}: not a torch weights file ({summary(exc)})") from None


def read_state_dict(weights: str | os.PathLike | dict) -> tuple[str, dict[str, torch.Tensor]]:
    """``(name, state dict)`` of a local weights file (:func:`load_weights_file`; an avlearn
    checkpoint's ``"model"`` or a plain tensor dict, DDP / compile prefixes stripped) or of a dict.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: the file is not a torch file, or holds no state dict (the message names it).
    """
    if isinstance(weights, (str, os.PathLike)):
        path, obj = os.fspath(weights), load_weights_file(weights)
    else:
        path, obj = "<state dict>", weights
    try:
        return path, _unwrap_state_dict(obj)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_weights(model: nn.Module, weights: str | os.PathLike | dict, *, strict: bool = True) -> nn.Module:
    """Load a local checkpoint or state dict into ``model``.

    Accepts a path to a ``torch.save``-d state dict (torchvision's included) or an avlearn
    training checkpoint (state under ``"model"``). Loading uses ``weights_only=True``.

    Raises:
        FileNotFoundError: the path does not exist.
        ValueError: shapes or keys do not match; the message names the missing and
            unexpected keys.
    """
    path, state = read_state_dict(weights)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    bad_shape = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    if bad_shape or (strict and (missing or unexpected)):
        raise ValueError(
            f"{path}: incompatible weights for {type(model).__name__}; "
            f"missing keys {missing[:10]}{'...' if len(missing) > 10 else ''}, "
            f"unexpected keys {unexpected[:10]}{'...' if len(unexpected) > 10 else ''}, "
            f"shape mismatches {bad_shape[:10]}"
        )
    model.load_state_dict(state, strict=strict)
    return model


def create_model(
    name: str,
    *,
    weights: str | os.PathLike | dict | None = None,
    features_only: bool = False,
    out_indices: tuple[int, ...] | None = None,
    strict: bool = True,
    **kwargs,
) -> nn.Module:
    """Build a registered model, optionally load local weights, optionally wrap for features.

    Args:
        name: a name from :func:`list_models`.
        weights: local path or state dict to load (never downloaded).
        features_only: return a :class:`~avlearn.models._features.FeatureListNet` that yields
            the feature maps listed in the model's ``feature_info``.
        out_indices: which ``feature_info`` entries to return (default: all).
        strict: require exact key match when loading. With ``strict=False``, a model that
            defines ``load_pretrained(weights)`` (networks whose parts start from another
            run, e.g. ``attention_loc_sync_small`` from a sync run's towers) loads through it.
        **kwargs: passed to the builder (``num_classes``, ``in_channels``, ...).
    """
    entry = model_entry(name)
    model = entry.fn(**kwargs)
    if weights is not None:
        partial = getattr(model, "load_pretrained", None)
        if not strict and callable(partial):
            partial(weights)
        else:
            load_weights(model, weights, strict=strict)
    if features_only:
        from avlearn.models._features import FeatureListNet

        model = FeatureListNet(model, out_indices=out_indices)
    return model


def _parameters(fn: Callable) -> tuple[set[str], bool]:
    """Keyword names ``fn`` accepts, and whether it takes ``**kwargs`` too."""
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"}
    return names, any(p.kind is p.VAR_KEYWORD for p in params)


def builder_arguments(name: str) -> set[str] | None:
    """The keyword arguments the builder of ``name`` accepts, or None where it cannot be told.

    A builder that forwards ``**kwargs`` to the class it returns accepts that class's
    constructor arguments too (the class is read from the builder's return annotation).
    """
    names, var = _parameters(model_entry(name).fn)
    if not var:
        return names
    cls = model_class(name)
    if cls is None:
        return None
    more, var = _parameters(cls.__init__)
    return None if var else names | more


def model_class(name: str) -> type | None:
    """The class the builder of ``name`` returns (its return annotation), None where not annotated."""
    try:
        cls = typing.get_type_hints(model_entry(name).fn).get("return")
    except NameError:  # an annotation that does not resolve
        return None
    return cls if isinstance(cls, type) else None


def check_model_kwargs(name: str, kwargs: dict) -> None:
    """Raise before building when ``kwargs`` holds an argument the builder of ``name`` does not take.

    Raises:
        KeyError: ``name`` is not registered.
        TypeError: unknown arguments (the message lists the accepted ones).
    """
    accepted = builder_arguments(name)
    if accepted is None:
        return
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise TypeError(f"model {name!r} takes no argument {', '.join(map(repr, unknown))} "
                        f"(accepted: {', '.join(sorted(accepted))})")


def example_input(name: str, batch: int = 2, *, tiny: bool = True, generator: torch.Generator | None = None):
    """A random input for model ``name`` in the form its ``forward`` takes.

    ``video``/``audio``/``flow`` models take one tensor ``(B, *shape)``; ``two_stream`` models
    take ``{"rgb": (B, 3, T, H, W), "flow": (B, 2(T-1), H, W)}`` where the entry's shape is the
    RGB clip's; models registered with a dict of shapes (audio-visual nets, ``modality="av"``)
    take a dict of tensors with those keys; an entry with an ``example`` function makes its own
    (e.g. a boolean ``valid`` mask of the sources). Pass it with :func:`call_model`.
    """
    entry = model_entry(name)
    shape = entry.tiny_input if tiny else entry.input_size
    if entry.example is not None:
        return entry.example(batch, shape, generator)
    if isinstance(shape, dict):  # multi-input models, e.g. {"video": (3,T,H,W), "audio": (1,N)}
        return {k: torch.randn(batch, *v, generator=generator) for k, v in shape.items()}
    if entry.modality == "two_stream":
        c, t, h, w = shape
        rgb = torch.randn(batch, c, t, h, w, generator=generator)
        flow = torch.randn(batch, 2 * (t - 1), h, w, generator=generator)
        return {"rgb": rgb, "flow": flow}
    return torch.randn(batch, *shape, generator=generator)


def call_model(name: str, model: nn.Module, x):
    """``model(x)``, or ``model(**x)`` for entries registered with ``kwargs_input=True``."""
    return model(**x) if model_entry(name).kwargs_input else model(x)
