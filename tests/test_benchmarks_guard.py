"""benchmarks/_conditions.py: the idle rule, the write guard, interleaving (no timing)."""

import argparse
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import _conditions as C  # noqa: E402


def _args(**kw):
    return argparse.Namespace(**{"write": False, "allow_load": False, **kw})


@pytest.mark.parametrize(
    "start,end,cores,idle",
    [
        (0.5, 0.9, 2, True),
        (1.0, 1.0, 2, True),  # exactly 1.0 per 2 cores is still idle
        (1.1, 0.2, 2, False),  # loaded at the start
        (0.2, 1.5, 2, False),  # loaded at the end
        (3.9, 3.0, 8, True),  # 8 cores: up to 4.0
        (4.1, 1.0, 8, False),
    ],
)
def test_idle_rule(start, end, cores, idle):
    cond = C.begin(load=start, cores=cores, cpu="Test CPU").finish(load=end, cores=cores, cpu="Test CPU")
    assert cond.idle is idle
    assert "Test CPU" in cond.describe() and f"{start:.2f}" in cond.describe() and f"{end:.2f}" in cond.describe()
    assert ("under load" in cond.note()) is (not idle)


def test_write_guard(capsys):
    loaded = C.begin(load=5.0, cores=2, cpu="x").finish(load=0.1, cores=2, cpu="x")
    idle = C.begin(load=0.1, cores=2, cpu="x").finish(load=0.1, cores=2, cpu="x")
    assert not C.may_write(idle, _args())  # without --write: print only
    assert "printed only" in capsys.readouterr().out
    assert C.may_write(idle, _args(write=True))
    assert not C.may_write(loaded, _args(write=True))
    assert "REFUSED" in capsys.readouterr().out
    assert C.may_write(loaded, _args(write=True, allow_load=True))
    assert "UNDER LOAD" in capsys.readouterr().out
    unfinished = C.begin(load=0.1, cores=2, cpu="x")
    assert not unfinished.idle  # no end recorded: not known to be idle


def test_cpu_model_from_cpuinfo():
    info = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Test @ 2.0GHz\n"
    assert C.cpu_model(info) == "Intel(R) Xeon(R) Test @ 2.0GHz"
    assert C.cpu_model("processor : 0\n") != ""


def test_interleave_round_robin_best_and_failures():
    durations = {"a": [5, 3, 4], "b": [1, 2, 9]}  # warm-up, then two timed rounds
    order, now = [], [0.0]

    def timed(name):
        def fn():  # each call advances a fake clock by the method's next duration
            now[0] += durations[name][sum(o == name for o in order)]
            order.append(name)
            return name
        return fn

    def broken():
        raise RuntimeError("peer fails")

    res = C.interleave({"a": timed("a"), "b": timed("b"), "c": broken}, repeat=2, warmup=1, clock=lambda: now[0])
    assert order == ["a", "b", "a", "b", "a", "b"]  # round-robin, the failing peer dropped
    assert res["a"][0] == 3 and res["b"][0] == 2  # best of the timed rounds; the warm-up not counted
    assert res["a"][1] == "a" and isinstance(res["c"][1], RuntimeError) and res["c"][0] != res["c"][0]  # NaN


def test_write_section_replaces_only_its_own(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmarks\n\n## A\n\nold a\n\n## B\n\nold b\n")
    C.write_section("## A\n\nnew a\n", path)
    C.write_section("## C\n\nnew c\n", path)
    text = path.read_text()
    assert "new a" in text and "old a" not in text and "old b" in text and text.rstrip().endswith("new c")
    assert text.index("## A") < text.index("## B") < text.index("## C")


@pytest.mark.parametrize(
    "own_cpu,idle",
    [
        (190.0, True),  # the machine was busy 200 s in 100 s, 190 of them ours: others 0.1 cores
        (150.0, True),  # others 0.5 cores on 2: exactly the limit
        (100.0, False),  # others used a whole core
    ],
)
def test_own_processes_do_not_count(own_cpu, idle):
    """The end's load average counts the benchmark's own workers; /proc/stat minus our CPU does not."""
    kw = dict(cores=2, cpu="x")
    cond = C.begin(load=0.3, clock=0.0, busy=1000.0, own=0.0, **kw)
    cond.finish(load=2.0, clock=100.0, busy=1200.0, own=own_cpu, **kw)  # load 2.0 at the end: our own workers
    assert cond.idle is idle
    assert f"{(200 - own_cpu) / 100:.2f} cores" in cond.describe()
    loaded_start = C.begin(load=1.5, clock=0.0, busy=1000.0, own=0.0, **kw).finish(
        load=0.1, clock=100.0, busy=1010.0, own=10.0, **kw)
    assert not loaded_start.idle


def test_machine_busy_seconds_reads_proc_stat():
    tck = __import__("os").sysconf("SC_CLK_TCK")
    stat = f"cpu  {3 * tck} {tck} {2 * tck} 999999 5000 {tck} 0 0 0 0\ncpu0 1 2 3 4\n"
    assert C.machine_busy_seconds(stat) == pytest.approx(7.0)  # user + nice + system + irq; not idle/iowait
    assert C.machine_busy_seconds("intr 1 2\n") is None
    live = C.snapshot()
    assert live.busy is None or live.busy > 0


def test_start_judged_by_recent_cpu_not_the_load_average():
    """A benchmark that just ended leaves the 1-minute load average high; the 3-s sample is what counts."""
    after_other = C.begin(load=1.7, recent=0.05, cores=2, cpu="x").finish(load=1.0, cores=2, cpu="x")
    assert after_other.idle and "0.05 cores busy" in after_other.describe()
    busy_now = C.begin(load=0.2, recent=1.6, cores=2, cpu="x").finish(load=0.2, cores=2, cpu="x")
    assert not busy_now.idle
    assert C.recent_busy_cores(0.05) is None or C.recent_busy_cores(0.05) >= 0


def test_bf16_settings_only_where_the_cpu_has_bf16():
    import models as M  # benchmarks/models.py

    assert M.native_bf16("flags\t: fpu avx2 avx512f avx512_bf16\n")
    assert M.native_bf16("flags\t: fpu amx_bf16 amx_tile\n")
    assert not M.native_bf16("flags\t: fpu avx2 avx512f\n")
    names = [st.label for st in M._settings("r3d_18", contiguous=False, do_compile=False, bf16=False)]
    assert names and not any("bf16" in n for n in names) and "torchvision channels_last" in names
    assert any("bf16" in st.label for st in M._settings("r3d_18", contiguous=False, do_compile=False, bf16=True))
