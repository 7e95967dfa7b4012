"""Benchmark: wall time and peak memory of whole-file inference against the file's duration.

Inputs are real footage at real sizes: the 1280x720 Big Buck Bunny clip of the real-media cache
(tests/realmedia.py), looped and re-encoded (H.264 + AAC stereo) to ``--seconds`` long 720p30
and 1080p30 files (cached in ``.benchmarks_cache/``). Every measured command runs in its own
child process; its wall time is taken around it, its CPU time is its own (``os.wait4``), and
its peak RSS is its own ``VmHWM`` (``ru_maxrss`` would start from this parent's at fork), so
one command's memory never hides another's. avlearn commands run in the child in-process
(``runpy``), so the same holds for them.

Methods (``--methods``):

* ``stream``: :class:`avlearn.io.stream.StreamReader`, 1 s windows of 8 frames at 112x112 with
  16 kHz mono audio (the shape of a sync / localization model's input), iterated to the end;
* ``naive``: PyAV, every frame decoded and converted to RGB at full resolution and kept, all
  audio decoded and kept (what a reader that decodes the whole file first does); refused when
  the frames would exceed ``--naive-max-gb``;
* ``torchcodec``: ``VideoDecoder`` frames played at the same sample times, resized to 112x112,
  window by window, with ``AudioDecoder`` at 16 kHz mono (skipped when torchcodec is absent);
* ``torchcodec+r3d_18``: the peer of ``avlearn extract-features FILE --model r3d_18``:
  torchcodec decodes windows of 16 frames at 15 fps resized to 112x112 (torchvision's
  Kinetics-400 input), back to back, normalises them with Kinetics' mean/std and runs
  torchvision's ``r3d_18`` (random weights; speed does not depend on them) in batches of 4
  without gradients, keeping the pooled 512-d features;
* ``cmd:NAME``: an avlearn CLI command from ``--command NAME=TEMPLATE`` (``{file}``, ``{out}``
  are filled in), e.g. ``--command 'extract=avlearn extract-features {file} --model r3d_18
  --clip-duration 1 --out {out}.npz'``; add the inference commands this way once they stream.

Printed per input and method: seconds of media, wall seconds, media seconds per wall second
(x real time), CPU seconds of the child and media seconds per CPU second, and peak RSS.
Numbers measured on a loaded machine describe the load: ``--write`` puts the table in the
"Whole-file inference" section of benchmarks/RESULTS.md only on an idle machine
(benchmarks/_conditions.py; ``--allow-load`` writes them marked). Peak memory does not depend
on the load, so the duration check (the same command on a 1-minute and a 4-minute file) may
run beside other work: ``--seconds 60,240``.

    OMP_NUM_THREADS=1 python benchmarks/inference.py --seconds 60
    python benchmarks/inference.py --seconds 20 --sizes 720 --methods stream,naive
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
import _conditions as C  # noqa: E402  # tests/realmedia.py: the real-media cache and looping

SIZES = {720: (720, 1280), 1080: (1080, 1920)}
WINDOW, FPS, SIDE, RATE = 1.0, 8, 112, 16000


# -- children: one measured method each -------------------------------------------------------------
def _child_stream(path: str) -> dict:
    from avlearn.io.stream import StreamReader

    n = 0
    for clip in StreamReader(path, WINDOW, fps=FPS, size=(SIDE, SIDE), sample_rate=RATE, mono=True):
        n += clip.video.shape[0]
    return {"frames": n}


def _child_naive(path: str, max_gb: float) -> dict:
    import av
    import numpy as np

    with av.open(path) as c:
        v = c.streams.video[0]
        need = v.frames * v.codec_context.width * v.codec_context.height * 3 / 1e9
    if need > max_gb:
        return {"skipped": f"frames would take {need:.1f} GB > --naive-max-gb {max_gb}"}
    frames, audio = [], []
    with av.open(path) as c:
        for frame in c.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))  # (H, W, 3) at full resolution
    with av.open(path) as c:
        for frame in c.decode(audio=0):
            audio.append(frame.to_ndarray())
    return {"frames": len(frames), "gb": float(sum(f.nbytes for f in frames) / 1e9), "audio_chunks": len(audio) and int(np.sum([a.shape[-1] for a in audio]))}


def _video_end(decoder, container_duration: float) -> float:
    """Where the video stream ends (torchcodec refuses times past its last frame, and the
    container's duration also counts the audio, which may run a few milliseconds longer)."""
    end = getattr(decoder.metadata, "end_stream_seconds", None)
    return min(container_duration, float(end)) if end else container_duration


def _child_torchcodec(path: str) -> dict:
    try:
        import torchcodec.decoders as tc
    except ImportError as exc:
        return {"skipped": f"torchcodec not importable ({exc})"}
    from torchvision.transforms.v2 import Resize

    from avlearn.io import probe

    video = tc.VideoDecoder(path, seek_mode="approximate", dimension_order="NHWC", transforms=[Resize((SIDE, SIDE))])
    audio = tc.AudioDecoder(path, sample_rate=RATE, num_channels=1)
    duration = _video_end(video, probe(path).duration)
    n, t = 0, 0.0
    while t + WINDOW <= duration + 1e-6:
        times = [t + i / FPS for i in range(round(WINDOW * FPS))]
        n += video.get_frames_played_at(times).data.shape[0]
        audio.get_samples_played_in_range(t, t + WINDOW)
        t += WINDOW
    return {"frames": n}


def _child_torchcodec_r3d(path: str) -> dict:
    try:
        import torchcodec.decoders as tc
    except ImportError as exc:
        return {"skipped": f"torchcodec not importable ({exc})"}
    import torch
    from torchvision.models.video import r3d_18
    from torchvision.transforms.v2 import Resize

    from avlearn.io import probe

    frames, fps, batch = 16, 15.0, 4  # torchvision's Kinetics-400 clip: 16 frames at 15 fps, 112x112
    mean = torch.tensor([0.43216, 0.394666, 0.37645]).view(1, 3, 1, 1, 1)
    std = torch.tensor([0.22803, 0.22145, 0.216989]).view(1, 3, 1, 1, 1)
    model = r3d_18().eval()
    model.fc = torch.nn.Identity()  # the pooled 512-d features
    video = tc.VideoDecoder(path, seek_mode="approximate", dimension_order="NCHW", transforms=[Resize((SIDE, SIDE))])
    duration = _video_end(video, probe(path).duration)
    window = frames / fps
    starts = [i * window for i in range(int((duration + 1e-6) // window))]
    feats = []
    with torch.inference_mode():
        for b in range(0, len(starts), batch):
            clips = [video.get_frames_played_at([t + i / fps for i in range(frames)]).data for t in starts[b:b + batch]]
            x = torch.stack(clips).permute(0, 2, 1, 3, 4).float().div_(255)  # (B, 3, T, H, W)
            feats.append(model((x - mean) / std))  # (B, 512)
    return {"windows": int(sum(f.shape[0] for f in feats))}


def _peak_rss_mb() -> float | None:
    """This process's own peak RSS (VmHWM: per address space, fresh at exec, unlike
    ru_maxrss, which a child inherits from its parent at fork)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _child_command(argv: list[str]) -> dict:
    """Run ``avlearn ARGS`` in this process (so its peak memory is this process's)."""
    import runpy

    sys.argv = ["avlearn", *argv]
    try:
        runpy.run_module("avlearn", run_name="__main__")
    except SystemExit as exc:
        if exc.code not in (0, None):
            return {"error": f"exit status {exc.code}"}
    return {}


def _child(argv: list[str]) -> None:
    import torch  # noqa: F401  every method pays torch's import (time and memory) alike

    method, path = argv[0], argv[1]
    if method == "cmd":
        out = _child_command(argv[1:])
    elif method == "stream":
        out = _child_stream(path)
    elif method == "naive":
        out = _child_naive(path, float(argv[2]))
    elif method == "torchcodec":
        out = _child_torchcodec(path)
    elif method == "torchcodec+r3d_18":
        out = _child_torchcodec_r3d(path)
    else:
        raise SystemExit(f"unknown child method {method}")
    print("RESULT " + json.dumps({**out, "hwm_mb": _peak_rss_mb()}))


# -- parent: inputs, measurement, report ------------------------------------------------------------
def measure(cmd: list[str], env: dict | None = None) -> dict:
    """Run ``cmd``; its wall seconds, peak RSS (MB, its own ru_maxrss), exit code and RESULT line."""
    t = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t
        out.seek(0)
        text = out.read()
    result = next((json.loads(line[7:]) for line in text.splitlines() if line.startswith("RESULT ")), {})
    if proc.returncode != 0:
        result.setdefault("error", (text.strip().splitlines() or ["?"])[-1][:200])
    cpu = usage.ru_utime + usage.ru_stime
    rss = result.pop("hwm_mb", None) or usage.ru_maxrss / 1024  # the child's own peak when it says
    return {"wall_s": wall, "cpu_s": cpu, "rss_mb": rss, "rc": proc.returncode, **result}


def make_inputs(seconds: float, sizes: list[int], cache: Path) -> list[tuple[str, Path]]:
    """The looped real-footage files (made once, kept in ``cache``)."""
    from realmedia import fetch, loop_reencode_in_child, realmedia_path

    src = realmedia_path("bigbuckbunny.mp4")
    if not src.exists():
        fetch()
    if not src.exists():
        raise SystemExit(f"{src}: real media missing and could not be fetched (see tests/realmedia.py)")
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for p in sizes:
        h, w = SIZES[p]
        path = cache / f"bbb_{p}p30_{int(seconds)}s.mp4"
        print(f"input {path.name} ...", flush=True)
        if not path.exists():  # made in a child: this process stays small (children inherit its peak RSS)
            loop_reencode_in_child(src, path, seconds, size=(h, w), preset="veryfast")
        out.append((f"{p}p30", path))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _child(argv[1:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", default="60", help="lengths of the inputs, comma-separated seconds (default 60)")
    ap.add_argument("--sizes", default="720,1080", help="input heights, comma-separated (720, 1080)")
    ap.add_argument("--methods", default="stream,naive,torchcodec", help="decode methods, comma-separated")
    ap.add_argument("--command", action="append", default=[], metavar="NAME=TEMPLATE",
                    help="an avlearn command to time ({file}, {out} filled in); repeatable")
    ap.add_argument("--naive-max-gb", type=float, default=4.0, help="refuse naive decoding above this (default 4)")
    ap.add_argument("--cache", default=str(REPO / ".benchmarks_cache"), help="where the inputs are kept")
    ap.add_argument("--json", action="store_true", help="print one JSON object per measurement")
    ap.add_argument("--section", default="Whole-file inference", help="heading of the RESULTS.md section --write replaces")
    C.add_arguments(ap)
    args = ap.parse_args(argv)
    cond = C.begin()

    import av  # not torch: this process must stay small, its children inherit its peak RSS

    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    sizes = [int(s) for s in args.sizes.split(",")]
    inputs = [i for sec in args.seconds.split(",") for i in make_inputs(float(sec), sizes, Path(args.cache))]
    commands = dict(c.split("=", 1) for c in args.command)
    load = os.getloadavg()
    header = f"{'input':12} {'method':22} {'media s':>8} {'wall s':>8} {'x real':>7} {'cpu s':>7} {'x cpu':>6} {'peak MB':>8}  note"
    print(header)
    table = ["| input | method | media s | wall s | x real time | CPU s | media s per CPU s | peak RSS MB | note |",
             "|---|---|---:|---:|---:|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in inputs:
            with av.open(str(path)) as c:
                duration = c.duration / av.time_base
            label = f"{label} {duration:.0f}s"
            runs = [(m, [sys.executable, __file__, "--child", m, str(path), str(args.naive_max_gb)]) for m in args.methods.split(",") if m]
            for name, template in commands.items():
                filled = template.format(file=shlex.quote(str(path)), out=shlex.quote(os.path.join(tmp, f"{name}_{label.replace(' ', '_')}")))
                runs.append((f"cmd:{name}", shlex.split(filled)))
            for method, cmd in runs:
                if cmd[0] == "avlearn":
                    cmd = [sys.executable, __file__, "--child", "cmd", *cmd[1:]]
                r = measure(cmd, env)
                note = r.get("skipped") or r.get("error") or ""
                speed = duration / r["wall_s"] if not note else float("nan")
                cpu_speed = duration / max(r["cpu_s"], 1e-9) if not note else float("nan")
                if args.json:
                    print(json.dumps({"input": label, "method": method, "media_s": duration, **r, "load": load[0]}))
                else:
                    print(f"{label:12} {method:22} {duration:8.1f} {r['wall_s']:8.1f} {speed:7.2f} {r['cpu_s']:7.1f} "
                          f"{cpu_speed:6.2f} {r['rss_mb']:8.0f}  {note}", flush=True)
                table.append(f"| {label} | {method} | {duration:.1f} | {r['wall_s']:.1f} | {speed:.2f} | {r['cpu_s']:.1f} | "
                             f"{cpu_speed:.2f} | {r['rss_mb']:.0f} | {note} |")
    if C.may_write(cond, args):
        cmd = " ".join(shlex.quote(a) for a in ["python", "benchmarks/inference.py", *argv])
        C.write_section(f"## {args.section}\n\n"
                        f"    OMP_NUM_THREADS={env['OMP_NUM_THREADS']} {cmd}\n\n"
                        "Inputs: the real 1280x720 Big Buck Bunny clip looped and re-encoded (H.264 + AAC) to the "
                        "lengths and sizes below; each method in its own process (wall, its own CPU time and peak RSS).\n\n"
                        + "\n".join(table) + "\n\n" + cond.note())
    return 0


if __name__ == "__main__":
    sys.exit(main())
