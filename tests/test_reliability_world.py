"""Issue case 7: worlds are reproducible. The same make-world command and seed give
byte-identical media, stems, truth, manifests and lists, with one worker or several, and a
deterministic encode of the same frames gives one file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from avlearn.data.synthetic import WorldConfig, generate_clip, make_world
from avlearn.io import write_av

CONFIG = WorldConfig(size=32, fps=16, sample_rate=8000, duration=1.0, distractor_rate=0.5, offscreen_rate=0.5)
CLIPS = {"train": 3, "val": 2, "test": 2}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_deterministic_encode_gives_one_file(tmp_path):
    scene = generate_clip(WorldConfig(size=64, fps=16, duration=1.0), 5)
    digests = set()
    for i in range(25):
        path = write_av(tmp_path / f"{i % 2}.mp4", scene.video, scene.audio, fps=16, sample_rate=16000,
                        audio_bitrate=64_000, deterministic=True)  # fmt: skip
        digests.add(hashlib.sha256(Path(path).read_bytes()).hexdigest())
    assert len(digests) == 1
    data = Path(path).read_bytes()
    assert b"Lavf" not in data  # no library version string
    mvhd = data.index(b"mvhd") + 4  # the movie header: version (1 byte), flags (3), creation time, ...
    assert data[mvhd] == 0 and data[mvhd + 4 : mvhd + 12] == bytes(8)  # creation and modification time 0


def test_make_world_twice_gives_identical_files(tmp_path):
    hashes = []
    for name, workers in (("a", 1), ("b", 1), ("c", 2)):
        make_world(tmp_path / name, CONFIG, clips=CLIPS, seed=4, workers=workers, progress=False)
        hashes.append(_hashes(tmp_path / name))
    assert len(hashes[0]) > 20 and any(k.endswith(".mp4") for k in hashes[0]) and any(k.endswith(".flac") for k in hashes[0])
    assert hashes[0] == hashes[1] == hashes[2]


def test_make_world_command_in_separate_processes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for name in ("x", "y"):
        cmd = [sys.executable, "-m", "avlearn", "make-world", "--out", str(tmp_path / name), "--clips", "2",
               "--size", "32", "--fps", "8", "--sample-rate", "8000", "--duration", "0.5", "--seed", "9",
               "--workers", "2", "--no-progress"]  # fmt: skip
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    assert _hashes(tmp_path / "x") == _hashes(tmp_path / "y")
