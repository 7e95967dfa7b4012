"""Optical flow (avlearn.flow) accuracy on known translations, caching, and data_prep/cache_flow.py."""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import numpy as np
import pytest
import torch

from avlearn.flow import (
    FlowFileError,
    cv2_available,
    dequantize_flow,
    load_flow,
    optical_flow,
    quantize_flow,
    save_flow,
    stack_flow,
)
from avlearn.io import write_av

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def texture(h: int, w: int, dx: float = 0.0, dy: float = 0.0, *, waves: int = 40, seed: int = 0) -> torch.Tensor:
    """A smooth random texture (sum of plane waves) translated by exactly (dx, dy) pixels, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    k = (torch.rand(waves, 2, generator=g, dtype=torch.float64) * 2 - 1) * 0.5  # rad / px, periods >= 9 px
    phase = torch.rand(waves, generator=g, dtype=torch.float64) * 2 * torch.pi
    img = sum(torch.cos(k[i, 0] * (xs - dx) + k[i, 1] * (ys - dy) + phase[i]) for i in range(waves))
    return (0.5 + img / (4 * waves**0.5)).clamp(0, 1).float()


def moving_clip(frames: int, h: int, w: int, vx: float, vy: float) -> torch.Tensor:
    """uint8 (T, H, W, 3) clip of the texture moving (vx, vy) px per frame."""
    gray = torch.stack([texture(h, w, t * vx, t * vy) for t in range(frames)])  # (T, H, W)
    return (gray * 255).round().to(torch.uint8).unsqueeze(-1).expand(-1, -1, -1, 3).contiguous()


def _check_shift(flow: torch.Tensor, dx: float, dy: float, margin: int = 8) -> None:
    inner = flow[..., margin:-margin, margin:-margin]  # (2, h, w)
    assert abs(inner[0].median().item() - dx) < 0.5 and abs(inner[1].median().item() - dy) < 0.5
    err = ((inner[0] - dx) ** 2 + (inner[1] - dy) ** 2).sqrt()
    assert (err < 0.5).float().mean().item() > 0.9, f"only {(err < 0.5).float().mean():.2f} of pixels within 0.5 px"


@pytest.mark.parametrize("method", ["lucas_kanade", "horn_schunck"])
@pytest.mark.parametrize("shift", [(0.7, -0.3), (3.4, 2.25), (-5.5, 1.5)])
def test_torch_flow_recovers_translation(method, shift):
    dx, dy = shift
    pair = torch.stack([texture(64, 64), texture(64, 64, dx, dy)])  # (2, H, W)
    flow = optical_flow(pair[None, None], method=method)  # (1, 1, 2, H, W)
    assert flow.shape == (1, 1, 2, 64, 64) and flow.dtype == torch.float32
    _check_shift(flow[0, 0], dx, dy)


def test_uint8_clip_input_and_batching():
    clip = moving_clip(4, 48, 64, 1.5, -1.0)  # (T, H, W, 3) uint8
    flow = optical_flow(clip)  # (T-1, 2, H, W)
    assert flow.shape == (3, 2, 48, 64)
    for t in range(3):
        _check_shift(flow[t], 1.5, -1.0)
    # the batched float path gives the same answer for the same frames
    batch = (clip.permute(3, 0, 1, 2).float() / 255).unsqueeze(0).repeat(2, 1, 1, 1, 1)  # (2, 3, T, H, W)
    flow_b = optical_flow(batch)
    assert flow_b.shape == (2, 3, 2, 48, 64)
    torch.testing.assert_close(flow_b[1], flow, atol=1e-4, rtol=0)


def test_static_clip_has_zero_flow():
    clip = moving_clip(3, 32, 32, 0.0, 0.0)
    assert optical_flow(clip, method="horn_schunck").abs().max() < 1e-3


@pytest.mark.parametrize("method", ["farneback", "dis"])
def test_opencv_methods(method):
    pair = torch.stack([texture(64, 64), texture(64, 64, 2.3, -1.7)])
    if not cv2_available():
        with pytest.raises(ImportError, match="OpenCV"):
            optical_flow(pair[None, None], method=method)
        return
    _check_shift(optical_flow(pair[None, None], method=method)[0, 0], 2.3, -1.7)


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown optical flow method"):
        optical_flow(torch.zeros(2, 8, 8, 3, dtype=torch.uint8), method="raft")
    with pytest.raises(ValueError, match="at least 2 frames"):
        optical_flow(torch.zeros(1, 8, 8, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        optical_flow(torch.zeros(8, 8))


def test_stack_flow_interleaves_x_y():
    flow = torch.arange(3 * 2 * 4 * 4, dtype=torch.float32).view(3, 2, 4, 4)
    stacked = stack_flow(flow)  # (6, 4, 4)
    assert stacked.shape == (6, 4, 4)
    assert (
        torch.equal(stacked[0], flow[0, 0])
        and torch.equal(stacked[1], flow[0, 1])
        and torch.equal(stacked[4], flow[2, 0])
    )
    assert stack_flow(flow.unsqueeze(0)).shape == (1, 6, 4, 4)


def test_quantisation_round_trip(tmp_path):
    bound = 10.0
    flow = torch.linspace(-12, 12, 2 * 2 * 5 * 6).view(2, 2, 5, 6)
    q = quantize_flow(flow, bound)
    assert q.dtype == np.uint8
    back = dequantize_flow(q, bound)
    inside = flow.abs() <= bound
    assert (back - flow)[inside].abs().max() <= bound / 255 + 1e-5
    assert back.max() == pytest.approx(bound) and back.min() == pytest.approx(-bound)  # clipped

    path = tmp_path / "sub" / "f.npz"
    save_flow(path, flow, bound=bound, fps=16.0, source="a.mp4")
    loaded, meta = load_flow(path, return_meta=True)
    torch.testing.assert_close(loaded, back)
    assert meta["fps"] == 16.0 and meta["source"] == "a.mp4" and meta["bound"] == bound


def test_load_flow_errors_name_the_file(tmp_path):
    with pytest.raises(FlowFileError, match="missing.npz: flow file not found"):
        load_flow(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(FlowFileError, match="bad.npz: not a readable npz"):
        load_flow(bad)
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(FlowFileError, match="other.npz: missing 'flow'"):
        load_flow(tmp_path / "other.npz")


def _cache_module():
    spec = importlib.util.spec_from_file_location("cache_flow", os.path.join(ROOT, "data_prep", "cache_flow.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


def test_cache_flow_script(tmp_path, capsys):
    cache = _cache_module()
    clips = tmp_path / "clips"
    clips.mkdir()
    write_av(clips / "right.mp4", moving_clip(6, 48, 48, 2.0, 0.0), None, fps=8)
    write_av(clips / "down.mp4", moving_clip(5, 48, 48, 0.0, 1.0), None, fps=8)
    (clips / "broken.mp4").write_bytes(b"\x00garbage" * 10)
    rows = [
        {"path": "clips/right.mp4", "label": 0},
        {"path": "clips/down.mp4", "label": 1},
        {"path": "clips/broken.mp4", "label": 1},
    ]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))

    out = tmp_path / "flow"
    assert cache.main([str(manifest), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 written" in printed and "1 unreadable" in printed and "broken.mp4" in printed

    right, meta = load_flow(out / "clips" / "right.npz", return_meta=True)
    assert right.shape == (5, 2, 48, 48) and meta["fps"] == 8.0 and meta["method"] == "lucas_kanade"
    assert abs(right[:, 0, 8:-8, 8:-8].median().item() - 2.0) < 0.5 and right[:, 1, 8:-8, 8:-8].median().abs() < 0.5
    down = load_flow(out / "clips" / "down.npz")
    assert down.shape == (4, 2, 48, 48) and abs(down[:, 1, 8:-8, 8:-8].median().item() - 1.0) < 0.5

    # a second run over the folder keeps what exists and still reports the broken file
    report = cache.cache_flow(cache.find_jobs(clips), out / "again", progress=False)
    assert len(report.written) == 2 and [os.path.basename(p) for p, _ in report.failed] == ["broken.mp4"]
    report = cache.cache_flow(cache.find_jobs(clips), out / "again", progress=False)
    assert len(report.kept) == 2 and not report.written
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "empty.mp4").write_bytes(b"")
    assert cache.main([str(only_bad), "--out", str(out / "x"), "--quiet"]) == 1


def test_cache_flow_output_names(tmp_path):
    cache = _cache_module()
    job = cache.FlowJob(str(tmp_path / "a" / "v.mp4"), str(tmp_path))
    assert cache.output_path(job, "out") == os.path.join("out", "a", "v.npz")
    span = cache.FlowJob(str(tmp_path / "v.mp4"), str(tmp_path), 1.5, 3.0)
    assert cache.output_path(span, "out") == os.path.join("out", "v@1.5-3.npz")
    outside = cache.FlowJob("/elsewhere/w.mkv", str(tmp_path))
    assert cache.output_path(outside, "out") == os.path.join("out", "w.npz")
