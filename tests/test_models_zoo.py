"""One parametrized test over every registered model: tests by property, as timm's model tests.

For each classifier (``output == "logits"``) in ``list_models()``: forward on the registry's
tiny input gives ``(B, num_classes)`` (many-to-many models may give ``(B, T, num_classes)``),
backward reaches every trainable parameter, ``create_model(name, features_only=True)`` yields
one map per ``feature_info`` entry with the declared channels, and the model overfits a batch
of 4 clips (the loss halves within a bounded number of Adam steps).

For each task network (attention localizers, separation networks and their encoders, the
skimming network): ``create_model(name)`` builds it, :func:`call_model` runs it on
:func:`example_input`, every output tensor is finite, and backward reaches every trainable
parameter (except those a task uses outside ``forward``, listed in ``OUTSIDE_FORWARD``).

The overfit test runs in the default suite for the CPU-sized variants (names with ``_small`` or
``_tiny``, the zoo's naming convention for them) and under ``-m slow`` for the standard-size ones.
"""

from __future__ import annotations

import fnmatch
import math

import pytest
import torch
from torch import nn

from avlearn.models import create_model, list_models
from avlearn.models._registry import call_model, example_input, model_entry

NAMES = list_models()
CLASSIFIERS = list_models(output="logits")
TASK_NETWORKS = [n for n in NAMES if n not in CLASSIFIERS]
CPU_SIZED = ("*_small*", "*_tiny*")
#: Parameters a task uses outside the network's ``forward``: Co-Separation's object classifier
#: runs on the separated spectrograms in the task's object-consistency loss.
OUTSIDE_FORWARD = {"coseparation_small": ("classifier.",)}
NUM_CLASSES = 3
# C3D has no normalisation and 4096-wide fc6/fc7: at 3e-3 Adam's first steps blow the loss up
# (to ~1e5 with one OpenMP thread) and it does not recover within the budget; 1e-4 halves it in 6.
# MViTv2-S: Adam at 3e-3 stalls at 0.57x the first loss within the 40 steps; 1e-3 halves it in 2.
OVERFIT_LR = {"c3d": 1e-4, "mvitv2_s": 1e-3}


def _cpu_sized(name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in CPU_SIZED)


def _overfit_params():
    return [pytest.param(n, id=n) if _cpu_sized(n) else pytest.param(n, id=n, marks=pytest.mark.slow) for n in CLASSIFIERS]


def _logits_2d(y: torch.Tensor, batch: int) -> torch.Tensor:
    """``(B, K)`` as is; many-to-many ``(B, T, K)`` flattened to ``(B * T, K)``."""
    assert isinstance(y, torch.Tensor), f"forward returned {type(y).__name__}, expected a tensor"
    assert y.shape[0] == batch and y.dim() in (2, 3), f"unexpected output shape {tuple(y.shape)}"
    return y.reshape(-1, y.shape[-1])


def _batch_size(x) -> int:
    return next(iter(x.values())).shape[0] if isinstance(x, dict) else x.shape[0]


def test_registry_is_populated():
    for n in ("c3d", "r3d_18", "mc3_18", "r2plus1d_18", "i3d_resnet50", "r3d_18_nl", "cnn3d_tiny"):
        assert n in NAMES


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_forward_backward_features(name):
    torch.manual_seed(0)
    fmodel = create_model(name, num_classes=NUM_CLASSES, features_only=True)
    model = fmodel.model
    model.train()
    x = example_input(name, 2, generator=torch.Generator().manual_seed(0))

    y = model(x)
    logits = _logits_2d(y, 2)
    assert logits.shape[-1] == NUM_CLASSES
    assert torch.isfinite(logits).all()
    logits.float().square().mean().backward()
    # Parameters a model declares as trained by another loss (TAL-Net's proposal stage and refinement).
    loss_only = set(getattr(model, "loss_only_parameters", ()))
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None and n not in loss_only]
    assert not no_grad, f"{name}: parameters without a gradient: {no_grad[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:5]}"

    model.eval()
    x1 = {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]
    with torch.no_grad():
        emb = model.forward_head(model.forward_features(x1), pre_logits=True)
        feats = fmodel(x1)
    assert emb.shape[0] == 1 and emb.shape[-1] == model.num_features
    assert len(feats) == len(model.feature_info) > 0
    for f, info in zip(feats, model.feature_info, strict=True):
        # Per-frame 2D stages may fold time into the batch: (B * T, C, H, W).
        assert f.dim() >= 3 and f.shape[1] == info["num_chs"], (
            f"{name}: {info['module']} gave {tuple(f.shape)}, declared {info}"
        )


