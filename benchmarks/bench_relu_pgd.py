"""Benchmark of the ``relu_pgd`` problem (THEORY.md §6.1): its PGD kernel against NumPy, and
the phase preset's throughput on 2 workers.

1. One PGD run at (n, d, s) = (1200, 1000, 20), 40 iterations, l0 (and l1), from w_0 = 0:
   ``kernels.pgd.pgd_relu`` against the loop a user would write in NumPy, in the same
   process on the same data, one thread for BLAS (as in the sweep's workers). Each round
   times both; the ratio is the median over rounds of the within-round ratios (quartiles
   in parentheses). Both record rel_err, loss and support overlap at every t. The share
   of ours spent in BLAS is the time of its 2T + 1 matrix-vector products alone (the same
   ``np.dot`` calls in a jitted loop) over the time of the run.
2. The phase preset (presets/relu_pgd_phase.yaml) with its first ``--seeds`` seeds, run by
   the engine on a LocalCluster of 2 one-thread workers into a temporary store: runs/s,
   the busy share (sum of run wall times / (2 x wall)) and the full preset's wall time
   extrapolated (the seeds do not change the mix of sizes).

    python benchmarks/bench_relu_pgd.py [--rounds 15] [--seeds 2]

The machine is shared: read the ratios, not the absolute figures.
"""
from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # as in Dask workers: one core per process

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from kernels.jit import jit
from kernels.pgd import pgd_relu
from kernels.projections import PROJECTIONS
from sweep.problems.relu_pgd.data import make_instance
from sweep.problems.relu_pgd.params import ReluPGDParams
from sweep.problems.relu_pgd.run import projection_level
from sweep.problems.relu_pgd.theory import DIVERGENCE_FACTOR

SHAPE = {"n": 1200, "d": 1000, "s": 20}
ITERATIONS = 40
PRESET = Path(__file__).resolve().parents[1] / "presets" / "relu_pgd_phase.yaml"


def numpy_pgd(X, y, w_star, constraint, level, iterations):
    """PGD from 0 as a user would write it in NumPy (relu'(0) = 1/2, mu0 = 2, mu = 1),
    recording rel_err, loss and support overlap at every t."""
    n, d = X.shape
    w = np.zeros(d)
    support = w_star != 0
    star_norm = np.linalg.norm(w_star)
    curves = np.empty((3, iterations + 1))
    for t in range(iterations + 1):
        z = X @ w
        residual = np.maximum(z, 0.0) - y
        curves[:, t] = (np.linalg.norm(w - w_star) / star_norm, np.mean(residual ** 2),
                        np.sum((w != 0) & support) / support.sum())
        if t == iterations:
            break
        slope = np.where(z > 0, 1.0, np.where(z < 0, 0.0, 0.5))
        w = w - (2.0 if t == 0 else 1.0) * (2.0 / n) * (X.T @ (residual * slope))
        if constraint == "l0":
            w[np.argsort(-np.abs(w), kind="stable")[level:]] = 0.0
        elif constraint == "l1" and np.abs(w).sum() > level:
            magnitude = np.sort(np.abs(w))[::-1]
            cumulative = np.cumsum(magnitude) - level
            rho = np.nonzero(magnitude > cumulative / np.arange(1, d + 1))[0][-1]
            w = np.sign(w) * np.maximum(np.abs(w) - cumulative[rho] / (rho + 1), 0.0)
    return w, curves


def ours(X, y, w_star, constraint, level, iterations):
    w = np.zeros(X.shape[1])
    curves = np.full((3, iterations + 1), np.nan)
    pgd_relu(X, y, w_star, PROJECTIONS[constraint], level, 0.5, 2.0, 1.0, iterations, DIVERGENCE_FACTOR, w,
             curves[0], curves[1], curves[2])
    return w, curves


@jit
def _products(X, w, z, residual, grad, count):
    """The matrix-vector products of a PGD run alone: ``count`` times X w and r^T X."""
    for _ in range(count):
        np.dot(X, w, z)
        np.dot(residual, X, grad)


def blas_seconds(X, iterations) -> float:
    """Seconds of the 2T + 1 products of one run (T + 1 of X w, T of X^T r; timed as T + 1 pairs)."""
    n, d = X.shape
    rng = np.random.default_rng(0)
    w, residual = rng.standard_normal(d), rng.standard_normal(n)
    z, grad = np.empty(n), np.empty(d)
    _products(X, w, z, residual, grad, 1)
    start = time.perf_counter()
    _products(X, w, z, residual, grad, iterations + 1)
    return (time.perf_counter() - start) * (2 * iterations + 1) / (2 * (iterations + 1))


