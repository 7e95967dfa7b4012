"""Training-step time of the demo's synchronization stage, for one checkout or several compared.

The stage trains Owens & Efros' multisensory network ("Audio-Visual Scene Analysis with
Self-Supervised Multisensory Features", ECCV 2018, Sec. 3) on shifted-audio pairs. This script
builds the stage's config the way each checkout's own demo does (the demo module of the
checkout; older checkouts kept it in ``avlearn.tasks.sync_demo``), decodes every training clip
first, trains ``--steps`` steps through that checkout's ``Trainer`` and splits each step into
forward + backward, optimizer, and the rest (loader, collate, logging), in CPU and wall time.
Checkouts run in child processes, round-robin with the order alternating between rounds, so a
drift of the load falls on all of them alike (CPU time per step is the measure that survives
a shared machine; wall time follows the load).

It also prints the step's GFLOP (forward + backward, ``torch.utils.flop_counter``), the CPU-time
GFLOP/s that gives, torch's CPU capability and a 1024^3 fp32 matmul's GFLOP/s per core, so a
step time can be set against the machine it ran on. It prints only; nothing is written.

    git worktree add /tmp/avlearn_old f74049e
    OMP_NUM_THREADS=1 python benchmarks/sync_step.py --world runs/demo_a/worlds/objects \\
        --checkouts /tmp/avlearn_old . --rounds 3 --steps 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import _conditions as C


def stage_config(world: str, out: str, steps: int):
    """The demo sync stage's config in whichever layout the imported avlearn has."""
    try:
        from avlearn.demo.runner import stage_config as build
        from avlearn.demo.sync import OVERRIDES, RECIPE
    except ImportError:  # before the demo layer: the stage's config was a Python dict
        from avlearn.tasks.sync_demo import demo_config
        from avlearn.train.config import config_from_dict

        raw = demo_config(world, out, quick=False, seed=0)
        raw["train"].update(steps=steps, log_every=10, final_eval=[], progress=False, tensorboard=False)
        return config_from_dict(raw, source="sync_step benchmark")
    return build(RECIPE, {"data.world": world, "train.out_dir": out, "train.seed": 0, "train.progress": False,
                          "train.tensorboard": False, **OVERRIDES, "train.steps": steps, "train.log_every": 10,
                          "train.final_eval": []})


