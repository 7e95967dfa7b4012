"""Export a trained run as safetensors weights plus a model card, and load it back.

A run exported by :func:`export_run` is a folder of three files:

* ``model.safetensors``: the network's state dict in the safetensors format (a JSON header and
  raw tensor bytes; reading it runs no code, unlike a pickle-based ``torch.save`` file);
* ``model.json``: the model card, in the spirit of Mitchell et al., "Model Cards for Model
  Reporting" (FAT* 2019), reduced to what is needed to rebuild and feed the network: the
  task, the registered model's name and keyword arguments, the recipe it was trained with,
  its :class:`~avlearn.models.contract.InputContract` (frame rate and size, clip length,
  mean/std, audio rate and features), the avlearn version, and the weights' SHA-256;
* ``README.md``: the same for people, with how to load it.

:func:`avlearn.load_run` (and every command's ``--weights``) accepts the folder (or its
``model.json``): :func:`load_export` checks the weights' SHA-256, reads the tensors with
``safetensors`` only, rebuilds the network from the card and loads them strictly.

    >>> export_run(avlearn.load_run("runs/sync_multisensory"), "exported/sync")
    >>> run = avlearn.load_run("exported/sync")
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch

from avlearn.errors import UsageError
from avlearn.models.contract import InputContract

__all__ = ["EXPORT_FORMAT", "WEIGHTS_FILE", "CARD_FILE", "ExportError", "export_run", "load_export", "is_export"]

#: The ``"format"`` entry of ``model.json``.
EXPORT_FORMAT = "avlearn-export"
WEIGHTS_FILE = "model.safetensors"
CARD_FILE = "model.json"


class ExportError(UsageError, ValueError):
    """An export folder cannot be written or read back (the message names the file and the reason)."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def is_export(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an export folder (or its ``model.json`` / ``model.safetensors``)."""
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    return (folder / CARD_FILE).is_file() and (p.is_dir() or p.name in (CARD_FILE, WEIGHTS_FILE))


def _tensors(network: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as contiguous CPU tensors, each its own storage (safetensors refuses shared ones)."""
    out = {}
    for key, value in network.state_dict().items():
        if not isinstance(value, torch.Tensor):
            raise ExportError(f"{type(network).__name__}: state entry {key!r} is not a tensor; cannot be exported")
        out[key] = value.detach().to("cpu").contiguous().clone()
    return out


def _readme(card: dict[str, Any]) -> str:
    contract = card["contract"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in contract.items() if v is not None)
    model = card["model"]
    return f"""# {card['task']} model: {model.get('name') or 'network'}

Exported by avlearn {card['avlearn_version']} (`avlearn export`).

* task: `{card['task']}`
* registered model: `{model.get('name')}` with keyword arguments `{json.dumps(model.get('kwargs') or {})}`
* weights: `{card['weights']['file']}` (safetensors), SHA-256 `{card['weights']['sha256']}`
* parameters: {card['weights']['parameters']:,}

## Input contract (the preprocessing the weights expect)

| field | value |
|---|---|
{rows}

## Loading

```python
import avlearn
run = avlearn.load_run("this_folder")   # checks the SHA-256, reads safetensors only
run.network, run.contract
```

or on the command line: `--weights this_folder` for any avlearn command that takes the task's weights.
The recipe the run was trained with is in `model.json` under `recipe`.
"""


def export_run(run: Any, out_dir: str | os.PathLike, *, overwrite: bool = False) -> dict[str, Any]:
    """Write ``run`` (:func:`avlearn.load_run`) as ``model.safetensors`` + ``model.json`` + ``README.md``.

    Args:
        run: the loaded :class:`~avlearn.tasks.runs.Run` (a task run or a bare registered model).
        out_dir: the folder to write (created).
        overwrite: replace an existing export in ``out_dir``.

    Returns:
        the model card (the contents of ``model.json``).

    Raises:
        ExportError: a preview bundle (several networks; keep its ``preview.pt``), a state entry
            that is not a tensor, or existing files without ``overwrite``.
    """
    from safetensors.torch import save_file

    import avlearn

    if run.task_name == "preview":
        raise ExportError(f"{run.path}: a preview bundle holds several networks; it is exported as it is (preview.pt)")
    out = Path(out_dir)
    targets = [out / WEIGHTS_FILE, out / CARD_FILE, out / "README.md"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        raise ExportError(f"{existing[0]} already exists (pass --overwrite to replace it)")
    out.mkdir(parents=True, exist_ok=True)
    tensors = _tensors(run.network)
    save_file(tensors, str(out / WEIGHTS_FILE), metadata={"format": "pt", "task": run.task_name})
    recipe = dict(run.recipe or {})
    model = dict(recipe.get("model") or {})
    card = {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "task": run.task_name,
        "model": {"name": model.get("name"), "kwargs": dict(model.get("kwargs") or {})},
        "recipe": recipe,
        "contract": run.contract.to_dict(),
        "avlearn_version": avlearn.__version__,
        "weights": {
            "file": WEIGHTS_FILE,
            "sha256": _sha256(out / WEIGHTS_FILE),
            "tensors": len(tensors),
            "parameters": int(sum(p.numel() for p in run.network.parameters())),
        },
    }
    try:
        text = json.dumps(card, indent=2, sort_keys=False)
    except TypeError as exc:
        raise ExportError(f"{run.path}: the recipe holds a value JSON cannot write ({exc})") from None
    (out / CARD_FILE).write_text(text + "\n", encoding="utf-8")
    (out / "README.md").write_text(_readme(card), encoding="utf-8")
    return card


def read_card(path: str | os.PathLike) -> tuple[Path, dict[str, Any]]:
    """``(folder, card)`` of an export folder (or its ``model.json`` / ``model.safetensors``).

    Raises:
        ExportError: no card, a card that is not an avlearn export, or unreadable JSON.
    """
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    card_path = folder / CARD_FILE
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExportError(f"{card_path}: not a readable model card ({exc})") from None
    if not isinstance(card, dict) or card.get("format") != EXPORT_FORMAT:
        raise ExportError(f"{card_path}: not an avlearn export (format {card.get('format') if isinstance(card, dict) else None!r})")
    return folder, card


def load_export(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor], InputContract, Path]:
    """Read an export folder: ``(card, state_dict, contract, weights_path)``, tensors by safetensors only.

    Raises:
        ExportError: a missing or damaged card or weights file, or weights whose SHA-256 is not
            the card's (the message names the file).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder, card = read_card(path)
    weights = folder / str((card.get("weights") or {}).get("file") or WEIGHTS_FILE)
    if not weights.is_file():
        raise ExportError(f"{weights}: weights file missing from the export")
    want = (card.get("weights") or {}).get("sha256")
    if want and _sha256(weights) != want:
        raise ExportError(f"{weights}: SHA-256 does not match model.json (damaged or replaced weights)")
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ExportError(f"{weights}: not a readable safetensors file ({exc})") from None
    try:
        contract = InputContract.from_dict(card.get("contract"))
    except (TypeError, ValueError) as exc:
        raise ExportError(f"{folder / CARD_FILE}: bad input contract ({exc})") from None
    return card, state, contract, weights
