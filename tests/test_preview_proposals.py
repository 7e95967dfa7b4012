"""Proposal-based temporal action localization (TAL-Net on clip features) beside window grouping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from avlearn.tasks.preview.proposals import (
    fit_proposal_net,
    load_proposal_net,
    localize_proposals,
    save_proposal_net,
    seconds_to_steps,
    steps_to_seconds,
)
from avlearn.tasks.preview.temporal_localization import localization_map

WINDOW, HOP, K = 1.0, 0.5, 2


def _video(rng, duration=20.0):
    """Window starts, (J, K+1) noisy class-score features and the segments they show."""
    starts = np.arange(0.0, duration - WINDOW + 1e-9, HOP)
    centres = starts + WINDOW / 2
    segs, t = [], rng.uniform(1, 3)
    while t < duration - 4:
        length = rng.uniform(2, 4)
        segs.append((round(t, 2), round(t + length, 2), int(rng.integers(K))))
        t += length + rng.uniform(1.5, 4)
    feats = rng.normal(0, 0.3, size=(len(starts), K + 1))
    feats[:, K] += 1.0  # background
    for s, e, c in segs:
        inside = (centres >= s) & (centres < e)
        feats[inside, c] += 2.0
        feats[inside, K] -= 1.0
    return starts, feats.astype(np.float32), segs


def test_step_and_second_coordinates_invert():
    t = seconds_to_steps([0.25, 0.75, 3.25], 0.0, window=WINDOW, hop=HOP)
    assert t.tolist() == [0.0, 1.0, 6.0]  # window 0 (centre 0.5) stands for [0.25, 0.75]: step [0, 1]
    assert np.allclose(steps_to_seconds(t, 0.0, window=WINDOW, hop=HOP), [0.25, 0.75, 3.25])


def test_proposals_learn_segments_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    train = [_video(rng) for _ in range(6)]
    test = [_video(rng) for _ in range(3)]
    net = fit_proposal_net([f for _, f, _ in train], [s for _, _, s in train], [st for st, _, _ in train],
                           num_actions=K, window=WINDOW, hop=HOP, steps=250, lr=2e-3,
                           anchor_scales=(2, 4, 8), width=32, hidden=64)
    preds = {i: localize_proposals(net, f, st, window=WINDOW, hop=HOP, duration=20.0) for i, (st, f, _) in enumerate(test)}
    gts = {i: s for i, (_, _, s) in enumerate(test)}
    res = localization_map(preds, gts)
    assert all(0 <= s < e <= 20.0 and c in (0, 1) and 0 <= sc <= 1 for p in preds.values() for s, e, c, sc in p)
    assert res.map[0.5] > 0.5, res.map  # clear evidence: most segments found at tIoU 0.5
    untrained = fit_proposal_net([f for _, f, _ in train], [s for _, _, s in train], [st for st, _, _ in train],
                                 num_actions=K, window=WINDOW, hop=HOP, steps=0, anchor_scales=(2, 4, 8), width=32, hidden=64)
    before = localization_map({i: localize_proposals(untrained, f, st, window=WINDOW, hop=HOP, duration=20.0)
                               for i, (st, f, _) in enumerate(test)}, gts)
    assert res.map[0.5] > before.map[0.5] + 0.2
    path = save_proposal_net(net, tmp_path / "tal.pt", window=WINDOW, hop=HOP, anchor_scales=(2, 4, 8), width=32, hidden=64)
    again, meta = load_proposal_net(path)
    assert meta["window"] == WINDOW and meta["hop"] == HOP
    st, f, _ = test[0]
    assert localize_proposals(again, f, st, window=WINDOW, hop=HOP, duration=20.0) == preds[0]
    torch.save({"x": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a saved TAL-Net"):
        load_proposal_net(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="equal, non-zero"):
        fit_proposal_net([], [], [], num_actions=K, window=WINDOW, hop=HOP)


def test_classify_segments_by_proposals_cli(tmp_path, capsys):
    import json

    from test_preview_budget import DATA, tiny_specs

    from avlearn.cli import main
    from avlearn.io import write_av
    from avlearn.tasks.preview.bundle import build_models, preview_models, save_bundle
    from avlearn.tasks.runs import load_run
    from avlearn.tasks.preview.data import VideoWindows
    from avlearn.tasks.preview.proposals import window_features

    classes = ["bounce", "tap", "slide"]
    rng = np.random.default_rng(0)
    audio = (0.3 * np.sin(2 * np.pi * 440 * np.arange(4 * 8000) / 8000))[None].astype(np.float32)
    clip = write_av(tmp_path / "clip.mp4", rng.integers(0, 255, (32, 32, 32, 3), dtype=np.uint8), audio, fps=8,
                    sample_rate=8000)
    torch.manual_seed(0)
    bundle = save_bundle(build_models(classes, DATA, tiny_specs(len(classes))), tmp_path / "preview.pt")
    models = preview_models(load_run(bundle))
    d = models.data
    store = VideoWindows.from_files([str(clip)], fps=d["fps"], size=d["size"], sample_rate=d["sample_rate"],
                                  window=d["window"], num_classes=3, mean=d["mean"], std=d["std"])
    starts, feats = window_features(models, store, 0)
    assert feats.shape == (len(starts), 4)
    net = fit_proposal_net([feats], [[(1.0, 2.5, 1)]], [starts], num_actions=3, window=d["window"], hop=d["hop"],
                           steps=3, anchor_scales=(1, 2, 4), width=16, hidden=32)
    save_proposal_net(net, tmp_path / "proposals.pt", window=d["window"], hop=d["hop"], anchor_scales=(1, 2, 4),
                      width=16, hidden=32)
    args = [str(clip), "--weights", str(bundle), "--segments", "--method", "proposals", "--min-score", "0", "--json"]
    assert main(["classify", *args]) == 0
    r = json.loads(capsys.readouterr().out)
    expected = localize_proposals(net, feats, starts, window=d["window"], hop=d["hop"], duration=r["duration"])
    assert [(s["start"], s["end"], s["label"]) for s in r["segments"]] == [(s, e, c) for s, e, c, _ in expected]
    assert all(0 <= s["start"] < s["end"] <= r["duration"] and s["name"] in classes for s in r["segments"])
    save_proposal_net(net, tmp_path / "other_hop.pt", window=d["window"], hop=d["hop"] * 2, anchor_scales=(1, 2, 4),
                      width=16, hidden=32)
    assert main(["classify", *args, "--proposals", str(tmp_path / "other_hop.pt")]) == 2
    assert "trained on windows" in capsys.readouterr().err
    assert main(["classify", *args, "--proposals", str(tmp_path / "missing.pt")]) == 2


def test_fit_world_proposals_and_table_on_a_tiny_actions_world(tmp_path):
    from test_preview_budget import DATA, tiny_specs

    from avlearn.data.synthetic import WorldConfig, make_world
    from avlearn.tasks.preview.bundle import build_models
    from avlearn.tasks.preview.data import VideoWindows, class_names, data_for
    from avlearn.tasks.preview.proposals import fit_world_proposals, proposal_table

    world = tmp_path / "actions"
    cfg = WorldConfig(kind="actions", size=32, fps=8, sample_rate=8000, duration=6.0, action_classes=3)
    make_world(world, cfg, clips={"train": 2, "val": 1, "test": 1}, seed=2, workers=1, progress=False)
    torch.manual_seed(0)
    models = build_models(class_names(world), DATA, tiny_specs(3))
    net = fit_world_proposals(models, world, steps=2, anchor_scales=(1, 2, 4), width=16, hidden=32)
    assert net.in_channels == 4 and net.num_classes == 4  # K + 1 window log-probabilities in, K + background out
    store = VideoWindows.load(data_for(world, models.data), "test")
    rows = proposal_table(models, store, net)
    assert [r["method"] for r in rows] == ["windows", "proposals"]
    for r in rows:
        assert set(r) == {"method", "map@0.3", "map@0.4", "map@0.5", "map@0.6", "map@0.7", "average"}
        assert all(0 <= r[k] <= 1 for k in r if k != "method")
        assert r["average"] == pytest.approx(np.mean([r[f"map@{t}"] for t in (0.3, 0.4, 0.5, 0.6, 0.7)]))
