"""Per-run overhead of one task of tiny runs (issue 27): where a block's time goes outside
the kernels, run per point (the problem's ``run`` on each run, as before ``run_many``)
against batched (its ``run_many``), in one process, interleaved rounds.

The spec is the issue's trivial one: ``relu_pgd`` with d = 4, s = 2, 3 iterations (n and
n_test from the flags), its seeds as the one grid dim, one block of ``--runs`` runs
written to a store in a temporary directory. Per round and mode it times, per run:

- ``params``: the runs' parameters built from the grid (``SweepSpec.params_at``, and
  for batched the grouping by ``batch_key``: ``sweep.tasks._batches``);
- ``runs``: ``run`` on each, or ``run_many`` on the group, with the floating-point
  warnings collected as a task collects them;
- ``record``: each outcome put into the block's results (``Outcome.record``);
- ``write``: the block's store write;
- ``task``: the whole task, ``sweep.tasks.run_block``, timed apart;

and, inside batched ``runs``, its parts: ``data`` (the draws, ``make_instances``), ``pgd``
(the kernel, ``pgd_relu_many``) and ``measures`` (the RunResults of the batch).

It prints the median over rounds of each (us per run) and per-point / batched. Read the
ratios: the machine may be shared. The kernels are compiled (or loaded) before timing.

    .venv/bin/python benchmarks/bench_overhead.py [--runs 10000] [--rounds 5] [--n 20] [--n-test 20]
"""
from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from kernels.projections import projection_code
from sweep.spec import parse_spec
from sweep.store import BlockResults, WriteTarget, blocks_of, create_store, layout_for
from sweep.tasks import RunTally, _batches, _run_batch, _run_one, cyclic_gc_paused, run_block

PHASES = ("params", "runs", "record", "write", "task")
PARTS = ("data", "pgd", "measures")


def trivial_spec(runs: int, n: int, n_test: int, batched: bool):
    spec = parse_spec({"name": "overhead", "problem": "relu_pgd",
                       "params": {"d": 4, "s": 2, "iterations": 3, "n": n, "n_test": n_test},
                       "grid": {"seed": list(range(runs))}})
    if batched:
        return spec
    return dataclasses.replace(spec, problem=dataclasses.replace(spec.problem, run_many=None, batch_key=None))


def one_round(spec, store: Path) -> dict[str, float]:
    """Each phase's seconds per run for the one block of ``spec``, then the whole task."""
    layout = layout_for(spec)
    block = blocks_of(spec.shape, spec.shape)[0]
    target = WriteTarget(str(store), spec.hash, None)
    points = list(block.points())
    run, run_many = spec.problem.runner(), spec.problem.many_runner()
    seconds = {}
    with cyclic_gc_paused():  # as in a task
        _time_phases(spec, layout, block, points, target, run, run_many, seconds)
    start = time.perf_counter()
    run_block(target, spec, layout, block)
    seconds["task"] = time.perf_counter() - start
    return {phase: value / spec.size for phase, value in seconds.items()}


def _time_phases(spec, layout, block, points, target, run, run_many, seconds) -> None:
    start = time.perf_counter()
    if run_many:
        groups = _batches(spec, points)
    else:
        params = [spec.params_at(index) for _, index in points]
    seconds["params"] = time.perf_counter() - start
    start = time.perf_counter()
    if run_many:
        outcomes = [outcome for batch, _ in groups for outcome in _run_batch(run_many, [p for _, _, p in batch])]
    else:
        outcomes = [_run_one(run, spec, index) for _, index in points]
    seconds["runs"] = time.perf_counter() - start
    start = time.perf_counter()
    results, tally = BlockResults(layout, block.shape), RunTally()
    for (local, _), outcome in zip(points, outcomes, strict=True):
        outcome.record(results, local, tally)
    seconds["record"] = time.perf_counter() - start
    start = time.perf_counter()
    results.write(target, block.origin)
    seconds["write"] = time.perf_counter() - start


def batched_parts(spec) -> dict[str, float]:
    """The seconds per run of the parts of relu_pgd's ``run_many`` on the block's runs."""
    from sweep.problems.relu_pgd import run as relu_pgd

    ps = [spec.params_at(index) for index in np.ndindex(*spec.shape)]
    with cyclic_gc_paused():
        return _time_parts(ps, relu_pgd)


def _time_parts(ps, relu_pgd) -> dict[str, float]:
    first = ps[0]
    start = time.perf_counter()
    data = relu_pgd.make_instances(ps)
    drawn = time.perf_counter()
    curves = np.full((len(ps), 3, first.iterations + 1), np.nan)
    w = np.zeros((len(ps), first.d), dtype=first.dtype)
    steps, diverged = np.empty(len(ps), np.int64), np.empty(len(ps), np.bool_)
    relu_pgd.pgd_relu_many(data.X, data.y, data.w_star, np.array([projection_code(p.constraint) for p in ps]),
                           relu_pgd.projection_levels([p.constraint for p in ps], data.w_star),
                           np.array([p.relu_slope_at_zero for p in ps]), np.array([p.mu0 for p in ps]),
                           np.array([p.mu for p in ps]), first.iterations, relu_pgd.DIVERGENCE_FACTOR, w, curves,
                           steps, diverged)
    trained = time.perf_counter()
    relu_pgd._measured(ps, data, w, curves, steps, diverged)
    measured = time.perf_counter()
    return {"data": (drawn - start) / len(ps), "pgd": (trained - drawn) / len(ps),
            "measures": (measured - trained) / len(ps)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the block (default 10000)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n", type=int, default=20, help="training points per run (default 20)")
    parser.add_argument("--n-test", type=int, default=20, help="test points per run (default 20)")
    args = parser.parse_args()
    specs = {mode: trivial_spec(args.runs, args.n, args.n_test, mode == "batched") for mode in ("per point", "batched")}
    timings: dict[str, list[dict[str, float]]] = {mode: [] for mode in specs}
    with tempfile.TemporaryDirectory(prefix="bench_overhead_") as work:
        stores = {}
        for mode, spec in specs.items():
            name = mode.replace(" ", "_")
            warm = dataclasses.replace(spec, grid={"seed": spec.grid["seed"][:50]})
            create_store(Path(work) / f"warm_{name}.zarr", warm, warm.shape)
            one_round(warm, Path(work) / f"warm_{name}.zarr")  # compiles or loads the kernels
            stores[mode] = Path(work) / f"{name}.zarr"
            create_store(stores[mode], spec, spec.shape)
        parts = []
        for _ in range(args.rounds):
            for mode, spec in specs.items():
                timings[mode].append(one_round(spec, stores[mode]))
            parts.append(batched_parts(specs["batched"]))
    medians = {mode: {phase: statistics.median(t[phase] for t in rounds) for phase in PHASES}
               for mode, rounds in timings.items()}
    print(f"relu_pgd d=4 s=2 T=3 n={args.n} n_test={args.n_test}: one block of {args.runs} runs, "
          f"median of {args.rounds} rounds, us per run")
    print(f"{'phase':<8}" + "".join(f"{mode:>12}" for mode in specs) + f"{'per point / batched':>22}")
    for phase in PHASES:
        row = [medians[mode][phase] * 1e6 for mode in specs]
        print(f"{phase:<8}" + "".join(f"{value:12.2f}" for value in row) + f"{row[0] / row[1]:21.2f}x")
    print("batched runs, by part (us per run): " + ", ".join(
        f"{part} {statistics.median(p[part] for p in parts) * 1e6:.2f}" for part in PARTS))


if __name__ == "__main__":
    main()
