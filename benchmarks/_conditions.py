"""What every benchmark script shares: the machine's conditions, interleaved timing, the write guard.

A speed ratio measured on a busy machine describes the load, not the code (two methods suffer
differently from the same contention: a LAPACK solve more than a compiled loop, say). So each
script in this folder

* records the load average and the CPU model (``/proc/cpuinfo``) at its start and end
  (:func:`begin`, :meth:`Conditions.finish`);
* times the methods it compares round-robin, best of N (:func:`interleave`), so a drift of
  the load falls on all of them alike;
* prints its numbers always, and writes its section of benchmarks/RESULTS.md only with
  ``--write`` and only when the machine was idle: at the start, the machine's CPU use over
  3 seconds (sampled from ``/proc/stat``) at most 0.5 core per 2 cores (where that is
  missing, the 1-minute load average at most 1.0 per 2 cores), and, over the run, other processes used at most 0.5
  core per 2 cores on average. (The 1-minute load average still holds a benchmark that just
  ended: benchmarks run one after another would refuse each other by it.) The second rule reads ``/proc/stat`` (the
  machine's busy CPU time) minus the benchmark's own CPU time (itself and its children), so
  a benchmark's own worker processes do not count against it, as they do in the load
  average at the end (where ``/proc/stat`` is missing, the end's load average is used). ``--allow-load`` writes anyway, with the
  load printed beside the numbers and the section marked as measured under load
  (:func:`may_write`, :meth:`Conditions.note`).

    cond = begin()
    ... measure ...
    cond.finish()
    if may_write(cond, args):
        write_section(text + cond.note())
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).with_name("RESULTS.md")

#: Load average (1 min) per 2 cores above which the machine does not count as idle.
IDLE_LOAD_PER_2_CORES = 1.0
#: Average CPU use of *other* processes during the run, in cores per 2 cores, above which the
#: run does not count as idle.
IDLE_OTHERS_PER_2_CORES = 0.5


def use_this_checkout() -> None:
    """Import ``avlearn`` from the checkout this script is in, not from an installed copy."""
    import sys

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (or ``platform.processor()`` without it)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model") and value.strip():
            return value.strip()
    return platform.processor() or "unknown CPU"


def machine_busy_seconds(stat: str | None = None) -> float | None:
    """CPU seconds all processes of the machine spent busy since boot (``/proc/stat``), or None.

    Busy is user + nice + system + irq + softirq + steal of the ``cpu`` line (idle and iowait
    are not busy), in clock ticks divided by ``SC_CLK_TCK``.
    """
    if stat is None:
        try:
            stat = Path("/proc/stat").read_text()
        except OSError:
            return None
    for line in stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = [int(v) for v in fields[1:]]
            busy = sum(ticks[i] for i in (0, 1, 2, 5, 6, 7) if i < len(ticks))
            return busy / os.sysconf("SC_CLK_TCK")
    return None


def own_cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and its waited-for children."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


@dataclass(frozen=True)
class Snapshot:
    """The machine at one moment: UTC time, 1-minute load average, cores, CPU model.

    ``clock`` (monotonic seconds), ``busy`` (:func:`machine_busy_seconds`) and ``own``
    (:func:`own_cpu_seconds`) let two snapshots say how much CPU other processes used
    between them; ``busy`` is None where the machine does not say.
    """

    when: str
    load: float
    cores: int
    cpu: str
    clock: float = 0.0
    busy: float | None = None
    own: float = 0.0
    recent: float | None = None  # cores the machine kept busy over the last seconds

    @property
    def load_per_2_cores(self) -> float:
        return self.load / (self.cores / 2)

    @property
    def idle(self) -> bool:
        """At most 0.5 core per 2 cores busy over the sampled seconds, else the load-average rule."""
        if self.recent is not None:
            return self.recent / (self.cores / 2) <= IDLE_OTHERS_PER_2_CORES
        return self.load_per_2_cores <= IDLE_LOAD_PER_2_CORES


def recent_busy_cores(seconds: float = 3.0) -> float | None:
    """Cores the whole machine kept busy over the next ``seconds`` (``/proc/stat``), or None."""
    first = machine_busy_seconds()
    if first is None:
        return None
    t0 = time.monotonic()
    time.sleep(seconds)
    return (machine_busy_seconds() - first) / (time.monotonic() - t0)


def snapshot(load: float | None = None, cores: int | None = None, cpu: str | None = None,
             clock: float | None = None, busy: float | None = None, own: float | None = None,
             recent: float | None = None, sample: bool = False) -> Snapshot:
    """The machine now; every field may be injected (tests). Injecting ``load`` without
    ``busy`` leaves ``busy`` unknown, so the load-average rule decides. ``sample`` measures
    the machine's CPU use over 3 s first (:func:`recent_busy_cores`)."""
    measured = load is None
    if recent is None and sample and measured:
        recent = recent_busy_cores()
    return Snapshot(
        when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        load=os.getloadavg()[0] if load is None else float(load),
        cores=(os.cpu_count() or 1) if cores is None else int(cores),
        cpu=cpu_model() if cpu is None else cpu,
        clock=time.monotonic() if clock is None else float(clock),
        busy=(machine_busy_seconds() if measured else None) if busy is None else float(busy),
        own=(own_cpu_seconds() if measured else 0.0) if own is None else float(own),
        recent=recent,
    )


