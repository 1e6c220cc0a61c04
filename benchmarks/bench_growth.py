"""Growing a store and reusing runs against computing them (README, "Growing a sweep").

With the default preset (presets/default.yaml: 144 runs, seeds 0-7) through the real CLI
on the default cluster (a local one, or ./scheduler.yaml), in one process tree, the
kernels' disk cache warmed first by a run that is not timed, it times:
  grow      `sweep run` of the 16-seed spec on the finished 8-seed store (144 new runs),
  new       `sweep run` of a spec of seeds 8-15 alone into a new store (the same 144 runs),
  whole     `sweep run` of the 16-seed spec into a new store (288 runs),
  reuse     `sweep run` of the 16-seed spec into a new store with --reuse of the whole one
            (288 runs copied, none trained),
and prints the wall times, grow - new (what growing costs beyond the new runs' time; the
issue's target: a few seconds), grow / whole and reuse / whole, and checks that the grown
store equals the whole one but for wall_time.

    python benchmarks/bench_growth.py [--scheduler FILE | --serial]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xarray as xr
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.store_contents import stored_runs  # noqa: E402


def spec_with_seeds(folder: Path, name: str, seeds: list[int]) -> Path:
    spec = yaml.safe_load((ROOT / "presets" / "default.yaml").read_text())
    spec["grid"]["seed"] = seeds
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def timed_run(spec: Path, store: Path, where: list[str], *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sweep", "run", str(spec), "--store", str(store), *where, *extra],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="FILE")
    where.add_argument("--serial", action="store_true")
    args = parser.parse_args()
    cluster = ["--serial"] if args.serial else (["--scheduler", args.scheduler] if args.scheduler else [])
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        eight = spec_with_seeds(folder, "eight", list(range(8)))
        sixteen = spec_with_seeds(folder, "sixteen", list(range(16)))
        later = spec_with_seeds(folder, "later", list(range(8, 16)))
        warm = timed_run(eight, folder / "grown.zarr", cluster)
        times = {"grow": timed_run(sixteen, folder / "grown.zarr", cluster),
                 "new": timed_run(later, folder / "new.zarr", cluster),
                 "whole": timed_run(sixteen, folder / "whole.zarr", cluster)}
        times["reuse"] = timed_run(sixteen, folder / "reused.zarr", cluster, "--reuse", str(folder / "whole.zarr"))
        xr.testing.assert_identical(stored_runs(folder / "grown.zarr"), stored_runs(folder / "whole.zarr"))
        xr.testing.assert_identical(stored_runs(folder / "reused.zarr"), stored_runs(folder / "whole.zarr"))
    print(f"8-seed store (warm-up, kernels cached): {warm:.1f} s")
    for name, seconds in times.items():
        print(f"{name:>6}: {seconds:6.1f} s")
    print(f"grow - new (the cost of growing beyond the new runs): {times['grow'] - times['new']:+.1f} s")
    print(f"grow / whole: {times['grow'] / times['whole']:.2f}   reuse / whole: {times['reuse'] / times['whole']:.2f}")
    print("grown and reused stores equal the whole one but for wall_time: yes")


if __name__ == "__main__":
    main()