def _distinct(x, g: torch.Generator):
    """Give each clip its own per-channel offset: clips of pure noise look alike once a model
    averages over space and time, so the batch would not be separable."""
    if isinstance(x, dict):
        return {k: _distinct(v, g) for k, v in x.items()}
    return x + torch.randn(x.shape[0], x.shape[1], *[1] * (x.dim() - 2), generator=g)


def _zero_dropout(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.dropout._DropoutNd):
            m.p = 0.0


@pytest.mark.parametrize("name", _overfit_params())
def test_overfits_four_clips(name):
    torch.manual_seed(0)
    model = create_model(name, num_classes=4)
    _zero_dropout(model)
    model.train()
    g = torch.Generator().manual_seed(1)
    x = _distinct(example_input(name, 4, generator=g), g)
    labels = torch.arange(4)
    opt = torch.optim.Adam(model.parameters(), lr=OVERFIT_LR.get(name, 3e-3))
    losses = []
    max_steps = 60 if _cpu_sized(name) else 40
    for _ in range(max_steps):
        logits = _logits_2d(model(x), 4)
        target = labels.repeat_interleave(logits.shape[0] // 4)
        loss = nn.functional.cross_entropy(logits.float(), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if losses[-1] <= 0.5 * losses[0]:
            break
    assert math.isfinite(losses[0])
    assert min(losses) <= 0.5 * losses[0], f"{name}: loss {losses[0]:.3f} -> {min(losses):.3f} in {len(losses)} steps"


def _tensors(y) -> list[torch.Tensor]:
    """The tensors of an output: a tensor, or the values of a dict / items of a tuple."""
    if isinstance(y, torch.Tensor):
        return [y]
    items = y.values() if isinstance(y, dict) else y
    return [t for v in items for t in _tensors(v)]


def test_task_networks_are_registered():
    for n in ("attention_loc_small", "attention_loc_sync_small", "sound_of_pixels_small", "coseparation_small",
              "visualvoice_small", "lip_stream_small", "frame_encoder_small", "sync_tower_encoder_small",
              "audio_only_unet_small", "imgaud_skimming_small"):
        assert n in TASK_NETWORKS, n


@pytest.mark.parametrize("name", TASK_NETWORKS)
def test_task_network_forward_backward(name):
    torch.manual_seed(0)
    model = create_model(name).train()
    x = example_input(name, 2, generator=torch.Generator().manual_seed(0))
    out = _tensors(call_model(name, model, x))
    floats = [t for t in out if t.is_floating_point()]
    assert floats and all(torch.isfinite(t).all() for t in floats), f"{name}: non-finite output"
    sum(t.float().square().mean() for t in floats if t.requires_grad).backward()
    skip = OUTSIDE_FORWARD.get(name, ())
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None and not n.startswith(skip)]
    assert not no_grad, f"{name}: parameters without a gradient: {no_grad[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients in {bad[:5]}"
    if hasattr(model, "feature_info"):  # features_only where the network declares its feature maps
        feats = create_model(name, features_only=True).eval()(x)
        assert len(feats) == len(model.feature_info) > 0


def test_coseparation_classifier_outside_forward():
    model = create_model("coseparation_small", classes=5)
    logits = model.classifier(torch.randn(3, 1, 32, 16))  # separated log-magnitude spectrograms
    assert logits.shape == (3, 5)


@pytest.mark.parametrize("name", NAMES)
def test_registry_entry_shapes(name):
    entry = model_entry(name)
    tiny, ref = entry.tiny_input, entry.input_size
    if isinstance(tiny, dict):
        assert set(tiny) == set(ref)
    else:
        assert len(tiny) == len(ref) and tiny[0] == ref[0], f"{name}: tiny {tiny} vs reference {ref}"
