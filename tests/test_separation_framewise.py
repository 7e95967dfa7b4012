"""`--framewise` scoring of a frozen separation list: BSS Eval v4 medians per source."""

import math

import numpy as np
import pytest
import torch

from avlearn.cli.separate import _window_hop
from avlearn.metrics import aggregate_framewise, bss_eval_framewise
from avlearn.tasks.separation.evaluate import _fw_means, format_results, framewise_sums

SR = 8000


def _batch() -> dict:
    t = torch.arange(2 * SR) / SR
    g = torch.Generator().manual_seed(0)
    a = torch.sin(2 * math.pi * 440 * t) + 0.1 * torch.randn(2 * SR, generator=g)
    b = torch.randn(2 * SR, generator=g)
    sources = torch.stack([a, b, torch.zeros(2 * SR)]).double()  # the third is padding
    return {"mixture": sources.sum(0)[None], "sources": sources[None], "valid": torch.tensor([[True, True, False]])}


def test_framewise_sums_are_the_medians_of_the_metric():
    batch = _batch()
    noise = 0.3 * torch.randn(1, 3, 2 * SR, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    est = batch["sources"] + 0.2 * batch["sources"].flip(1) + noise
    sums = framewise_sums(est, batch, SR, 0.5, 0.25)
    means = _fw_means(sums)
    ref = aggregate_framewise(bss_eval_framewise(batch["sources"][0, :2].numpy(), est[0, :2].numpy(), sample_rate=SR,
                                                 window=0.5, hop=0.25))
    for key, m in zip(("fw_sdr", "fw_isr", "fw_sir", "fw_sar"), ref):
        assert means[key] == pytest.approx(float(np.mean(m)))
    assert sums["fw_count"] == 2 and means["fw_undefined"] == 0
    silent = est.clone()
    silent[0, 1] = 0.0  # a silent estimate: undefined, counted
    assert framewise_sums(silent, batch, SR, 0.5, 0.5)["fw_undefined"] == 2
    table = format_results({"sop": {"sdr": 1.0, "sir": 2.0, "sar": 3.0, "sdri": 4.0, "sisdri": 5.0, **means}})
    assert f"| sop | {means['fw_sdr']:.2f} | {means['fw_isr']:.2f} |" in table


def test_window_hop_option():
    assert _window_hop("1") == (1.0, 1.0) and _window_hop("1.5,0.5") == (1.5, 0.5)
    for bad in ("", "a", "1,2,3", "0", "1,-1"):
        with pytest.raises(ValueError, match="--framewise"):
            _window_hop(bad)
