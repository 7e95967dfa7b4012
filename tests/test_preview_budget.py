"""FLOP accounting of the preview strategies (avlearn.tasks.preview.budget) and the bundle of
preview models (avlearn.tasks.preview.bundle)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from avlearn.tasks.preview.budget import (
    count_flops,
    stft_flops,
    strategy_gflops,
    unit_costs,
)
from avlearn.tasks.preview.bundle import build_models, preview_models, save_bundle
from avlearn.tasks.runs import load_run

DATA = {"window": 1.0, "hop": 0.5, "step": 1.0, "fps": 8.0, "size": 32, "sample_rate": 8000,
        "mean": [0.45] * 3, "std": [0.225] * 3}


def tiny_specs(K: int = 3) -> dict:
    """Small untrained preview models: an r3d_tiny teacher, the student, both baselines, skimming."""
    student = {"num_classes": K + 1, "sample_rate": 8000, "widths": [8, 8, 16, 16], "feature_dim": 32}
    return {
        "teacher": {"name": "r3d_tiny", "kwargs": {"num_classes": K + 1, "width": 8}},
        "student": {"name": "imgaud2vid_small", "kwargs": student},
        "frames": {"name": "imgaud2vid_small", "kwargs": {**student, "modalities": ["image"]}},
        "audio": {"name": "imgaud2vid_small", "kwargs": {**student, "modalities": ["audio"]}},
        "skimming": {"name": "SkimmingNet", "kwargs": {"num_classes": K, "image_dim": 16, "audio_dim": 16,
                                                      "feature_dim": 32, "hidden": 16, "key_dim": 8, "steps": 2}},
    }


def test_count_flops_matches_hand_counts():
    assert count_flops(nn.Linear(10, 20), torch.zeros(1, 10)) == 2 * 10 * 20
    conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
    assert count_flops(conv, torch.zeros(1, 3, 8, 8)) == 2 * 3 * 4 * 9 * 8 * 8
    assert count_flops(nn.Linear(10, 20), torch.zeros(5, 10)) == 5 * 2 * 10 * 20  # linear in the batch
    lstm = nn.LSTMCell(6, 4)
    assert count_flops(lstm, torch.zeros(1, 6), (torch.zeros(1, 4), torch.zeros(1, 4))) == 2 * 4 * 4 * (6 + 4)


def test_stft_flops():
    # 16000 samples, hop 320: 51 centred frames, each a 512-point real FFT plus 257 power bins
    assert stft_flops(16000, 512, 320) == pytest.approx(51 * (2.5 * 512 * 9 + 3 * 257))


def test_unit_costs_and_strategies():
    torch.manual_seed(0)
    m = build_models(["a", "b", "c"], DATA, tiny_specs())
    c = unit_costs(m, T=12)
    clip = count_flops(m.teacher, torch.zeros(1, 3, 8, 32, 32)) * 1e-9
    assert c.clip == pytest.approx(clip)
    assert c.N == 2 and c.T == 12
    # a pair costs its two towers plus the fusion and the classifier
    fuse_fc = 2 * (32 * 32 + 32 * 4) * 1e-9
    assert c.pair == pytest.approx(c.image_tower + c.audio_tower + fuse_fc, rel=1e-9)
    assert c.frame < c.pair and c.audio < c.pair and c.audio_tower > stft_flops(8000, 512, 320) * 1e-9
    assert strategy_gflops(c, "dense", 10) == pytest.approx(10 * c.clip)
    assert strategy_gflops(c, "frames", 10) == pytest.approx(10 * c.frame)
    assert strategy_gflops(c, "audio") == pytest.approx(12 * c.audio)
    assert strategy_gflops(c, "pairs", 4) == pytest.approx(4 * c.pair)
    assert strategy_gflops(c, "preview") == pytest.approx(12 * (c.image_tower + c.audio_tower) + c.skim)
    # looking at more moments costs more; longer videos cost more banks
    c4 = unit_costs(m, T=12, N=4)
    assert c4.skim > c.skim
    c24 = unit_costs(m, T=24)
    grow = strategy_gflops(c24, "preview") - strategy_gflops(c, "preview")
    assert grow == pytest.approx(12 * (c.image_tower + c.audio_tower) + c24.skim - c.skim)
    with pytest.raises(ValueError, match="count"):
        strategy_gflops(c, "dense")
    with pytest.raises(ValueError, match="unknown"):
        strategy_gflops(c, "sparse", 3)


def test_skimming_cost_is_its_matmuls():
    m = build_models(["a", "b", "c"], DATA, tiny_specs())
    s = m.skimming
    T, N, H, F, d = 12, 2, 16, 32, 8
    keys = 2 * T * 16 * d * 2  # both banks projected to keys
    preview = 2 * 16 * F
    per_step = (2 * 4 * H * (F + H)  # LSTM cell
                + 2 * 2 * (H * H + H * d)  # two query MLPs
                + 2 * (H * (H // 2) + (H // 2) * 2)  # modality MLP
                + 2 * 2 * T * d  # dot products with both key banks
                + 2 * 2 * T * 16  # indexing both banks with the one-hot selection
                + 2 * 32 * F)  # fusion
    classifier = N * 2 * F * 3  # the running prediction after every step
    expected = keys + preview + N * per_step + classifier
    measured = count_flops(s, torch.zeros(1, T, 16), torch.zeros(1, T, 16), steps=N)
    assert measured == expected
    assert math.isclose(unit_costs(m, T=T).skim, measured * 1e-9)


def test_bundle_round_trip(tmp_path):
    torch.manual_seed(0)
    m = build_models(["a", "b", "c"], DATA, tiny_specs())
    path = save_bundle(m, tmp_path / "p.pt")
    back = _load_bundle(path)
    assert back.classes == ["a", "b", "c"] and back.data == DATA and set(back.models()) == set(m.models())
    x = torch.randn(2, 3, 8, 32, 32)
    assert torch.equal(m.teacher(x), back.teacher(x))
    banks = (torch.randn(1, 5, 16), torch.randn(1, 5, 16))
    assert torch.equal(m.skimming(*banks)["logits"], back.skimming(*banks)["logits"])
    bad = tmp_path / "w.pt"
    torch.save({"fc.weight": torch.zeros(2, 2)}, bad)
    with pytest.raises(ValueError, match="w.pt: no recipe found"):
        _load_bundle(bad)  # a single model's weights: not a bundle, and no recipe to rebuild it from
    with pytest.raises(ValueError, match="not a preview bundle"):
        preview_models(_FakeRun(bad))
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        _load_bundle(tmp_path / "missing.pt")


class _FakeRun:
    def __init__(self, path):
        self.path, self.task_name = path, "sync"


def _load_bundle(path):
    return preview_models(load_run(path))
