"""Throughput of avlearn's R(2+1)D-18 and R3D-18 against torchvision's, measured in one run.

For each model and setting: a training step (forward, cross-entropy, backward, SGD step) and
inference (eval, no grad) on a batch of 4 x 3x8x112x112 clips, in clips per second, with the
ratio to torchvision's eager model (for models torchvision lacks, e.g. ``--models r2plus1d_tiny``,
to avlearn's model in torchvision's contiguous layout). Settings:

* ``torchvision eager``        torchvision's model as shipped (the baseline of "vs first row");
* ``torchvision channels_last`` the same model and input in ``channels_last_3d``: the strongest
  simple fp32 setting of the peer, one line for its users;
* ``torchvision channels_last + bf16 autocast`` the same under bf16 autocast, the peer of
  avlearn's bf16 row;
* ``avlearn default``           ``create_model(name)`` as is (channels_last_3d built in);
* ``avlearn default + bf16 autocast`` the same under ``torch.autocast("cpu", torch.bfloat16)``,
  what the trainer's ``precision: bf16`` does, and ``precision: auto`` (the recipes' setting)
  on CPUs with AVX512-BF16/AMX (not bit-equal to fp32; emulated, hence slow, elsewhere);
* ``avlearn contiguous``        ``create_model(name, channels_last=False)``, torchvision's layout
  (``--contiguous``);
* ``avlearn + compile``         ``torch.compile`` of the default model (``--compile``; slow to
  compile on 2 cores, so only the steady state after warm-up is timed).

Also printed: achieved GFLOP/s of each setting (FLOPs counted by
``torch.utils.flop_counter.FlopCounterMode`` on the meta device) against a 2048^3 fp32 matmul
timed in the same rounds, and the seconds each setting took (build, warm-up / compilation and
timed steps; the default run is the sum without the optional settings), and "vs torchvision
best": each avlearn row against the fastest torchvision row of the same precision. ``--write``
puts the table in the "Models" section (``--section``) of benchmarks/RESULTS.md with the exact
command, only on an idle machine (benchmarks/_conditions.py; ``--allow-load`` to override,
marked).

    OMP_NUM_THREADS=2 python benchmarks/models.py --write
    OMP_NUM_THREADS=2 python benchmarks/models.py --models r2plus1d_tiny r3d_tiny i3d_resnet10 \
        --batch 8 --size 64 --steps 3 --write --section "Models, CPU-recipe sizes"
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from pathlib import Path
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import _conditions as C

C.use_this_checkout()
from avlearn.models import create_model  # noqa: E402


def matmul_gflops(n: int = 2048, reps: int = 5) -> float:
    """GFLOP/s of an ``n x n`` fp32 matmul (best of ``reps``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best / 1e9


def count_flops(build, shape: tuple[int, ...], *, train: bool) -> float:
    """FLOPs of one forward (and backward when ``train``) of ``build()`` on the meta device."""
    counter = FlopCounterMode(display=False)
    with torch.device("meta"):
        model = build()
        x = torch.empty(shape)
        with counter:
            out = model(x)
            if train:
                out.sum().backward()
    return float(counter.get_total_flops())


@dataclass(frozen=True)
class Setting:
    """A way to run a model: how to build it, whether to convert it, whether to autocast."""

    label: str
    build: Callable[[], nn.Module]
    channels_last: bool = False  # convert model and input (avlearn's models do it themselves)
    bf16: bool = False  # torch.autocast("cpu", bfloat16), i.e. the trainer's ``precision: bf16``
    compiled: bool = False


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU computes bf16 natively (``avx512_bf16`` or ``amx_bf16`` in its flags).

    Elsewhere oneDNN emulates bf16 convolutions, many times slower than fp32, so the bf16
    settings are skipped unless ``--bf16`` asks for them.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def _settings(name: str, *, contiguous: bool, do_compile: bool, bf16: bool = True) -> list[Setting]:
    """The settings to time; the first is the baseline of the ratios."""
    ours = partial(create_model, name)
    plain = Setting("avlearn contiguous", partial(create_model, name, channels_last=False))
    tv_fn = getattr(torchvision.models.video, name, None)
    if tv_fn is not None:
        out = [Setting("torchvision eager", tv_fn), Setting("torchvision channels_last", tv_fn, channels_last=True),
               Setting("torchvision channels_last + bf16 autocast", tv_fn, channels_last=True, bf16=True)]
    else:  # models torchvision lacks (e.g. the tiny variants): avlearn in torchvision's layout
        out, contiguous = [plain], False
    out += [Setting("avlearn default", ours), Setting("avlearn default + bf16 autocast", ours, bf16=True)]
    if not bf16:
        out = [st for st in out if not st.bf16]
    if contiguous:
        out.append(plain)
    if do_compile:
        out.append(Setting("avlearn + compile", lambda: torch.compile(ours()), compiled=True))
    return out


class Runner:
    """One setting's model, optimiser and input, ready to time a train step or an inference."""

    def __init__(self, setting: Setting, x: torch.Tensor, y: torch.Tensor):
        torch.manual_seed(0)
        self.model = setting.build()
        self.x, self.y, self.bf16 = x, y, setting.bf16
        if setting.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last_3d)
            self.x = x.contiguous(memory_format=torch.channels_last_3d)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=1e-3, momentum=0.9)
        self.loss_fn = nn.CrossEntropyLoss()

    def step(self, phase: str) -> float:
        """Run one train step (``"train"``) or inference (``"infer"``); return its seconds."""
        t = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            if phase == "train":
                self.model.train()
                self.opt.zero_grad(set_to_none=True)
                self.loss_fn(self.model(self.x), self.y).backward()
                self.opt.step()
            else:
                self.model.eval()
                with torch.no_grad():
                    self.model(self.x)
        return time.perf_counter() - t