def kernel_benchmark(rounds: int) -> None:
    print(f"PGD, (n, d, s) = ({SHAPE['n']}, {SHAPE['d']}, {SHAPE['s']}), {ITERATIONS} iterations, one BLAS thread, "
          f"{rounds} rounds")
    for constraint in ("l0", "l1"):
        p = ReluPGDParams(**SHAPE, constraint=constraint, iterations=ITERATIONS)
        data = make_instance(p)
        level = projection_level(constraint, data.w_star)
        args = (data.X, data.y, data.w_star, constraint, level, ITERATIONS)
        start = time.perf_counter()
        w_ours, curves_ours = ours(*args)
        compile_seconds = time.perf_counter() - start
        w_numpy, curves_numpy = numpy_pgd(data.X, data.y, data.w_star, constraint,
                                          int(level) if constraint == "l0" else level, ITERATIONS)
        error = np.linalg.norm(w_ours - w_numpy) / np.linalg.norm(w_numpy)
        times = {"ours": [], "numpy": [], "blas": []}
        for _ in range(rounds):
            for name, run in (("ours", lambda: ours(*args)),
                              ("numpy", lambda: numpy_pgd(data.X, data.y, data.w_star, constraint,
                                                          int(level) if constraint == "l0" else level, ITERATIONS)),
                              ("blas", lambda: blas_seconds(data.X, ITERATIONS))):
                start = time.perf_counter()
                result = run()
                times[name].append(result if name == "blas" else time.perf_counter() - start)
        ours_t, numpy_t, blas_t = (np.array(times[name]) for name in ("ours", "numpy", "blas"))
        ratios = numpy_t / ours_t
        shares = blas_t / ours_t
        print(f"  {constraint}: ours {1e3 * np.median(ours_t):7.2f} ms, numpy {1e3 * np.median(numpy_t):7.2f} ms, "
              f"numpy/ours {np.median(ratios):.2f}x ({np.quantile(ratios, 0.25):.2f}-{np.quantile(ratios, 0.75):.2f}); "
              f"BLAS share of ours {np.median(shares):.0%} ({np.quantile(shares, 0.25):.0%}-"
              f"{np.quantile(shares, 0.75):.0%}); rel. difference of w_T {error:.1e}; "
              f"rel_err_T {curves_ours[0, -1]:.1e}; first call {compile_seconds:.2f} s")


def phase_benchmark(seeds: int) -> None:
    from sweep.cluster import ClusterConfig, LocalClusterConfig, connect
    from sweep.engine import execute, prepare
    from sweep.spec import load_spec, parse_spec
    from sweep.store import open_store

    full = load_spec(PRESET)
    raw = yaml.safe_load(PRESET.read_text())
    raw["grid"]["seed"] = raw["grid"]["seed"][:seeds]
    spec = parse_spec(raw)
    print(f"\nphase preset, first {seeds} of {len(full.grid['seed'])} seeds: {spec.size} of {full.size} runs, "
          f"2 workers x 1 thread")
    with tempfile.TemporaryDirectory() as folder:
        config = ClusterConfig(local=LocalClusterConfig(n_workers=2, threads_per_worker=1, dashboard_address=":0"))
        with connect(config) as client:
            client.run(lambda: ours(*_tiny()))  # compile (or load from the cache) in each worker
            start = time.perf_counter()
            plan = prepare(spec, Path(folder) / "phase.zarr")
            tally = execute(plan, client)
            wall = time.perf_counter() - start
        busy = float(open_store(Path(folder) / "phase.zarr")["wall_time"].sum()) / (2 * wall)
    print(f"  {tally.runs} runs in {wall:.1f} s: {tally.runs / wall:.1f} runs/s; busy share {busy:.0%}; "
          f"statuses {dict(tally.statuses)}")
    print(f"  the whole preset ({full.size} runs) at this rate: {full.size / (tally.runs / wall) / 60:.1f} min")


def _tiny():
    data = make_instance(ReluPGDParams(d=20, n=30, s=3, iterations=2))
    return data.X, data.y, data.w_star, "l0", 3.0, 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timing rounds of the kernel comparison")
    parser.add_argument("--seeds", type=int, default=2, help="seeds of the phase preset to run (it has 20)")
    args = parser.parse_args()
    kernel_benchmark(args.rounds)
    phase_benchmark(args.seeds)


if __name__ == "__main__":
    main()
