"""CUDA checks, skipped on machines without a GPU (CI has none; run them where one exists).

Every registered model runs forward and backward on the GPU and agrees with its CPU output in
eval mode (catches tensors created on the wrong device inside ``forward`` and CPU-only ops),
and the trainer trains, checkpoints and resumes on CUDA in fp32, bf16 and fp16.
"""

from __future__ import annotations

import math
import os

import pytest
import torch
from test_models_zoo import OUTSIDE_FORWARD, _tensors

from avlearn.models import create_model, list_models
from avlearn.models._registry import call_model, example_input, model_entry

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def _exact_fp32():
    """Compare against the CPU in true fp32 (TF32 convolutions differ by ~1e-3)."""
    old = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = old


def _to(x, device):
    return {k: v.to(device) for k, v in x.items()} if isinstance(x, dict) else x.to(device)


@pytest.mark.parametrize("name", list_models())
def test_model_runs_on_cuda_like_on_cpu(name):
    """Classifiers at ``num_classes=3``; task networks (separators, localizers, encoders) at their defaults."""
    torch.manual_seed(0)
    classifier = model_entry(name).output == "logits"
    model = (create_model(name, num_classes=3) if classifier else create_model(name)).eval()
    x = example_input(name, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = _tensors(call_model(name, model, x))  # e.g. (B, 3) logits, (B, S, R, T) masks
        model = model.cuda()
        out = [t.cpu() for t in _tensors(call_model(name, model, _to(x, "cuda")))]
    for r, o in zip(ref, out, strict=True):
        assert o.shape == r.shape
        if r.is_floating_point():
            assert torch.allclose(o.float(), r.float(), atol=1e-3, rtol=1e-3), f"{name}: max diff {(o - r).abs().max():.2e}"
        else:
            assert torch.equal(o, r), f"{name}: integer outputs differ"
    model.train()
    y = [t for t in _tensors(call_model(name, model, _to(x, "cuda"))) if t.is_floating_point() and t.requires_grad]
    sum(t.float().square().mean() for t in y).backward()
    skip = OUTSIDE_FORWARD.get(name, ())  # parameters the task uses outside forward
    loss_only = set(getattr(model, "loss_only_parameters", ()))  # trained by another loss (TAL-Net)
    grads = [p.grad for n, p in model.named_parameters() if p.requires_grad and not n.startswith(skip) and n not in loss_only]
    assert all(g is not None and g.is_cuda and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("precision", ["fp32", "bf16", "fp16"])
def test_trainer_fits_and_resumes_on_cuda(tmp_path, precision):
    from test_train_engine import assert_same_weights, toy_config, weights_of

    from avlearn.train import checkpoint as ckpt
    from avlearn.train.trainer import fit

    kw = dict(steps=12, device="cuda", precision=precision, clip_grad=1.0)
    res = fit(toy_config(tmp_path / "full", **kw))
    assert math.isfinite(res["val"]["loss"]) and res["test"]["acc"] > 0.4
    fit(toy_config(tmp_path / "cut", **kw))
    for step in (8, 12):
        os.unlink(ckpt.checkpoint_path(tmp_path / "cut" / "checkpoints", step))
    os.unlink(tmp_path / "cut" / "weights.pt")
    fit(toy_config(tmp_path / "cut", **kw), resume=True)
    assert_same_weights(weights_of(tmp_path / "full"), weights_of(tmp_path / "cut"), atol=1e-5)


def test_feature_extractor_and_extract_features_on_cuda(tmp_path):
    """Streamed features on the GPU (bf16/fp16 autocast) agree with the CPU's; the command takes --device cuda."""
    import numpy as np

    from avlearn.cli import main
    from avlearn.io import write_av
    from avlearn.tasks.features import FeatureExtractor

    rng = np.random.default_rng(0)
    path = write_av(tmp_path / "c.mp4", rng.integers(0, 255, (16, 32, 32, 3), dtype=np.uint8),
                    (0.1 * rng.standard_normal((1, 8000))).astype(np.float32), fps=16, sample_rate=8000)
    torch.manual_seed(0)
    cpu = FeatureExtractor("r3d_tiny", clip_duration=0.5, size=32, device="cpu")
    gpu = FeatureExtractor.from_model(create_model("r3d_tiny"), clip_duration=0.5, size=32, device="cuda")
    gpu.model.load_state_dict(cpu.model.state_dict())
    a, b = cpu(path), gpu(path)
    assert b.device.type == "cpu" and torch.allclose(a, b, atol=5e-2, rtol=5e-2)
    assert main(["extract-features", path, "--model", "r3d_tiny", "--clip-duration", "0.5", "--device", "cuda",
                 "--out", str(tmp_path / "f.npz")]) == 0
