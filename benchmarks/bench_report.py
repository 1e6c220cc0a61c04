"""`sweep report` on a 10^6-run `separable` store: wall time and peak RSS, against the
same report on a store 1/25 of its size in the same run (issue 26).

The spec is GRID: `separable` with n = n_test = 6, d = 2, 15 epochs at most, every
scaling parameter of the report swept (alpha, lr, init_scale, eps, margin, width), 20
seeds and RUNS_PER_DATA_SET runs per data set; ``--runs`` sets the number of data sets.
The baseline store holds one data set. Both stores are run through the real CLI on the
default cluster (./scheduler.yaml) or the one ``--scheduler`` names, or reused from
``--dir`` where a finished one is there (a run with nothing left to do). It prints, for
each store, the report's wall time and peak RSS, and the ratios: bounded memory means an
RSS ratio near 1 while the runs grow 25x.

    .venv/bin/python benchmarks/bench_report.py [--runs 1e6] [--dir DIR] [--scheduler FILE]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml

from bench_scale import sweep

PARAMS = {"n": 6, "n_test": 6, "d": 2, "max_epochs": 15}
GRID = {"alpha": [0.1, 0.5], "lr": [0.1, 0.2, 0.5, 1.0, 2.0], "init_scale": [0.01, 0.03, 0.1, 0.3, 1.0],
        "eps": [0.3, 0.6], "margin": [0.02, 0.05, 0.1, 0.15, 0.2], "width": [1, 2, 3, 4]}
SEEDS = 20
RUNS_PER_DATA_SET = 40_000
TARGET = "< 2 min, bounded memory"


def spec_file(folder: Path, runs: int) -> tuple[Path, Path]:
    """The spec of ``runs`` runs (a multiple of RUNS_PER_DATA_SET) in ``folder``, and its store."""
    name = f"sep_{runs:.0e}".replace("e+0", "e")
    spec = {"name": name, "problem": "separable", "params": PARAMS,
            "grid": {"data_seed": list(range(runs // RUNS_PER_DATA_SET)), "seed": list(range(SEEDS)), **GRID}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False, default_flow_style=None))
    return path, folder / f"{name}.zarr"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=float, default=1e6, help=f"runs, a multiple of {RUNS_PER_DATA_SET}")
    parser.add_argument("--scheduler", metavar="FILE", help="scheduler config (default: ./scheduler.yaml)")
    parser.add_argument("--dir", help="where the stores are kept and reused (default: a temporary directory)")
    args = parser.parse_args()
    runs = int(args.runs)
    if runs < 2 * RUNS_PER_DATA_SET or runs % RUNS_PER_DATA_SET:
        parser.error(f"--runs must be a multiple of {RUNS_PER_DATA_SET} and at least twice it, got {args.runs}")
    cluster = ["--scheduler", args.scheduler] if args.scheduler else []
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(args.dir) if args.dir else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        measured = {}
        for size in (RUNS_PER_DATA_SET, runs):
            spec, store = spec_file(folder, size)
            sweep("run", str(spec), "--store", str(store), *cluster)
            measured[size] = sweep("report", str(store), "--out", str(Path(scratch) / f"report_{size}"))
    print(f"sweep report on separable {PARAMS}, grid data_seed x {SEEDS} seeds x {GRID}")
    print(f"{'runs':>10} {'wall':>9} {'peak RSS':>10}   target {TARGET}")
    for size, (seconds, rss) in measured.items():
        print(f"{size:>10,} {seconds:>7.1f} s {rss / 2**20:>6.0f} MiB")
    (base_s, base_rss), (s, rss) = measured.values()
    print(f"{'ratio':>10} {s / base_s:>7.2f} x {rss / base_rss:>6.2f} x    for {runs / RUNS_PER_DATA_SET:.0f}x the runs")


if __name__ == "__main__":
    main()
