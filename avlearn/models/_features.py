"""The feature-extractor contract every registered model follows.

A model exposes:

* ``forward_features(x) -> Tensor``: the last feature map before pooling / the head.
* ``forward_head(feats, pre_logits=False) -> Tensor``: pooling + classifier (``pre_logits``
  returns the pooled embedding).
* ``forward(x) = forward_head(forward_features(x))``.
* ``feature_info``: a list of dicts ``{"module": dotted name, "num_chs": C, "reduction": r}``
  naming the submodules whose outputs are the stage features, shallow to deep.
* ``num_features``: the embedding width that ``forward_head(..., pre_logits=True)`` returns.

:class:`FeatureListNet` turns any such model into one that returns the stage outputs as a list,
using forward hooks so the wrapped model's own ``forward`` is what runs.
"""

from __future__ import annotations

from torch import nn, Tensor

__all__ = ["FeatureListNet"]


class FeatureListNet(nn.Module):
    """Wrap a model so ``forward`` returns the feature maps of ``feature_info`` entries.

    Args:
        model: a model with ``feature_info`` and ``forward_features``.
        out_indices: indices into ``feature_info`` (default: all).
    """

    def __init__(self, model: nn.Module, *, out_indices: tuple[int, ...] | None = None):
        super().__init__()
        info = list(getattr(model, "feature_info", []))
        if not info:
            raise ValueError(f"{type(model).__name__} declares no feature_info; cannot build features_only")
        idx = tuple(range(len(info))) if out_indices is None else tuple(out_indices)
        self.model = model
        self.feature_info = [info[i] for i in idx]
        self._names = [d["module"] for d in self.feature_info]
        self._store: dict[str, Tensor] = {}
        modules = dict(model.named_modules())
        for n in self._names:
            if n not in modules:
                raise ValueError(f"feature_info names {n!r}, which is not a submodule of {type(model).__name__}")
            modules[n].register_forward_hook(self._hook(n))

    def _hook(self, name: str):
        def fn(_module, _inp, out):
            self._store[name] = out

        return fn

    def forward(self, x) -> list[Tensor]:
        self._store = {}
        self.model.forward_features(x)
        return [self._store[n] for n in self._names]
