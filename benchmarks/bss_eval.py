"""Benchmark: avlearn.metrics.bss_eval_sources against mir_eval.separation.bss_eval_sources.

Both run in the same process on the same signals (sources mixed with leakage and noise, the
estimates in shuffled order so the permutation search matters), interleaved, best of
``--repeat`` runs each. Prints the largest difference in dB and the speed ratio.

    OMP_NUM_THREADS=2 python benchmarks/bss_eval.py            # 2 and 3 sources, 6 s at 11025 Hz
    python benchmarks/bss_eval.py --sources 2 --seconds 2 --repeat 2
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np


def make_case(rng: np.random.Generator, sources: int, samples: int) -> tuple[np.ndarray, np.ndarray]:
    """References and shuffled, imperfect estimates of them."""
    t = np.arange(samples) / 11025.0
    refs = []
    for i in range(sources):
        tone = np.sin(2 * np.pi * (220.0 * (i + 1)) * t * (1 + 0.05 * t))
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (0.7 + i) * t)
        refs.append(envelope * tone + 0.3 * rng.standard_normal(samples))
    ref = np.stack(refs)
    leak = 0.2 * np.roll(ref, 1, axis=0)
    est = ref + leak + 0.05 * rng.standard_normal(ref.shape)
    return ref, est[rng.permutation(sources)]


def best_time(fn, repeat: int) -> tuple[float, tuple]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", type=int, nargs="+", default=[2, 3])
    parser.add_argument("--seconds", type=float, default=65535 / 11025)
    parser.add_argument("--sample-rate", type=int, default=11025)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import mir_eval.separation
    import torch

    from avlearn.metrics import bss_eval_sources

    warnings.filterwarnings("ignore", category=FutureWarning)  # mir_eval 0.8 deprecation notice
    rng = np.random.default_rng(0)
    samples = int(round(args.seconds * args.sample_rate))
    print(f"torch threads {torch.get_num_threads()}, {samples} samples, best of {args.repeat}")
    print("sources  mir_eval_s  avlearn_s  speedup  max|diff| dB (sdr/sir/sar)  perm equal")
    for s in args.sources:
        ref, est = make_case(rng, s, samples)
        t_ours, ours = best_time(lambda: bss_eval_sources(ref, est), args.repeat)
        t_ref, theirs = best_time(lambda: mir_eval.separation.bss_eval_sources(ref, est), args.repeat)
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(ours[:3], theirs[:3]))
        same = bool(np.array_equal(ours[3], theirs[3]))
        print(f"{s:7d}  {t_ref:10.3f}  {t_ours:9.3f}  {t_ref / t_ours:6.1f}x  {diff:27.2e}  {same}")


if __name__ == "__main__":
    main()