def child(world: str, out: str, steps: int) -> dict:
    """Train ``steps`` steps of the stage with the avlearn on ``sys.path``; the step's split."""
    import torch

    from avlearn.tasks.base import build_datasets
    from avlearn.train.trainer import Trainer

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    cfg = stage_config(world, out, steps)
    torch.manual_seed(0)
    datasets = build_datasets(cfg)
    store = datasets["train"].store
    for i in range(len(store)):  # decode every clip before the timed steps
        store.get(i)
    trainer = Trainer(cfg, datasets=datasets)
    spent = {"micro": 0.0, "opt": 0.0}

    def timed(name, fn):
        def run(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - t
        return run

    trainer._micro_step = timed("micro", trainer._micro_step)
    trainer._optimizer_step = timed("opt", trainer._optimizer_step)
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        trainer.fit()
    finally:
        trainer.close()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    logs = [json.loads(line) for line in open(os.path.join(out, "metrics.jsonl"), encoding="utf-8")]
    losses = [r["loss"] for r in logs if r.get("split") == "train"]
    ms = 1000.0 / steps
    return {"cpu_ms": cpu * ms, "wall_ms": wall * ms, "fwd_bwd_ms": spent["micro"] * ms, "opt_ms": spent["opt"] * ms,
            "rest_ms": (wall - spent["micro"] - spent["opt"]) * ms, "losses": losses, "load": os.getloadavg()[0]}


def machine(batch: int = 8) -> dict:
    """The step's GFLOP and best CPU time on this checkout, matmul GFLOP/s, CPU capability."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    C.use_this_checkout()
    from avlearn.models import create_model
    from avlearn.tasks.sync import SyncConfig, SyncTask

    torch.manual_seed(0)
    task = SyncTask(create_model("multisensory_small"), SyncConfig(objective="multisensory"))
    batch_in = {"video": torch.rand(batch, 3, 16, 32, 32), "audio": torch.randn(batch, 1, 16000) * 0.1,
                "audio_shifted": torch.randn(batch, 1, 16000) * 0.1}  # the demo's 1 s windows at 16 fps, 16 kHz
    counter = FlopCounterMode(display=False)
    with counter:
        task(batch_in)["loss"].backward()
    best = min(_cpu_time(lambda: task(batch_in)["loss"].backward()) for _ in range(5))
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    mm = min(_cpu_time(lambda: a @ b) for _ in range(10))
    flop = counter.get_total_flops()
    return {"gflop_per_step": flop / 1e9, "fwd_bwd_cpu_s": best, "fwd_bwd_gflops": flop / 1e9 / best,
            "matmul_gflops": 2 * 1024**3 / mm / 1e9, "capability": torch.backends.cpu.get_cpu_capability(),
            "threads": torch.get_num_threads()}


def _cpu_time(fn) -> float:
    t = time.process_time()
    fn()
    return time.process_time() - t


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--world", required=True, help="an objects world (the demo's: OUT/worlds/objects)")
    p.add_argument("--checkouts", nargs="+", default=["."], help="avlearn checkouts to compare (default: this one)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--out", default="runs/sync_step_bench", help="scratch folder for the runs")
    p.add_argument("--child", nargs=2, metavar=("CHECKOUT", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    world = str(Path(args.world).resolve())
    if args.child:
        sys.path.insert(0, str(Path(args.child[0]).resolve()))
        print("RESULT " + json.dumps(child(world, args.child[1], args.steps)), flush=True)
        return
    cond = C.begin()
    checkouts = [str(Path(c).resolve()) for c in args.checkouts]
    results: dict[str, list[dict]] = {c: [] for c in checkouts}
    for r in range(args.rounds):
        for c in checkouts if r % 2 == 0 else checkouts[::-1]:
            out = str(Path(args.out).resolve() / f"{Path(c).name}_{len(results[c])}")
            env = dict(os.environ, PYTHONPATH=c)
            proc = subprocess.run([sys.executable, __file__, "--world", world, "--steps", str(args.steps),
                                   "--child", c, out], env=env, cwd=c, capture_output=True, text=True)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                raise SystemExit(f"{c}: the run failed:\n{proc.stderr[-2000:]}")
            res = json.loads(line[0][7:])
            results[c].append(res)
            print(f"round {r + 1} {c}: CPU {res['cpu_ms']:.0f} ms/step, wall {res['wall_ms']:.0f} "
                  f"(forward+backward {res['fwd_bwd_ms']:.0f}, optimizer {res['opt_ms']:.0f}, "
                  f"rest {res['rest_ms']:.0f}), load {res['load']:.2f}", flush=True)
    info = machine()
    cond.finish()
    print(f"\n{args.steps} steps per run, {args.rounds} rounds, {os.environ.get('OMP_NUM_THREADS', 'default')} "
          f"thread(s); {cond.describe()}")
    print("| checkout | CPU ms per step | wall ms per step | forward + backward | optimizer | rest | losses |")
    print("|---|---|---|---|---|---|---|")
    for c, runs in results.items():
        col = lambda k: " / ".join(f"{x[k]:.0f}" for x in runs)  # noqa: E731
        print(f"| {c} | {col('cpu_ms')} | {col('wall_ms')} | {col('fwd_bwd_ms')} | {col('opt_ms')} | {col('rest_ms')} "
              f"| {runs[0]['losses'][0]:.5f} ... {runs[0]['losses'][-1]:.5f} |")
    same = len({json.dumps(x["losses"]) for runs in results.values() for x in runs}) == 1
    print(f"\nlogged losses identical in every run: {same}")
    print(f"step: {info['gflop_per_step']:.1f} GFLOP forward + backward, best {info['fwd_bwd_cpu_s']:.3f} CPU-s "
          f"({info['fwd_bwd_gflops']:.1f} GFLOP/s); 1024^3 fp32 matmul {info['matmul_gflops']:.1f} GFLOP/s per core; "
          f"CPU capability {info['capability']}, {info['threads']} thread(s)")


if __name__ == "__main__":
    main()
