"""How fast the synthetic world is made: clips per second per kind, encoding included.

Runs :func:`avlearn.data.synthetic.make_world` into a temporary folder for each kind and
prints, per kind: wall-clock clips/s with ``--workers`` processes (everything included:
generation, h264 + AAC encoding, FLAC stems, truth, manifests, lists), the CPU time each clip
took (the worker processes' user + system time), and the rate that CPU time allows on
``--workers`` dedicated cores. The CPU figure matters on a shared machine, where the wall
clock also counts other people's work; the load average is printed beside. Action videos
(30 s) are also counted as 2-second-clip equivalents (15 each). Generation alone (in memory,
one process) is printed for reference.

    python benchmarks/world_speed.py                      # 200 objects, 200 speakers, 10 actions videos
    python benchmarks/world_speed.py --clips 100 --kinds objects
    OMP_NUM_THREADS=2 python benchmarks/world_speed.py --write   # the "Synthetic world" table, idle machine only

There is no peer to interleave with (the kinds run one after another); the load average and
the CPU model are recorded at the start and end, and ``--write`` refuses a machine that was
not idle (benchmarks/_conditions.py; ``--allow-load`` writes anyway, marked).

Goal (issue 3): >= 20 two-second 64x64 clips/s on 2 cores including encoding.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

import _conditions as C  # noqa: E402

C.use_this_checkout()
from avlearn.data.synthetic import WorldConfig, generate_clip, make_world  # noqa: E402


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(kind: str, clips: int, workers: int, size: int) -> dict[str, float]:
    """Make a world of ``clips`` train clips of ``kind``; return its rates."""
    config = WorldConfig(kind=kind, size=size)
    equivalent = config.duration / 2.0  # two-second clips per clip
    with tempfile.TemporaryDirectory(prefix=f"world_{kind}_") as out:
        load0 = os.getloadavg()[0]
        cpu0, own0 = _children_cpu(), _self_cpu()
        t0 = time.perf_counter()
        make_world(out, config, clips={"train": clips}, seed=1, workers=workers, progress=False)
        wall = time.perf_counter() - t0
        cpu = (_children_cpu() - cpu0) + (_self_cpu() - own0)
        load1 = os.getloadavg()[0]
    t0 = time.perf_counter()
    gen_n = max(3, clips // 10)
    for seed in range(gen_n):
        generate_clip(config, seed)
    gen = (time.perf_counter() - t0) / gen_n
    return {
        "clips": clips, "wall_s": wall, "clips_per_s": clips / wall, "equiv_per_s": clips * equivalent / wall,
        "cpu_ms_per_clip": 1000 * cpu / clips, "dedicated_per_s": workers * clips * equivalent / cpu,
        "gen_ms": 1000 * gen, "load": (load0 + load1) / 2,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=200, help="clips per kind (actions: a twentieth, >= 4)")
    parser.add_argument("--kinds", nargs="+", default=["objects", "speakers", "actions"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--size", type=int, default=64)
    C.add_arguments(parser)
    args = parser.parse_args(argv)
    cond = C.begin()
    print(f"make_world, {args.workers} workers, {args.size}x{args.size}, 16 fps, 16 kHz")
    header = (f"{'kind':9s} {'clips':>5s} {'wall s':>7s} {'clips/s':>8s} {'2s-clips/s':>10s} "
              f"{'CPU ms/clip':>11s} {'2s-clips/s on dedicated cores':>30s} {'gen ms':>7s} {'load':>5s}")
    print(header)
    table = ["| kind | clips | wall clips/s | 2 s clips/s (wall) | CPU ms per clip | 2 s clips/s on "
             f"{args.workers} dedicated cores | generation alone, ms/clip (1 process) |", "|---|---:|---:|---:|---:|---:|---:|"]
    for kind in args.kinds:
        n = max(4, args.clips // 20) if kind == "actions" else args.clips
        r = measure(kind, n, args.workers, args.size)
        print(f"{kind:9s} {n:5d} {r['wall_s']:7.2f} {r['clips_per_s']:8.2f} {r['equiv_per_s']:10.2f} "
              f"{r['cpu_ms_per_clip']:11.1f} {r['dedicated_per_s']:30.2f} {r['gen_ms']:7.1f} {r['load']:5.1f}")
        table.append(f"| {kind}{' (30 s)' if kind == 'actions' else ''} | {n} | {r['clips_per_s']:.2f} | {r['equiv_per_s']:.1f} "
                     f"| {r['cpu_ms_per_clip']:.1f} | {r['dedicated_per_s']:.1f} | {r['gen_ms']:.0f} |")
    cond.finish()
    text = "\n".join([
        "## Synthetic world", "",
        f"`make_world` throughput per kind, everything included (generation, h264 + AAC mp4, FLAC stems, truth JSON, "
        f"manifests, frozen lists), {args.workers} worker processes, {args.size}x{args.size}, 16 fps, 16 kHz, 2 s clips "
        "(actions: 30 s videos, counted as 15 two-second clips each). \"On dedicated cores\" divides the workers by the "
        "CPU time each clip took (user + system, from `getrusage`).", "",
        cond.note(),
        f"    OMP_NUM_THREADS=2 python benchmarks/world_speed.py {' '.join(sys.argv[1:])}".rstrip(), "",
        *table, "",
        "Goal: >= 20 two-second 64x64 clips/s on 2 cores with encoding.", ""])
    print(text)
    if C.may_write(cond, args):
        C.write_section(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
