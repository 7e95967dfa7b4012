"""Issue case 6: every option validated where it is parsed, outputs that never overwrite inputs
or existing files, one-line errors for junk weights, read-only folders and full disks, and
``--json`` reporting the path actually written."""

from __future__ import annotations

import errno
import json
import os
import pickle
from collections import namedtuple

import pytest
import torch

from avlearn.cli import main
from avlearn.cli._args import device
from avlearn.errors import describe_os_error

from media import write_clip
from test_cli import _toy_recipe


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    return write_clip(tmp_path_factory.mktemp("media") / "in.mp4", seconds=1.0, fps=8.0, size=(32, 32)).path


def _usage_error(argv: list[str], capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["sync", "{clip}", "--weights", "w.pt", "--step", "0"], "--step: must be >= 0.001, got 0"),
        (["sync", "{clip}", "--weights", "w.pt", "--max-offset", "inf"], "--max-offset: must be a finite number"),
        (["sync", "{clip}", "--weights", "w.pt", "--max-offset", "1e9"], "--max-offset: must be <= 10"),
        (["sync", "{clip}", "--weights", "w.pt", "--max-offset", "-1"], "--max-offset: must be > 0"),
        (["localize", "{clip}", "--weights", "w.pt", "--out", "o.mp4", "--alpha", "nan"], "--alpha: must be a finite"),
        (["localize", "{clip}", "--weights", "w.pt", "--out", "o.mp4", "--cam-size", "0", "0"], "--cam-size: must be >= 1"),
        (["classify", "{clip}", "--weights", "w.pt", "--clips", "100000"], "--clips: must be >= 1 and <= 256"),
        (["separate", "{clip}", "--weights", "w.pt", "--out", "o", "--window", "0"], "--window: must be > 0"),
        (["extract-features", "{clip}", "--model", "r3d_tiny", "--out", "f", "--batch-size", "0"], "--batch-size: must be >= 1"),
        (["extract-features", "{clip}", "--model", "r3d_tiny", "--out", "f", "--stride", "nan"], "--stride: must be a finite"),
        (["extract-features", "{clip}", "--model", "r3d_tiny", "--out", "f", "--size", "0", "0"], "--size: must be >= 1"),
        (["extract-features", "{clip}", "--model", "r3d_tiny", "--out", "f", "--device", "cuda:99"], "cuda:99: this machine has"),
        (["make-world", "--out", "w", "--clips", "2", "--duration", "nan"], "--duration: must be a finite number"),
        (["make-world", "--out", "w", "--clips", "-1"], "--clips: must be >= 0"),
    ],
)
def test_bad_options_are_usage_errors(extra, message, clip, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    line = _usage_error([a.format(clip=clip) for a in extra], capsys)
    assert message in line, line


def test_cuda_device_must_exist(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(Exception, match="this machine has no CUDA device"):
        device("cuda")
    assert device("CPU") == "cpu"


def test_output_never_overwrites_the_input_or_an_existing_file(clip, tmp_path, capsys):
    before = open(clip, "rb").read()
    for out in (clip, os.path.join(os.path.dirname(clip), ".", "in.mp4")):
        assert main(["localize", clip, "--weights", "w.pt", "--out", out]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "is the input" in err[0]
    assert open(clip, "rb").read() == before
    existing = tmp_path / "heat.mp4"
    existing.write_bytes(b"mine")
    assert main(["localize", clip, "--weights", "w.pt", "--out", str(existing)]) == 2
    assert "already exists (pass --overwrite to replace it)" in capsys.readouterr().err
    assert existing.read_bytes() == b"mine"
    assert main(["localize", clip, "--weights", str(tmp_path / "none.pt"), "--out", str(existing), "--overwrite"]) == 2
    assert "none.pt" in capsys.readouterr().err  # got past the output check, to the weights
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    assert main(["localize", clip, "--weights", "w.pt", "--out", str(afile / "o.mp4")]) == 2
    assert "is not a folder" in capsys.readouterr().err


@pytest.mark.skipif(os.access("/proc/sys", os.W_OK), reason="needs a read-only folder")
def test_read_only_output_folder_is_one_line(clip, capsys):
    assert main(["localize", clip, "--weights", "w.pt", "--out", "/proc/sys/heat.mp4"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot write" in err[0] and "read-only" in err[0]


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch pwned",))


def test_evaluate_junk_or_malicious_weights_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    recipe = _toy_recipe(tmp_path)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(2048))
    evil = tmp_path / "evil.pt"
    torch.save({"w": _Evil()}, evil, pickle_module=pickle)
    for path in (junk, evil):
        assert main(["evaluate", recipe, "--weights", str(path)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"{path.name}: not a readable weights file" in err[0], err
    assert not (tmp_path / "pwned").exists()


def test_full_disk_is_reported_in_words(tmp_path, capsys, monkeypatch):
    from avlearn.train import checkpoint as ckpt

    def full(*args, **kwargs):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 2304 vs 2198")

    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(ckpt.torch, "save", full)
    monkeypatch.setattr(ckpt.shutil, "disk_usage", lambda p: Usage(10**9, 10**9, 0))
    assert main(["train", _toy_recipe(tmp_path), "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "step_0000003.pt: disk full (No space left on device)" in err[0], err
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system", "x")) == "x: read-only file system (Read-only file system)"


def test_extract_features_json_reports_the_file_written(clip, tmp_path, capsys):
    out = tmp_path / "dir" / "feat_out"
    args = ["extract-features", clip, "--model", "r3d_tiny", "--clip-duration", "0.5", "--fps", "8",
            "--size", "32", "32", "--out", str(out), "--json"]  # fmt: skip
    assert main(args) == 0
    reported = json.loads(capsys.readouterr().out)["out"]
    assert reported == str(out) + ".npz" and os.path.isfile(reported)
    assert main(args) == 2  # a second run does not silently replace it
    assert "already exists" in capsys.readouterr().err


@pytest.mark.parametrize("command", [
    ["sync", "{clip}"], ["localize", "{clip}", "--out", "{tmp}/o.mp4"], ["separate", "{clip}", "--out", "{tmp}/sep"],
    ["classify", "{clip}"], ["extract-features", "{clip}", "--model", "r3d_tiny", "--out", "{tmp}/f.npz"],
])  # fmt: skip
def test_every_command_reports_junk_weights_in_one_line(command, clip, tmp_path, capsys):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(3000))
    argv = [a.format(clip=clip, tmp=tmp_path) for a in command] + ["--weights", str(junk)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "junk.pt: not a torch" in err[0] and len(err[0]) < 400, err
