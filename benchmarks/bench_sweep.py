"""Sweeps end to end, before and after batching: runs/s of `sweep run` in fresh processes.

For two specs, the default preset (144 runs) and a 2D linear-teacher sweep of 2,304 runs
(d = 2, k = 1..16, n = 20..200: the paper's 2D figures; ``SPEC_2D``), and for each code
tree (this one, and with ``--before PATH`` the source tree before batching, e.g.
``git archive f83f96a | tar -x -C PATH``), it runs the CLI as a user does, each run into
a new store, one BLAS thread per process:
  first    `sweep run` of a 1-run spec, then of each SPEC, serially: the first processes of a
           tree (they compile the kernels when Numba's on-disk cache is cold, those of
           lanes on the first spec that trains them; reported, not compared);
  serial   the same again (cache warm): runs / wall time of the whole command;
  2 workers `sweep run SPEC` on a local cluster of 2 one-thread workers (scheduler.yaml);
  one run  `sweep run` of a 1-run spec (cache warm): what a fresh process costs before and
           around its training (imports, loading the cached kernels, the store).
For each command it also prints the share of its wall time spent inside the runs (the
sum of the store's ``wall_time``; on 2 workers, over twice the wall time). Rounds
interleave the trees, so that both see the same load; the machine is shared, so read the
after / before ratios.

    python benchmarks/bench_sweep.py --before /tmp/before [--rounds 1] [--specs default,2d]
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

HERE = Path(__file__).resolve().parents[1]
SPEC_2D = {
    "name": "bench_2d",
    "description": "2D linear teacher: n x width x alpha x seed (seeds last, so that a task holds many seeds)",
    "params": {"dataset": "linear_teacher", "d": 2, "margin": 0.1, "lr": 0.05, "eps": 0.01, "max_epochs": 2000},
    "grid": {"n": [20, 50, 100, 200], "width": [1, 2, 4, 8, 12, 16], "alpha": [0.1, 0.3, 0.5],
             "seed": list(range(32))},
}
ONE_RUN = {"name": "one_run", "params": {"dataset": "linear_teacher", "d": 2, "n": 20, "max_epochs": 50},
           "grid": {"seed": [0]}}


def sweep_run(tree: Path, spec: Path, store: Path, serial: bool) -> tuple[float, float]:
    """(wall seconds of `sweep run`, seconds inside runs) for ``spec`` with the code of ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [sys.executable, "-m", "sweep", "run", str(spec), "--store", str(store)] + (["--serial"] if serial else [])
    start = time.perf_counter()
    subprocess.run(command, cwd=tree, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    in_runs = subprocess.run([sys.executable, "-c", "import sys, xarray as xr; "
                              "print(float(xr.open_zarr(sys.argv[1])['wall_time'].sum()))", str(store)],
                             env=env, check=True, capture_output=True, text=True)
    return wall, float(in_runs.stdout)


def runs_in(spec: Path) -> int:
    raw = yaml.safe_load(spec.read_text())
    return int(np.prod([len(values) for values in (raw.get("grid") or {}).values()]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="source tree of the code before batching")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--specs", default="default,2d", help="comma-separated: default, 2d")
    args = parser.parse_args(argv)
    trees = {"after": HERE} | ({"before": args.before.resolve()} if args.before else {})
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        specs = {"default": HERE / "presets" / "default.yaml", "2d": folder / "bench_2d.yaml"}
        specs["2d"].write_text(yaml.safe_dump(SPEC_2D))
        (folder / "one_run.yaml").write_text(yaml.safe_dump(ONE_RUN))
        chosen = args.specs.split(",")
        stores = iter(range(10**6))

        def store() -> Path:
            return folder / f"store{next(stores)}.zarr"

        for name, tree in trees.items():
            wall, _ = sweep_run(tree, folder / "one_run.yaml", store(), serial=True)
            print(f"{name}: first process, 1 run: {wall:.1f} s (compiles when the tree's Numba cache is cold)")
            for spec in chosen:  # kernels only some runs call (e.g. lanes) compile on first use
                wall, _ = sweep_run(tree, specs[spec], store(), serial=True)
                print(f"{name}: first `sweep run` of {spec}, serial: {wall:.1f} s (warms the cache; not compared)")
        results = {}
        for _ in range(args.rounds):
            for spec in chosen:
                for name, tree in trees.items():
                    for mode in ("serial", "2 workers", "one run"):
                        path = folder / "one_run.yaml" if mode == "one run" else specs[spec]
                        wall, in_runs = sweep_run(tree, path, store(), serial=mode != "2 workers")
                        results.setdefault((spec, name, mode), []).append((wall, in_runs))
        print(f"\nmedian of {args.rounds} round(s); runs/s = runs / wall time of `sweep run`; 'in runs': share of "
              "the wall time spent inside runs (on 2 workers over 2 x wall)")
        print(f"{'spec':<8} {'runs':>5} {'mode':<10} " + "".join(f"{name + ' s':>11} {'runs/s':>8} {'in runs':>8}"
                                                                 for name in trees)
              + ("  after/before runs/s" if len(trees) > 1 else ""))
        for spec in chosen:
            for mode in ("serial", "2 workers", "one run"):
                runs = 1 if mode == "one run" else runs_in(specs[spec])
                line = f"{spec:<8} {runs:>5} {mode:<10} "
                rates = {}
                for name in trees:
                    walls, in_runs = np.array(results[spec, name, mode]).T
                    wall = float(np.median(walls))
                    share = float(np.median(in_runs / walls / (2 if mode == "2 workers" else 1)))
                    rates[name] = runs / wall
                    line += f"{wall:>11.1f} {rates[name]:>8.1f} {share:>8.0%}"
                if len(trees) > 1:
                    line += f"  {rates['after'] / rates['before']:>8.2f}x"
                print(line, flush=True)


if __name__ == "__main__":
    main()
