"""``avlearn export``: safetensors + model card, read back by load_run and --weights, no pickle."""

from __future__ import annotations

import hashlib
import json
import pickle
import struct

import numpy as np
import pytest
import torch
import yaml

import avlearn
from avlearn.cli import main
from avlearn.io import write_av
from avlearn.models import create_model
from avlearn.models._registry import call_model, example_input
from avlearn.tasks.export import ExportError, export_run

DATA = {"fps": 16, "size": [32, 32], "sample_rate": 16000, "clip_duration": 0.5}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A sync run whose weights moved away from their initialisation (a few SGD steps), and a clip."""
    d = tmp_path_factory.mktemp("export")
    torch.manual_seed(0)
    net = create_model("multisensory_small")
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(2):
        out = call_model("multisensory_small", net, example_input("multisensory_small", 2))
        loss = sum(v.float().pow(2).mean() for v in (out.values() if isinstance(out, dict) else [out]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    run = d / "run"
    run.mkdir()
    torch.save(net.state_dict(), run / "weights.pt")
    (run / "config.yaml").write_text(yaml.safe_dump({
        "task": {"name": "sync"}, "model": {"name": "multisensory_small", "kwargs": {}}, "data": DATA}))
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(24, 32, 32, 3), dtype=np.uint8)  # 1.5 s at 16 fps
    audio = (rng.standard_normal((1, 24000)) * 0.1).astype(np.float32)
    media = write_av(d / "clip.mp4", video, audio, fps=16, sample_rate=16000)
    return run, media


def _no_pickle(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("pickle used to read an export")

    for mod, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(mod, name, refuse)


def test_round_trip_identical_outputs_without_pickle(trained, tmp_path, capsys, monkeypatch):
    run_dir, media = trained
    out = tmp_path / "exp"
    assert main(["export", str(run_dir), "--out", str(out), "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "model.json", "model.safetensors"]
    assert card["task"] == "sync" and card["model"] == {"name": "multisensory_small", "kwargs": {}}
    assert card["recipe"]["data"] == DATA and card["contract"]["fps"] == 16.0 and card["contract"]["frame_size"] == [32, 32]
    assert card["avlearn_version"] == avlearn.__version__
    blob = (out / "model.safetensors").read_bytes()
    assert card["weights"]["sha256"] == hashlib.sha256(blob).hexdigest()
    n = struct.unpack("<Q", blob[:8])[0]  # safetensors: a JSON header, then raw bytes (no pickle opcodes)
    header = json.loads(blob[8 : 8 + n])
    assert header["__metadata__"]["task"] == "sync" and len(header) - 1 == card["weights"]["tensors"]
    assert "multisensory_small" in (out / "README.md").read_text()

    original = avlearn.load_run(run_dir)
    with monkeypatch.context() as m:
        _no_pickle(m)
        loaded = avlearn.load_run(out)
        also = avlearn.load_run(out / "model.json")
    assert loaded.task_name == "sync" and loaded.contract == original.contract and also.task_name == "sync"
    x = example_input("multisensory_small", 2, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        a, b = call_model("multisensory_small", original.network, x), call_model("multisensory_small", loaded.network, x)
    for k in (a if isinstance(a, dict) else {"out": a}):
        torch.testing.assert_close((b if isinstance(b, dict) else {"out": b})[k], (a if isinstance(a, dict) else {"out": a})[k], rtol=0, atol=0)

    # every command's --weights takes the folder: the same estimate as the original run
    argv = ["sync", str(media), "--max-offset", "0.125", "--hop", "0.5", "--json", "--device", "cpu", "--weights"]
    assert main(argv + [str(run_dir / "weights.pt")]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv + [str(out)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert (first["offset"], first["scores"]) == (second["offset"], second["scores"])

    # an existing export is not replaced silently; a damaged one is refused by its SHA-256
    assert main(["export", str(run_dir), "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    damaged = bytearray(blob)
    damaged[-1] ^= 0xFF
    (out / "model.safetensors").write_bytes(bytes(damaged))
    with pytest.raises(ExportError, match="SHA-256"):
        avlearn.load_run(out)
    assert main(argv + [str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "SHA-256" in err[0]


def test_bare_model_export_feeds_extract_features(trained, tmp_path, capsys):
    run_dir, media = trained
    torch.manual_seed(3)
    torch.save(create_model("r3d_tiny", num_classes=400).state_dict(), tmp_path / "r3d.pt")
    export_run(avlearn.load_run(tmp_path / "r3d.pt", model="r3d_tiny"), tmp_path / "exp")
    run = avlearn.load_run(tmp_path / "exp")
    assert run.task_name == "model" and run.recipe["model"]["name"] == "r3d_tiny"
    opts = ["--clip-duration", "0.5", "--fps", "16", "--size", "32", "32", "--device", "cpu"]
    assert main(["extract-features", str(media), "--model", "r3d_tiny", "--weights", str(tmp_path / "r3d.pt"),
                 "--out", str(tmp_path / "a.npz"), *opts]) == 0
    assert main(["extract-features", str(media), "--weights", str(tmp_path / "exp"), "--out", str(tmp_path / "b.npz"), *opts]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["features"].shape[0] == 3
    np.testing.assert_array_equal(a["features"], b["features"])
    direct = avlearn.FeatureExtractor("r3d_tiny", tmp_path / "exp", clip_duration=0.5, fps=16, size=32)
    np.testing.assert_allclose(direct(media).numpy(), a["features"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ExportError, match="already exists"):
        export_run(run, tmp_path / "exp")
    # a trained run without --model: its recipe's contract sets the windows (16 fps, 32x32, 0.5 s)
    assert main(["extract-features", str(media), "--weights", str(run_dir), "--out", str(tmp_path / "c.npz")]) == 0
    c = np.load(tmp_path / "c.npz")
    assert (float(c["fps"]), float(c["clip_duration"]), int(c["sample_rate"])) == (16.0, 0.5, 16000)
    assert c["features"].shape[0] == 3
