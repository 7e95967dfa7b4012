"""Many files at once for the inference commands: folders, manifests, one output per input,
skip-and-count, JSON Lines, and ``--device``."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import yaml

from avlearn.cli import _inputs as I
from avlearn.cli import main
from avlearn.errors import DataError, UsageError
from avlearn.io import write_av
from media import tiny_sync_run


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """clips/a.mp4, clips/sub/a.mp4 (same stem), clips/broken.mp4, clips/notes.txt, a sync run."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    video = rng.integers(0, 255, size=(16, 32, 32, 3), dtype=np.uint8)  # 1 s at 16 fps
    audio = (rng.standard_normal((1, 16000)) * 0.1).astype(np.float32)
    (d / "clips" / "sub").mkdir(parents=True)
    a = write_av(d / "clips" / "a.mp4", video, audio, fps=16, sample_rate=16000)
    b = write_av(d / "clips" / "sub" / "a.mp4", video[::-1].copy(), audio, fps=16, sample_rate=16000)
    bad = d / "clips" / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    (d / "clips" / "notes.txt").write_text("not media")
    weights = tiny_sync_run(d)
    return d, str(a), str(b), str(bad), weights


def test_expand_folders_manifests_and_files(tree, tmp_path):
    d, a, b, bad, _ = tree
    assert I.expand_inputs([str(d / "clips")]) == [a, bad, b]  # recursive, media only, sorted
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(json.dumps({"path": b}) + "\n" + json.dumps({"path": os.path.relpath(a, tmp_path)}) + "\n")
    csv = tmp_path / "list.csv"
    csv.write_text(f"path,label\n{a},x\n")
    assert I.expand_inputs([str(manifest), str(csv), a, "missing.mp4"]) == [b, a, "missing.mp4"]  # each once
    assert I.many_inputs([str(manifest)]) and I.many_inputs([a, b]) and not I.many_inputs([a])
    (tmp_path / "bad.csv").write_text("nopath\n1\n")
    with pytest.raises(UsageError, match="bad.csv"):
        I.expand_inputs([str(tmp_path / "bad.csv")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no media files"):
        I.expand_inputs([str(tmp_path / "empty")])


def test_output_names_never_collide():
    files = ["x/a.mp4", "y/a.mp4", "z/A.mkv", "b.wav"]
    assert I.output_paths(files, "out", ".json", many=True) == [
        os.path.join("out", n) for n in ("a.json", "a_2.json", "A_3.json", "b.json")
    ]
    assert I.output_paths(["a.mp4"], "o.json", ".json", many=False) == ["o.json"]
    assert I.output_paths(files, None, ".json", many=True) == [None] * 4


def test_run_each_counts_and_exit_status(capsys):
    def work(path, i):
        if path == "bad":
            raise DataError("bad: cannot be read")
        return {"n": i}

    assert I.run_each("avlearn x", ["ok", "bad"], work, json_lines=True) == 0
    out = capsys.readouterr()
    lines = [json.loads(line) for line in out.out.splitlines()]
    assert lines == [{"path": "ok", "ok": True, "n": 0}, {"path": "bad", "ok": False, "error": "cannot be read"}]
    assert out.err.splitlines() == ["avlearn x: skipped bad: cannot be read", "avlearn x: 1 of 2 file(s) processed, 1 skipped"]
    assert I.run_each("avlearn x", ["bad"], work, json_lines=False) == 1
    with pytest.raises(UsageError):  # a usage error stops the command instead of skipping the file
        I.run_each("avlearn x", ["ok"], lambda p, i: (_ for _ in ()).throw(UsageError("no")), json_lines=False)


def test_accepted_passes_only_what_a_function_takes():
    def f(x, *, device=None):
        return x

    assert I.accepted(f, device="cpu", batch_size=3) == {"device": "cpu"}
    assert I.accepted(lambda **kw: kw, device="cpu", batch_size=3) == {"device": "cpu", "batch_size": 3}


def test_sync_over_a_folder_writes_one_record_per_file(tree, tmp_path, capsys):
    d, a, b, bad, weights = tree
    out = tmp_path / "offsets"
    argv = ["sync", str(d / "clips"), "--weights", weights, "--max-offset", "0.125", "--hop", "0.5",
            "--out", str(out), "--json", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    got = capsys.readouterr()
    lines = [json.loads(line) for line in got.out.splitlines()]
    assert [(r["path"], r["ok"]) for r in lines] == [(a, True), (bad, False), (b, True)]
    assert lines[1]["error"] and "offset" not in lines[1]
    assert sorted(os.listdir(out)) == ["a.json", "a_2.json"]  # same stem in two folders: both kept
    assert json.loads((out / "a_2.json").read_text())["file"] == b and lines[2]["out"] == str(out / "a_2.json")
    assert f"skipped {bad}: " in got.err and "2 of 3 file(s) processed, 1 skipped" in got.err
    # only unreadable files: exit status 1, one reason each
    assert main(["sync", bad, bad + ".missing", "--weights", weights]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and err[-1].endswith("0 of 2 file(s) processed, 2 skipped")


def test_localize_many_inputs_into_a_folder(tree, tmp_path, capsys):
    d, a, b, bad, weights = tree
    out = tmp_path / "heat"
    assert main(["localize", a, b, bad, "--weights", weights, "--out", str(out), "--json", "--device", "cpu"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["ok"] for r in lines] == [True, True, False]
    assert sorted(os.listdir(out)) == ["a.mp4", "a_2.mp4"] and lines[0]["out"] == str(out / "a.mp4")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
@pytest.mark.parametrize("command", [
    ["sync", "{a}", "--weights", "{w}"], ["localize", "{a}", "--weights", "{w}", "--out", "{tmp}/o.mp4"],
    ["separate", "{a}", "--weights", "{w}", "--out", "{tmp}/sep"], ["classify", "{a}", "--weights", "{w}"],
    ["extract-features", "{a}", "--model", "r3d_tiny", "--out", "{tmp}/f.npz"],
])  # fmt: skip
def test_missing_gpu_is_a_one_line_usage_error(command, tree, tmp_path, capsys):
    _, a, _, _, w = tree
    argv = [x.format(a=a, w=w, tmp=tmp_path) for x in command]
    with pytest.raises(SystemExit) as info:
        main(argv + ["--device", "cuda"])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "".join(err) and "--device: cuda: this machine has no CUDA device" in err[-1]
    assert I.resolve("auto") == torch.device("cpu") and I.resolve("cpu") == torch.device("cpu")
    with pytest.raises(UsageError, match="no CUDA GPU"):
        I.resolve("cuda")


def test_separate_many_inputs_one_folder_each(tree, tmp_path, capsys):
    from test_separation_train import TINY_DATA, TINY_STFT, _model

    from avlearn.tasks.base import build_task
    from avlearn.train.config import config_from_dict

    d, a, b, bad, _ = tree
    raw = {"task": {**TINY_STFT, "name": "sop"}, "model": _model("sop"),
           "data": {**TINY_DATA, "world": "unused", "visual": "frames"}}  # fmt: skip
    torch.manual_seed(0)
    run = tmp_path / "sop"
    run.mkdir()
    torch.save(build_task(config_from_dict(raw, source="test")).export_module().state_dict(), run / "weights.pt")
    (run / "config.yaml").write_text(yaml.safe_dump(raw))
    out = tmp_path / "sep"
    argv = ["separate", str(d / "clips"), "--weights", str(run / "weights.pt"), "--out", str(out), "--no-truth",
            "--json", "--device", "cpu"]  # fmt: skip
    assert main(argv) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["path"], r["ok"]) for r in lines] == [(a, True), (bad, False), (b, True)]
    assert sorted(os.listdir(out)) == ["a", "a_2"]  # one folder per input, same stems kept apart
    for r, sub in ((lines[0], "a"), (lines[2], "a_2")):
        for s in r["sources"]:
            assert os.path.dirname(s["wav"]) == str(out / sub) and os.path.isfile(s["wav"])
