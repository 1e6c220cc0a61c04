"""Many small runs per kernel call: the batched SGD kernel against one call per run and JAX vmap.

For 64 runs of per-sample SGD on one training set (same data, W0s and visiting orders
for every code; the loss after every epoch, as E_conv needs it, THEORY.md §2), it times
in one process, single-threaded:
  per-run   one ``kernels.sgd_train`` call per run (what the engine did before batching),
  batched   one ``kernels.sgd_train_many`` call for all runs,
  drawn     the same, drawing the visiting orders in the kernel (``SeededOrders``): the
            work a sweep run does, which the others are spared (their orders are given),
  jax       ``jit(vmap(run))`` over the runs, ``lax.scan`` over epochs and steps (if jax
            imports: ``pip install -e '.[bench]'``),
and prints per shape the median steps/s over rounds in CPU time of this process (each
round times every code once, so all see the same load; the machine is shared, and CPU
time leaves out the time other processes hold the core), the ratios batched / per-run and
batched / jax (median of the per-round ratios, quartiles in parentheses), whether batched
equals per-run bit for bit and jax's largest relative difference in W, and the targets:
batched >= 2x jax where d * 2k <= 640; batched >= 0.95x per-run where it trains as lanes
and at (1000, 50, 50) (elsewhere it runs the per-run kernel run after run, the same code
as per-run: its ratio shows the noise between two timings of the same work).

With ``--thresholds`` it measures instead where runs-as-lanes pays (kernels.sgd.CANONICAL_LIMIT,
kernels.sgd_batched.MIN_LANES): 64 runs as lanes against the same runs one after the other
in the per-run layouts of larger networks, for d in 2..50 and 2k in 8..64; and R runs as
lanes against R runs one after the other in the canonical order, for R = 8..32.

    python benchmarks/bench_batched.py [--quick] [--runs 64]
    python benchmarks/bench_batched.py --thresholds [--quick]   # about 10 minutes
    python benchmarks/bench_batched.py --orders                 # drawing orders, about 10 s
"""
from __future__ import annotations

import os

# One thread everywhere, set before numpy, numba or jax are imported.
for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_kernels import ALPHA, EPS, LR, V, jax_sgd_run  # noqa: E402  (the same run, the same peer)
import numba  # noqa: E402
from kernels.orders import SeededOrders, seeded_orders  # noqa: E402
from kernels.sgd import sgd_train  # noqa: E402
from kernels.sgd_batched import sgd_train_many  # noqa: E402
from kernels.orders import STREAM_WORDS, shuffle_epoch, shuffle_epoch_lanes  # noqa: E402
import kernels.sgd  # noqa: E402
from kernels.sgd import trains_in_canonical_order  # noqa: E402
from kernels.sgd_batched import MIN_LANES, trains_as_lanes  # noqa: E402

# (n, d, k, epochs): the shapes of the issue, with epochs for a few 1e7 steps per code
SHAPES = [(20, 2, 4, 200), (100, 2, 16, 50), (200, 20, 16, 20), (200, 20, 64, 10), (1000, 50, 50, 2)]
JAX_TARGET_SIZE = 640  # batched >= 2x jax where d * 2k <= this
JAX_TARGET, PER_RUN_TARGET = 2.0, 0.95
PER_RUN_TARGET_SHAPE = (1000, 50, 50)  # the issue's; and every shape trained as lanes (other code than per-run)


