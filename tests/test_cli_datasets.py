"""CLI: avlearn prepare, shard and make-lists end to end (subprocesses, like a user)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from media import write_clip, write_garbage


def avlearn(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "avlearn", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)


@pytest.fixture(scope="module")
def vggsound(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli") / "vggsound"
    src = write_clip(root.parent / "src.mp4", seconds=2.0, fps=8, sample_rate=8000).path
    lines = []
    for i, (ytid, label, split) in enumerate([("aaaaaaaaaaa", "dog", "train"), ("bbbbbbbbbbb", "cat", "train"),
                                              ("ccccccccccc", "cow", "train"), ("ddddddddddd", "dog", "test"),
                                              ("eeeeeeeeeee", "cat", "test"), ("fffffffffff", "cow", "test"),
                                              ("ggggggggggg", "owl", "test"), ("hhhhhhhhhhh", "owl", "train")]):
        lines.append(f"{ytid},{i * 10},{label},{split}")
        if ytid == "ggggggggggg":
            continue  # missing
        dst = root / "video" / f"{ytid}_{i * 10:06d}.mp4"
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src, dst)
    write_garbage(root / "video" / f"hhhhhhhhhhh_{70:06d}.mp4")
    (root / "vggsound.csv").write_text("\n".join(lines) + "\n")
    return root


def test_prepare_then_lists_then_shards(vggsound, tmp_path):
    out = tmp_path / "data"
    r = avlearn("prepare", "vggsound", vggsound, "--out", out)
    assert r.returncode == 0, r.stderr
    assert "train: 3 found, 0 missing, 1 unreadable (of 4)" in r.stdout
    assert "test: 3 found, 1 missing, 0 unreadable (of 4)" in r.stdout
    report = json.loads((out / "report.json").read_text())
    assert report["splits"]["test"] == {"entries": 4, "found": 3, "missing": 1, "unreadable": 0, "skipped": 0}
    assert (out / "missing.txt").read_text() == "test\tggggggggggg_000060\n"

    r = avlearn("make-lists", out / "test.jsonl", "--task", "sync", "--seed", "0", "--out", out / "lists" / "sync_test.jsonl", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["items"] == 6
    first = json.loads((out / "lists" / "sync_test.jsonl").read_text().splitlines()[0])
    assert first["clip"].startswith("../") or os.path.isabs(first["clip"]) or (out / first["clip"]).exists()
    again = avlearn("make-lists", out / "test.jsonl", "--task", "sync", "--seed", "0", "--out", tmp_path / "l2" / "again.jsonl")
    assert again.returncode == 0
    r = avlearn("make-lists", out / "test.jsonl", "--task", "separation", "--num-mix", "2", "--seed", "1",
                "--out", out / "lists" / "separation_test.jsonl", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["mixtures"] == 3 and (out / "lists" / "truth").is_dir()

    r = avlearn("shard", out / "train.jsonl", "--out", tmp_path / "shards", "--shard-size", "1KB", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"samples": 3, "missing": 0, "unreadable": 0, "shards": 3, "out": str(tmp_path / "shards")}


def test_cli_errors(tmp_path, vggsound, capsys):
    from avlearn.cli import main

    assert main(["prepare", "nope", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "unknown dataset 'nope'" in capsys.readouterr().err
    assert main(["prepare", "kinetics", str(vggsound), "--out", str(tmp_path / "o")]) == 2
    assert "no Kinetics CSV" in capsys.readouterr().err
    assert main(["prepare", "--list"]) == 0 and "flickr-soundnet" in capsys.readouterr().out
    script = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "..", "data_prep", "prepare.py"), "--list"],
                            capture_output=True, text=True, timeout=300)
    assert script.returncode == 0 and "vggsound" in script.stdout
    assert main(["shard", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "s")]) == 2
    assert "no such manifest file" in capsys.readouterr().err
    assert main(["shard", str(vggsound / "video"), "--out", str(tmp_path / "s"), "--shard-size", "big"]) == 2
    assert "not a size: 'big'" in capsys.readouterr().err
    assert main(["make-lists", str(tmp_path / "x.csv"), "--task", "sync", "--seed", "0", "--out", str(tmp_path / "l.jsonl")]) == 2
    assert "x.csv" in capsys.readouterr().err
