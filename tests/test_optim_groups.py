"""Per-parameter-group learning rates (``optim.groups``) and the multistep schedule
(``schedule.kind: multistep``), as the paper recipes of Sound of Pixels and VisualVoice use."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

from avlearn.tasks.config import ConfigError, OptimConfig, ParamGroupConfig, ScheduleConfig, from_dict
from avlearn.train.optim import WarmupSchedule, build_optimizer, lr_factor


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.audio = nn.Linear(3, 4)
        self.visual = nn.Sequential(nn.Conv2d(3, 2, 1), nn.BatchNorm2d(2))
        self.gain = nn.Parameter(torch.ones(2))


def _groups_by_lr(opt):
    out = {}
    for g in opt.param_groups:
        out.setdefault(g["lr"], []).extend(g["params"])
    return out


def test_groups_take_their_parameters_at_their_rate():
    net = Net()
    cfg = from_dict(OptimConfig, {"name": "sgd", "lr": 1e-3, "weight_decay": 1e-4,
                                  "groups": [{"params": "visual.*", "lr": 1e-4}]}, source="r.yaml", prefix="optim")
    opt = build_optimizer(cfg, net)
    by_lr = _groups_by_lr(opt)
    assert {id(p) for p in by_lr[1e-4]} == {id(p) for p in net.visual.parameters()}
    assert {id(p) for p in by_lr[1e-3]} == {id(p) for p in [*net.audio.parameters(), net.gain]}
    decay = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert decay[id(net.visual[0].weight)] == 1e-4 and decay[id(net.visual[1].weight)] == 0.0  # 1-D: not decayed
    assert decay[id(net.visual[0].bias)] == 0.0 and decay[id(net.audio.weight)] == 1e-4


def test_first_matching_group_wins_and_decay_can_differ():
    net = Net()
    cfg = OptimConfig(name="adam", lr=1e-4, weight_decay=1e-4, groups=[
        ParamGroupConfig(params=["visual.0.*", "gain"], lr=1e-5, weight_decay=0.0),
        ParamGroupConfig(params="visual.*", lr=1e-3),
    ])
    opt = build_optimizer(cfg, net)
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    wd_of = {id(p): g["weight_decay"] for g in opt.param_groups for p in g["params"]}
    assert lr_of[id(net.visual[0].weight)] == 1e-5 and wd_of[id(net.visual[0].weight)] == 0.0
    assert lr_of[id(net.gain)] == 1e-5
    assert lr_of[id(net.visual[1].weight)] == 1e-3  # only the second pattern matches the norm layer
    assert lr_of[id(net.audio.weight)] == 1e-4 and wd_of[id(net.audio.weight)] == 1e-4


def test_a_group_lr_really_trains_at_that_rate():
    torch.manual_seed(0)
    net = Net()
    opt = build_optimizer(OptimConfig(name="sgd", lr=0.1, momentum=0.0, groups=[ParamGroupConfig(params="visual.*", lr=0.0)]), net)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    loss = net.audio(torch.randn(5, 3)).sum() + net.visual(torch.randn(2, 3, 4, 4)).square().sum() + net.gain.sum()
    loss.backward()
    opt.step()
    for n, p in net.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        assert changed == (not n.startswith("visual.")), n


def test_a_pattern_matching_nothing_is_a_config_error():
    with pytest.raises(ConfigError, match=r"optim.groups\[0\].params.*match no trainable parameter of Net"):
        build_optimizer(OptimConfig(groups=[ParamGroupConfig(params="model.visual.*", lr=1e-4)]), Net())
    with pytest.raises(ConfigError, match="params needs at least one"):
        from_dict(OptimConfig, {"groups": [{"params": []}]}, source="r.yaml", prefix="optim")
    with pytest.raises(ConfigError, match="lr must be >= 0"):
        from_dict(OptimConfig, {"groups": [{"params": "a", "lr": -1}]}, source="r.yaml", prefix="optim")


def test_multistep_schedule_drops_at_each_milestone():
    cfg = ScheduleConfig(kind="multistep", milestones=[3, 5], gamma=0.1)
    f = [lr_factor(s, 8, cfg) for s in range(8)]
    assert f[:3] == [1.0] * 3 and all(abs(x - 0.1) < 1e-12 for x in f[3:5]) and all(abs(x - 0.01) < 1e-12 for x in f[5:])
    warm = ScheduleConfig(kind="multistep", milestones=[4], warmup_steps=2, gamma=0.5)
    assert [lr_factor(s, 8, warm) for s in range(6)] == [0.5, 1.0, 1.0, 1.0, 0.5, 0.5]
    with pytest.raises(ConfigError, match="multistep needs schedule.milestones"):
        from_dict(ScheduleConfig, {"kind": "multistep"}, source="r.yaml", prefix="schedule")
    with pytest.raises(ConfigError, match="increasing positive"):
        from_dict(ScheduleConfig, {"kind": "multistep", "milestones": [5, 3]}, source="r.yaml", prefix="schedule")


def test_schedule_scales_every_group_and_keeps_their_ratio():
    net = Net()
    opt = build_optimizer(OptimConfig(name="sgd", lr=1e-3, groups=[ParamGroupConfig(params="visual.*", lr=1e-4)]), net)
    sched = WarmupSchedule(opt, ScheduleConfig(kind="multistep", milestones=[2]), total_steps=4)
    seen = []
    for _ in range(4):
        seen.append(sorted({round(g["lr"], 12) for g in opt.param_groups}))
        opt.step()
        sched.step()
    assert seen == [[1e-4, 1e-3], [1e-4, 1e-3], [1e-5, 1e-4], [1e-5, 1e-4]]
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)
    buf.seek(0)
    assert torch.load(buf, weights_only=True)["milestones"] == [2]  # numbers and lists only


def test_runs_recorded_before_these_keys_keep_their_fingerprint():
    from avlearn.tasks.config import load_config, to_dict
    from avlearn.train.runfolder import recipe_diff, recipe_fingerprint

    raw = to_dict(load_config("sync_multisensory"))
    old = {**raw, "optim": {k: v for k, v in raw["optim"].items() if k != "groups"},
           "schedule": {k: v for k, v in raw["schedule"].items() if k != "milestones"},
           "data": {k: v for k, v in raw["data"].items() if k != "flip"}}
    assert raw["optim"]["groups"] == [] and raw["schedule"]["milestones"] == [] and raw["data"]["flip"] is False
    assert recipe_fingerprint(old) == recipe_fingerprint(raw) and recipe_diff(old, raw) == []
    grouped = {**raw, "optim": {**raw["optim"], "groups": [{"params": ["x.*"], "lr": 0.1, "weight_decay": None}]}}
    assert recipe_fingerprint(grouped) != recipe_fingerprint(raw)
    assert any(line.startswith("optim.groups") for line in recipe_diff(raw, grouped))
    flipped = {**raw, "data": {**raw["data"], "flip": True}}
    assert recipe_diff(old, flipped) == ["data.flip: '<absent>' -> True"]
