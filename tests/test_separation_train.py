"""The separation tasks on a tiny synthetic world: data, learning, metrics and ``avlearn separate``."""

import json

import pytest
import torch

from avlearn.data.synthetic import WorldConfig, make_world
from avlearn.models._registry import builder_arguments
from avlearn.tasks.base import build_datasets, build_task
from avlearn.train.config import config_from_dict

TINY_MODEL = {"unet_levels": 3, "unet_channels": 4, "sound_channels": 4, "visual_width": 4, "visual_channels": 8}
#: The registered network each separation task drives.
NETWORK = {"sop": "sound_of_pixels_small", "coseparation": "coseparation_small", "visualvoice": "visualvoice_small",
           "audio_only_pit": "audio_only_unet_small"}
TINY_STFT = {"n_fft": 128, "hop": 64}
TINY_DATA = {"size": 32, "duration": 0.5, "crop_size": 16, "mouth_size": [8, 16], "num_mix": 2, "max_sources": 4}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory):
    root = tmp_path_factory.mktemp("separation_worlds")
    clips = {"train": 6, "val": 2, "test": 3}
    make_world(root / "objects", WorldConfig(kind="objects", size=32, duration=1.0, max_objects=2, offscreen_rate=0.0),
               clips=clips, seed=0, workers=1, progress=False)
    make_world(root / "speakers", WorldConfig(kind="speakers", size=32, duration=1.0, solo=True, max_objects=1),
               clips=clips, seed=0, workers=1, progress=False)
    return root


def _model(task: str, model: dict | None = None) -> dict:
    """The ``model`` section of ``task``'s network at the tiny size, ``model`` overriding its kwargs."""
    name = NETWORK[task]
    tiny = {k: v for k, v in TINY_MODEL.items() if k in builder_arguments(name)}
    return {"name": name, "kwargs": {**tiny, **(model or {})}}


def _config(world, task: dict, data: dict, out_dir=None, steps: int = 2, model: dict | None = None):
    raw = {"task": {**TINY_STFT, **task}, "model": _model(task["name"], model), "data": {**TINY_DATA, "world": str(world), **data},
           "optim": {"name": "adam", "lr": 3e-3},
           "train": {"steps": steps, "batch_size": 4, "log_every": 1, "final_eval": ["test"], "tensorboard": False,
                     "progress": False, "out_dir": str(out_dir or world / "run"), "device": "cpu"}}
    return config_from_dict(raw, source="test")


