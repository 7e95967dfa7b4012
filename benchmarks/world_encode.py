"""The cost of deterministic world encoding: x264 without assembly vs the previous settings.

A synthetic world is written with :func:`avlearn.io.write_av` ``deterministic=True`` (x264
single-threaded, ``asm=0``, bitexact muxing; see avlearn/io/write.py) so that the same seed
gives the same bytes. This script times, interleaved clip by clip in one process, the mp4
encode of the same generated scenes (h264 + AAC, as the world writer calls it) with

* ``previous``: x264 ``veryfast`` with one thread (the settings worlds were written with before);
* ``deterministic``: the same plus :data:`avlearn.io.write.DETERMINISTIC_X264` and bitexact flags;

and prints CPU milliseconds per clip for each, the ratio, and the ratio for a whole clip
(generation + encode + FLAC stems, from one timed generation pass). It also checks that the
deterministic encodes of each scene are identical across ``--repeats``.

    OMP_NUM_THREADS=1 python benchmarks/world_encode.py               # 64x64, 2 s clips
    OMP_NUM_THREADS=1 python benchmarks/world_encode.py --clips 10 --size 128
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from avlearn.data.synthetic import WorldConfig, generate_clip  # noqa: E402
from avlearn.io import write_audio, write_av  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, default=20, help="scenes (default 20)")
    p.add_argument("--repeats", type=int, default=3, help="encodes of each scene per setting (default 3)")
    p.add_argument("--size", type=int, default=64, help="frame size (default 64)")
    args = p.parse_args(argv)
    cfg = WorldConfig(size=args.size)
    t = time.process_time()
    scenes = [generate_clip(cfg, s) for s in range(args.clips)]
    gen = (time.process_time() - t) / args.clips
    settings = {
        "previous": dict(video_options={"threads": "1"}),
        "deterministic": dict(deterministic=True),
    }
    cpu = dict.fromkeys(settings, 0.0)
    distinct = []
    with tempfile.TemporaryDirectory() as tmp:
        t = time.process_time()
        for s, scene in enumerate(scenes):
            for sid, stem in scene.stems.items():
                write_audio(os.path.join(tmp, f"{sid}.flac"), stem, cfg.sample_rate, deterministic=True)
        stems = (time.process_time() - t) / args.clips
        for s, scene in enumerate(scenes):
            digests = set()
            for _ in range(args.repeats):
                for name, kw in settings.items():
                    path = os.path.join(tmp, f"{name}.mp4")
                    t = time.process_time()
                    write_av(path, scene.video, scene.audio, fps=cfg.fps, sample_rate=cfg.sample_rate,
                             audio_bitrate=64_000, **kw)  # fmt: skip
                    cpu[name] += time.process_time() - t
                    if name == "deterministic":
                        with open(path, "rb") as f:
                            digests.add(hashlib.sha256(f.read()).hexdigest())
            distinct.append(len(digests))
    n = args.clips * args.repeats
    prev, det = cpu["previous"] / n * 1000, cpu["deterministic"] / n * 1000
    whole_prev = gen * 1000 + stems * 1000 + prev
    whole_det = gen * 1000 + stems * 1000 + det
    print(f"{args.clips} scenes of {args.size}x{args.size}, {cfg.duration:g} s, x{args.repeats}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip
    print(f"mp4 encode, CPU ms/clip: previous {prev:.1f}, deterministic {det:.1f}, ratio {det / prev:.2f}")
    print(f"whole clip (generation {gen * 1000:.1f} + stems {stems * 1000:.1f} + mp4), CPU ms: "
          f"previous {whole_prev:.1f}, deterministic {whole_det:.1f}, ratio {whole_det / whole_prev:.2f}")
    print(f"deterministic encodes identical within each scene: {all(d == 1 for d in distinct)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
