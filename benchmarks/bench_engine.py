"""Benchmark of the sweep engine: one spec of many short runs, four ways.

1. serial: the problem's run function in a loop in this process (the kernels alone), timed in two
   halves, before and after the others;
2. cluster: the engine on a LocalCluster of 2 one-thread worker processes;
3. bare: the runs split over 2 plain processes, no Dask and no store: the ceiling
   the machine allows at the moment (its two vCPUs are not always equally fast);
4. store: the same results written to a fresh store with no training.

Kernels are compiled before timing (once per process, reported separately). Prints runs
per second, the parallel efficiency on 2 workers, serial / (2 x cluster wall), and the
share of the cluster's worker time spent outside the runs, 1 - sum(run wall_time) /
(2 x cluster wall). Bars: efficiency >= 85 %, outside share <= 10 %.

    python benchmarks/bench_engine.py [--quick] [--spec FILE]
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

from sweep.cluster import ClusterConfig, LocalClusterConfig, connect
from sweep.engine import run_sweep
from sweep.spec import SweepSpec, load_spec, parse_spec
from sweep.store import BlockResults, WriteTarget, create_store, grid_chunks, layout_for, open_store
from sweep.tasks import blocks_of, choose_chunks

WORKERS = 2


def bench_spec(seeds: int) -> SweepSpec:
    """seeds x 2 widths x 2 slopes x 10 init scales short runs on a small linear teacher."""
    return parse_spec({
        "name": "bench",
        "params": {"dataset": "linear_teacher", "n": 100, "n_test": 100, "d": 10, "margin": 0.05, "lr": 0.05,
                   "eps": 0.01, "max_epochs": 1000},
        "grid": {"seed": list(range(seeds)), "width": [4, 16], "alpha": [0.1, 0.5],
                 "init_scale": [float(x) for x in np.geomspace(1e-3, 1.0, 10)]},
    })


def warm_up() -> float:
    """Compile the kernels (and import zarr) in this process; returns the seconds it took."""
    import zarr  # noqa: F401  (imported on first use by the store)

    start = time.perf_counter()
    spec = bench_spec(1)
    spec.problem.runner()(spec.params_at((0, 0, 0, 0)))
    return time.perf_counter() - start


def load_bench_spec(source: int | str) -> SweepSpec:
    """``bench_spec(source)`` for a number of seeds, else the spec file at ``source``."""
    return bench_spec(source) if isinstance(source, int) else load_spec(source)


def _run_indices(source: int | str, indices: list) -> float:
    """Train the runs at ``indices`` of ``load_bench_spec(source)``; returns the seconds taken."""
    spec = load_bench_spec(source)
    run = spec.problem.runner()
    start = time.perf_counter()
    for index in indices:
        run(spec.params_at(index))
    return time.perf_counter() - start


def bare_processes(source: int | str, indices: list) -> float:
    """Wall time of the runs split over WORKERS plain processes (no Dask, no store):
    what this machine allows two cores to do at the moment, the ceiling of the cluster."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(WORKERS, mp_context=get_context("spawn")) as pool:
        for future in [pool.submit(warm_up) for _ in range(WORKERS)]:  # start + compile (~10 s each)
            future.result()
        start = time.perf_counter()
        list(pool.map(_run_indices, [source] * WORKERS, [indices[w::WORKERS] for w in range(WORKERS)]))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="400 runs instead of 2000")
    parser.add_argument("--spec", help="time this spec file instead (e.g. presets/default.yaml)")
    args = parser.parse_args()
    source = args.spec or (10 if args.quick else 50)
    spec = load_bench_spec(source)
    print(f"spec: {spec.size} runs, grid {dict(zip(spec.dims, spec.shape))}, chunks {choose_chunks(spec)}")

    compile_seconds = warm_up()
    indices = list(np.ndindex(*spec.shape))
    results, serial = {}, 0.0

    run = spec.problem.runner()

    def run_serially(part: list) -> float:
        start = time.perf_counter()
        results.update((index, run(spec.params_at(index))) for index in part)
        return time.perf_counter() - start

    # The serial runs are timed in two halves, before and after the cluster, so that a
    # drift in the machine's load weighs on both sides of the efficiency ratio alike.
    serial += run_serially(indices[0::2])

    with tempfile.TemporaryDirectory() as folder:
        local = ClusterConfig(local=LocalClusterConfig(n_workers=WORKERS, threads_per_worker=1, dashboard_address=":0"))
        with connect(local) as client:
            worker_compile = max(client.run(warm_up).values())
            start = time.perf_counter()
            summary = run_sweep(spec, Path(folder) / "cluster.zarr", client=client)
            cluster = time.perf_counter() - start
        run_seconds = float(open_store(Path(folder) / "cluster.zarr")["wall_time"].sum())
        assert summary.runs == spec.size
        bare = bare_processes(source, indices)
        serial += run_serially(indices[1::2])
        print(f"serial : {serial:7.2f} s  {spec.size / serial:7.1f} runs/s  (kernel compile {compile_seconds:.1f} s, "
              "excluded; half timed before the cluster, half after)")
        print(f"cluster: {cluster:7.2f} s  {spec.size / cluster:7.1f} runs/s  ({len(blocks_of(spec.shape, choose_chunks(spec)))} tasks, "
              f"kernel compile {worker_compile:.1f} s per worker, excluded)")
        print(f"bare   : {bare:7.2f} s  {spec.size / bare:7.1f} runs/s  ({WORKERS} plain processes, no Dask, no store)")

        start = time.perf_counter()
        path = Path(folder) / "store.zarr"
        create_store(path, spec, choose_chunks(spec))
        layout = layout_for(spec)
        for block in blocks_of(spec.shape, grid_chunks(path)):
            block_results = BlockResults(layout, block.shape)
            for local_index, index in block.points():
                block_results.record(local_index, results[index], wall_time=0.0)
            block_results.write(WriteTarget(str(path), spec.hash, None), block.origin)
        store = time.perf_counter() - start
        print(f"store  : {store:7.2f} s  {spec.size / store:7.1f} runs/s  (layout + all block writes, "
              "no training)")

    efficiency = serial / (WORKERS * cluster)
    outside = 1 - run_seconds / (WORKERS * cluster)
    print(f"parallel efficiency on {WORKERS} workers: {efficiency:6.1%}  (bar >= 85%)")
    print(f"  of which the machine allows (bare processes / serial): {serial / (WORKERS * bare):6.1%}; "
          f"cluster / bare: {bare / cluster:6.1%}")
    print(f"time outside the runs (orchestration + store): {outside:6.1%}  (bar <= 10%)")
    print(f"store writes alone / serial kernel time: {store / serial:6.1%}")
    print(f"mean run wall time: {1e3 * serial / spec.size:.2f} ms serial, {1e3 * run_seconds / spec.size:.2f} ms in "
          "the workers (more in the workers means the cores were shared with other processes)")


if __name__ == "__main__":
    main()
