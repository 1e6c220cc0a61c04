"""Moment estimation of the ``biased_relu`` problem (THEORY.md §6.3): the streamed Numba sums
against a straightforward NumPy implementation over the whole batch, single-threaded.

The estimate is T_1, T_2 and T_3[u_j] for the 10 contraction directions of the moment
learner, from N samples x ~ N(0, I_d) labelled by a teacher (d = 20, m = 8 by default).

  ours    sweep.problems.biased_relu.moments.estimate_moments: chunks of CHUNK_ROWS samples
          drawn from the seed, labelled and summed by kernels.hermite.accumulate_moments
          (plain loops, compensated sums), so memory does not grow with N;
  numpy   the same samples drawn at once (the same chunks, concatenated), labelled, and
          T_2 = (X * y)^T X / N - mean(y) I, T_3[u] = (X * y (X u))^T X / N - ... as
          matrix products over the whole batch.

Both are timed end to end (drawing and labelling included, as a run does) and on the
sums alone (the samples already in memory), in alternating rounds in one process (the
machine is shared: the ratio per round is what counts). Both must agree to 1e-10.
Peak memory is measured in fresh subprocesses (Linux): how far the peak RSS (VmHWM, reset
after a warm-up) rises above the resident size before the estimate, for ours at N and
10 N and for numpy at N.

    python benchmarks/bench_biased_relu.py [--d 20] [--N 1000000] [--rounds 3]
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from kernels.hermite import accumulate_moments, feature_count, moments_from_sums  # noqa: E402
from sweep.problems.biased_relu import moments as mo  # noqa: E402
from sweep.problems.biased_relu.params import BiasedReluParams  # noqa: E402
from sweep.problems.biased_relu.samples import SampleStream  # noqa: E402
from sweep.problems.biased_relu.teacher import make_teacher  # noqa: E402

M = 8


def setup(d: int, N: int):
    """The teacher, a stream whose first half S1 holds the N samples, and the 10 u_j."""
    teacher = make_teacher(BiasedReluParams(d=d, m=M, N=2 * N))
    U = mo.candidate_directions(d, np.random.default_rng(0))
    return teacher, SampleStream(teacher, N=2 * N, data_seed=0, seed=0), U


def ours(stream: SampleStream, U: np.ndarray) -> mo.Moments:
    return mo.estimate_moments(stream, U)


def draw_all(stream: SampleStream) -> tuple[np.ndarray, np.ndarray]:
    """The N samples of S1 at once (the same values as the chunks)."""
    X = np.concatenate([X for X, _ in stream.chunks(1)])
    return X, np.maximum(X @ stream.teacher.W.T + stream.teacher.b, 0.0) @ stream.teacher.a


def numpy_sums(X: np.ndarray, y: np.ndarray, U: np.ndarray) -> mo.Moments:
    """T_1, T_2, T_3[u_j] by matrix products over the whole batch."""
    n, d = X.shape
    eye = np.eye(d)
    T1 = X.T @ y / n
    T2 = (X * y[:, None]).T @ X / n - y.mean() * eye
    T3u = []
    for u in U:
        yu = y * (X @ u)
        T3u.append((X * yu[:, None]).T @ X / n - np.outer(T1, u) - np.outer(u, T1) - yu.mean() * eye)
    return mo.Moments(T1, T2, np.stack(T3u), U)


def numpy_end_to_end(stream: SampleStream, U: np.ndarray) -> mo.Moments:
    return numpy_sums(*draw_all(stream), U)


def ours_sums(X: np.ndarray, y: np.ndarray, U: np.ndarray) -> mo.Moments:
    shape = (U.shape[0] + 1, feature_count(X.shape[1]))
    total, compensation = np.zeros(shape), np.zeros(shape)
    accumulate_moments(X, y, U, total, compensation)
    return mo.Moments(*moments_from_sums(total, compensation, X.shape[0], U), U)


def largest_difference(a: mo.Moments, b: mo.Moments) -> float:
    return max(float(np.max(np.abs(getattr(a, name) - getattr(b, name)))) for name in ("T1", "T2", "T3u"))


def peak_rss_growth(variant: str, d: int, N: int) -> float:
    """MiB by which the peak RSS of a fresh process grows while ``variant`` estimates at N."""
    out = subprocess.run([sys.executable, __file__, "--memory", variant, "--d", str(d), "--N", str(N)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["growth_mib"]


def _status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: resident now, VmHWM: peak resident)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _memory_child(variant: str, d: int, N: int) -> None:
    """In a fresh process: warm up on a small N, reset the peak-RSS mark (Linux: "5" to
    /proc/self/clear_refs, so that the imports' and the compiler's peak do not hide the
    run's), run at N; print how far the peak rose above the resident size before."""
    run = {"ours": ours, "numpy": numpy_end_to_end}[variant]
    run(*setup(d, 1000)[1:])
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run(*setup(d, N)[1:])
    print(json.dumps({"growth_mib": (_status_kib("VmHWM") - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--N", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", choices=("ours", "numpy"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory:
        _memory_child(args.memory, args.d, args.N)
        return

    d, N = args.d, args.N
    teacher, stream, U = setup(d, N)
    start = time.perf_counter()
    ours(setup(d, 1000)[1], U)
    print(f"moment estimation at d = {d}, N = {N:.0e}, m = {M}, {len(U)} contractions T_3[u]; one thread; "
          f"compile/cache load of the kernels {time.perf_counter() - start:.2f} s (excluded)")
    X, y = draw_all(stream)
    print(f"ours vs numpy: largest |difference| of T_1, T_2, T_3[u] = "
          f"{largest_difference(ours(stream, U), numpy_sums(X, y, U)):.1e} (end to end), "
          f"{largest_difference(ours_sums(X, y, U), numpy_sums(X, y, U)):.1e} (sums)")

    timings = {key: [] for key in ("ours", "numpy", "ours sums", "numpy sums")}
    calls = {"ours": lambda: ours(stream, U), "numpy": lambda: numpy_end_to_end(stream, U),
             "ours sums": lambda: ours_sums(X, y, U), "numpy sums": lambda: numpy_sums(X, y, U)}
    for _ in range(args.rounds):
        for key, call in calls.items():
            start = time.perf_counter()
            call()
            timings[key].append(time.perf_counter() - start)
    print(f"\n{args.rounds} rounds; samples/s are medians, the ratio is the median of the per-round ratios "
          f"(min-max over rounds)")
    for what in ("", " sums"):
        mine, theirs = np.array(timings["ours" + what]), np.array(timings["numpy" + what])
        ratio = theirs / mine
        label = "end to end (draw, label, sum)" if not what else "sums only (samples in memory)"
        print(f"{label:32s} ours {N / np.median(mine):12,.0f} samples/s   numpy {N / np.median(theirs):12,.0f} "
              f"samples/s   ours/numpy speed {np.median(ratio):.2f}x ({ratio.min():.2f}-{ratio.max():.2f})")

    print("\npeak RSS above the resident size before the estimate, fresh process each (end to end):")
    for variant, n in (("ours", N), ("ours", 10 * N), ("numpy", N)):
        print(f"  {variant:6s} N = {n:.0e}: {peak_rss_growth(variant, d, n):8.1f} MiB")
    print(f"  numpy  N = {10 * N:.0e}: not run (X alone is {10 * N * d * 8 / 2 ** 20:,.0f} MiB, and the products "
          f"make copies of it)")


if __name__ == "__main__":
    main()