def make_problem(n, d, k, epochs, runs, dtype, seed=0):
    """X, y, W0s (runs, 2k, d), the runs' seeds and their visiting orders (runs, epochs, n)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    y = np.where(X @ rng.standard_normal(d) >= 0, 1.0, -1.0)
    W0s = 0.3 * rng.standard_normal((runs, 2 * k, d)) / np.sqrt(d)
    seeds = np.arange(runs)
    orders = np.stack([seeded_orders(int(s), epochs, n) for s in seeds])
    return X.astype(dtype), y, W0s.astype(dtype), seeds, orders


def run_per_run(X, y, W0s, seeds, orders):
    return np.stack([sgd_train(X, y, W0s[r], orders[r], alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=X.dtype.type).W
                     for r in range(W0s.shape[0])])


def run_batched(X, y, W0s, seeds, orders):
    return sgd_train_many(X, y, W0s, orders, alpha=ALPHA, lr=LR, eps=EPS, v=V, dtype=X.dtype.type).W


def run_drawn(X, y, W0s, seeds, orders):
    return sgd_train_many(X, y, W0s, SeededOrders(seeds, orders.shape[1]), alpha=ALPHA, lr=LR, eps=EPS, v=V,
                          dtype=X.dtype.type).W


def make_jax_runner():
    """``jit(vmap(train))``: each run a ``lax.scan`` over epochs of ``lax.scan`` over steps,
    with the loss at the end of each epoch (as benchmarks/bench_kernels.py's jax peer)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    compiled = {}

    def build(k, dtype):
        return jax.jit(jax.vmap(jax_sgd_run(k, dtype), in_axes=(None, None, 0, 0)))

    def run_jax(X, y, W0s, seeds, orders):
        key = (W0s.shape[1] // 2, X.dtype)
        if key not in compiled:
            compiled[key] = build(key[0], X.dtype)
        W, losses = compiled[key](jnp.asarray(X), jnp.asarray(y, dtype=X.dtype), jnp.asarray(W0s), jnp.asarray(orders))
        return np.asarray(jax.block_until_ready(W))

    return run_jax


def bench_shape(n, d, k, epochs, dtype, codes, args):
    """Median steps/s per code, and per-round ratios of batched to the others."""
    problem = make_problem(n, d, k, epochs, args.runs, dtype)
    steps = args.runs * epochs * n
    first, results = {}, {}
    for name, code in codes.items():  # the first call compiles: timed apart
        start = time.process_time()
        results[name] = code(*problem)
        first[name] = time.process_time() - start
    rates = {name: [] for name in codes}
    for _ in range(args.rounds):
        for name, code in codes.items():
            start = time.process_time()
            code(*problem)
            rates[name].append(steps / (time.process_time() - start))
    rates = {name: np.array(r) for name, r in rates.items()}
    row = {"rates": {name: float(np.median(r)) for name, r in rates.items()},
           "compile": {name: first[name] - steps / float(np.median(rates[name])) for name in codes}}
    for mine, peer in (("batched", "per-run"), ("drawn", "per-run"), ("batched", "jax")):
        if peer in rates:
            ratios = rates[mine] / rates[peer]
            row[mine, peer] = (float(np.median(ratios)), *np.percentile(ratios, [25, 75]))
    row["identical"] = bool(np.array_equal(results["batched"], results["per-run"])
                            and np.array_equal(results["drawn"], results["batched"]))
    if "jax" in results:
        W = results["batched"].astype(np.float64)
        row["jax_err"] = float(np.max(np.abs(results["jax"] - W)) / np.max(np.abs(W)))
    return row


def median_ratio(fast, slow, problem, rounds):
    """Median over rounds of time(slow) / time(fast), with its quartiles (CPU time)."""
    fast(*problem), slow(*problem)  # compile
    ratios = []
    for _ in range(rounds):
        start = time.process_time()
        fast(*problem)
        middle = time.process_time()
        slow(*problem)
        ratios.append((time.process_time() - middle) / (middle - start))
    return float(np.median(ratios)), *np.percentile(ratios, [25, 75])


def thresholds(args):
    """Lanes against the per-run layouts around CANONICAL_LIMIT and MIN_LANES (module docstring)."""
    small, few = dict(kernels.sgd.CANONICAL_LIMIT), dict(MIN_LANES)

    def with_thresholds(size, runs, code):
        def run(*problem):
            kernels.sgd.CANONICAL_LIMIT.update({8: size, 4: size})
            MIN_LANES.update(narrow=runs, wide=runs)
            try:
                return code(*problem)
            finally:
                kernels.sgd.CANONICAL_LIMIT.update(small)
                MIN_LANES.update(few)
        return run

    lanes = with_thresholds((10**9, 10**9), 1, run_batched)
    per_run_layout = with_thresholds((0, 0), 1, run_per_run)  # the per-run layouts of larger networks
    print(f"CANONICAL_LIMIT = {small} (bytes per weight: (weights, neurons)): {args.runs} runs as lanes over the "
          "per-run layouts of larger networks, 10+ epochs (per-run time / lanes time, CPU time, median and quartiles)")
    for dtype in (np.float64, np.float32):
        for d in (2, 8, 20, 50):
            for two_k in (8, 16, 32, 64):
                if d * two_k > 1280:
                    continue
                problem = make_problem(200, d, two_k // 2, max(10, int(3e6 / (args.runs * 200 * d * two_k))),
                                       args.runs, dtype)
                ratio = median_ratio(lanes, per_run_layout, problem, args.rounds)
                kind = "small" if trains_in_canonical_order(two_k, d, np.dtype(dtype).itemsize) else "larger"
                print(f"  {np.dtype(dtype).name} d = {d:>2}, 2k = {two_k:>2}, d * 2k = {d * two_k:>4} ({kind}): "
                      f"{ratio[0]:.2f}x ({ratio[1]:.2f}-{ratio[2]:.2f})", flush=True)
    print(f"\nMIN_LANES = {few}: R runs as lanes over R runs one after the other in the canonical order")
    for n, d, k in [(20, 2, 4), (100, 2, 16), (200, 8, 8), (200, 20, 4)]:
        for runs in (8, 16, 20, 24, 32):
            problem = make_problem(n, d, k, max(10, int(2e6 / (runs * n * d * k))), runs, np.float64)
            ratio = median_ratio(lanes, run_per_run, problem, args.rounds)
            print(f"  float64 (n, d, k) = {(n, d, k)}, R = {runs}: {ratio[0]:.2f}x ({ratio[1]:.2f}-{ratio[2]:.2f})",
                  flush=True)


def orders_per_point(args):
    """CPU ns per point of one epoch's visiting orders for L runs: ``shuffle_epoch`` run by
    run (the per-run kernel's draw) against ``shuffle_epoch_lanes`` (the lanes' draw), the
    same orders (checked); median of rounds."""
    @numba.njit
    def by_run(seeds, epoch, perm, reps):
        stream = np.empty(STREAM_WORDS, dtype=np.uint64)
        for _ in range(reps):
            for l in range(seeds.shape[0]):
                shuffle_epoch(seeds[l], epoch, perm[l], stream)

    @numba.njit
    def across_lanes(seeds, epoch, permT, words, reps):
        stream = np.empty(STREAM_WORDS, dtype=np.uint64)
        for _ in range(reps):
            shuffle_epoch_lanes(seeds, epoch, permT, words, stream)

    print("visiting orders of one epoch, CPU ns per point (median of rounds): run by run, across lanes")
    for n, lanes in ((20, 64), (100, 64), (200, 64), (500, 64), (1000, 64), (10000, 32)):
        seeds = np.arange(1, lanes + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        perm, permT = np.empty((lanes, n), dtype=np.int64), np.empty((n, lanes), dtype=np.int64)
        words = np.empty((4 * ((n + 2) // 4), lanes), dtype=np.uint64)
        by_run(seeds, np.uint64(1), perm, 1)
        across_lanes(seeds, np.uint64(1), permT, words, 1)
        assert np.array_equal(perm.T, permT)
        reps = max(1, 4_000_000 // (n * lanes))
        times = {"by run": [], "lanes": []}
        for _ in range(args.rounds):
            for name, call in (("by run", lambda: by_run(seeds, np.uint64(2), perm, reps)),
                               ("lanes", lambda: across_lanes(seeds, np.uint64(2), permT, words, reps))):
                start = time.process_time()
                call()
                times[name].append((time.process_time() - start) / (reps * n * lanes) * 1e9)
        by, across = (float(np.median(times[name])) for name in ("by run", "lanes"))
        print(f"  n = {n:>5}, {lanes} runs: {by:.2f} ns, {across:.2f} ns ({by / across:.2f}x)", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 rounds instead of 7")
    parser.add_argument("--runs", type=int, default=64, help="runs per call (default 64)")
    parser.add_argument("--thresholds", action="store_true",
                        help="measure CANONICAL_LIMIT and MIN_LANES instead")
    parser.add_argument("--orders", action="store_true",
                        help="time drawing visiting orders, run by run against across lanes, instead")
    args = parser.parse_args(argv)
    args.rounds = 3 if args.quick else 7
    if args.thresholds:
        return thresholds(args)
    if args.orders:
        return orders_per_point(args)
    codes = {"per-run": run_per_run, "batched": run_batched, "drawn": run_drawn}
    try:
        codes["jax"] = make_jax_runner()
    except ImportError as error:
        print(f"jax skipped ({error})")
    print(f"numba {numba.__version__}; {args.runs} runs per call; single thread; CPU time, median of {args.rounds} "
          "rounds, each timing every code once; loss after every epoch; the machine is shared: read the ratios")
    for dtype in (np.float64, np.float32):
        print(f"\n{np.dtype(dtype).name}")
        head = (f"{'n':>5} {'d':>3} {'k':>3} {'layout':>8} | " + " ".join(f"{name + ' steps/s':>15}" for name in codes)
                + f" | {'batched/per-run (quartiles)':>28} {'drawn/per-run':>13}")
        if "jax" in codes:
            head += f" {'batched/jax (quartiles)':>24} {'jax err':>8}"
        print(head + " | same W  targets")
        for n, d, k, epochs in SHAPES:
            r = bench_shape(n, d, k, epochs, dtype, codes, args)
            layout = "lanes" if trains_as_lanes(args.runs, 2 * k, d, np.dtype(dtype).itemsize) else "per-run"
            line = f"{n:>5} {d:>3} {k:>3} {layout:>8} | " + " ".join(f"{r['rates'][name]:>15,.0f}" for name in codes)
            ratio = r["batched", "per-run"]
            line += f" | {ratio[0]:>10.2f}x ({ratio[1]:.2f}-{ratio[2]:.2f}) {r['drawn', 'per-run'][0]:>12.2f}x"
            met = [ratio[0] >= PER_RUN_TARGET] if layout == "lanes" or (n, d, k) == PER_RUN_TARGET_SHAPE else []
            if "jax" in codes:
                jax_ratio = r["batched", "jax"]
                line += f" {jax_ratio[0]:>9.2f}x ({jax_ratio[1]:.2f}-{jax_ratio[2]:.2f}) {r['jax_err']:>8.0e}"
                if d * 2 * k <= JAX_TARGET_SIZE:
                    met.append(jax_ratio[0] >= JAX_TARGET)
            line += f" | {'yes' if r['identical'] else 'NO':>6}  {'met' if all(met) else 'MISSED'}"
            print(line, flush=True)
    print(f"\ntargets: batched/per-run >= {PER_RUN_TARGET} as lanes and at {PER_RUN_TARGET_SHAPE} (elsewhere the "
          f"per-run kernel on both sides); batched/jax >= {JAX_TARGET} where d * 2k <= {JAX_TARGET_SIZE}. "
          "'drawn/per-run': batched with in-kernel orders over per-run with given orders.")


if __name__ == "__main__":
    main()
