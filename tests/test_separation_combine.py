"""How one mixture's masks make its estimates at inference (``task.combine``)."""

import pytest
import torch
from test_separation_train import _config, worlds  # noqa: F401  (the tiny worlds fixture)

from avlearn.tasks.base import build_datasets, build_task
from avlearn.tasks.separation import masks as M
from avlearn.train.config import ConfigError


def test_independent_thresholds_binary_masks_and_keeps_ratio_masks():
    m = torch.tensor([[[[0.2, 0.7]], [[0.6, 0.1]]]])  # (B=1, S=2, F=1, T=2)
    assert torch.equal(M.combine_masks(m, binary=True), torch.tensor([[[[0.0, 1.0]], [[1.0, 0.0]]]]))
    assert torch.equal(M.combine_masks(m, binary=False), m)


def test_argmax_gives_each_bin_to_the_largest_valid_mask():
    m = torch.tensor([[[[0.3, 0.2, 0.0]], [[0.4, 0.1, 0.0]], [[0.9, 0.9, 0.9]]]])  # (1, 3, 1, 3)
    valid = torch.tensor([[True, True, False]])  # the loud third mask is padding
    out = M.combine_masks(m, rule="argmax", binary=True, valid=valid)
    assert torch.equal(out[0, :, 0], torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))
    # the last bin: no valid source claims it, so it stays silent
    assert torch.equal(M.combine_masks(m, rule="argmax")[0, :, 0, 0], torch.tensor([0.0, 0.0, 1.0]))


def test_normalize_divides_by_the_sum_over_valid_sources():
    m = torch.tensor([[[[0.3, 0.0]], [[0.1, 0.0]], [[5.0, 5.0]]]])
    out = M.combine_masks(m, rule="normalize", valid=torch.tensor([[True, True, False]]))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.75, 0.25, 0.0]))
    assert torch.equal(out[0, :, 0, 1], torch.zeros(3))  # silent bins stay silent
    with pytest.raises(ValueError, match="unknown mask rule"):
        M.combine_masks(m, rule="softmax")


@pytest.mark.parametrize("case", ["sop_binary", "audio_only_pit"])
def test_competing_estimates_add_up_to_the_mixture(worlds, case):
    task_cfg = {"sop_binary": {"name": "sop", "mask": "binary", "warp_rows": 32}, "audio_only_pit": {"name": "audio_only_pit"}}[case]
    data = {"visual": "frames"} if case == "sop_binary" else {}
    sums = {}
    for rule in ("independent", "argmax", "normalize"):
        cfg = _config(worlds / "objects", {**task_cfg, "combine": rule}, data)
        torch.manual_seed(0)
        task = build_task(cfg).eval()
        batch = task.collate([build_datasets(cfg)["test"][i] for i in range(2)])
        batch.pop("skipped")
        est = task.separate(batch)["estimates"]  # (B, S, N)
        keep = torch.ones(est.shape[:2], dtype=torch.bool) if case == "audio_only_pit" else batch["valid"]
        sums[rule] = (est * keep[..., None]).sum(1)  # (B, N)
        assert torch.all(est[~keep] == 0)  # padded sources are silent
    spec = task.spec
    mix_spec = spec.stft(batch["mixture"])
    whole = spec.reconstruct(torch.ones(mix_spec.shape[0], 1, *mix_spec.shape[1:]), mix_spec.unsqueeze(1),
                             batch["mixture"].shape[-1])[:, 0]  # the mixture through the same STFT
    for rule in ("argmax", "normalize"):
        assert torch.allclose(sums[rule], whole, atol=1e-5), rule
    assert not torch.allclose(sums["independent"], whole, atol=1e-3)  # each mask alone does not


def test_complex_masks_reject_a_combine_rule(worlds):
    with pytest.raises(ConfigError, match="task.combine"):
        build_task(_config(worlds / "speakers", {"name": "visualvoice", "combine": "argmax"}, {"visual": "face"}))
    with pytest.raises(ConfigError, match="task.combine"):
        _config(worlds / "objects", {"name": "sop", "combine": "winner"}, {"visual": "frames"})
