"""``avlearn.load_run``: one loader for every trained run (folder, weights.pt, checkpoint, bundle)."""

import pytest
import torch
import yaml

import avlearn
from avlearn.models import create_model
from avlearn.models.contract import InputContract
from avlearn.tasks.config import ConfigError
from avlearn.tasks.runs import CHECKPOINT_FORMAT, Run, load_run, recipe_contract

SYNC = {"task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}},
        "data": {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 0.5}}


def _run_folder(tmp_path, recipe=SYNC, name="multisensory_small"):
    run = tmp_path / "run"
    run.mkdir()
    torch.manual_seed(0)
    net = create_model(name)
    torch.save(net.state_dict(), run / "weights.pt")
    (run / "config.yaml").write_text(yaml.safe_dump(recipe))
    return run, net


def test_lazy_top_level_export():
    assert avlearn.load_run is load_run and avlearn.Run is Run


def test_run_folder_and_weights_file_give_the_same_run(tmp_path):
    run_dir, net = _run_folder(tmp_path)
    for path in (run_dir, run_dir / "weights.pt", str(run_dir)):
        run = load_run(path)
        assert run.task_name == "sync" and run.path == run_dir / "weights.pt"
        assert not run.network.training and not run.task.training
        assert run.task.export_module() is run.network
        assert run.recipe["model"]["name"] == "multisensory_small"
        assert run.config.data.fps == 16
        c = run.contract
        assert isinstance(c, InputContract)
        assert (c.fps, c.frame_size, c.clip_duration, c.sample_rate, c.audio_features) == (16.0, (32, 32), 0.5, 16000, "waveform")
        for k, v in net.state_dict().items():
            assert torch.equal(run.network.state_dict()[k], v)


def test_training_checkpoint_carries_its_recipe(tmp_path):
    run_dir, net = _run_folder(tmp_path)
    ckpts = run_dir / "checkpoints"
    ckpts.mkdir()
    state = load_run(run_dir).task.state_dict()  # a checkpoint holds the whole task's state
    torch.save({"format": CHECKPOINT_FORMAT, "model": state, "config": SYNC}, ckpts / "step_0000010.pt")
    (run_dir / "weights.pt").unlink()
    (run_dir / "config.yaml").unlink()
    run = load_run(run_dir)  # no weights.pt: the newest checkpoint
    assert run.path.name == "step_0000010.pt" and run.task_name == "sync"
    assert torch.equal(next(iter(run.network.state_dict().values())), next(iter(net.state_dict().values())))


def test_to_moves_the_network(tmp_path):
    run_dir, _ = _run_folder(tmp_path)
    run = load_run(run_dir).to("cpu")
    assert run.device == torch.device("cpu")


def test_overrides_and_recipe_starting_points_are_not_read(tmp_path):
    recipe = {**SYNC, "model": {**SYNC["model"], "weights": str(tmp_path / "gone.pt")}}
    run_dir, _ = _run_folder(tmp_path, recipe)
    run = load_run(run_dir, overrides=["data.clip_duration=1.0"])  # the missing starting point is not opened
    assert run.contract.clip_duration == 1.0 and run.config.model.weights is None


def test_bare_state_dict_needs_a_model_name(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "w.pt"
    torch.save(create_model("multisensory_small").state_dict(), path)
    with pytest.raises(ValueError, match="no recipe found"):
        load_run(path)
    run = load_run(path, model="multisensory_small")
    assert run.task_name == "model" and run.task is None and not run.network.training


def test_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_run(tmp_path / "nowhere")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="not a run folder"):
        load_run(empty)
    run_dir, _ = _run_folder(tmp_path, {**SYNC, "model": {"name": "avts_small"}})
    with pytest.raises(ValueError, match="weights.pt"):
        load_run(run_dir)  # multisensory weights, an AVTS recipe
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not torch")
    with pytest.raises(ValueError, match="bad.pt"):
        load_run(bad)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"model": SYNC["model"], "data": SYNC["data"]}))
    with pytest.raises(ConfigError, match="task.name"):
        load_run(run_dir)


def test_weights_load_with_weights_only(tmp_path, monkeypatch):
    run_dir, _ = _run_folder(tmp_path)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_run(run_dir)
    assert seen and all(w is True for w in seen)


def test_recipe_contract_reads_every_task_s_data_section():
    c = recipe_contract({"task": {"name": "sop"}, "data": {"fps": 16, "size": 64, "duration": 1.0, "sample_rate": 8000,
                                                            "num_frames": 3}})
    assert (c.frame_size, c.clip_duration, c.num_frames, c.audio_features) == ((64, 64), 1.0, 3, "stft")
    c = recipe_contract({"task": {"name": "classification"}, "data": {"fps": 8, "size": 32, "clip_duration": 1.0,
                                                                       "mean": [0, 0, 0], "std": [1, 1, 1]}})
    assert c.sample_rate is None and c.audio_features is None and c.mean == (0.0, 0.0, 0.0)