CASES = {
    "sop": ("objects", {"name": "sop"}, {"visual": "frames"}),
    "sop_bottleneck": ("objects", {"name": "sop"}, {"visual": "frames"}, {"conditioning": "bottleneck"}),
    "sop_temporal": ("objects", {"name": "sop"}, {"visual": "frames", "num_frames": 16}, {"temporal": True}),
    "sop_binary": ("objects", {"name": "sop", "mask": "binary", "warp_rows": 32}, {"visual": "frames"}),
    "audio_only_pit": ("objects", {"name": "audio_only_pit"}, {}),
    "coseparation": ("objects", {"name": "coseparation", "object_weight": 1.0}, {"sources": "objects", "visual": "object"}),
    "visualvoice": ("speakers", {"name": "visualvoice", "n_fft": 128, "hop": 40, "win_length": 100},
                    {"visual": "face", "rms": 0.1, "divide": False}),
    "visualvoice_ratio": ("speakers", {"name": "visualvoice", "mask": "ratio", "win_length": 128}, {"visual": "face", "rms": 0.1, "divide": False}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tiny_model_loss_decreases_and_scores(worlds, case):
    kind, task_cfg, data, *model = CASES[case]
    cfg = _config(worlds / kind, task_cfg, data, model=model[0] if model else None)
    torch.manual_seed(0)
    task, ds = build_task(cfg), build_datasets(cfg)
    batch = task.collate([ds["train"][i] for i in range(4)])
    batch.pop("skipped")
    assert batch["mixture"].shape == (4, 4000) and batch["valid"].any(1).all()
    opt = torch.optim.Adam(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):  # overfit one batch
        loss = task(batch)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses
    task.eval()
    test = task.collate([ds["test"][i] for i in range(2)])
    test.pop("skipped")
    with torch.no_grad():
        out = task(test)
    assert out["estimates"].shape == test["sources"].shape[:1] + (out["estimates"].shape[1], 8000)
    res = task.summarize(task.metric_sums(out, test))
    assert 0 < res["sources"] <= float(test["valid"].sum())
    assert all(k in res for k in ("sdr", "sir", "sar", "sdri", "sisdri"))


def test_recipe_rejects_a_wrong_visual_view(worlds):
    from avlearn.train.config import ConfigError

    with pytest.raises(ConfigError, match="data.visual"):
        build_task(_config(worlds / "objects", {"name": "sop"}, {"visual": "face"}))


def test_separate_command_writes_the_files_it_lists(worlds, tmp_path, capsys):
    from avlearn.cli import main
    from avlearn.train import fit

    run = tmp_path / "run"
    results = fit(_config(worlds / "objects", {"name": "coseparation"}, {"sources": "objects", "visual": "object"}, run))
    assert "sdri" in results["test"]
    clip = sorted((worlds / "objects" / "test" / "clips").glob("*.mp4"))[0]
    for extra in ([], ["--no-truth"]):
        out = tmp_path / ("sep" + "".join(extra))
        assert main(["separate", str(clip), "--weights", str(run / "weights.pt"), "--out", str(out), "--json", *extra]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["boxes"] == ("detector" if extra else "truth") and report["sources"]
        for s in report["sources"]:
            for key in ("wav", "video"):
                assert (out / s[key].split("/")[-1]).is_file()
    assert main(["separate", "--eval-list", str(worlds / "objects" / "lists" / "separation_test.jsonl"),
                 "--weights", str(run / "weights.pt"), "--limit", "2", "--json"]) == 0
    table = json.loads(capsys.readouterr().out)
    assert set(table) == {"coseparation", "mixture", "oracle_irm", "oracle_ibm"}
    assert table["oracle_irm"]["sdri"] > table["mixture"]["sdri"] == pytest.approx(0.0, abs=1e-6)
    lst = str(worlds / "objects" / "lists" / "separation_test.jsonl")
    assert main(["separate", "--eval-list", lst, "--weights", str(run / "weights.pt"), "--limit", "2",
                 "--framewise", "0.5,0.25", "--json"]) == 0
    framewise = json.loads(capsys.readouterr().out)  # BSS Eval v4 medians beside the v3 scores
    assert framewise["oracle_irm"]["fw_sdr"] > framewise["mixture"]["fw_sdr"]
    assert framewise["oracle_irm"]["sdri"] == table["oracle_irm"]["sdri"]
    assert main(["separate", "--eval-list", lst, "--weights", str(run / "weights.pt"), "--framewise", "0"]) == 2
    assert main(["separate", "--eval-list", str(worlds / "objects" / "lists" / "separation_test.jsonl"),
                 "--weights", str(run / "weights.pt"), "--limit", "2", "--combine", "normalize", "--json"]) == 0
    shared = json.loads(capsys.readouterr().out)
    assert shared["coseparation"]["sdr"] != table["coseparation"]["sdr"]  # the rule reaches the estimates
    assert shared["oracle_irm"] == table["oracle_irm"]
    assert main(["separate", str(clip), "--weights", str(run / "weights.pt"), "--out", str(tmp_path / "n"),
                 "--combine", "argmax", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["combine"] == "argmax"


def test_num_mix_warmup_draws_the_smallest_mixtures_first(worlds):
    cfg = _config(worlds / "objects", {"name": "sop"}, {"visual": "frames", "num_mix": [2, 3], "num_mix_warmup": 1})
    ds = build_datasets(cfg)["train"]
    warm = {ds[i]["num_clips"] for i in range(len(ds))}
    ds.set_epoch(1)
    after = {ds[i]["num_clips"] for i in range(len(ds))}
    assert warm == {2} and after == {2, 3}
