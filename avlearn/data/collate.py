"""Collate sample dicts into a batch dict, dropping the samples a dataset skipped.

:class:`avlearn.data.AVDataset` returns None for an item whose file could not be decoded
(a dataset skips and counts bad samples rather than killing a training run);
:func:`collate` drops those and reports how many it dropped as ``batch["skipped"]``.

Per key, over the kept samples:

* tensors (and numpy arrays) of one shape -> stacked, (B, ...);
* tensors of different shapes (ragged, e.g. clips cut past a file's end) -> a list;
* Python ints / floats / bools -> a 1-D tensor (int64 / float64 / bool), like
  ``torch.utils.data.default_collate``;
* nested dicts -> collated recursively;
* everything else (strings, None, lists, a key missing from some samples) -> a list.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["collate", "collate_values"]


def collate_values(values: Sequence[Any]) -> Any:
    """Collate one key's values from every sample of a batch (see the module docstring)."""
    first = values[0]
    if isinstance(first, np.ndarray) and all(isinstance(v, np.ndarray) for v in values):
        values = [torch.from_numpy(v) for v in values]
        first = values[0]
    if isinstance(first, torch.Tensor) and all(isinstance(v, torch.Tensor) for v in values):
        if all(v.shape == first.shape and v.dtype == first.dtype for v in values):
            return torch.stack(list(values))  # (B, ...)
        return list(values)
    if all(isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.bool)  # (B,)
    if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.int64)  # (B,)
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return torch.tensor(values, dtype=torch.float64)  # (B,)
    if all(isinstance(v, Mapping) for v in values):
        return _collate_dicts(values)
    return list(values)


_MISSING = object()


def _collate_dicts(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    keys: dict[str, None] = {}
    for s in samples:
        keys.update(dict.fromkeys(s))
    batch = {}
    for key in keys:
        values = [s.get(key, _MISSING) for s in samples]
        if any(v is _MISSING for v in values):
            batch[key] = [None if v is _MISSING else v for v in values]
        else:
            batch[key] = collate_values(values)
    return batch


def collate(samples: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Collate a list of sample dicts, dropping None (skipped) samples.

    Args:
        samples: what the dataset returned for each index of the batch.

    Returns:
        A batch dict (see the module docstring for how each key is collated) with
        ``batch["skipped"]`` = the number of None samples dropped. When every sample was
        skipped the batch is just ``{"skipped": n}``.
    """
    kept = [s for s in samples if s is not None]
    skipped = len(samples) - len(kept)
    if not kept:
        return {"skipped": skipped}
    batch = _collate_dicts(kept)
    if "skipped" in batch:
        raise KeyError("collate: samples must not have a 'skipped' key (the batch reports skips there)")
    batch["skipped"] = skipped
    return batch