def bench_model(settings: list[Setting], x: torch.Tensor, y: torch.Tensor, *, warmup: int, steps: int) -> dict:
    """clips/s per setting: warm-up, then ``steps`` rounds that time every setting in turn.

    Interleaving the settings and keeping each one's fastest step makes the ratios fair on a
    shared machine whose load drifts during the run. The fp32 matmul reference is timed before
    and after every round and its best is kept. The warm-up is train steps (they also create the
    forward kernels); compiled models also warm up inference (a recompile).
    """
    runners, out, spent = {}, {}, {}
    peak = matmul_gflops()
    for st in settings:
        t0 = time.perf_counter()
        try:
            runner = Runner(st, x, y)
            for phase in ("train", "infer") if st.compiled else ("train",):
                for _ in range(warmup):
                    runner.step(phase)  # torch.compile compiles here
            runners[st.label] = runner
            spent[st.label] = time.perf_counter() - t0
        except Exception as exc:  # torch.compile can fail on some installs; report and go on
            out[st.label] = {"error": f"{type(exc).__name__}: {str(exc)[:120]}"}
            print(f"  {st.label}: FAILED {out[st.label]['error']}", flush=True)
    for phase in ("train", "infer"):
        best = dict.fromkeys(runners, float("inf"))
        for _ in range(steps):
            for label, runner in runners.items():
                dt = runner.step(phase)
                best[label], spent[label] = min(best[label], dt), spent[label] + dt
            peak = max(peak, matmul_gflops(reps=2))  # the matmul reference gets the same chances
        for label in runners:
            out.setdefault(label, {})[phase] = x.shape[0] / best[label]
    for label in runners:
        out[label].update(peak=peak, seconds=spent[label])
    return out