@dataclass
class Conditions:
    """The conditions at a benchmark's start and (after :meth:`finish`) its end."""

    start: Snapshot
    end: Snapshot | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self, **inject: Any) -> Conditions:
        """Record the end (``inject`` as :func:`snapshot`'s arguments, for tests)."""
        self.end = snapshot(**inject)
        return self

    @property
    def others_cores(self) -> float | None:
        """Average cores other processes kept busy between start and end, or None if unknown."""
        start, end = self.start, self.end
        if end is None or start.busy is None or end.busy is None or end.clock <= start.clock:
            return None
        others = (end.busy - start.busy) - (end.own - start.own)
        return max(0.0, others) / (end.clock - start.clock)

    @property
    def idle(self) -> bool:
        """Idle at the start, and during the run (other processes' CPU, else the end's load)."""
        if not self.start.idle or self.end is None:
            return False
        others = self.others_cores
        if others is None:
            return self.end.idle
        return others / (self.start.cores / 2) <= IDLE_OTHERS_PER_2_CORES

    def describe(self) -> str:
        """One line: date, CPU, cores, load at start and end, others' CPU, and whether idle."""
        end = self.end
        loads = f"load average {self.start.load:.2f} at the start"
        if self.start.recent is not None:
            loads += f" ({self.start.recent:.2f} cores busy in the 3 s before)"
        loads += f", {end.load:.2f} at the end" if end is not None else ", end not recorded"
        others = self.others_cores
        if others is not None:
            loads += f"; other processes used {others:.2f} cores on average during the run"
            start_rule = (f"{IDLE_OTHERS_PER_2_CORES:.1f} cores busy at the start" if self.start.recent is not None
                          else f"load {IDLE_LOAD_PER_2_CORES:.1f} at the start")
            rule = f"the limits are {start_rule} and {IDLE_OTHERS_PER_2_CORES:.1f} cores of others during the run, per 2 cores"
        else:
            rule = f"the limit is {IDLE_LOAD_PER_2_CORES:.1f} per 2 cores"
        state = "idle" if self.idle else "NOT idle"
        return f"{self.start.when}, {self.start.cpu}, {self.start.cores} cores; {loads} ({state}: {rule})"

    def note(self) -> str:
        """The paragraph to put beside the numbers in RESULTS.md."""
        if self.idle:
            return f"Conditions: {self.describe()}.\n"
        return (f"**Measured under load: the ratios describe the load as much as the code.** "
                f"Conditions: {self.describe()}.\n")


def begin(**inject: Any) -> Conditions:
    """Record the start of a benchmark (sampling the machine's CPU use for 3 s) and print it."""
    cond = Conditions(snapshot(sample=True, **inject))
    recent = f", {cond.start.recent:.2f} cores busy over the last 3 s" if cond.start.recent is not None else ""
    print(f"conditions at start: {cond.start.when}, {cond.start.cpu}, {cond.start.cores} cores, "
          f"load average {cond.start.load:.2f}{recent}{'' if cond.start.idle else ' (NOT idle)'}", flush=True)
    return cond


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--write`` and ``--allow-load``, the same in every script."""
    parser.add_argument("--write", action="store_true", help=f"write the results into {RESULTS.name} (idle machine only)")
    parser.add_argument("--allow-load", action="store_true",
                        help="with --write: write even when the machine was not idle, marked as measured under load")


def may_write(cond: Conditions, args: argparse.Namespace) -> bool:
    """Whether the script may write RESULTS.md; says why not. Records the end if not yet done."""
    if cond.end is None:
        cond.finish()
    print(f"conditions: {cond.describe()}", flush=True)
    if not getattr(args, "write", False):
        print("printed only (pass --write to update RESULTS.md)")
        return False
    if not cond.idle and not getattr(args, "allow_load", False):
        print("REFUSED to write RESULTS.md: the machine was not idle; rerun on an idle machine, "
              "or pass --allow-load to write the numbers marked as measured under load")
        return False
    if not cond.idle:
        print("writing numbers measured UNDER LOAD (--allow-load); they are marked as such")
    return True


def interleave(methods: dict[str, Callable[[], Any]], repeat: int, *, warmup: int = 1,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, tuple[float, Any]]:
    """Best time of each method over ``repeat`` round-robin rounds, after ``warmup`` rounds.

    A method that raises is dropped from the rounds and reported as ``(nan, exception)``.

    Returns:
        ``{name: (best seconds, last output)}``.
    """
    best = {name: float("inf") for name in methods}
    out: dict[str, Any] = {}
    live = dict(methods)
    for r in range(warmup + repeat):
        for name, fn in list(live.items()):
            t0 = clock()
            try:
                out[name] = fn()
            except Exception as exc:  # noqa: BLE001 - a peer that fails here is reported, not fatal
                out[name], best[name] = exc, float("nan")
                del live[name]
                continue
            if r >= warmup:
                best[name] = min(best[name], clock() - t0)
    return {name: (best[name], out.get(name)) for name in methods}


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## `` section whose heading is ``text``'s first line."""
    heading = text.splitlines()[0]
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        nxt = old.find("\n## ", start + len(heading))
        new = old[:start] + text.rstrip("\n") + "\n" + (old[nxt:] if nxt >= 0 else "")
    path.write_text(new)
    print(f"wrote the '{heading}' section of {path}")