def run(args) -> list[dict]:
    torch.set_num_threads(args.threads)
    shape = (args.batch, 3, args.frames, args.size, args.size)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 400, (args.batch,), generator=torch.Generator().manual_seed(1))
    print(f"{torch.get_num_threads()} threads", flush=True)
    rows = []
    for name in args.models:
        t0 = time.perf_counter()
        f_train = count_flops(partial(create_model, name), shape, train=True)
        f_infer = count_flops(partial(create_model, name), shape, train=False)
        settings = _settings(name, contiguous=args.contiguous, do_compile=args.compile, bf16=args.bf16)
        results = bench_model(settings, x, y, warmup=args.warmup, steps=args.steps)
        base = results[settings[0].label]
        # the peer of each precision: torchvision's fastest train step in that precision
        peer: dict[bool, dict] = {}
        for st in settings:
            r = results[st.label]
            if st.label.startswith("torchvision") and "train" in r and r["train"] > peer.get(st.bf16, {}).get("train", 0.0):
                peer[st.bf16] = r
        for st in settings:
            label, r = st.label, results[st.label]
            if "error" in r:
                rows.append({"model": name, "setting": label, "error": r["error"]})
                continue
            row = {
                "model": name,
                "setting": label,
                **r,
                "train_x": r["train"] / base["train"],
                "infer_x": r["infer"] / base["infer"],
                "peer_x": r["train"] / peer[st.bf16]["train"] if st.bf16 in peer else float("nan"),
                "peer_infer_x": r["infer"] / peer[st.bf16]["infer"] if st.bf16 in peer else float("nan"),
                "train_gflops": r["train"] / args.batch * f_train / 1e9,
                "infer_gflops": r["infer"] / args.batch * f_infer / 1e9,
            }
            rows.append(row)
            print(
                f"{name:12s} {label:42s} train {row['train']:.3f} clips/s ({row['train_x']:.2f}x; "
                f"{_x(row['peer_x'])} torchvision best)  "
                f"infer {row['infer']:.3f} clips/s ({row['infer_x']:.2f}x)  "
                f"{row['train_gflops']:.1f} / {row['infer_gflops']:.1f} GFLOP/s (matmul {row['peak']:.1f})  "
                f"[{row['seconds']:.0f}s]",
                flush=True,
            )
        print(f"{name}: {time.perf_counter() - t0:.0f}s, load average now {os.getloadavg()[0]:.1f}", flush=True)
    return rows


def _x(ratio: float) -> str:
    return "-" if ratio != ratio else f"{ratio:.2f}x"  # NaN: no torchvision model of that precision


def markdown(rows: list[dict], args, cond: C.Conditions, elapsed: float) -> str:
    peaks = sorted({f"{r['peak']:.1f}" for r in rows if "peak" in r})
    lines = [
        f"## {args.section}",
        "",
        f"Command: `OMP_NUM_THREADS={args.threads} python benchmarks/models.py {shlex.join(sys.argv[1:])}`",
        "",
        f"Batch {args.batch} x 3x{args.frames}x{args.size}x{args.size}, {args.threads} threads, "
        f"{args.warmup} warm-up + best of {args.steps} interleaved steps per setting; torch {torch.__version__}, "
        f"torchvision {torchvision.__version__}. fp32 matmul 2048^3, best over the same rounds: "
        f"{' / '.join(peaks)} GFLOP/s. The run took {elapsed / 60:.1f} min.",
        "",
        cond.note(),
        "",
        "\"vs first row\" is to torchvision eager (avlearn in torchvision's contiguous layout for models "
        "torchvision lacks); \"vs torchvision best\" is the train step against torchvision's fastest setting of the "
        "same precision (fp32: eager or channels_last_3d; bf16: channels_last_3d + bf16 autocast).",
        "",
        "| model | setting | train clips/s | vs first row | vs torchvision best | infer clips/s | vs first row | "
        "infer vs torchvision best | train GFLOP/s | % of fp32 matmul | seconds |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['setting']} | failed: {r['error']} | | | | | | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['setting']} | {r['train']:.3f} | {r['train_x']:.2f}x | {_x(r['peer_x'])} | "
            f"{r['infer']:.3f} | {r['infer_x']:.2f}x | {_x(r['peer_infer_x'])} | {r['train_gflops']:.1f} | "
            f"{100 * r['train_gflops'] / r['peak']:.0f}% | {r['seconds']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["r2plus1d_18", "r3d_18"])
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--contiguous", action="store_true", help="also time avlearn with channels_last=False")
    p.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile on 2 cores)")
    p.add_argument("--section", default="Models", help="heading of the RESULTS.md section to (re)write")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="time the bf16 autocast settings (default: only on CPUs with native bf16)")
    C.add_arguments(p)
    args = p.parse_args(argv)
    if args.bf16 is None:
        args.bf16 = native_bf16()
        if not args.bf16:
            print("bf16 settings skipped: this CPU has no native bf16 (avx512_bf16 / amx_bf16), so bf16 "
                  "convolutions are emulated; --bf16 times them anyway", flush=True)
    cond, t0 = C.begin(), time.perf_counter()
    rows = run(args)
    cond.finish()
    text = markdown(rows, args, cond, time.perf_counter() - t0)
    print(text)
    if C.may_write(cond, args):
        C.write_section(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
